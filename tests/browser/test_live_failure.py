"""A participant is never trapped by a live backend that is down: in a real browser, the live trial
fails, is restarted up to the study's cap, is skipped with its reason recorded, and the session goes
on to the next trial and to the completion code."""

import socket

import pytest

from tests.browser.participant_flow import complete_session
from tests.conftest import import_yaml
from uxlab.studies.models import LiveResponse, Participant, Trial

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def dead_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


STUDY = """
version: 1
code: deadlive
title: A live backend that is down
consent: {{text: You agree.}}
completion: {{code: DONE42}}
arms:
  - {{name: live_arm, kind: live, base_url: "{base_url}", model: m}}
  - {{name: paced_arm, ttft_s: 0.1, tokens_per_second: 400}}
  - {{name: other_arm, ttft_s: 0.2, tokens_per_second: 200}}
prompts:
  - {{name: p, text: Say some words., response: A short fixed answer.}}
questions:
  - {{name: faster, kind: forced_choice_tie, text: "Which felt faster?"}}
design:
  pairs: [[live_arm, paced_arm], [paced_arm, other_arm]]
  max_restarts: 1
"""


def test_it_skips_a_live_trial_whose_backend_is_down_and_completes_the_session_in_the_browser(
    monkeypatch, team, stack, browser
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    study = import_yaml(STUDY.format(base_url=dead_url()), team)
    page = browser.new_page()

    code = complete_session(page, stack.url, study.code)

    assert code == "DONE42"
    participant = Participant.objects.get(study=study)
    assert participant.status == Participant.Status.COMPLETED
    trials = {trial.arm_a.name in ("live_arm",) or trial.arm_b.name == "live_arm": trial
              for trial in participant.trials.select_related("arm_a", "arm_b")}
    live, paced = trials[True], trials[False]
    assert live.status == Trial.Status.SKIPPED and live.skip_reason == "restart_limit: connect_failed"
    assert live.restarts == 1 and LiveResponse.objects.filter(trial=live, failure="connect_failed").count() == 2
    assert paced.status == Trial.Status.FINISHED and paced.ratings.exists()
