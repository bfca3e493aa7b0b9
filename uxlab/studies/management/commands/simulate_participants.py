"""simulate_participants: fill a study with simulated participants, for demos and pilot checks.

Each simulated participant goes through the real actions (checks, consent, instructions,
assignment) and answers every trial; answers are stored through the rating path's own action
(record_ratings), which also scores the attention checks. Choices follow a logistic psychometric
function of the log speed ratio of the two arms, so the results page has something sensible to
analyse. The participants are marked as
simulated in their checks (`{"simulated": true}`), so they can be told apart in the exports.
"""

import math
import random
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from uxlab.studies import actions
from uxlab.studies.models import Participant, Study, Trial


def arm_speed(arm):
    """Tokens/s of an arm as its profile says (presets are resolved into the profile at import)."""
    return float((arm.profile or {}).get("tokens_per_second") or 50.0)


def simulated_answer(question, trial, rng, slope, attention):
    """One plausible answer: the faster pane is picked more often the larger the speed ratio."""
    if attention is not None and attention.get("question") == question.name:
        return attention["expected"]
    speed_a, speed_b = arm_speed(trial.arm_a), arm_speed(trial.arm_b)
    log_ratio = math.log(max(speed_a, 1e-6) / max(speed_b, 1e-6))
    p_a = 1 / (1 + math.exp(-slope * log_ratio))
    kind = question.kind
    if kind in (question.Kind.FORCED_CHOICE, question.Kind.FORCED_CHOICE_TIE, question.Kind.PREFERENCE):
        values = [value for value, _label in question.choices]
        if "tie" in values and abs(log_ratio) < 0.2 and rng.random() < 0.5:
            return "tie"
        return "A" if rng.random() < p_a else "B"
    if kind == question.Kind.LIKERT:
        scale = question.option("scale")
        own = p_a if question.pane == "A" else 1 - p_a
        return str(max(1, min(scale, round(1 + own * (scale - 1) + rng.gauss(0, 0.7)))))
    if kind == question.Kind.SLIDER:
        low, high = question.option("min"), question.option("max")
        return str(round(low + (high - low) * rng.random()))
    if kind == question.Kind.WAIT_ESTIMATE:
        return str(round(rng.uniform(1, 20), 1))
    return ""


class Command(BaseCommand):
    help = "Add simulated participants who answer every trial of a study (demos, pilot checks)."

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("--participants", type=int, default=10)
        parser.add_argument("--slope", type=float, default=1.5, help="psychometric slope per unit log speed ratio")
        parser.add_argument("--seed", default="simulated")

    def handle(self, code, participants, slope, seed, **options):
        study = Study.objects.filter(code=code).first()
        if study is None:
            raise CommandError(f"no study with code {code!r}")
        if not study.is_open:
            raise CommandError(f"study {code!r} is {study.status}; simulated participants need it live")
        rng = random.Random(seed)
        checks = {attention["prompt"]: attention for attention in study.session.attention_checks}
        for _ in range(participants):
            self.simulate_one(study, rng, slope, checks)
        self.stdout.write(f"added {participants} simulated participants to {code}")

    @transaction.atomic
    def simulate_one(self, study, rng, slope, checks):
        participant = actions.enroll_participant(study)
        actions.record_checks(participant, {"simulated": True}, viewport_ok=True, stacked=False)
        participant = actions.give_consent(participant)
        actions.mark_instructions_seen(participant)
        questions = list(study.questions.all())
        payloads = []
        now = timezone.now()
        for trial in participant.trials.select_related("arm_a", "arm_b", "prompt").order_by("index"):
            Trial.objects.filter(pk=trial.pk).update(status=Trial.Status.FINISHED, started_at=now, finished_at=now)
            attention = checks.get(trial.prompt.name)
            for question in questions:
                value = simulated_answer(question, trial, rng, slope, attention)
                if not value:
                    continue
                payloads.append(
                    {
                        "key": str(uuid.uuid4()),
                        "participant_id": participant.pk,
                        "group_name": participant.group_name,
                        "trial_id": trial.pk,
                        "question_id": question.pk,
                        "value": question.clean_value(value),
                        "response_ms": int(rng.uniform(600, 4000)),
                        "received_at": now.isoformat(),
                    }
                )
        # The rating path scores the attention checks as it stores their answers.
        actions.record_ratings(payloads)
        outcome = actions.completion_outcome(participant)
        Participant.objects.filter(pk=participant.pk).update(
            completed_at=now,
            status=Participant.Status.COMPLETED,
            outcome=outcome,
            completion_code_shown=study.completion_for(outcome)[0],
        )
