"""What happens to a trial that cannot be shown: the restart cap, skipped trials, failing live arms
on the monitor, and the study that pauses itself; and the settings that govern it in a study file."""

import pytest

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from uxlab.analysis.monitor import monitor_snapshot
from uxlab.studies import actions
from uxlab.studies.models import LiveResponse, Study, Trial
from uxlab.studies.study_files import StudyFileError, parse_study_yaml

pytestmark = pytest.mark.django_db

LIVE_STUDY = """
version: 1
code: failing
title: Failing live arm
consent: {{text: You agree.}}
arms:
  - {{name: live_arm, kind: live, base_url: "http://127.0.0.1:9/v1", model: m{live}}}
  - {{name: paced_arm, ttft_s: 0.1, tokens_per_second: 200}}
prompts:
  - {{name: p, text: Say some words., response: A fixed answer.}}
questions:
  - {{name: faster, kind: forced_choice_tie, text: "Which felt faster?"}}
design:
  pairs: [[live_arm, paced_arm]]
{design}
"""


def live_study(team, design="", live=""):
    return import_yaml(LIVE_STUDY.format(design=design, live=live), team)


def failed_record(code="connect_failed"):
    return {"text": "", "reasoning": "", "chunks": [], "usage": None, "finish_reason": "", "failure": code,
            "request_s": None, "ttft_s": None, "tokens_per_second": None, "in_flight": 1, "queued_s": 0.0}


def fail_once(participant, code="connect_failed"):
    trial = participant.trials.select_related("arm_a").get(index=0)
    actions.start_trial(participant.pk, 0)
    pane = "A" if trial.arm_a.name == "live_arm" else "B"
    return actions.fail_live_trial(participant.pk, 0, code, {"relayed": []}, {pane: failed_record(code)})


def test_it_skips_a_trial_restarted_past_the_studys_cap_and_lets_the_participant_move_on(participant):
    actions.start_trial(participant.pk, 0)
    for restart in (1, 2):  # a fresh page on a trial still streaming restarts it, up to max_restarts (2)
        assert actions.start_trial(participant.pk, 0)["restarted"]
    with pytest.raises(actions.TrialUnavailable) as caught:
        actions.start_trial(participant.pk, 0)
    assert caught.value.code == "trial_skipped"
    trial = participant.trials.get(index=0)
    assert (trial.status, trial.skip_reason, trial.restarts) == (Trial.Status.SKIPPED, "restart_limit", 2)
    following = participant.trials.exclude(index=0).order_by("index").first()
    assert actions.pending_trial(participant) == following  # the next trial, or none: the session can end
    with pytest.raises(actions.TrialUnavailable):
        actions.start_trial(participant.pk, 0)  # a skipped trial stays skipped


def test_it_skips_instead_of_blocking_a_participant_on_an_interrupted_trial(team):
    study = import_yaml(QUICK_STUDY_YAML.replace("design:\n", "design:\n  interrupted_trial: block\n"), team)
    participant = actions.give_consent(actions.enroll_participant(study))
    actions.start_trial(participant.pk, 0)
    with pytest.raises(actions.TrialUnavailable) as caught:
        actions.start_trial(participant.pk, 0)
    assert caught.value.code == "trial_skipped" and participant.trials.get(index=0).skip_reason == "blocked"


def test_it_restarts_a_failed_live_trial_until_its_cap_then_skips_it_keeping_every_attempt(team):
    participant = actions.give_consent(actions.enroll_participant(live_study(team, "  max_restarts: 1")))
    assert fail_once(participant) == actions.RESTART
    assert actions.start_trial(participant.pk, 0)["restarted"]
    assert actions.fail_live_trial(participant.pk, 0, "server_error", {"relayed": []}, {}) == actions.SKIPPED
    trial = participant.trials.get(index=0)
    assert trial.status == Trial.Status.SKIPPED and trial.skip_reason == "restart_limit: server_error"
    assert list(LiveResponse.objects.values_list("attempt", "failure")) == [(0, "connect_failed")]


def test_it_skips_a_live_trial_refused_by_its_busy_arm_at_once(team):
    participant = actions.give_consent(actions.enroll_participant(live_study(team)))
    assert fail_once(participant, "arm_busy") == actions.SKIPPED
    assert participant.trials.get(index=0).skip_reason == "arm_busy"


def test_it_resumes_a_failed_live_trial_by_restarting_it_never_replaying_the_failure(team):
    participant = actions.give_consent(actions.enroll_participant(live_study(team, "  interrupted_trial: resume")))
    fail_once(participant)
    stream = actions.start_trial(participant.pk, 0)
    assert stream["restarted"] and not stream["resumed"] and stream["after_seq"] == 0


