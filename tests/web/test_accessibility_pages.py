"""Issue 17 over HTTP: time limits with a warning and a way to extend them, the optional
assistive-technology question, distinct titles, no timed refresh, plots with their numbers as tables
and researcher tables in scroll regions. The browser side is in tests/browser/test_axe.py and
tests/browser/test_keyboard_session.py."""

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from tests.web.test_results_page import ALL_KINDS, ladder_yaml, simulate
from uxlab.analysis.rows import ExportOptions, export_tables
from uxlab.studies import actions
from uxlab.studies.models import Participant, Study
from uxlab.studies.study_files import StudyFileError, export_study, parse_study_yaml

pytestmark = pytest.mark.django_db

ASKING_YAML = QUICK_STUDY_YAML.replace("  seed: quick\n", "  seed: quick\n  ask_assistive_technology: true\n")


def checked(participant):
    actions.record_checks(participant, {"simulated": True}, viewport_ok=True, stacked=False)
    return participant


def at_instructions(study):
    return actions.give_consent(checked(actions.enroll_participant(study)))


def extend(client, participant):
    return client.post(f"/p/{participant.token}/extend/", "{}", content_type="application/json")


def test_it_extends_a_running_session_ten_minutes_at_a_time_up_to_ten_times(client, participant):
    before = actions.session_deadline(participant)
    response = extend(client, participant)
    assert response.status_code == 200
    participant.refresh_from_db()
    assert participant.time_extensions == 1 and response.json()["extensions_left"] == 9
    # The time limit moved by 10 minutes, and being seen now moved the idle limit past it.
    assert response.json()["deadline_ms"] == round(actions.session_deadline(participant).timestamp() * 1000)
    assert actions.session_deadline(participant) > before

    for _ in range(9):
        assert extend(client, participant).status_code == 200
    refused = extend(client, participant)
    assert refused.status_code == 409 and refused.json()["error"] == "cannot_extend"
    assert Participant.objects.get(pk=participant.pk).time_extensions == 10
    assert client.get(f"/p/{participant.token}/extend/").status_code == 405


def test_it_refuses_to_extend_a_session_that_is_not_running(client, study):
    unconsented = actions.enroll_participant(study)
    assert extend(client, unconsented).status_code == 409
    assert client.post("/p/no-such-token/extend/").status_code == 404


def test_it_lets_an_extended_session_outlive_the_time_limit_and_expires_the_others(study):
    limit = study.session.time_limit_minutes
    now = timezone.now()
    extended, plain = (actions.give_consent(actions.enroll_participant(study)) for _ in range(2))
    Participant.objects.filter(pk__in=[extended.pk, plain.pk]).update(
        consented_at=now - timedelta(minutes=limit + 5), last_seen_at=now
    )
    Participant.objects.filter(pk=extended.pk).update(time_extensions=1)

    assert actions.expire_sessions(now) == 1
    assert Participant.objects.get(pk=plain.pk).status == Participant.Status.EXPIRED
    assert Participant.objects.get(pk=extended.pk).status == Participant.Status.CONSENTED
    # Past the extension as well, it expires too.
    assert actions.expire_sessions(now + timedelta(minutes=6)) == 1


def test_it_warns_on_the_pages_of_a_running_session_only(client, study):
    participant = at_instructions(study)
    deadline = actions.session_deadline(participant)
    page = client.get(f"/p/{participant.token}/instructions/").content.decode()
    warning = re.search(r'<dialog id="session-warning"[^>]*data-deadline-ms="(\d+)"', page)
    assert warning and abs(int(warning.group(1)) - deadline.timestamp() * 1000) < 5_000
    assert "I need more time" in page and "session_timer" in page
    welcome = client.get(f"/s/{participant.study.code}/").content.decode()
    assert "session-warning" not in welcome


@pytest.mark.parametrize(("answer", "stored"), [({"assistive_technology": "yes"}, True), ({}, False)])
def test_it_asks_about_assistive_technology_when_the_study_does(client, team, answer, stored):
    participant = at_instructions(import_yaml(ASKING_YAML, team))
    page = client.get(f"/p/{participant.token}/instructions/").content.decode()
    assert "I use a screen reader or screen magnifier" in page
    client.post(f"/p/{participant.token}/instructions/", answer)
    assert Participant.objects.get(pk=participant.pk).assistive_technology is stored


def test_it_does_not_ask_about_assistive_technology_by_default(client, study):
    participant = at_instructions(study)
    assert participant.study.session.ask_assistive_technology is False
    page = client.get(f"/p/{participant.token}/instructions/").content.decode()
    assert "screen reader" not in page
    client.post(f"/p/{participant.token}/instructions/", {"assistive_technology": "yes"})
    assert Participant.objects.get(pk=participant.pk).assistive_technology is None


