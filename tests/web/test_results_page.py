"""The results page: statistics and inline SVG plots (no CDN), and exclusion rules researchers toggle."""

import re

import pytest
from django.urls import reverse

from tests.web.conftest import run_participant
from uxlab.studies.models import Trial

pytestmark = pytest.mark.django_db


def test_it_shows_plots_inline_after_a_few_participants(client, study, alice):
    for values in (["A"], ["A"], ["B"], ["tie"], ["A"]):
        run_participant(study, values)
    page = client.get(reverse("web:results", args=[study.code]), {}, follow=False)
    client.force_login(alice)
    page = client.get(reverse("web:results", args=[study.code])).content.decode()
    assert page.count("<svg") >= 3  # speed ratio, TTFT difference, Bradley-Terry
    assert "fast_arm" in page and "Bradley" in page
    assert not re.search(r"<script[^>]+src=\"https?://", page) and "cdn" not in page.lower()


def test_it_shows_the_effect_of_toggling_an_exclusion_rule(client, study, alice):
    first = run_participant(study, ["A"])
    run_participant(study, ["B"])
    Trial.objects.filter(participant=first).update(status=Trial.Status.INTERRUPTED)
    client.force_login(alice)
    url = reverse("web:results", args=[study.code])
    applied = client.get(url).content.decode()
    assert "1 of 2 trials excluded; 1 answers analysed" in applied
    lifted = client.get(url, {"rules": "set", "rule": ["practice"]}).content.decode()
    assert "0 of 2 trials excluded; 2 answers analysed" in lifted


def test_it_compares_estimated_with_actual_waiting_time_per_arm(client, study, alice):
    from uxlab.studies.models import Question

    estimate = Question.objects.create(study=study, name="wait_A", kind="wait_estimate", pane="A", text="How long did A take?", position=9)
    participant = run_participant(study, ["A"])
    trial = participant.trials.select_related("arm_a").get()
    trial.fidelity = {"panes": {"A": {"observed": {"ttft_answer_s": 2.0}}}}
    trial.save(update_fields=["fidelity"])
    from tests.web.conftest import answer

    answer(trial, estimate, "3.0")

    from uxlab.analysis.results import study_results

    waiting = study_results(study, n_boot=10)["waiting_time"]
    assert waiting[0]["question"] == "wait"
    assert waiting[0]["arms"] == [
        {"arm": trial.arm_a.name, "n": 1, "mean_estimated_s": 3.0, "mean_actual_s": 2.0, "ratio": 1.5,
         "ratio_ci_low": None, "ratio_ci_high": None}
    ]
    client.force_login(alice)
    page = client.get(reverse("web:results", args=[study.code])).content.decode()
    assert "How long did A take?" in page and "1.50" in page
