import pytest
from django.urls import reverse
from django.utils import timezone

from tests.analysis.test_fidelity import pane

pytestmark = pytest.mark.django_db


def test_it_shows_each_arms_fidelity_and_the_trials(client, alice, participant, trial):
    trial.started_at = timezone.now()
    trial.delivery = "controlled"
    trial.fidelity = {
        "panes": {"A": {**pane(0.97, 0.05, 0.06, 9.5), "speed_ratio": 1.004}, "B": pane(0.5, 0.2, 0.4, 80.0)},
        "interrupted": False,
        "tokens_early": 0,
        "clock_uncertainty_ms": 9.25,
        "clock_ok": False,
    }
    trial.save()
    client.force_login(alice)

    page = client.get(reverse("web:fidelity", kwargs={"code": participant.study.code})).content.decode()

    assert trial.arm_a.name in page and trial.arm_b.name in page
    assert "97%" in page and "50%" in page and "80.0" in page
    # The displayed speed over the declared one, and the clock's uncertainty with what it means.
    assert "1.004" in page
    assert "9.25 (uncertain)" in page and "± 9.25 ms" in page and "onsets are uncertain" in page


def test_it_says_when_nothing_was_measured_yet(client, alice, study):
    client.force_login(alice)
    page = client.get(reverse("web:fidelity", kwargs={"code": study.code})).content.decode()
    assert "No measured trials yet" in page and "No trial has started yet" in page
