from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from uxlab.studies.models import Participant, Rating, Study, Trial
from uxlab.studies.study_files import import_study, parse_study_yaml

DEMO = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "demo.yaml"

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(team):
    return import_study(parse_study_yaml(DEMO.read_text()), team=team, status=Study.Status.LIVE)


def faster_share(study):
    choices = Rating.objects.filter(participant__study=study, question__name="faster", trial__kind="trial").select_related(
        "trial__arm_a", "trial__arm_b")
    fast = sum(1 for r in choices if (r.value == "A" and r.trial.arm_a.name == "wafer_scale_8b")
               or (r.value == "B" and r.trial.arm_b.name == "wafer_scale_8b"))
    return fast / choices.count()


def test_it_answers_every_question_of_every_trial_through_the_real_actions(demo):
    call_command("simulate_participants", demo.code, "--participants", "6")
    participants = Participant.objects.filter(study=demo)
    assert participants.count() == 6 and all(p.completed_at and p.checks["simulated"] for p in participants)
    questions = demo.questions.count()
    for participant in participants:
        assert Rating.objects.filter(participant=participant).count() == participant.trials.count() * questions
        # The instructed answer on the attention check is given; scoring it is the rating path's job.
        attention = participant.trials.get(kind="attention")
        assert attention.ratings.get(question__name="faster").value == "tie"


def test_it_does_not_score_attention_checks_itself(demo, monkeypatch):
    from uxlab.studies import actions

    monkeypatch.setattr(actions, "score_attention_checks", lambda participant: pytest.fail("the command scored"))
    call_command("simulate_participants", demo.code, "--participants", "2")


def test_it_makes_the_faster_arm_win_more_often(demo):
    call_command("simulate_participants", demo.code, "--participants", "20", "--slope", "3", "--lapse", "0")
    assert faster_share(demo) > 0.9


def test_it_makes_inattentive_participants_answer_at_random_and_fail_the_check(demo):
    call_command("simulate_participants", demo.code, "--participants", "30", "--inattentive", "1", "--lapse", "0")
    assert 0.15 < faster_share(demo) < 0.5  # A, B or tie at random: the faster arm a third of the time
    answers = Rating.objects.filter(participant__study=demo, trial__kind="attention", question__name="faster")
    assert answers.count() == 30 and not answers.filter(value="tie").exists()


def test_it_lets_drop_outs_leave_part_way_without_completing(demo):
    call_command("simulate_participants", demo.code, "--participants", "10", "--dropout", "1")
    participants = Participant.objects.filter(study=demo)
    assert not participants.filter(completed_at__isnull=False).exists()
    for participant in participants:
        answered = Trial.objects.filter(participant=participant, ratings__isnull=False).distinct().count()
        assert 1 <= answered < participant.trials.count()


def test_it_has_a_position_bias_when_asked(demo):
    call_command("simulate_participants", demo.code, "--participants", "30", "--threshold", "1000", "--ttft-threshold", "1000",
                 "--position-bias", "0.9", "--lapse", "0", "--tie-tendency", "0")
    left = Rating.objects.filter(participant__study=demo, question__name="faster", trial__kind="trial", value="A")
    total = Rating.objects.filter(participant__study=demo, question__name="faster", trial__kind="trial")
    assert left.count() / total.count() > 0.75


def test_it_refuses_a_study_that_is_not_live(demo):
    Study.objects.filter(pk=demo.pk).update(status=Study.Status.CLOSED)
    with pytest.raises(CommandError, match="closed"):
        call_command("simulate_participants", demo.code)


def test_it_refuses_an_impossible_model(demo):
    with pytest.raises(CommandError, match="threshold"):
        call_command("simulate_participants", demo.code, "--threshold", "0.8")
