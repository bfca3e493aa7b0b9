from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from uxlab.studies.models import Participant, Rating, Study
from uxlab.studies.study_files import import_study, parse_study_yaml

DEMO = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "demo.yaml"

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(team):
    return import_study(parse_study_yaml(DEMO.read_text()), team=team, status=Study.Status.LIVE)


def test_it_answers_every_question_of_every_trial_through_the_real_actions(demo):
    call_command("simulate_participants", demo.code, "--participants", "6")
    participants = Participant.objects.filter(study=demo)
    assert participants.count() == 6 and all(p.completed_at and p.checks["simulated"] for p in participants)
    questions = demo.questions.count()
    for participant in participants:
        assert Rating.objects.filter(participant=participant).count() == participant.trials.count() * questions
        # The instructed answer on the attention check.
        attention = participant.trials.get(kind="attention")
        assert attention.attention_passed is True


def test_it_makes_the_faster_arm_win_more_often(demo):
    call_command("simulate_participants", demo.code, "--participants", "20", "--slope", "3")
    choices = Rating.objects.filter(question__name="faster", trial__kind="trial").select_related("trial__arm_a", "trial__arm_b")
    fast = sum(
        1 for r in choices if (r.value == "A" and r.trial.arm_a.name == "wafer_scale_8b") or (r.value == "B" and r.trial.arm_b.name == "wafer_scale_8b")
    )
    assert fast / choices.count() > 0.9


def test_it_refuses_a_study_that_is_not_live(demo):
    Study.objects.filter(pk=demo.pk).update(status=Study.Status.CLOSED)
    with pytest.raises(CommandError, match="closed"):
        call_command("simulate_participants", demo.code)