def test_it_shows_live_failures_per_arm_and_pauses_the_study_past_its_failure_rate(team):
    study = live_study(team, "  failure_pause_rate: 0.6\n  failure_pause_after: 3")
    participants = [actions.give_consent(actions.enroll_participant(study)) for _ in range(3)]
    for participant in participants[:2]:
        fail_once(participant)
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE  # 2 requests: fewer than failure_pause_after

    fail_once(participants[2], "rate_limited")
    study.refresh_from_db()
    assert study.status == Study.Status.PAUSED and "3 of the last 3 requests to live arm 'live_arm'" in study.paused_reason
    snapshot = monitor_snapshot(study)
    assert snapshot["paused_reason"] == study.paused_reason
    assert snapshot["live_arms"] == [{
        "arm": "live_arm", "requests": 3, "failures": 3, "failure_rate": 1.0,
        "codes": {"connect_failed": 2, "rate_limited": 1}, "skipped_trials": 0,
    }]
    assert actions.resume_study(study) == Study.Status.LIVE and study.paused_reason == ""
    entries = list(study.audit_entries.order_by("id").values_list("action", "user", "detail"))
    assert [entry[:2] for entry in entries] == [("pause", None), ("resume", None)]  # audited, no user
    assert entries[0][2].startswith("Paused automatically") and entries[1][2] == "paused → live"


def test_it_never_pauses_a_study_whose_failure_pause_rate_is_zero(team):
    study = live_study(team, "  failure_pause_rate: 0\n  failure_pause_after: 1")
    fail_once(actions.give_consent(actions.enroll_participant(study)))
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE


def test_it_reads_the_restart_cap_failure_pause_and_live_in_flight_limits_from_the_study_file(team):
    study = live_study(team, "  max_restarts: 0\n  failure_pause_rate: 0.25\n  failure_pause_after: 40",
                       live=", max_in_flight: 8, when_full: skip, queue_timeout_s: 5")
    session = study.session
    assert (session.max_restarts, session.failure_pause_rate, session.failure_pause_after) == (0, 0.25, 40)
    profile = study.arms.get(name="live_arm").profile
    assert (profile["max_in_flight"], profile["when_full"], profile["queue_timeout_s"]) == (8, "skip", 5)
    default = import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: quick2"), team).session
    assert (default.max_restarts, default.failure_pause_rate, default.failure_pause_after) == (2, 0.5, 10)


@pytest.mark.parametrize(
    "design, live, error",
    [
        ("  max_restarts: -1", "", "design.max_restarts"),
        ("  failure_pause_rate: 1.5", "", "design.failure_pause_rate"),
        ("", ", max_in_flight: 0", "max_in_flight"),
        ("", ", when_full: drop", "when_full"),
    ],
)
def test_it_refuses_bad_restart_pause_and_in_flight_settings(design, live, error):
    with pytest.raises(StudyFileError) as caught:
        parse_study_yaml(LIVE_STUDY.format(design=design, live=live))
    assert any(error in message for message in caught.value.errors)


def test_it_judges_a_live_trials_scheduled_pane_token_by_token_from_the_relayed_due_times(team):
    participant = actions.give_consent(actions.enroll_participant(live_study(team)))
    trial = participant.trials.select_related("arm_a").get(index=0)
    live, paced = ("A", "B") if trial.arm_a.name == "live_arm" else ("B", "A")
    actions.start_trial(participant.pk, 0)
    # The live pane's one chunk; the paced pane's frame of three tokens, due 0.100, 0.105, 0.110 s.
    timing = {"relayed": [[1, live, 0.2, 1, "answer"], [2, paced, 0.1, 3, "answer", [0.1, 0.105, 0.11]]]}
    actions.finish_live_trial(participant.pk, 0, timing, {})
    trial = Trial.objects.get(pk=trial.pk)
    assert actions.trial_targets(trial)[paced] == {2: (0.1, 3, "answer", [0.1, 0.105, 0.11])}

    # Shown as the Presenter shows parts: the first token at its frame, the others in the next one.
    frames = [[1, 203, 210], [2, 102, 110]]
    updates = [[1, 1, 210, 215], [2, 1, 110, 115], [2, 2, 126.7, 131]]
    actions.record_telemetry({"key": "9b2c5d4e-0000-4000-8000-000000000001", "group_name": "nobody",
                              "trial_id": trial.pk, "received_at": "2030-01-01T00:00:00+00:00",
                              "telemetry": {"frames": frames, "updates": updates, "frame_ms": 16.7}})
    pane = Trial.objects.get(pk=trial.pk).fidelity["panes"][paced]
    assert pane["tokens"] == 3 and pane["tokens_shown"] == 3 and pane["tokens_early"] == 0
    assert pane["target"]["tokens_per_second"] == pytest.approx(2 / 0.01)  # per token, not one frame
    assert pane["paint_error_ms"]["max"] == pytest.approx(126.7 - 105)
