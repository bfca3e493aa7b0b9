"""A trial's telemetry past what one frame may carry (1 MiB, docs/protocol.md, Telemetry) is thinned
by the page before it is sent, never refused for its size and resent for ever: first stream.js's
fitTelemetry on its own, then a whole session in the browser whose trials' telemetry is too large."""

import re

import pytest

from tests.browser.outbox_states import (
    first_trial_answered_and_its_telemetry_only_in_the_outbox,
    page_with_outbox,
    two_trial_study,
)
from tests.browser.participant_flow import answer_trial, start_session
from tests.browser.static_page import open_static_page
from tests.conftest import import_yaml
from uxlab.live.protocol import MAX_TELEMETRY_BYTES
from uxlab.studies.models import Participant, TrialTelemetry

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><body><script type="module">
import { fitTelemetry, TELEMETRY_LIMITS } from "/stream.js";
window.fit = (batch, limits) => {
  const fitted = fitTelemetry(batch, limits || TELEMETRY_LIMITS);
  return { same: fitted === batch, fitted, bytes: new TextEncoder().encode(JSON.stringify(fitted)).length };
};
// A trial's batch as the page builds it: `messages` stream messages, each shown by `perMessage`
// animation frames (one update each), and a visibility change every `visibilityEvery` messages.
window.batch = (messages, perMessage, visibilityEvery = 0) => {
  const frames = [], updates = [], visibility = [];
  for (let seq = 1; seq <= messages; seq += 1) {
    frames.push([seq, seq * 16.667 - 250.125, seq * 16.667 + 0.5]);
    for (let frame = 0; frame < perMessage; frame += 1) updates.push([seq, 2, seq * 16.667 + frame * 16.667, seq * 16.667 + frame * 16.667 + 3.25]);
    if (visibilityEvery && seq % visibilityEvery === 0) visibility.push([seq * 16.667, seq % (2 * visibilityEvery) ? "hidden" : "visible"]);
  }
  return { type: "telemetry.submit", key: "6f1c8a52-1f0e-4b5e-9a53-0d6f2b7f9c11", trial: 3, frames, updates, visibility,
           focus: [[12.5, "blur"]], clock: { offset_ms: 1.5, rtt_ms: 0.8, rounds: 12, uncertainty_ms: 0.4 }, frame_ms: 16.667, reconnects: 0 };
};
window.ready = true;
</script></body></html>"""


@pytest.fixture
def page(browser):
    return open_static_page(browser, PAGE, ["stream.js"])


def fit(page, messages, per_message, visibility_every=0, limits=None):
    return page.evaluate(
        "([messages, perMessage, visibilityEvery, limits]) => window.fit(window.batch(messages, perMessage, visibilityEvery), limits)",
        [messages, per_message, visibility_every, limits],
    )


def updates_by_seq(batch):
    counts = {}
    for seq, *_ in batch["updates"]:
        counts[seq] = counts.get(seq, 0) + 1
    return counts


def test_it_sends_a_batch_within_the_limits_as_it_is(page):
    result = fit(page, 500, 2, visibility_every=50)
    assert result["same"] and "truncated" not in result["fitted"]


def test_it_leaves_out_the_latest_messages_updates_first_and_keeps_every_message(page):
    """Five minutes of both panes at 60 Hz, two frames a message: about 2 MiB. Every message keeps
    its frame entry; the updates left are all of the earliest messages' and none of the rest."""
    result = fit(page, 18_000, 2)
    fitted = result["fitted"]
    assert not result["same"] and MAX_TELEMETRY_BYTES - 200 < result["bytes"] <= MAX_TELEMETRY_BYTES
    assert len(fitted["frames"]) == 18_000 and fitted["focus"] == [[12.5, "blur"]] and fitted["clock"]["rounds"] == 12
    counts = updates_by_seq(fitted)
    kept = max(counts)
    assert counts == {seq: 2 for seq in range(1, kept + 1)}  # whole messages, the earliest
    assert fitted["truncated"] == {"frames": 0, "updates": 2 * (18_000 - kept), "visibility": 0, "focus": 0}
    # Thinning again changes nothing: an outbox entry thinned once stays as it is.
    again = page.evaluate("(batch) => window.fit(batch)", fitted)
    assert again["same"]


def test_it_leaves_out_the_latest_messages_frames_only_when_no_update_is_left(page):
    limits = {"bytes": 200_000, "frames": 50_000, "updates": 100_000, "visibility": 2_000, "focus": 2_000}
    result = fit(page, 18_000, 2, limits=limits)
    fitted = result["fitted"]
    assert result["bytes"] <= 200_000 and fitted["updates"] == []
    assert [entry[0] for entry in fitted["frames"]] == list(range(1, len(fitted["frames"]) + 1))
    assert fitted["truncated"] == {"frames": 18_000 - len(fitted["frames"]), "updates": 36_000, "visibility": 0, "focus": 0}


