"""The workspace pages: first run after login, importing a study file from the browser (team rules
and errors), and the Prolific setup page with the participant links and codes per outcome."""

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

import uxlab.studies
from tests.conftest import QUICK_STUDY_YAML
from uxlab.studies.models import Membership, Study, Team

DEMO_YAML = (Path(uxlab.studies.__file__).parent / "examples" / "demo.yaml").read_text()

pytestmark = pytest.mark.django_db


def test_login_lands_on_the_first_run_page_until_there_is_a_study(client, team):
    user = get_user_model().objects.create_user("newcomer", password="newcomer-password")
    response = client.post(reverse("login"), {"username": "newcomer", "password": "newcomer-password"})
    assert response["Location"] == reverse("web:start")
    page = client.get(reverse("web:start")).content.decode()
    assert 'id="first-run"' in page
    assert reverse("web:import_study") in page and "Open the demo" in page and "Create a study" in page

    Membership.objects.create(team=team, user=user, role="viewer")
    Study.objects.create(team=team, title="T", consent_text="c")
    assert client.get(reverse("web:start"))["Location"] == reverse("web:study_list")


def test_the_study_list_empty_state_points_to_the_ways_in(client, db):
    client.force_login(get_user_model().objects.create_user("newcomer"))
    page = client.get(reverse("web:study_list")).content.decode()
    assert 'id="no-studies"' in page and reverse("web:import_study") in page


def test_importing_into_a_new_team_makes_you_its_owner(client, charlie):
    client.force_login(charlie)
    response = client.post(reverse("web:import_study"), {"text": DEMO_YAML, "team": "", "new_team": "Speed lab"})
    study = Study.objects.get(code="demo")
    assert response["Location"] == reverse("web:study_detail", args=["demo"])
    assert study.status == "draft" and study.team.name == "Speed lab"
    assert study.team.memberships.get().user == charlie
    assert client.get(reverse("web:study_detail", args=["demo"])).status_code == 200


def test_importing_into_a_team_you_are_not_in_or_only_view_is_refused(client, alice, bob, team, charlie):
    client.force_login(charlie)
    response = client.post(reverse("web:import_study"), {"text": DEMO_YAML, "team": team.slug})
    assert response.status_code == 403 and b"nothing was imported" in response.content
    # A team that does not exist gets the same answer (names cannot be probed).
    probe = client.post(reverse("web:import_study"), {"text": DEMO_YAML, "team": "no-such-lab"})
    assert probe.status_code == 403 and not Team.objects.filter(slug="no-such-lab").exists()
    client.force_login(bob)  # a viewer of the team
    assert client.post(reverse("web:import_study"), {"text": DEMO_YAML, "team": team.slug}).status_code == 403
    assert not Study.objects.exists()
    client.force_login(alice)
    assert client.post(reverse("web:import_study"), {"text": DEMO_YAML, "team": team.slug}).status_code == 302


def test_a_downloaded_study_imports_again_under_another_code(client, alice, team):
    client.force_login(alice)
    assert client.post(reverse("web:import_study"), {"text": DEMO_YAML, "team": team.slug}).status_code == 302
    taken = client.post(reverse("web:import_study"), {"text": DEMO_YAML, "team": team.slug})
    assert taken.status_code == 400
    assert "a study with code &#x27;demo&#x27; already exists (give another code below)" in taken.content.decode()
    assert 'id="import-code"' in taken.content.decode()
    bad = client.post(reverse("web:import_study"), {"text": DEMO_YAML, "team": team.slug, "code": "Not A Code"})
    assert bad.status_code == 400 and b"code:" in bad.content and Study.objects.count() == 1
    copied = client.post(reverse("web:import_study"), {"text": DEMO_YAML, "team": team.slug, "code": "demo-copy"})
    assert copied.status_code == 302 and copied["Location"] == reverse("web:study_detail", args=["demo-copy"])
    original, copy = Study.objects.get(code="demo"), Study.objects.get(code="demo-copy")
    assert [arm.profile for arm in copy.arms.all()] == [arm.profile for arm in original.arms.all()]
    assert copy.title == original.title and copy.status == "draft"


def large_study_yaml(prompts=20, response_chars=80_000):
    """The demo with prompts whose responses make a file of about 1.6 MB: within the format's
    2,000,000 characters (docs/study-format.md), as manage.py import_study takes it."""
    lines = DEMO_YAML.split("\nprompts:\n", 1)
    long_prompts = "".join(
        f"  - name: long{index}\n    text: Question {index}?\n    response: {'word ' * (response_chars // 5)}\n"
        for index in range(prompts)
    )
    return lines[0] + "\nprompts:\n" + long_prompts + lines[1]


