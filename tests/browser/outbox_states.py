"""Participants left in a given state, with what an earlier page left in their browser's outbox:
shared by the completion and telemetry-limit browser tests."""

import json
import time
import uuid

from django.utils import timezone

from tests.conftest import import_yaml
from uxlab.studies import actions
from uxlab.studies.models import Participant, Rating, Trial, TrialTelemetry


def two_trial_study(code, title, completion_code, quick="ttft_s: 0.1, tokens_per_second: 200",
                    slower="ttft_s: 0.2, tokens_per_second: 100", save_timeout_s=3):
    """The study YAML of the browser tests of what an outbox holds: two trials of one pair of arms
    (`quick` and `slower`: their latency fields), one forced-choice question, and a short save
    timeout by default, so a page that waits in vain gives up (and fails its test) quickly."""
    return f"""
version: 1
code: {code}
title: {title}
consent: {{text: You agree.}}
completion: {{code: {completion_code}}}
arms:
  - {{name: quick, {quick}}}
  - {{name: slower, {slower}}}
prompts:
  - {{name: p0, text: First question., response: A short fixed answer to the first question.}}
  - {{name: p1, text: Second question., response: Another short answer to the second one.}}
questions:
  - {{name: faster, kind: forced_choice_tie, text: "Which felt faster?"}}
design:
  pairs: [[quick, slower]]
  save_timeout_s: {save_timeout_s}
"""


def first_trial_answered_and_its_telemetry_only_in_the_outbox(team, last_trial_skipped_at_start=True, save_timeout_s=3):
    """A participant whose first trial was streamed and answered, its answer stored but not its
    telemetry (the page's outbox still holds the batch: its publish failed, say), and (unless told
    otherwise) whose last trial was interrupted by a failing backend with its restarts used up, so
    the server skips it when its page starts it (trial_skipped). Returns (participant, batch)."""
    study = import_yaml(two_trial_study("skiplast", "The last trial skipped", "SKIPLAST42", save_timeout_s=save_timeout_s), team)
    participant = actions.give_consent(actions.enroll_participant(study))
    now = timezone.now()
    Participant.objects.filter(pk=participant.pk).update(
        checks={"passed": True}, checked_at=now, instructions_seen_at=now, layout="side_by_side"
    )
    first, last = participant.trials.order_by("index")
    Trial.objects.filter(pk=first.pk).update(
        status=Trial.Status.FINISHED, stream_t0=time.time() - 60, started_at=now, finished_at=now, delivery="controlled"
    )
    Rating.objects.create(
        participant=participant, trial=first, question=study.questions.get(), value="A", response_ms=900, received_at=now
    )
    if last_trial_skipped_at_start:
        Trial.objects.filter(pk=last.pk).update(
            status=Trial.Status.INTERRUPTED, stream_t0=time.time() - 30, started_at=now, delivery="controlled",
            restarts=study.session.max_restarts, server_timing={"interrupted": "connect_failed"},
        )
    batch = {
        "type": "telemetry.submit", "key": str(uuid.uuid4()), "trial": first.index,
        "frames": [[1, -240.5, 16.7]], "updates": [[1, 1, 16.7, 19.1]], "visibility": [], "focus": [],
        "clock": {"offset_ms": 0.2, "rtt_ms": 0.5, "rounds": 12, "uncertainty_ms": 0.25}, "frame_ms": 16.7, "reconnects": 0,
    }
    return participant, batch


def every_trial_answered_and_the_first_trials_telemetry_only_in_the_outbox(team, save_timeout_s=3):
    """As first_trial_answered_and_its_telemetry_only_in_the_outbox, but the last trial was streamed
    and answered too, its answer and telemetry stored (a minute ago): only the first trial's
    telemetry is missing, so the done page says it is saving. Returns (participant, batch)."""
    participant, batch = first_trial_answered_and_its_telemetry_only_in_the_outbox(
        team, last_trial_skipped_at_start=False, save_timeout_s=save_timeout_s
    )
    first, last = participant.trials.order_by("index")
    now = timezone.now()
    Trial.objects.filter(pk=last.pk).update(
        status=Trial.Status.FINISHED, stream_t0=time.time() - 60, started_at=now, finished_at=now, delivery="controlled"
    )
    Rating.objects.create(participant=participant, trial=last, question=first.ratings.get().question, value="B",
                          response_ms=900, received_at=now)
    TrialTelemetry.objects.create(key=uuid.uuid4(), trial=last, payload={"frames": []}, received_at=now)
    return participant, batch


def page_with_outbox(browser, token, messages):
    """A page whose browser has `messages` in the participant's outbox, as an earlier page left them."""
    context = browser.new_context()
    outbox = json.dumps({message["key"]: message for message in messages})
    context.add_init_script(
        f"if (localStorage.getItem('uxlab.outbox.{token}') === null) localStorage.setItem('uxlab.outbox.{token}', {json.dumps(outbox)});"
    )
    page = context.new_page()
    saving = []

    def on_response(response):
        try:
            if 'id="saving"' in response.text():
                saving.append(time.time())
        except Exception:  # redirects have no body
            pass

    page.on("response", on_response)
    return page, saving
