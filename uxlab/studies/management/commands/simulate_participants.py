"""simulate_participants: fill a study with simulated participants who have a known truth, for
demos, pilot checks and checking the analysis.

Each simulated participant goes through the real actions (checks, consent, instructions,
assignment) and answers trials; answers are stored through the rating path's own action
(record_ratings), which also scores the attention checks. The response model
(analysis/simulation.py, docs/analysis.md) has a threshold and slope on the log speed ratio and on
the log TTFT ratio, lapses, a position bias, a tendency to say "no difference", a share of
inattentive participants (who answer at random and fail attention checks) and drop-outs (who leave
part-way and never complete). The command itself scores nothing, so a simulation shows whatever the
real path stores. Participants are marked as simulated in their checks (`{"simulated": true}`).
"""

import random
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from uxlab.analysis.results import declared_timing
from uxlab.analysis.simulation import ResponseModel, draw_participant
from uxlab.analysis.simulation import answer as simulated_answer
from uxlab.studies import actions
from uxlab.studies.models import Participant, Study, Trial


def add_model_arguments(parser):
    """The response model's options, shared with plan_study."""
    truth = parser.add_mutually_exclusive_group()
    truth.add_argument("--threshold", type=float, default=1.5,
                       help="speed ratio the faster arm needs to be picked 75%% of the time (default 1.5)")
    truth.add_argument("--slope", type=float, default=None,
                       help="instead of --threshold: slope per unit log speed ratio (threshold = exp(log 3 / slope))")
    parser.add_argument("--ttft-threshold", type=float, default=1.5, help="TTFT ratio picked 75%% of the time")
    parser.add_argument("--lapse", type=float, default=0.05, help="share of answers given at random")
    parser.add_argument("--position-bias", type=float, default=0.5, help="P(choosing the left pane) between equal arms")
    parser.add_argument("--tie-tendency", type=float, default=0.2, help="how readily 'no difference' is said (0-1)")
    parser.add_argument("--inattentive", type=float, default=0.0, help="share of participants answering at random")
    parser.add_argument("--dropout", type=float, default=0.0, help="share of participants who leave part-way")
    parser.add_argument("--arm-effect", action="append", default=[], metavar="ARM=LOGODDS",
                        help="an assumed preference for an arm beyond speed and TTFT (repeatable)")


def arm_effects_from(values):
    effects = []
    for value in values:
        name, _, number = value.partition("=")
        try:
            effects.append((name.strip(), float(number)))
        except ValueError:
            raise CommandError(f"--arm-effect takes ARM=LOGODDS, not {value!r}") from None
    return tuple(effects)


def model_from(options):
    try:
        return ResponseModel(
            threshold_ratio=options["threshold"], slope=options["slope"],
            ttft_threshold_ratio=options["ttft_threshold"], lapse=options["lapse"],
            position_bias=options["position_bias"], tie_tendency=options["tie_tendency"],
            inattentive=options["inattentive"], dropout=options["dropout"],
            arm_effects=arm_effects_from(options["arm_effect"]),
        )
    except ValueError as error:
        raise CommandError(str(error)) from None


class Command(BaseCommand):
    help = "Add simulated participants with a known response model to a live study (demos, pilots, analysis checks)."

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("--participants", type=int, default=10)
        parser.add_argument("--seed", default="simulated")
        add_model_arguments(parser)

    def handle(self, code, participants, seed, **options):
        study = Study.objects.filter(code=code).first()
        if study is None:
            raise CommandError(f"no study with code {code!r}")
        if not study.is_open:
            raise CommandError(f"study {code!r} is {study.status}; simulated participants need it live")
        model = model_from(options)
        rng = random.Random(seed)
        checks = {attention["prompt"]: attention for attention in study.session.attention_checks}
        completed = sum(self.simulate_one(study, rng, model, checks) for _ in range(participants))
        self.stdout.write(f"added {participants} simulated participants to {code} ({completed} completed)")

    @transaction.atomic
    def simulate_one(self, study, rng, model, checks):
        """One participant: answers every trial (or leaves part-way); returns whether they completed."""
        participant = actions.enroll_participant(study)
        actions.record_checks(participant, {"simulated": True}, viewport_ok=True, stacked=False)
        participant = actions.give_consent(participant)
        actions.mark_instructions_seen(participant)
        questions = list(study.questions.all())
        adaptive = bool(actions.adaptive_config(study))
        planned = list(participant.trials.select_related("arm_a", "arm_b", "prompt").order_by("index"))
        # An adaptive session makes each next trial as the last one's answers are stored.
        person = draw_participant(model, rng, actions.adaptive_trial_limit(study) if adaptive else len(planned))
        payloads = []
        now = timezone.now()
        position = 0
        while True:
            if adaptive:
                actions.record_ratings(payloads)
                payloads = []
                trial = actions.pending_trial(participant)
            else:
                trial = planned[position] if position < len(planned) else None
            if trial is None or (person.leaves_after is not None and position >= person.leaves_after):
                break
            position += 1
            Trial.objects.filter(pk=trial.pk).update(status=Trial.Status.FINISHED, started_at=now, finished_at=now)
            timing = declared_timing(actions.pane_profile(trial, "A") or {}, actions.pane_profile(trial, "B") or {})
            check = checks.get(trial.prompt.name)
            for question in questions:
                if not question.asked_on(trial.index):
                    continue  # ask: once, on the first trial only
                expected = check["expected"] if check and check["question"] == question.name else None
                if question.asked_once and question.choices:
                    # A screener is about the participant, not the trial: drawn uniformly, unrelated
                    # to their simulated threshold.
                    value = rng.choice([choice for choice, _label in question.choices])
                else:
                    value = simulated_answer(model, rng, person, question.kind, question.resolved_options, timing,
                                             pane=question.pane or None, expected=expected,
                                             arms=(trial.arm_a.name, trial.arm_b.name))
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
        if person.leaves_after is not None:
            return False
        outcome = actions.completion_outcome(participant)
        Participant.objects.filter(pk=participant.pk).update(
            completed_at=now,
            status=Participant.Status.COMPLETED,
            outcome=outcome,
            completion_code_shown=study.completion_for(outcome)[0],
        )
        return True
