"""Researchers are ordinary users with team roles: create_researcher, and demo_setup without DEBUG."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from uxlab.studies.management.commands.demo_setup import DEMO_PASSWORD, DEMO_USERNAME
from uxlab.studies.models import Membership


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_create_researcher_makes_an_ordinary_user_with_a_team_role():
    output = run("create_researcher", "dana", "--team", "vision-lab", "--role", "owner")

    user = get_user_model().objects.get(username="dana")
    assert not user.is_staff and not user.is_superuser
    assert Membership.objects.get(user=user).role == "owner" and Membership.objects.get(user=user).team.slug == "vision-lab"
    password = output.split("Password (shown once): ")[1].strip()
    assert len(password) >= 20 and user.check_password(password)


@pytest.mark.django_db
def test_create_researcher_refuses_a_weak_password_and_an_existing_user(monkeypatch):
    monkeypatch.setenv("NEW_PASSWORD", "12345678")
    with pytest.raises(CommandError, match="too common|too short|entirely numeric"):
        run("create_researcher", "erin", "--team", "lab", "--password-env", "NEW_PASSWORD")
    run("create_researcher", "erin", "--team", "lab")
    with pytest.raises(CommandError, match="already exists"):
        run("create_researcher", "erin", "--team", "lab")


@pytest.mark.django_db
def test_demo_setup_without_debug_prints_a_random_password_and_no_staff(settings):
    settings.DEBUG = False
    output = run("demo_setup")

    user = get_user_model().objects.get(username=DEMO_USERNAME)
    assert not user.is_staff and not user.is_superuser
    assert not user.check_password(DEMO_PASSWORD) and DEMO_PASSWORD not in output
    password = output.split("password '")[1].split("'")[0]
    assert user.check_password(password)


@pytest.mark.django_db
def test_demo_setup_with_debug_keeps_the_demo_password(settings):
    settings.DEBUG = True
    run("demo_setup")
    user = get_user_model().objects.get(username=DEMO_USERNAME)
    assert user.check_password(DEMO_PASSWORD) and not user.is_superuser


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_demo_setup_run_again_says_which_password_logs_in(settings, debug):
    """`make demo` runs demo_setup every time. A second run printed "password 'unchanged'", which
    reads as a password to type (and is not one); it now names the demo password when that is the
    researcher's, and otherwise says the password was printed by the first run."""
    settings.DEBUG = debug
    first = run("demo_setup")
    again = run("demo_setup")

    user = get_user_model().objects.get(username=DEMO_USERNAME)
    assert "'unchanged'" not in again
    if debug:
        assert f"password {DEMO_PASSWORD!r}" in again
    else:
        printed = first.split("password '")[1].split("'")[0]
        assert user.check_password(printed) and printed not in again
        assert "password '" not in again and "first" in again
