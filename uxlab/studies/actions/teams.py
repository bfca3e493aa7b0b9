"""Teams: creating one, inviting members by an emailed link, roles, leaving, and which team a
study may be imported into.

Rules: owners invite, change roles and remove members; anyone may leave, except a team's last
owner. An invitation is single-use, expires after UXLAB_INVITE_DAYS, is stored as the SHA-256 of its
secret, and joins only an account with the invited email address.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from uxlab.studies.models import Membership, Team, TeamInvite
from uxlab.studies.models.workspace import hash_secret

log = logging.getLogger(__name__)

ROLES = [role.value for role in Membership.Role]


class TeamActionRefused(Exception):
    """A team change that is not allowed; `code` is stable, `message` is for people."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def free_slug(name):
    """A slug for a new team from its name, made unique with a number (my-lab, my-lab-2, ...)."""
    base = (slugify(name) or "team")[:50]
    slug, number = base, 1
    while Team.objects.filter(slug=slug).exists():
        number += 1
        slug = f"{base}-{number}"
    return slug


@transaction.atomic
def create_team(user, name, slug=None):
    """A new team with `user` as its owner. `slug` (optional) must be free; else one is made from the name."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise TeamActionRefused("bad_name", "Give the team a name of at most 200 characters.")
    if slug is None:
        slug = free_slug(name)
    else:
        try:
            validate_slug(slug)
        except ValidationError:
            raise TeamActionRefused("bad_slug", "A team's short name may hold only letters, digits, '-' and '_'.") from None
        if Team.objects.filter(slug=slug).exists():
            raise TeamActionRefused("slug_taken", f"A team called '{slug}' already exists.")
    team = Team.objects.create(name=name, slug=slug)
    Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
    return team


def role_of(user, team):
    """The user's role in the team, or None for an outsider."""
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(team=team, user=user).values_list("role", flat=True).first()


def require_owner(user, team):
    if role_of(user, team) != Membership.Role.OWNER:
        raise TeamActionRefused("not_owner", "Only the team's owners can do that.")


def check_role(role):
    if role not in ROLES:
        raise TeamActionRefused("bad_role", f"A role is one of {', '.join(ROLES)}.")


def normalise_email(email):
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise TeamActionRefused("bad_email", "Enter a valid email address.") from None
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


@transaction.atomic
def invite_member(team, inviter, email, role):
    """A new invitation (an earlier pending one to the same address is revoked). Returns
    (invite, secret): the secret goes into the link and is not kept."""
    require_owner(inviter, team)
    check_role(role)
    email = normalise_email(email)
    if Membership.objects.filter(team=team, user__email__iexact=email).exists():
        raise TeamActionRefused("already_member", f"{email} is already a member of {team.name}.")
    TeamInvite.objects.pending().filter(team=team, email__iexact=email).update(revoked_at=timezone.now())
    secret = secrets.token_urlsafe(32)
    invite = TeamInvite.objects.create(
        team=team, email=email, role=role, token_hash=hash_secret(secret), invited_by=inviter,
        expires_at=timezone.now() + timedelta(days=settings.UXLAB_INVITE_DAYS),
    )
    return invite, secret


def send_invite_email(invite, link):
    """Email the link (Django's email backend: the console unless SMTP is configured). Returns
    whether it was sent; a failure is logged, and the inviter still has the link on the page."""
    from django.core.mail import send_mail

    inviter = invite.invited_by.get_username() if invite.invited_by else "A researcher"
    try:
        send_mail(
            f"Join {invite.team.name} on uxlab",
            f"{inviter} invited you to join the team {invite.team.name} on uxlab as {invite.role}.\n\n"
            f"Open this link to accept (valid until {invite.expires_at:%Y-%m-%d %H:%M} UTC, once):\n{link}\n\n"
            "If you did not expect this, ignore this email.\n",
            None,
            [invite.email],
        )
        return True
    except Exception:
        log.warning("could not email the invitation %s", invite.key, exc_info=True)
        return False


def find_invite(secret):
    """The invitation a link's secret belongs to, or None (unknown, or not a well-formed secret)."""
    if not secret or len(secret) > 100:
        return None
    return TeamInvite.objects.select_related("team", "invited_by").filter(token_hash=hash_secret(secret)).first()


def email_matches(user, invite):
    return bool(user.email) and user.email.strip().lower() == invite.email.lower()