def test_it_keeps_each_list_within_its_count_and_the_first_visibility_changes(page):
    result = fit(page, 60_000, 1, visibility_every=10)  # 60,000 frames, 6,000 visibility changes
    fitted = result["fitted"]
    assert result["bytes"] <= MAX_TELEMETRY_BYTES
    assert len(fitted["frames"]) <= 50_000 and len(fitted["updates"]) <= 100_000
    first = page.evaluate("() => window.batch(60000, 1, 10).visibility.slice(0, 2000)")
    assert fitted["visibility"] == first and fitted["truncated"]["visibility"] == 4_000


# --- a whole session in the browser --------------------------------------------------------------

# Two trials streaming for a couple of seconds each; a short save timeout, so that a last page waiting
# for telemetry that never comes gives up (and fails this test) quickly.
STUDY = two_trial_study(
    "bigtelemetry", "Telemetry past a frame's limit", "BIGTEL42",
    quick="ttft_s: 0.8, tokens_per_second: 40", slower="ttft_s: 1.2, tokens_per_second: 25",
)

# Appended to stream.js as the test serves it: every trial's telemetry grows by 60,000 updates of
# later messages (seq 100,000 on), about 1.3 MiB, as minutes of streaming would.
LONG_TRIAL = """
const shortTrial = Telemetry.prototype.message;
Telemetry.prototype.message = function (...args) {
  const batch = shortTrial.apply(this, args);
  const later = [];
  for (let i = 0; i < 60000; i += 1) later.push([100000 + i, 1, 5000 + i * 16, 5004 + i * 16]);
  return { ...batch, updates: [...batch.updates, ...later] };
};
"""


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_session_whose_telemetry_is_past_the_limit_sends_it_thinned_and_completes(monkeypatch, team, stack, browser):
    """Before, the page sent each oversized batch, the server refused it unread (too_large, no ref),
    and the outbox kept it and sent it again on every page, until the last page gave up waiting."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    study = import_yaml(STUDY, team)
    page = browser.new_page()
    sent = []
    page.on("websocket", lambda socket: socket.on("framesent", lambda payload: sent.append(payload)))

    def long_trials(route):
        response = route.fetch()
        route.fulfill(response=response, body=response.text() + LONG_TRIAL)

    page.route(re.compile(r"/static/uxlab/stream\.[0-9a-f]+\.js$"), long_trials)

    start_session(page, stack.url, study.code)
    answer_trial(page)
    answer_trial(page)
    page.wait_for_url(re.compile(r"/done/$"))

    assert page.locator("#completion-code").inner_text() == "BIGTEL42"
    sizes = [len(payload.encode()) for payload in sent]
    assert max(sizes) <= MAX_TELEMETRY_BYTES
    participant = Participant.objects.get(study=study)
    assert participant.completed_at is not None and participant.completion_unconfirmed_at is None
    token = participant.token
    assert page.evaluate(f"localStorage.getItem('uxlab.outbox.{token}')") == "{}"
    for trial in participant.trials.all():
        (batch,) = TrialTelemetry.objects.filter(trial=trial)
        left_out = batch.payload["truncated"]
        assert left_out["updates"] > 0 and left_out["frames"] == 0
        # The later updates went first: those kept are the trial's own and the earliest added ones.
        added = sorted(seq for seq, *_ in batch.payload["updates"] if seq >= 100_000)
        assert added == list(range(100_000, 100_000 + len(added)))
        assert trial.fidelity["telemetry_truncated"] == left_out
        assert all(pane["tokens_shown"] == pane["tokens"] for pane in trial.fidelity["panes"].values())


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_an_oversized_batch_an_older_page_left_in_the_outbox_is_thinned_under_its_key_and_stored(
    monkeypatch, team, stack, browser
):
    """A batch past the limit that an older version of the page left in the outbox (the first trial's,
    never stored: the server refused it unread) is thinned when the last trial's page opens and sent
    under its own key; the session completes with it stored. Before, the page sent it as it was, the
    server refused it again, and the last page waited for it until it gave up."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    participant, batch = first_trial_answered_and_its_telemetry_only_in_the_outbox(team, last_trial_skipped_at_start=False)
    batch["updates"] += [[100_000 + i, 1, 5000 + i * 16, 5004 + i * 16] for i in range(60_000)]
    page, _saving = page_with_outbox(browser, participant.token, [batch])
    sent = []
    page.on("websocket", lambda socket: socket.on("framesent", lambda payload: sent.append(payload)))

    page.goto(f"{stack.url}/p/{participant.token}/")
    assert page.locator("#progress-label").inner_text() == "Trial 2 of 2"
    answer_trial(page)
    page.wait_for_url(re.compile(r"/done/$"))

    assert page.locator("#completion-code").inner_text() == "SKIPLAST42"
    assert max(len(payload.encode()) for payload in sent) <= MAX_TELEMETRY_BYTES
    stored = TrialTelemetry.objects.get(key=batch["key"])
    assert stored.payload["frames"] == batch["frames"] and stored.payload["truncated"]["updates"] > 0
    participant.refresh_from_db()
    assert participant.completed_at is not None and participant.completion_unconfirmed_at is None
