"""What the participant sees, measured from outside: an injected probe against each arm's schedule.

The probe (uxlab/benchmarks/display_probe.js) is added before the page's scripts and reads nothing
uxlab measures: a MutationObserver on both panes, each change timed by the animation frame that
made it. Arms at 15, 100, 1,800 and 5,000 tokens/s and a hidden and a visible thinking phase must be
shown at their declared speed (within 2%), no token before its due time, and each pane's first
visible change in the first frame at or after its first token's due time. The pairs
(display_probe.PROBE_PAIRS, shared with bench_fidelity) have answers as long as a ±2% speed needs.
"""

import re

import pytest

from tests.browser.participant_flow import answer_trial, start_session
from uxlab.benchmarks.display_probe import (
    EARLY_TOLERANCE_MS,
    PROBE_PAIRS,
    SCRIPT,
    clock_uncertainty_ms,
    measure_trial,
    probe_study,
)
from uxlab.studies.models import Participant, Trial
from uxlab.studies.study_files import import_study, validate_study_data

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def probed_page(monkeypatch, browser):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    page = browser.new_page()
    page.add_init_script(SCRIPT)
    return page


def stream_probed_trial(page, base_url, study):
    """Run the study's first trial in the probed page; the probe's record and the stored trial."""
    start_session(page, base_url, study.code)
    page.wait_for_url(re.compile(r"/trial/$"))
    page.locator("#answers[data-allowed=true]").wait_for(timeout=60_000)
    record = page.evaluate("window.__uxlabProbe")
    trial = Trial.objects.select_related("prompt", "arm_a", "arm_b", "participant__study").get(
        participant=Participant.objects.get(study=study), index=0
    )
    return record, trial


@pytest.mark.parametrize("name", sorted(PROBE_PAIRS))
def test_it_displays_every_arm_at_its_declared_speed_and_no_token_early(name, team, stack, probed_page):
    study = import_study(validate_study_data(probe_study(name)), team=team, status="live")
    page = probed_page
    record, trial = stream_probed_trial(page, stack.url, study)

    panes = measure_trial(record, trial)

    for pane, seen in panes.items():
        label = f"{name} {pane} ({seen['arm']})"
        assert seen["tokens_not_shown"] == 0, label
        assert seen["tokens_shown_early"] == 0, f"{label}: a token {seen['max_early_ms']:.3f} ms early"
        assert 0.98 <= seen["displayed_speed_ratio"] <= 1.02, f"{label}: {seen}"
        # The first visible change (text or the thinking indicator) and the first answer token: each
        # in the first frame the page had at or after its due time, which is within one frame of it
        # unless the browser dropped frames (then the onset error says by how much).
        for onset in ("onset", "answer_onset"):
            assert seen[f"{onset}_in_first_frame"], f"{label} {onset}: {seen}"
            assert seen[f"{onset}_error_ms"] >= -EARLY_TOLERANCE_MS, f"{label} {onset}: {seen}"
    assert {seen["arm"] for seen in panes.values()} == {trial.arm_a.name, trial.arm_b.name}

    # uxlab's own verdict, from its telemetry, agrees that nothing was early.
    answer_trial(page, answer_key="3")
    trial.refresh_from_db()
    assert trial.fidelity["tokens_early"] == 0
    assert trial.fidelity["clock"]["rounds"] >= 12 and trial.fidelity["clock_uncertainty_ms"] is not None


def test_it_keeps_server_paced_delivery_at_the_declared_speed_and_never_early(team, stack, probed_page):
    # Server-paced, a message's first token is shown when it arrives and its later tokens as long
    # after that as the schedule says; arrival follows the due time on the server's clock, so
    # "early" is judged to within the page's clock uncertainty.
    study = import_study(validate_study_data(probe_study("thinking", delivery="server_paced")), team=team, status="live")
    record, trial = stream_probed_trial(probed_page, stack.url, study)
    assert trial.delivery == "server_paced"

    panes = measure_trial(record, trial, early_tolerance_ms=clock_uncertainty_ms(record))

    for pane, seen in panes.items():
        assert seen["tokens_not_shown"] == 0 and seen["tokens_shown_early"] == 0, f"{pane}: {seen}"
        assert 0.98 <= seen["displayed_speed_ratio"] <= 1.02, f"{pane}: {seen}"