@transaction.atomic
def accept_invite(secret, user):
    """Join the invitation's team with its role, once. Refused when the invitation is unknown, used,
    revoked or expired, or the user's email address is not the invited one."""
    invite = find_invite(secret)
    if invite is None:
        raise TeamActionRefused("unknown_invite", "This invitation link is not valid.")
    invite = TeamInvite.objects.select_for_update().select_related("team").get(pk=invite.pk)
    if invite.state != "pending":
        raise TeamActionRefused(f"invite_{invite.state}", f"This invitation has been {invite.state}; ask for a new one.")
    if not email_matches(user, invite):
        raise TeamActionRefused(
            "wrong_account", f"This invitation is for {invite.email}; log in with the account that has that address."
        )
    membership, created = Membership.objects.get_or_create(team=invite.team, user=user, defaults={"role": invite.role})
    invite.accepted_at = timezone.now()
    invite.accepted_by = user
    invite.save(update_fields=["accepted_at", "accepted_by"])
    return membership


@transaction.atomic
@transaction.atomic
def create_account_from_invite(secret, username, password):
    """A new account with the invited address (the link proves it), joined to the team. The password
    is checked by the configured validators; raises TeamActionRefused or ValidationError. One
    transaction: an account is never left without the membership it was made for."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password

    invite = find_invite(secret)
    if invite is None or invite.state != "pending":
        raise TeamActionRefused("unknown_invite", "This invitation link is not valid any more; ask for a new one.")
    User = get_user_model()
    username = (username or "").strip()
    if not username or len(username) > 150:
        raise TeamActionRefused("bad_username", "Choose a username of at most 150 characters.")
    User.username_validator(username)
    if User.objects.filter(username__iexact=username).exists():
        raise TeamActionRefused("username_taken", "That username is taken; choose another.")
    if User.objects.filter(email__iexact=invite.email).exists():
        raise TeamActionRefused("email_has_account", f"{invite.email} already has an account: log in to accept.")
    user = User(username=username, email=invite.email)
    validate_password(password, user)
    user.set_password(password)
    try:
        user.save()
    except IntegrityError:
        raise TeamActionRefused("username_taken", "That username is taken; choose another.") from None
    accept_invite(secret, user)
    return user


@transaction.atomic
def revoke_invite(team, actor, key):
    require_owner(actor, team)
    return TeamInvite.objects.pending().filter(team=team, key=key).update(revoked_at=timezone.now())


def owners_left(team, excluding_user):
    return Membership.objects.filter(team=team, role=Membership.Role.OWNER).exclude(user=excluding_user).exists()


@transaction.atomic
def set_role(team, actor, member, role):
    """An owner changes a member's role; the last owner cannot stop being one."""
    require_owner(actor, team)
    check_role(role)
    Team.objects.select_for_update().get(pk=team.pk)  # one role change of a team at a time
    membership = Membership.objects.filter(team=team, user=member).first()
    if membership is None:
        raise TeamActionRefused("not_member", "That person is not a member of this team.")
    if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER and not owners_left(team, member):
        raise TeamActionRefused("last_owner", "A team needs an owner: make someone else an owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(team, actor, member):
    """An owner removes a member (or the member leaves: see leave_team); never the last owner."""
    if actor != member:
        require_owner(actor, team)
    Team.objects.select_for_update().get(pk=team.pk)
    membership = Membership.objects.filter(team=team, user=member).first()
    if membership is None:
        raise TeamActionRefused("not_member", "That person is not a member of this team.")
    if membership.role == Membership.Role.OWNER and not owners_left(team, member):
        raise TeamActionRefused("last_owner", "The last owner cannot leave: make someone else an owner first.")
    membership.delete()


def leave_team(team, user):
    return remove_member(team, user, user)


@transaction.atomic
def team_for_import(user, slug, name=None):
    """The team a study is imported into for `user`: one where they are an owner or editor, or a
    new team (created now, with them as owner). Refused for a team they are not in, or only view."""
    try:
        validate_slug(slug)
    except ValidationError:
        raise TeamActionRefused("bad_slug", f"A team's short name is letters, digits, '-' and '_', not {slug!r}.") from None
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        return create_team(user, name or slug, slug=slug)
    role = role_of(user, team)
    if role is None:
        raise TeamActionRefused("not_member", f"You are not a member of team '{slug}'; nothing was imported.")
    if role not in {Membership.Role.OWNER, Membership.Role.EDITOR}:
        raise TeamActionRefused("viewer", f"Viewers of team '{slug}' cannot add studies; nothing was imported.")
    return team