def test_it_round_trips_the_question_in_the_study_file_and_refuses_a_non_boolean(team):
    study = import_yaml(ASKING_YAML, team)
    assert "ask_assistive_technology: true" in export_study(study)
    with pytest.raises(StudyFileError) as error:
        parse_study_yaml(ASKING_YAML.replace("ask_assistive_technology: true", "ask_assistive_technology: sometimes"))
    assert "design.ask_assistive_technology" in str(error.value)


def test_it_exports_the_answer_and_can_leave_such_sessions_out(client, team, alice):
    study = import_yaml(ASKING_YAML, team)
    simulate(study, 4)
    helped = study.participants.order_by("pk").first()
    Participant.objects.filter(pk=helped.pk).update(assistive_technology=True, time_extensions=2)
    table = export_tables()["participants"]
    rows = [dict(zip(table.column_names, row)) for row in table.rows(study, ExportOptions())]
    assert [(r["assistive_technology"], r["time_extensions"]) for r in rows][0] == (True, 2)

    client.force_login(alice)
    url = f"/studies/{study.code}/data/summary.json"
    kept = json.loads(client.get(url, {"rules": "set"}).content)["answers_kept"]
    apart = json.loads(client.get(url, {"rules": "set", "rule": "assistive_technology"}).content)
    assert apart["answers_kept"] == kept - helped.ratings.count() and helped.ratings.count() > 0


def test_it_gives_each_participant_page_its_own_title(client, team, study):
    def title(response):
        return re.search(r"<title>(.*?)</title>", response.content.decode(), re.S).group(1).strip()

    titles = {"welcome": title(client.get(f"/s/{study.code}/"))}
    participant = checked(actions.enroll_participant(study))
    titles["declined"] = title(client.post(f"/p/{participant.token}/consent/", {"decision": "decline"}))
    expired = actions.give_consent(actions.enroll_participant(study))
    Participant.objects.filter(pk=expired.pk).update(status=Participant.Status.EXPIRED)
    titles["expired"] = title(client.get(f"/p/{expired.token}/"))
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PAUSED)
    titles["paused"] = title(client.get(f"/s/{study.code}/"))
    assert len(set(titles.values())) == 4, titles
    assert titles["paused"].startswith("Study paused")


def test_it_never_refreshes_a_participant_page_on_a_timer(client, participant):
    from django.template.loader import render_to_string

    for name in ("saving", "done"):
        html = render_to_string(f"participate/{name}.html", {"participant": participant, "study": participant.study,
                                                             "completion_url": "https://x"})
        assert 'http-equiv="refresh"' not in html
    done = render_to_string("participate/done.html", {"participant": participant, "study": participant.study,
                                                      "completion_url": "https://x",
                                                      "completion_code": "C", "redirect_seconds": 30})
    assert 'data-redirect-seconds="30"' in done and "Stay on this page" in done


def test_it_gives_every_plot_its_numbers_as_a_table_and_every_table_a_scroll_region(client, team, alice):
    study = import_yaml(ladder_yaml([1.5, 3.0], questions=ALL_KINDS), team)
    simulate(study, 12)
    client.force_login(alice)
    html = client.get(f"/studies/{study.code}/results/").content.decode()
    figures = re.findall(r'<figure class="plot-figure">(.*?)</figure>', html, re.S)
    assert len(figures) == html.count("<svg") >= 4
    for figure in figures:
        assert "<figcaption>" in figure and "<table" in figure and "<th scope=\"row\">" in figure
    # The Likert chart writes each level on its segments: the spread is not told by colour alone.
    likert = next(f for f in figures if "Level 1" in f)
    assert re.search(r'<rect [^>]*fill="#b2182b"[^>]*>.*?</rect><text [^>]*>1</text>', likert)
    assert html.count("<table") == html.count('<div class="table-scroll" role="region"')


def test_every_workspace_and_builder_table_scrolls_in_its_own_region(client, team, alice, study):
    from uxlab.studies import drafts
    from uxlab.studies.actions import builder as build
    from uxlab.studies.actions import teams as team_actions
    from uxlab.studies.models import Job

    team_actions.invite_member(team, alice, "dana@example.org", "editor")
    Job.objects.create(study=study, created_by=alice, kind=Job.Kind.EXPORT, status=Job.Status.DONE,
                       params={"target": "table", "table": "ratings", "format": "csv"})
    withdrawn = actions.give_consent(actions.enroll_participant(study))
    actions.withdraw_participant(withdrawn, Participant.WithdrawnBy.PARTICIPANT)  # the study page's audit log
    draft = build.create_study(team, alice, drafts.blank_document("Blank", "blank"))  # a builder audit entry
    client.force_login(alice)
    for path in (f"/teams/{team.slug}/", "/teams/", f"/studies/{study.code}/jobs/",
                 f"/studies/{study.code}/prolific/", f"/studies/{study.code}/", f"/studies/{draft.code}/"):
        html = client.get(path).content.decode()
        assert html.count("<table") == html.count('<div class="table-scroll') > 0, path
