"""The results page and downloads of an adaptive study: thresholds, tracks, groups, every step."""

import csv
import io
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from tests.conftest import import_yaml, mark_trials_shown, rows_for_the_module
from uxlab.live.protocol import RatingSubmit
from uxlab.studies import actions
from uxlab.studies.models import AdaptiveStep

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "speed_threshold_adaptive.yaml"


def run_participant(study, always_right, participant=None):
    participant = actions.give_consent(participant or actions.enroll_participant(study))
    while (trial := actions.pending_trial(participant)) is not None:
        mark_trials_shown(participant)
        value = "A"
        if trial.kind == "trial":
            step = trial.adaptive_step
            right = actions.faster_pane(step.value, step.run.reference_value, step.test_pane, "tokens_per_second")
            value = right if always_right else ("B" if right == "A" else "A")
        context = actions.load_participant_context(participant.token)
        message = RatingSubmit(type="rating.submit", key=uuid.uuid4(), trial=trial.index, question="faster",
                               value=value, response_ms=600)
        actions.record_ratings([actions.check_rating(context, message, timezone.now())])
        if trial.index == 0:  # the screener, asked once: daily users are the ones always right
            screener = RatingSubmit(type="rating.submit", key=uuid.uuid4(), trial=0, question="ai_use",
                                    value="3" if always_right else "1", response_ms=900)
            actions.record_ratings([actions.check_rating(context, screener, timezone.now())])
    return participant


def simulated_study(text, code, team):
    """The study in ``text`` as ``code``, with two whole sessions: one always right, one always wrong."""
    study = import_yaml(text.replace("\ncode: speedthreshold\n", f"\ncode: {code}\n"), team)
    run_participant(study, True)
    run_participant(study, False)
    return study.pk


@pytest.fixture(scope="module")
def _simulated_studies(request, django_db_setup, django_db_blocker):
    """The QUEST+ example and its two-track staircase variant, each with two simulated sessions,
    made once for the module (rows_for_the_module: every test sees them as made)."""
    from uxlab.studies.models import Team

    text = EXAMPLE.read_text()
    start = text.index("    procedure: quest_plus")
    end = text.index("\n", text.index("sd_log10: 0.3")) + 1

    def make():
        team = Team.objects.create(name="Simulated sessions", slug="simulated-sessions")
        return {"quest_plus": simulated_study(text, "simulated-quest", team),
                "staircase": simulated_study(text[:start] + STAIRCASE_TWO_TRACKS + text[end:], "simulated-stairs", team)}

    yield from rows_for_the_module(request, django_db_blocker, make)


def in_team(study_id, team):
    """A module-made study, moved into the test's team (alice's) for the test."""
    from uxlab.studies.models import Study

    Study.objects.filter(pk=study_id).update(team=team)
    return Study.objects.get(pk=study_id)


@pytest.fixture
def adaptive_study(_simulated_studies, team):
    return in_team(_simulated_studies["quest_plus"], team)


@pytest.fixture
def staircase_study(_simulated_studies, team):
    return in_team(_simulated_studies["staircase"], team)


