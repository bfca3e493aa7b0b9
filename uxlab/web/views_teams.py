"""Researcher views of teams: the list and creating one, a team's members, roles and invitations,
leaving, and the invitation link an invited person opens (uxlab/studies/actions/teams.py has the rules).

A team is reached through `get_team_for_user`, so an outsider gets the same 404 as for a team that
does not exist. A refused change re-renders the page with the reason and a 4xx status.
"""

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from uxlab.studies.access import get_team_for_user
from uxlab.studies.actions import teams as team_actions
from uxlab.studies.models import Membership, Team, TeamInvite
from uxlab.web import throttle

REFUSAL_STATUS = {"not_owner": 403}


def my_teams(user):
    memberships = Membership.objects.filter(user=user).select_related("team").order_by("team__name")
    teams = []
    for membership in memberships:
        team = membership.team
        team.role = membership.role
        team.member_count = team.memberships.count()
        team.study_count = team.studies.count()
        teams.append(team)
    return teams


@login_required
@require_http_methods(["GET", "POST"])
def team_list(request):
    """Your teams, and a form to create one (you become its owner)."""
    error = None
    if request.method == "POST":
        try:
            team = team_actions.create_team(request.user, request.POST.get("name", ""))
        except team_actions.TeamActionRefused as refused:
            error = refused.message
        else:
            return redirect("web:team", slug=team.slug)
    return render(request, "teams/team_list.html", {"teams": my_teams(request.user), "error": error},
                  status=400 if error else 200)


def team_page(request, team, *, error=None, status=200, new_link=None, emailed=None):
    is_owner = team.role == Membership.Role.OWNER
    context = {
        "team": team,
        "is_owner": is_owner,
        "members": team.memberships.select_related("user").order_by("user__username"),
        "invites": TeamInvite.objects.pending().filter(team=team) if is_owner else [],
        "studies": team.studies.order_by("-created_at"),
        "roles": Membership.Role.choices,
        "error": error,
        "new_link": new_link,
        "emailed": emailed,
    }
    response = render(request, "teams/team_detail.html", context, status=status)
    if new_link:
        response["Cache-Control"] = "no-store"  # the page shows a secret link once
    return response


def refused_page(request, team, refused):
    return team_page(request, team, error=refused.message, status=REFUSAL_STATUS.get(refused.code, 400))


@login_required
def team_detail(request, slug):
    return team_page(request, get_team_for_user(request.user, slug))


@never_cache
@login_required
@require_POST
def invite(request, slug):
    """An owner invites someone by email: the link is emailed and shown once on the page."""
    team = get_team_for_user(request.user, slug)
    try:
        new_invite, secret = team_actions.invite_member(
            team, request.user, request.POST.get("email", ""), request.POST.get("role", "")
        )
    except team_actions.TeamActionRefused as refused:
        return refused_page(request, team, refused)
    link = request.build_absolute_uri(reverse("web:invite", args=[secret]))
    emailed = team_actions.send_invite_email(new_invite, link)
    return team_page(request, team, new_link=link, emailed=emailed, status=201)


@login_required
@require_POST
def revoke_invite(request, slug, key):
    team = get_team_for_user(request.user, slug)
    try:
        team_actions.revoke_invite(team, request.user, key)
    except team_actions.TeamActionRefused as refused:
        return refused_page(request, team, refused)
    return redirect("web:team", slug=team.slug)


def member_of(team, username):
    return get_object_or_404(get_user_model(), username=username, memberships__team=team)


@login_required
@require_POST
def set_role(request, slug, username):
    team = get_team_for_user(request.user, slug)
    try:
        team_actions.set_role(team, request.user, member_of(team, username), request.POST.get("role", ""))
    except team_actions.TeamActionRefused as refused:
        return refused_page(request, team, refused)
    return redirect("web:team", slug=team.slug)


@login_required
@require_POST
def remove_member(request, slug, username):
    team = get_team_for_user(request.user, slug)
    member = member_of(team, username)
    try:
        team_actions.remove_member(team, request.user, member)
    except team_actions.TeamActionRefused as refused:
        return refused_page(request, team, refused)
    return redirect("web:team", slug=team.slug) if member != request.user else redirect("web:teams")


@login_required
@require_POST
def leave(request, slug):
    team = get_team_for_user(request.user, slug)
    try:
        team_actions.leave_team(team, request.user)
    except team_actions.TeamActionRefused as refused:
        return refused_page(request, team, refused)
    return redirect("web:teams")


# --- The invitation link -----------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def accept_invite(request, secret):
    """The emailed link. Opening it changes nothing (link previews must not use it up); joining is a
    POST: logged in with the invited address, or by creating an account with that address here."""
    if throttle.invite_locked(request):
        return too_many_attempts(request)
    if request.method == "POST":
        throttle.record_invite_attempt(request)
    found = team_actions.find_invite(secret)
    if found is None:
        if request.method == "GET":
            throttle.record_invite_attempt(request)  # guessing links
        return render(request, "teams/invite.html", {"invalid": True}, status=404)
    context = {"invite": found, "team": found.team, "secret": secret, "errors": []}
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("action") == "signup" and not request.user.is_authenticated:
                user = team_actions.create_account_from_invite(
                    secret, request.POST.get("username", ""), request.POST.get("password", "")
                )
                login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
            elif request.user.is_authenticated:
                team_actions.accept_invite(secret, request.user)
            else:
                return redirect(f"{reverse('login')}?next={request.path}")
            return redirect("web:team", slug=found.team.slug)
        except team_actions.TeamActionRefused as refused:
            context["errors"] = [refused.message]
        except ValidationError as invalid:
            context["errors"] = list(invalid.messages)
        context["username"] = request.POST.get("username", "")
        status = 400
        found.refresh_from_db()
    if request.user.is_authenticated:
        context["email_matches"] = team_actions.email_matches(request.user, found)
        context["already_member"] = Membership.objects.filter(team=found.team, user=request.user).exists()
    else:
        context["has_account"] = get_user_model().objects.filter(email__iexact=found.email).exists()
    return render(request, "teams/invite.html", context, status=status)


def too_many_attempts(request):
    """429 for an address past UXLAB_INVITE_MAX_ATTEMPTS (web/throttle.py), with Retry-After."""
    minutes = -(-settings.UXLAB_LOGIN_LOCKOUT_S // 60)
    response = render(request, "teams/invite.html", {"too_many": True, "retry_minutes": minutes}, status=429)
    response["Retry-After"] = str(settings.UXLAB_LOGIN_LOCKOUT_S)
    return response


def team_choices(user):
    """Teams the user may add studies to (owner or editor), for the import form."""
    return Team.objects.filter(
        memberships__user=user, memberships__role__in=[Membership.Role.OWNER, Membership.Role.EDITOR]
    ).order_by("name").distinct()
