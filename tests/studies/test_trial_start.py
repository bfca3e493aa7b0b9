"""A trial start is one database statement, whatever it does: a first start, a resume, a restart,
a skip or a refusal (issue 16). Every path is counted, and what it wrote is read back."""

import threading
import time

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from uxlab.streaming.delivery import START_DELAY_S
from uxlab.studies import actions
from uxlab.studies.models import Arm, Participant, RecordedTrace, Trial

pytestmark = pytest.mark.django_db

TRACE_STUDY = """
version: 1
code: traced
title: A recorded trace
consent: {text: You agree.}
arms:
  - {name: recorded, kind: live, base_url: "http://127.0.0.1:9/v1", model: m}
  - {name: replayed, kind: trace, recorded_arm: recorded, tokens_per_second: 500, ttft_s: 0.1}
  - {name: paced, ttft_s: 0.1, tokens_per_second: 200}
prompts:
  - {name: p, text: Say some words., response: The prompt's own answer.}
questions:
  - {name: faster, kind: forced_choice_tie, text: "Which felt faster?"}
design:
  pairs: [[replayed, paced]]
"""


def start(participant_id, index=0, after_seq=None):
    """start_trial, and the SQL statements it sent."""
    with CaptureQueriesContext(connection) as queries:
        try:
            return actions.start_trial(participant_id, index, after_seq), queries
        except actions.TrialUnavailable as error:
            return error, queries


def one_statement(queries):
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) == 1, statements
    return statements[0]


def test_it_starts_a_trial_in_one_statement_and_stores_its_t0_and_delivery(participant):
    before = time.time()
    stream, queries = start(participant.pk)
    assert one_statement(queries).lstrip().startswith("WITH locked AS")
    trial = Trial.objects.get(participant=participant, index=0)
    assert before + START_DELAY_S <= stream["t0"] == trial.stream_t0 <= time.time() + START_DELAY_S
    assert (trial.status, trial.delivery, trial.restarts, trial.resumes) == (Trial.Status.STREAMING, "controlled", 0, 0)
    assert trial.started_at is not None and Participant.objects.get(pk=participant.pk).last_seen_at is not None
    assert (stream["trial_id"], stream["delivery"], stream["after_seq"], stream["resumed"], stream["restarted"]) == (
        trial.pk, "controlled", 0, False, False
    )
    assert stream["arms"] == {"A": trial.arm_a_id, "B": trial.arm_b_id}
    assert stream["panes"] == actions.trial_pane_specs(trial)  # what the ORM path builds, from one statement
    assert stream["layout"] == {"layout": "side_by_side", "gap_s": 1.0}


def test_it_resumes_and_restarts_in_one_statement_each(participant):
    first, _ = start(participant.pk)
    resumed, queries = start(participant.pk, after_seq=5)
    one_statement(queries)
    assert (resumed["resumed"], resumed["after_seq"], resumed["t0"]) == (True, 5, first["t0"])
    restarted, queries = start(participant.pk)
    one_statement(queries)
    assert restarted["restarted"] and restarted["after_seq"] == 0 and restarted["t0"] > first["t0"]
    trial = Trial.objects.get(participant=participant, index=0)
    assert (trial.resumes, trial.restarts, trial.stream_t0) == (1, 1, restarted["t0"])


def test_it_skips_past_the_restart_cap_with_the_failure_in_one_statement(participant):
    start(participant.pk)
    Trial.objects.filter(participant=participant, index=0).update(
        status=Trial.Status.INTERRUPTED, restarts=2, server_timing={"interrupted": "gap"}
    )
    error, queries = start(participant.pk)
    one_statement(queries)
    assert isinstance(error, actions.TrialUnavailable) and error.code == "trial_skipped"
    trial = Trial.objects.get(participant=participant, index=0)
    assert (trial.status, trial.skip_reason, trial.restarts) == (Trial.Status.SKIPPED, "restart_limit: gap", 2)
    error, queries = start(participant.pk)  # a skipped trial stays skipped
    one_statement(queries)
    assert error.code == "trial_skipped"


def test_it_refuses_in_one_statement_and_changes_nothing(team, participant):
    start(participant.pk)
    trial = Trial.objects.get(participant=participant, index=0)
    Participant.objects.filter(pk=participant.pk).update(status=Participant.Status.EXPIRED, last_seen_at=None)
    error, queries = start(participant.pk)
    one_statement(queries)
    assert error.code == "session_expired"
    Participant.objects.filter(pk=participant.pk).update(status=Participant.Status.STARTED, completed_at=timezone.now())
    assert start(participant.pk)[0].code == "session_completed"
    after = Trial.objects.get(pk=trial.pk)
    assert (after.stream_t0, after.status, after.restarts) == (trial.stream_t0, trial.status, trial.restarts)
    assert Participant.objects.get(pk=participant.pk).last_seen_at is None

    unconsented = actions.enroll_participant(participant.study)
    error, queries = start(unconsented.pk)
    assert error.code == "unknown_trial" and len(queries) == 1  # no trials are assigned before consent
    Participant.objects.filter(pk=participant.pk).update(completed_at=None, consented_at=None)
    assert start(participant.pk)[0].code == "not_consented"


def test_it_reads_a_trace_arms_recording_in_the_same_statement(team):
    study = import_yaml(TRACE_STUDY, team)
    RecordedTrace.objects.create(
        study=study, arm=Arm.objects.get(study=study, name="recorded"), prompt=study.prompts.get(),
        text="The recorded answer.", reasoning="", chunks=[{"t": 0.1, "phase": "answer", "text": "The recorded answer."}],
    )  # fmt: skip
    participant = actions.give_consent(actions.enroll_participant(study))
    stream, queries = start(participant.pk)
    one_statement(queries)
    trace_pane = next(pane for pane in stream["panes"].values() if pane["kind"] == "trace")
    assert trace_pane["content"] == "The recorded answer." and trace_pane["trace"]["chunks"][0]["t"] == 0.1


def test_it_keeps_a_study_without_the_recording_from_starting(team):
    participant = actions.give_consent(actions.enroll_participant(import_yaml(TRACE_STUDY, team)))
    error, queries = start(participant.pk)
    assert error.code == "stimulus_not_ready" and len(queries) == 1


@pytest.mark.django_db(transaction=True)
def test_it_lets_one_of_two_simultaneous_starts_begin_the_trial(team):
    """Two pages starting the same trial at once: the row lock orders them, so one starts it and the
    other restarts it (a fresh page on a streaming trial), never two first starts."""
    participant = actions.give_consent(actions.enroll_participant(import_yaml(QUICK_STUDY_YAML, team)))
    results, barrier = [], threading.Barrier(2)

    def one():
        barrier.wait()
        try:
            results.append(actions.start_trial(participant.pk, 0))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result["restarted"] for result in results) == [False, True]
    trial = Trial.objects.get(participant=participant, index=0)
    assert trial.restarts == 1 and trial.stream_t0 == next(result["t0"] for result in results if result["restarted"])