def test_it_shows_each_threshold_with_its_track_and_the_distribution(client, alice, adaptive_study):
    client.force_login(alice)
    response = client.get(f"/studies/{adaptive_study.code}/results/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-summary="adaptive"' in page and "Trial-by-trial tracks" in page
    assert page.count("<details><summary>Participant") == 2
    assert "2 participants: median threshold" in page


def test_it_groups_thresholds_by_the_screener_and_refuses_the_adaptive_question(client, alice, adaptive_study):
    from uxlab.analysis.adaptive_rows import adaptive_results, group_questions, participant_groups

    client.force_login(alice)
    assert group_questions(adaptive_study) == ["ai_use"]  # not `faster`: its answers are the data
    page = client.get(f"/studies/{adaptive_study.code}/results/").content.decode()
    assert '<option value="ai_use">' in page and '<option value="faster"' not in page
    page = client.get(f"/studies/{adaptive_study.code}/results/?group_by=ai_use").content.decode()
    assert "data-by-group" in page and "Group (ai_use)" in page
    groups = participant_groups(adaptive_study, "ai_use")
    assert sorted(groups.values()) == ["1", "3"]
    results = adaptive_results(adaptive_study, "ai_use")
    assert set(results["per_track"]["slower"]["by_group"]["groups"]) == {"1", "3"}
    assert {person["group"] for person in results["participants"]} == {"1", "3"}
    page = client.get(f"/studies/{adaptive_study.code}/results/?group_by=faster").content.decode()
    assert "“faster” is the adaptive question: its answers are the data" in page and "data-by-group" not in page
    assert "There is no question named" not in page
    page = client.get(f"/studies/{adaptive_study.code}/results/?group_by=nope").content.decode()
    assert "There is no question named “nope” to group by" in page and "data-by-group" not in page
    for refused, reason in (("faster", "adaptive_question"), ("nope", "no_such_question"), ("ai_use", "")):
        summary = client.get(f"/studies/{adaptive_study.code}/data/summary.json?group_by={refused}").json()
        assert summary["adaptive"]["unknown_group_by_reason"] == reason


def test_it_offers_the_questions_asked_once_first(team):
    from uxlab.analysis.adaptive_rows import group_questions

    text = EXAMPLE.read_text().replace("  - name: ai_use\n", """  - name: comfort
    kind: likert
    per_pane: false
    text: How comfortable was the reading speed?
  - name: ai_use
""")
    assert group_questions(import_yaml(text, team)) == ["ai_use", "comfort"]


def test_it_exports_every_step(client, alice, adaptive_study):
    client.force_login(alice)
    response = client.get(f"/studies/{adaptive_study.code}/data/adaptive_steps.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    steps = adaptive_study.participants.first().adaptive_run.steps.count()
    assert len(rows) == sum(p.adaptive_run.steps.count() for p in adaptive_study.participants.all()) >= steps
    assert {row["procedure"] for row in rows} == {"quest_plus"}
    assert all(row["answer"] in ("A", "B") and row["threshold_log10"] for row in rows)
    right = [row for row in rows if row["correct"] == "true"]
    assert right and all(float(row["value"]) < 15 for row in rows)


@pytest.mark.parametrize("path", ["/studies/{code}/", "/studies/{code}/monitor/", "/studies/{code}/fidelity/",
                                  "/studies/{code}/data/psychds.zip", "/studies/{code}/data/summary.json"])
def test_its_other_pages_work_for_an_adaptive_study(client, alice, adaptive_study, path):
    client.force_login(alice)
    response = client.get(path.format(code=adaptive_study.code))
    assert response.status_code == 200


def test_its_participant_page_counts_the_sessions_most_trials(client, team):
    study = import_yaml(EXAMPLE.read_text(), team)
    participant = actions.enroll_participant(study)
    actions.record_checks(participant, {"simulated": True}, viewport_ok=True, stacked=False)
    participant = actions.give_consent(participant)
    actions.mark_instructions_seen(participant)
    mark_trials_shown(participant)
    context = actions.load_participant_context(participant.token)
    for question, value in (("faster", "A"), ("ai_use", "2")):
        message = RatingSubmit(type="rating.submit", key=uuid.uuid4(), trial=0, question=question, value=value,
                               response_ms=600)
        actions.record_ratings([actions.check_rating(context, message, timezone.now())])
    page = client.get(f"/p/{participant.token}/trial/").content.decode()
    assert "Trial 1 of 40" in page and 'data-trial="1"' in page


def test_it_leaves_out_preview_participants_by_the_rules_in_force_and_says_so(client, alice, adaptive_study):
    from uxlab.studies.actions import lifecycle

    preview = run_participant(adaptive_study, True, lifecycle.enroll_uncounted(adaptive_study, lifecycle.PREVIEW))
    client.force_login(alice)
    page = client.get(f"/studies/{adaptive_study.code}/results/").content.decode()
    assert "2 participants: median threshold" in page and 'data-adaptive-excluded="1"' in page
    assert "pilot: 1" in page and f"<details><summary>Participant {preview.pk} " not in page
    page = client.get(f"/studies/{adaptive_study.code}/results/?rules=set").content.decode()
    assert "3 participants: median threshold" in page and "data-adaptive-excluded" not in page

    response = client.get(f"/studies/{adaptive_study.code}/data/adaptive_steps.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    flagged = {(row["participant"], row["excluded"], row["exclusion_reasons"]) for row in rows}
    assert (str(preview.pk), "true", "pilot") in flagged
    assert {row["excluded"] for row in rows if row["participant"] != str(preview.pk)} == {"false"}


def test_its_trials_table_gives_each_pane_the_speed_it_showed(client, alice, adaptive_study):
    client.force_login(alice)
    response = client.get(f"/studies/{adaptive_study.code}/data/trials.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    steps = {(step.run.participant_id, step.trial.index): step
             for step in AdaptiveStep.objects.filter(run__participant__study=adaptive_study)}
    checked = 0
    for row in rows:
        step = steps.get((int(row["participant"]), int(row["trial_index"])))
        if step is None:
            continue
        test, other = ("a", "b") if step.test_pane == "A" else ("b", "a")
        assert float(row[f"arm_{test}_tokens_per_second"]) == pytest.approx(step.value)
        assert float(row[f"arm_{other}_tokens_per_second"]) == 15
        checked += 1
    assert checked == len(steps) > 0


def test_it_says_which_thresholds_come_from_runs_stopped_early(client, alice, adaptive_study):
    client.force_login(alice)
    page = client.get(f"/studies/{adaptive_study.code}/results/").content.decode()
    assert 'data-adaptive-not-completed="2"' in page and page.count("(not completed)") == 2
    page = client.get(f"/studies/{adaptive_study.code}/results/?rules=set&rule=did_not_complete").content.decode()
    assert 'data-adaptive-excluded="2"' in page and "did_not_complete: 2" in page
    assert "Every participant with adaptive answers is left out" in page


STAIRCASE_TWO_TRACKS = """    procedure: staircase
    tracks:
      - name: slower
        range: [1.5, 15]
      - name: faster
        range: [15, 150]
    catch_trials: 0.1
    max_trials: 24
"""


def test_summary_json_and_the_api_hold_the_adaptive_thresholds_the_page_shows(client, alice, adaptive_study):
    from uxlab.studies.api_tokens import create_api_token

    client.force_login(alice)
    summary = client.get(f"/studies/{adaptive_study.code}/data/summary.json?group_by=ai_use").json()
    adaptive = summary["adaptive"]
    assert adaptive["procedure"] == "quest_plus" and adaptive["tracks"] == ["slower"]
    assert adaptive["group_by"] == "ai_use" and adaptive["per_track"]["slower"]["by_group"]["groups"]
    assert adaptive["per_track"]["slower"]["distribution"]["n"] == 2
    people = adaptive["participants"]
    assert len(people) == 2 and all(person["excluded"] is False and person["trials"] > 0 for person in people)
    for person in people:
        track = person["tracks"]["slower"]
        assert track["procedure"] == "quest_plus" and track["low_log10"] <= track["log10"] <= track["high_log10"]
        assert track["value"] == pytest.approx(10 ** track["log10"]) and "catch_correct" in person
        assert f"{track['value']:.3f}" in client.get(f"/studies/{adaptive_study.code}/results/").content.decode()
    secret = create_api_token(alice, "t")[1]
    client.logout()
    api = client.get(f"/api/v1/studies/{adaptive_study.code}/results?group_by=ai_use",
                     HTTP_AUTHORIZATION=f"Bearer {secret}").json()
    assert api["adaptive"] == adaptive
    assert client.get(f"/api/v1/studies/{adaptive_study.code}/results?group_by=nope",
                      HTTP_AUTHORIZATION=f"Bearer {secret}").json()["adaptive"]["unknown_group_by"] == "nope"


def test_summary_json_has_a_null_adaptive_section_for_a_fixed_design(client, alice, study):
    client.force_login(alice)
    summary = client.get(f"/studies/{study.code}/data/summary.json").json()
    assert "adaptive" in summary and summary["adaptive"] is None


def test_the_summary_link_keeps_the_pages_grouping(client, alice, adaptive_study):
    client.force_login(alice)
    page = client.get(f"/studies/{adaptive_study.code}/results/?group_by=ai_use").content.decode()
    assert "summary.json?rules=set" in page and "group_by=ai_use" in page.split("summary.json?", 1)[1].split('"')[0]


def test_a_staircase_interval_outside_the_track_is_clipped_and_flagged(client, alice, staircase_study):
    import math

    step = (AdaptiveStep.objects.filter(run__participant__study=staircase_study, track="slower", catch=False)
            .order_by("-run__participant_id", "-number").first())
    step.summary = {"log10": math.log10(5), "value": 5.0, "sd_log10": 0.9, "low_log10": -3.0, "high_log10": 2.5,
                    "reversals": 2, "next_level_log10": math.log10(5)}
    step.save(update_fields=["summary"])
    client.force_login(alice)
    page = client.get(f"/studies/{staircase_study.code}/results/").content.decode()
    assert "data-interval-clipped" in page and "fewer than use_reversals" in page
    adaptive = client.get(f"/studies/{staircase_study.code}/data/summary.json").json()["adaptive"]
    track = next(person["tracks"]["slower"] for person in adaptive["participants"]
                 if person["participant"] == step.run.participant_id)
    assert track["interval_clipped"] is True and track["reversals_used"] == 2
    assert (track["low_log10"], track["high_log10"]) == pytest.approx((math.log10(1.5), math.log10(15)))
    response = client.get(f"/studies/{staircase_study.code}/data/adaptive_steps.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    row = next(row for row in rows if row["participant"] == str(step.run.participant_id)
               and row["step"] == str(step.number))
    assert row["threshold_interval_clipped"] == "true"
    assert float(row["threshold_low_log10"]) == pytest.approx(math.log10(1.5))
    assert float(row["threshold_high_log10"]) == pytest.approx(math.log10(15))


def test_a_two_track_plot_draws_each_tracks_threshold_and_interval(client, alice, staircase_study):
    import math

    participant = staircase_study.participants.order_by("pk").first()
    for track, value in (("slower", 5.0), ("faster", 40.0)):
        step = (AdaptiveStep.objects.filter(run__participant=participant, track=track, catch=False)
                .order_by("-number").first())
        step.summary = {"log10": math.log10(value), "value": value, "sd_log10": 0.05, "reversals": 6,
                        "low_log10": math.log10(value) - 0.05, "high_log10": math.log10(value) + 0.05}
        step.save(update_fields=["summary"])
    client.force_login(alice)
    page = client.get(f"/studies/{staircase_study.code}/results/").content.decode()
    plot = page.split(f"<summary>Participant {participant.pk} ")[1].split("</svg>")[0]
    for track in ("slower", "faster"):
        for line in ("log10", "low_log10", "high_log10"):
            assert f'data-track="{track}" data-line="{line}"' in plot


def test_the_apis_adaptive_results_match_its_openapi_schema(client, alice, adaptive_study):
    """The schemathesis run (test_api_schema.py) meets a fixed design only: check an adaptive
    study's results, grouped and not, against the same OpenAPI document."""
    import datetime

    import httpx
    import schemathesis

    from uxlab.studies.api_tokens import create_api_token
    from uxlab.web.api import openapi_document

    operation = schemathesis.openapi.from_dict(openapi_document())["/api/v1/studies/{code}/results"]["GET"]
    secret = create_api_token(alice, "schema")[1]
    for query in ("", "?group_by=ai_use", "?group_by=nope"):
        url = f"/api/v1/studies/{adaptive_study.code}/results{query}"
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 200 and response.json()["adaptive"] is not None
        as_httpx = httpx.Response(
            response.status_code, headers={"content-type": response["Content-Type"]}, content=response.content,
            request=httpx.Request("GET", f"http://testserver{url}"),
        )  # fmt: skip
        as_httpx.read()
        as_httpx.elapsed = datetime.timedelta(0)
        operation.validate_response(as_httpx)  # raises on any mismatch
