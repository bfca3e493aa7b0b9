"""Who may import a study into which team (manage.py import_study --user, and the rule itself)."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

import uxlab.studies
from uxlab.studies.actions.teams import TeamActionRefused, team_for_import
from uxlab.studies.models import Membership, Study, Team

DEMO_PATH = Path(uxlab.studies.__file__).parent / "examples" / "demo.yaml"

pytestmark = pytest.mark.django_db


def import_as(username, team):
    call_command("import_study", str(DEMO_PATH), "--team", team, "--user", username, stdout=StringIO(), stderr=StringIO())


def test_importing_into_a_new_team_makes_the_importer_its_owner(alice):
    import_as("alice", "fresh-lab")

    study = Study.objects.get(code="demo")
    assert study.team.slug == "fresh-lab"
    assert Membership.objects.get(team=study.team).user == alice
    assert Study.objects.visible_to(alice).filter(code="demo").exists()


def test_importing_into_a_team_you_are_not_in_is_refused(alice, charlie, other_team):
    with pytest.raises(CommandError, match="not a member of team 'other-lab'; nothing was imported"):
        import_as("alice", other_team.slug)
    assert not Study.objects.exists()
    assert not other_team.memberships.filter(user=alice).exists()


def test_a_viewer_cannot_import_but_an_editor_can(team, bob):
    with pytest.raises(CommandError, match="Viewers of team 'perception-lab' cannot add studies"):
        import_as("bob", team.slug)
    Membership.objects.filter(user=bob).update(role="editor")
    import_as("bob", team.slug)
    assert Study.objects.get(code="demo").team == team


def test_without_a_user_a_missing_team_is_refused_not_created_empty():
    with pytest.raises(CommandError, match="team 'nobodys-lab' does not exist: give --user"):
        call_command("import_study", str(DEMO_PATH), "--team", "nobodys-lab", stdout=StringIO(), stderr=StringIO())
    assert not Team.objects.exists() and not Study.objects.exists()


def test_an_unknown_user_is_refused():
    with pytest.raises(CommandError, match="no researcher called 'ghost'"):
        import_as("ghost", "any-lab")
    assert not Team.objects.exists()


def test_the_rule_refuses_outsiders_and_creates_new_teams(alice, charlie, other_team):
    with pytest.raises(TeamActionRefused) as refused:
        team_for_import(alice, other_team.slug)
    assert refused.value.code == "not_member"
    assert team_for_import(alice, "perception-lab").slug == "perception-lab"
    created = team_for_import(charlie, "charlies-second-lab")
    assert created.memberships.get().role == "owner"
