"""manage.py import_study / export_study, run through call_command."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

import uxlab.studies
from uxlab.studies.models import Arm, Participant, Prompt, Question, Study, Team
from uxlab.studies.study_files import parse_study_yaml

DEMO_PATH = Path(uxlab.studies.__file__).parent / "examples" / "demo.yaml"

pytestmark = pytest.mark.django_db


def run(*args):
    """Run a command; returns (stdout, stderr) and lets CommandError through."""
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args):
    """Run a command that must fail; returns (message, stderr)."""
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(*args, stdout=StringIO(), stderr=err)
    return str(caught.value), err.getvalue()


def write_rows():
    return {model.__name__: model.objects.count() for model in (Team, Study, Arm, Prompt, Question)}


def test_it_imports_a_file_and_prints_the_code():
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("dana")
    out, _err = run("import_study", str(DEMO_PATH), "--team", "perception-lab", "--user", "dana", "--status", "live")

    assert out == "demo\n"
    study = Study.objects.get(code="demo")
    assert (study.team.slug, study.team.name, study.status) == ("perception-lab", "perception-lab", "live")
    assert list(study.team.memberships.values_list("user__username", "role")) == [("dana", "owner")]
    assert study.arms.count() == 3 and study.prompts.count() == 4 and study.questions.count() == 3


def test_it_imports_into_an_existing_team_as_a_draft_by_default(team):
    run("import_study", str(DEMO_PATH), "--team", team.slug)

    study = Study.objects.get(code="demo")
    assert (study.team, study.status) == (team, Study.Status.DRAFT)
    assert Team.objects.count() == 1


def test_it_prints_every_error_with_the_file_name_and_imports_nothing(tmp_path):
    path = tmp_path / "broken.yaml"
    text = DEMO_PATH.read_text().replace("tokens_per_second: 15.3", "tokens_per_second: 0")
    path.write_text(text.replace("[wafer_scale_8b, loaded_gpu_cloud]", "[wafer_scale_8b, nope]"))

    message, err = run_failing("import_study", str(path), "--team", "new-team")

    assert err.splitlines() == [
        f"{path}: arms[1].tokens_per_second: must be >= 0.1",
        f"{path}: design.pairs[0][1]: unknown arm 'nope'",
    ]
    assert message == f"{path}: 2 errors; nothing was imported"
    assert write_rows() == {"Team": 0, "Study": 0, "Arm": 0, "Prompt": 0, "Question": 0}


def test_it_refuses_an_existing_code_unless_told_to_replace(team):
    run("import_study", str(DEMO_PATH), "--team", team.slug)
    before = write_rows()

    message, err = run_failing("import_study", str(DEMO_PATH), "--team", team.slug)

    assert err == f"{DEMO_PATH}: code: a study with code 'demo' already exists\n"
    assert message == f"{DEMO_PATH}: 1 error; nothing was imported"
    assert write_rows() == before


def test_it_replaces_a_study_with_replace(team, tmp_path):
    run("import_study", str(DEMO_PATH), "--team", team.slug)
    path = tmp_path / "renamed.yaml"
    path.write_text(DEMO_PATH.read_text().replace("title: How fast does it feel?", "title: Renamed"))

    out, _err = run("import_study", str(path), "--team", team.slug, "--replace", "--status", "paused")

    assert out == "demo\n"
    study = Study.objects.get(code="demo")
    assert (study.title, study.status) == ("Renamed", "paused")
    assert study.arms.count() == 3


def test_it_refuses_to_replace_a_study_with_participants(team):
    run("import_study", str(DEMO_PATH), "--team", team.slug)
    Participant.objects.create(study=Study.objects.get(code="demo"))

    _message, err = run_failing("import_study", str(DEMO_PATH), "--team", team.slug, "--replace")

    assert err == f"{DEMO_PATH}: code: study 'demo' already has participants; it cannot be replaced\n"


def test_it_reports_a_yaml_syntax_error_with_the_file_name(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\ntitle: [unclosed\n")

    _message, err = run_failing("import_study", str(path))

    assert err.startswith(f"{path}: line 3, column 1: not valid YAML:")


def test_it_reports_a_missing_file(tmp_path):
    path = tmp_path / "missing.yaml"

    message, _err = run_failing("import_study", str(path))

    assert message == f"{path}: cannot read the file: No such file or directory"


def test_it_rejects_a_team_that_is_not_a_slug():
    message, _err = run_failing("import_study", str(DEMO_PATH), "--team", "my lab")

    assert message == "--team must be a slug (letters, digits, '-' and '_'), not 'my lab'"
    assert not Study.objects.exists()


def test_it_exports_to_stdout_what_was_imported(team):
    run("import_study", str(DEMO_PATH), "--team", team.slug)

    out, _err = run("export_study", "demo")

    assert out.startswith("# uxlab study file, version 1")
    assert parse_study_yaml(out) == parse_study_yaml(DEMO_PATH.read_text())


def test_it_exports_to_a_file_that_imports_back(team, tmp_path):
    run("import_study", str(DEMO_PATH), "--team", team.slug)
    path = tmp_path / "exported.yaml"

    out, err = run("export_study", "demo", "--output", str(path))

    assert out == ""
    assert err == f"wrote study 'demo' to {path}\n"
    out, _err = run("import_study", str(path), "--team", team.slug, "--replace")
    assert out == "demo\n"
    assert parse_study_yaml(path.read_text()) == parse_study_yaml(DEMO_PATH.read_text())


def test_it_fails_to_export_an_unknown_code():
    message, _err = run_failing("export_study", "nope")

    assert message == "no study with code 'nope'"
