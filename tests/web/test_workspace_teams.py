"""Teams in the browser's HTTP: creating one, inviting by link (single-use, expiring, hashed, for
that address only), roles set by owners, leaving (never the last owner), and outsiders' 404s."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from uxlab.studies.models import Membership, Team, TeamInvite
from uxlab.studies.models.workspace import hash_secret

pytestmark = pytest.mark.django_db


def invite(client, team, email, role="editor"):
    response = client.post(reverse("web:team_invite", args=[team.slug]), {"email": email, "role": role})
    assert response.status_code == 201, response.content[:500]
    (link,) = re.findall(r'id="invite-link">([^<]+)<', response.content.decode())
    return link


def test_creating_a_team_makes_you_its_owner(client, charlie):
    client.force_login(charlie)
    response = client.post(reverse("web:teams"), {"name": "Reading speed group"})
    team = Team.objects.get(name="Reading speed group")
    assert response.status_code == 302 and response["Location"] == reverse("web:team", args=[team.slug])
    assert list(team.memberships.values_list("user__username", "role")) == [("charlie", "owner")]
    assert client.post(reverse("web:teams"), {"name": "  "}).status_code == 400


def test_an_invitation_is_emailed_shown_once_and_stored_hashed(client, alice, team):
    client.force_login(alice)
    link = invite(client, team, "Dana@Example.org")

    secret = link.rstrip("/").rsplit("/", 1)[1]
    stored = TeamInvite.objects.get()
    assert stored.token_hash == hash_secret(secret) and secret not in stored.token_hash
    assert (stored.email, stored.role) == ("Dana@example.org", "editor")
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body and mail.outbox[0].to == ["Dana@example.org"]
    # The team page afterwards lists the invitation but never its link again.
    page = client.get(reverse("web:team", args=[team.slug])).content.decode()
    assert "dana@example.org" in page.lower() and secret not in page


def test_the_invited_person_creates_an_account_from_the_link_and_joins(client, alice, team):
    client.force_login(alice)
    link = invite(client, team, "dana@example.org", role="viewer")
    client.logout()

    path = link.split("testserver", 1)[1]
    assert client.get(path).status_code == 200  # opening the link changes nothing
    assert TeamInvite.objects.get().accepted_at is None
    weak = client.post(path, {"action": "signup", "username": "dana", "password": "short"})
    assert weak.status_code == 400 and b"too short" in weak.content
    joined = client.post(path, {"action": "signup", "username": "dana", "password": "a-long-enough-passphrase"})
    assert joined.status_code == 302
    dana = get_user_model().objects.get(username="dana")
    assert dana.email == "dana@example.org"
    assert Membership.objects.get(team=team, user=dana).role == "viewer"
    # Single use: the link is spent.
    client.logout()
    again = client.post(path, {"action": "signup", "username": "dana2", "password": "a-long-enough-passphrase"})
    assert again.status_code == 400 and not get_user_model().objects.filter(username="dana2").exists()


def test_only_an_account_with_the_invited_address_can_accept(client, alice, bob, team, charlie):
    client.force_login(alice)
    link = invite(client, team, "erin@example.org")
    path = link.split("testserver", 1)[1]
    charlie.email = "charlie@example.org"
    charlie.save()
    client.force_login(charlie)
    page = client.get(path)
    assert b"wrong-account" in page.content
    refused = client.post(path, {"action": "join"})
    assert refused.status_code == 400 and b"log in with the account that has that address" in refused.content
    assert not Membership.objects.filter(team=team, user=charlie).exists()

    charlie.email = "ERIN@example.org"
    charlie.save()
    assert client.post(path, {"action": "join"}).status_code == 302
    assert Membership.objects.get(team=team, user=charlie).role == "editor"


def test_expired_revoked_and_unknown_links_are_refused(client, alice, team):
    client.force_login(alice)
    expired = invite(client, team, "late@example.org").split("testserver", 1)[1]
    TeamInvite.objects.filter(email="late@example.org").update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked = invite(client, team, "gone@example.org").split("testserver", 1)[1]
    key = TeamInvite.objects.get(email="gone@example.org").key
    assert client.post(reverse("web:team_invite_revoke", args=[team.slug, key])).status_code == 302
    client.logout()

    assert b"has expired" in client.get(expired).content
    assert b"has been revoked" in client.get(revoked).content
    for path in (expired, revoked):
        response = client.post(path, {"action": "signup", "username": "late", "password": "a-long-enough-passphrase"})
        assert response.status_code == 400
    assert client.get(reverse("web:invite", args=["not-a-real-secret"])).status_code == 404
    assert not get_user_model().objects.filter(username="late").exists()


def test_only_owners_invite_and_set_roles(client, alice, bob, team):
    client.force_login(bob)  # a viewer
    response = client.post(reverse("web:team_invite", args=[team.slug]), {"email": "x@example.org", "role": "owner"})
    assert response.status_code == 403 and not TeamInvite.objects.exists()
    response = client.post(reverse("web:team_member_role", args=[team.slug, "bob"]), {"role": "owner"})
    assert response.status_code == 403 and Membership.objects.get(user=bob).role == "viewer"

    client.force_login(alice)
    assert client.post(reverse("web:team_member_role", args=[team.slug, "bob"]), {"role": "editor"}).status_code == 302
    assert Membership.objects.get(user=bob).role == "editor"
    bad = client.post(reverse("web:team_member_role", args=[team.slug, "bob"]), {"role": "admin"})
    assert bad.status_code == 400


def test_the_last_owner_can_neither_leave_nor_step_down(client, alice, bob, team):
    client.force_login(alice)
    response = client.post(reverse("web:team_leave", args=[team.slug]))
    assert response.status_code == 400 and b"last owner" in response.content
    response = client.post(reverse("web:team_member_role", args=[team.slug, "alice"]), {"role": "viewer"})
    assert response.status_code == 400 and Membership.objects.get(user=alice).role == "owner"

    client.post(reverse("web:team_member_role", args=[team.slug, "bob"]), {"role": "owner"})
    assert client.post(reverse("web:team_leave", args=[team.slug])).status_code == 302
    assert not Membership.objects.filter(user=alice, team=team).exists()


def test_a_member_can_leave(client, bob, alice, team):
    client.force_login(bob)
    assert client.post(reverse("web:team_leave", args=[team.slug])).status_code == 302
    assert client.get(reverse("web:team", args=[team.slug])).status_code == 404


def test_outsiders_get_404_on_every_team_page(client, alice, team, charlie):
    client.force_login(charlie)
    assert client.get(reverse("web:team", args=[team.slug])).status_code == 404
    for name, args in [("web:team_invite", []), ("web:team_leave", []), ("web:team_member_role", ["alice"])]:
        assert client.post(reverse(name, args=[team.slug, *args]), {"role": "viewer", "email": "a@b.org"}).status_code == 404
    assert Membership.objects.get(user=alice).role == "owner"


def test_the_teams_page_has_an_empty_state(client, db):
    user = get_user_model().objects.create_user("newcomer", password="x")
    client.force_login(user)
    assert b'id="no-teams"' in client.get(reverse("web:teams")).content


def test_many_attempts_on_invitation_links_get_a_clear_429(client, alice, team, settings):
    """Guessing links or hammering the sign-up form from one address: 429 with Retry-After, never a 500."""
    settings.UXLAB_INVITE_MAX_ATTEMPTS = 5
    client.force_login(alice)
    path = invite(client, team, "dana@example.org").split("testserver", 1)[1]
    client.logout()
    assert client.get(path).status_code == 200  # opening a real link is not an attempt
    statuses = [client.get(reverse("web:invite", args=[f"guess-{n}"])).status_code for n in range(2)]
    hostile = [{"action": "signup", "username": "dana", "password": "short"},
               {"action": "signup", "username": "d" * 10_000, "password": "x"},
               {"action": "join"}]
    statuses += [client.post(path, form).status_code for form in hostile]
    assert statuses == [404, 404, 400, 400, 302]  # join without an account: to the login page
    # A NUL is refused before the view (400), uncounted; the fifth counted attempt is refused.
    assert client.post(path, {"action": "signup", "username": "\x00", "password": "x"}).status_code == 400
    blocked = client.post(path, {"action": "signup", "username": "dana", "password": "a-long-enough-passphrase"})
    assert blocked.status_code == 429 and blocked["Retry-After"] == str(settings.UXLAB_LOGIN_LOCKOUT_S)
    assert 'id="too-many"' in blocked.content.decode()
    assert client.get(path).status_code == 429 and client.get(reverse("web:invite", args=["x"])).status_code == 429
    assert not get_user_model().objects.filter(email="dana@example.org").exists()
    assert TeamInvite.objects.get().state == "pending"  # the invitation itself is untouched

    # Another address is not blocked, and joins.
    joined = client.post(path, {"action": "signup", "username": "dana", "password": "a-long-enough-passphrase"},
                         REMOTE_ADDR="10.0.0.7")
    assert joined.status_code == 302 and Membership.objects.filter(team=team, user__username="dana").exists()