def test_the_import_page_takes_a_file_as_large_as_the_format_allows(client, alice, team):
    """The page refused any file over 1 MiB ("file: larger than 1024 KiB") while the format, and
    manage.py import_study, take 2,000,000 characters: a study downloaded from this server could not
    be imported again from the browser. Past the format's size the parser's message says so."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from uxlab.studies.study_files import parse_study_yaml

    text = large_study_yaml()
    assert 1024 * 1024 < len(text.encode()) and len(text) < 2_000_000
    parse_study_yaml(text)  # the command line takes it
    client.force_login(alice)
    upload = SimpleUploadedFile("large.yaml", text.encode())
    response = client.post(reverse("web:import_study"), {"file": upload, "team": team.slug})
    assert response.status_code == 302, re.sub(r"<[^>]+>", " ", response.content.decode())[-2000:]
    assert Study.objects.get(code="demo").prompts.count() > 20

    too_large = SimpleUploadedFile("huge.yaml", large_study_yaml(prompts=30).encode())
    refused = client.post(reverse("web:import_study"), {"file": too_large, "team": team.slug, "code": "demo-huge"})
    assert refused.status_code == 400 and b"at most 2,000,000 characters" in refused.content


def test_a_broken_file_lists_every_error_with_its_path(client, alice, team):
    client.force_login(alice)
    broken = DEMO_YAML.replace("tokens_per_second: 15.3", "tokens_per_second: 0")
    response = client.post(reverse("web:import_study"), {"text": broken, "team": team.slug})
    assert response.status_code == 400
    assert b"arms[1].tokens_per_second: must be &gt;= 0.1" in response.content
    assert client.post(reverse("web:import_study"), {"text": "", "team": team.slug}).status_code == 400
    assert not Study.objects.exists()


def test_the_prolific_page_shows_the_url_to_paste_and_a_code_per_outcome(client, alice, team):
    from tests.conftest import import_yaml

    text = QUICK_STUDY_YAML.replace("  code: QUICK123\n", "  code: QUICK123\n  failed_attention: {code: FAILED9}\n")
    study = import_yaml(text, team)
    client.force_login(alice)
    page = client.get(reverse("web:prolific", args=[study.code])).content.decode()
    url = "http://testserver/s/quick/?PROLIFIC_PID={{%PROLIFIC_PID%}}&amp;STUDY_ID={{%STUDY_ID%}}&amp;SESSION_ID={{%SESSION_ID%}}"
    assert f'id="prolific-url">{url}<' in page
    assert 'id="code-completed">QUICK123<' in page and 'id="code-failed_attention">FAILED9<' in page
    # backend_failure falls back to the main code, and the page says Prolific cannot tell them apart.
    assert 'id="code-backend_failure">QUICK123<' in page and "cannot tell this outcome apart" in page
    assert 'data-copy="#prolific-url"' in page

    detail = client.get(reverse("web:study_detail", args=[study.code])).content.decode()
    assert 'data-copy="#participant-link"' in detail and 'data-copy="#prolific-link"' in detail
    assert reverse("web:prolific", args=[study.code]) in detail


def test_the_prolific_page_checks_each_codes_return_url_against_prolifics(client, alice, team):
    from tests.conftest import import_yaml

    completion = (
        "  code: QUICK123\n  url: https://app.prolific.com/submissions/complete?cc=QUICK123\n"
        "  failed_attention: {code: FAILED9, url: 'https://app.prolific.com/submissions/complete?cc=QUICK123'}\n"
        "  backend_failure: {code: NOBACK1, url: 'https://example.org/thanks'}\n"
        "  timed_out: {code: LATE1}\n  incomplete: {code: SKIPPED1}\n"
    )
    study = import_yaml(QUICK_STUDY_YAML.replace("  code: QUICK123\n", completion), team)
    client.force_login(alice)
    page = client.get(reverse("web:prolific", args=[study.code])).content.decode()
    rows = dict(re.findall(r'<tr data-outcome="([a-z_]+)">(.*?)</tr>', page, re.S))
    assert set(rows) == {"completed", "failed_attention", "backend_failure", "timed_out", "incomplete"}
    assert "data-problem" not in rows["completed"]
    assert "its cc is &#x27;QUICK123&#x27;, not the code &#x27;FAILED9&#x27;" in rows["failed_attention"]
    assert "not Prolific&#x27;s completion URL" in rows["backend_failure"]
    assert "https://app.prolific.com/submissions/complete?cc=LATE1" in rows["timed_out"]  # what it would be
    assert 'id="code-incomplete">SKIPPED1<' in rows["incomplete"]
    # The plain link to give Prolific, and a warning that anyone with it can take part.
    assert 'id="plain-url">http://testserver/s/quick/<' in page and 'id="no-id-required"' in page
    required = import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: quick2").replace(
        "  seed: quick", "  seed: quick\n  require_participant_id: true"), team)
    assert 'id="no-id-required"' not in client.get(reverse("web:prolific", args=[required.code])).content.decode()


def test_the_prolific_page_is_for_the_team_only(client, study, charlie):
    client.force_login(charlie)
    assert client.get(reverse("web:prolific", args=[study.code])).status_code == 404


def test_a_draft_study_is_flagged_on_the_prolific_page(client, alice, team):
    from tests.conftest import import_yaml

    study = import_yaml(QUICK_STUDY_YAML, team, status="draft")
    client.force_login(alice)
    assert b'id="not-live"' in client.get(reverse("web:prolific", args=[study.code])).content


def test_the_results_page_of_a_study_without_answers_says_what_to_do(client, alice, study):
    client.force_login(alice)
    page = client.get(reverse("web:results", args=[study.code])).content.decode()
    assert 'id="no-results"' in page and reverse("web:prolific", args=[study.code]) in page


@pytest.mark.parametrize("debug", [True, False])
def test_the_results_pages_simulation_command_runs_as_printed(client, alice, study, settings, debug):
    """The empty results page offers simulated participants. In the demo (DEBUG=true from `make demo`,
    not from the shell or .env) the printed command stopped at "SECRET_KEY is required unless
    DEBUG=true": it says DEBUG=true when the server runs with it, as demo_setup and the README do."""
    from uxlab.studies.command_lines import simulate_command

    settings.DEBUG = debug
    client.force_login(alice)
    page = client.get(reverse("web:results", args=[study.code])).content.decode()
    command = simulate_command(study.code)
    assert f"<code>{command}</code>" in page
    assert command.startswith("DEBUG=true ") == debug
    assert command.endswith(f"manage.py simulate_participants {study.code} --participants 20")


def test_the_results_page_with_answers_has_no_empty_state(client, alice, rated_study):
    client.force_login(alice)
    assert b'id="no-results"' not in client.get(reverse("web:results", args=[rated_study.code])).content
