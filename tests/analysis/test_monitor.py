"""The live monitor's snapshot (analysis/monitor.py): pilot and preview participants are counted
apart from real ones and left out of the cells, ratings and problems; their trials are marked."""

import pytest
from django.utils import timezone

from tests.web.conftest import answer, run_participant
from uxlab.analysis.monitor import monitor_snapshot
from uxlab.studies import actions
from uxlab.studies.actions import lifecycle
from uxlab.studies.models import Trial

pytestmark = pytest.mark.django_db


def finish_as_pilot(study, mode, value):
    participant = actions.give_consent(lifecycle.enroll_uncounted(study, mode))
    for trial in participant.trials.order_by("index"):
        Trial.objects.filter(pk=trial.pk).update(status=Trial.Status.FINISHED, started_at=timezone.now(),
                                                 finished_at=timezone.now())
        answer(trial, study.questions.first(), value)
    return participant


def test_pilot_and_preview_participants_are_counted_apart(study):
    run_participant(study, ["A"])
    finish_as_pilot(study, "pilot", "B")
    finish_as_pilot(study, "pilot", "B")
    finish_as_pilot(study, "preview", "tie")
    lifecycle.enroll_uncounted(study, "preview")  # still on the welcome page

    snapshot = monitor_snapshot(study)
    assert sum(snapshot["participants"].values()) == 1  # the real participant only
    assert snapshot["uncounted"] == {"pilot": {"in_trial": 2}, "preview": {"in_trial": 1, "welcome": 1}}
    assert (snapshot["ratings"], snapshot["uncounted_ratings"]) == (1, 3)
    assert [row["finished"] for row in snapshot["quota"]] == [1]  # only the real participant's trial
    modes = [row["mode"] for row in snapshot["recent_trials"]]
    assert sorted(modes) == ["", "pilot", "pilot", "preview"]


def test_without_pilots_the_uncounted_counts_are_empty(study):
    snapshot = monitor_snapshot(study)
    assert snapshot["uncounted"] == {"pilot": {}, "preview": {}} and snapshot["uncounted_ratings"] == 0
    assert snapshot["participants"]["welcome"] == 0


def test_a_pilots_failed_attention_check_is_not_a_problem_of_the_study(study):
    pilot = finish_as_pilot(study, "pilot", "A")
    Trial.objects.filter(participant=pilot).update(attention_passed=False)
    assert monitor_snapshot(study)["attention_check_failures"] == 0
    real = run_participant(study, ["A"])
    Trial.objects.filter(participant=real).update(attention_passed=False)
    assert monitor_snapshot(study)["attention_check_failures"] == 1
