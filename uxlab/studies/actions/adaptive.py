"""Adaptive designs: the first trials at assignment, and each next trial chosen on the server when
the previous answer is stored (docs/adaptive.md).

The procedures are uxlab/adaptive (framework-free); this module keeps their state on an
AdaptiveRun, one AdaptiveStep per adaptive trial, and makes each trial from the reference arm with
the design's dimension changed on one pane (Trial.stimulus, applied by trial_pane_specs through
the arm's kind). The next trial is written in the same transaction as the answer that decides it,
before the browser hears the answer is stored, so the page that loads next finds it, on any web
process, after any reload. Nothing here reaches the browser but the panes' streams.
"""

import hashlib
import random

from django.utils import timezone

from uxlab.adaptive.session import AdaptiveSession, with_defaults
from uxlab.streaming import kinds
from uxlab.studies.assignment import attention_positions
from uxlab.studies.models import AdaptiveRun, AdaptiveStep, Rating, Trial


def adaptive_config(study):
    """The study's adaptive block (design.adaptive), or None for a fixed design."""
    return (study.design or {}).get("adaptive") or None


def reference_arm(study):
    return study.arms.get(name=adaptive_config(study)["reference"])


def reference_value(study, arm=None):
    """The reference arm's value of the design's dimension (the study file checked it has one)."""
    arm = arm or reference_arm(study)
    return kinds.get(arm.kind).dimension_value(arm.profile, adaptive_config(study)["dimension"])


def adaptive_trial_limit(study):
    """The most trials an adaptive session shows: its max_trials plus the attention checks."""
    return with_defaults(adaptive_config(study))["max_trials"] + len(study.session.attention_checks)


def session_of(run, config):
    return AdaptiveSession(config, run.reference_value)


def faster_pane(step_value, reference, test_pane, dimension):
    """The pane that really is faster: the test pane when its value is on the fast side."""
    higher_is_faster = kinds.DIMENSIONS[dimension]
    test_is_faster = (step_value > reference) == higher_is_faster
    return test_pane if test_is_faster else ("B" if test_pane == "A" else "A")


def pane_stimulus(dimension, value, pane):
    return {pane: {"dimension": dimension, "value": value}}


def assign_adaptive_trials(participant):
    """The first trials of an adaptive session (call with the study row locked, as assign_trials
    is): a practice trial if the study has one (the first track's easiest difference), then the
    first adaptive trial. Later trials are made as answers are stored (advance_adaptive)."""
    study = participant.study
    config = adaptive_config(study)
    arm = reference_arm(study)
    value = reference_value(study, arm)
    AdaptiveRun.objects.filter(participant=participant).delete()  # a released reservation's run
    session = AdaptiveSession(config, value)
    run = AdaptiveRun.objects.create(participant=participant, reference_value=value,
                                     state=session.start(participant.assignment_seed))
    planned = []
    practice = study.prompts.filter(role="practice").first()
    if practice is not None:
        track = next(iter(session.tracks.values())).track
        pane = random.Random(f"{participant.assignment_seed}:practice").choice("AB")
        stimulus = pane_stimulus(config["dimension"], track.value(track.bounds[1]), pane)
        planned.append(make_trial(participant, 0, "practice", practice, arm, stimulus))
    first = session.next_trial(run.state)
    trial = make_trial(participant, len(planned), "trial", trial_prompt(participant, 0), arm,
                       pane_stimulus(config["dimension"], first["value"], first["test_pane"]))
    add_step(run, trial, 0, first)
    planned.append(trial)
    participant.assignment = {
        "design": "adaptive",
        "seed": participant.assignment_seed,
        "reference": arm.name,
        "dimension": config["dimension"],
        "trials": [{"index": trial.index, "kind": trial.kind, "prompt": trial.prompt.name} for trial in planned],
    }


def trial_prompt(participant, number):
    """The prompt of the ``number``-th adaptive trial: the study's trial prompts in turn, from a
    seeded starting point, so content varies but never with the stimulus."""
    prompts = list(participant.study.prompts.filter(role="trial").order_by("position", "id"))
    offset = int(hashlib.sha256(participant.assignment_seed.encode()).hexdigest()[:8], 16)
    return prompts[(offset + number) % len(prompts)]


def make_trial(participant, index, kind, prompt, arm, stimulus):
    return Trial.objects.create(
        participant=participant, index=index, kind=kind, prompt=prompt, arm_a=arm, arm_b=arm,
        seed=f"{participant.assignment_seed}:{index}", stimulus=stimulus,
    )


def add_step(run, trial, number, chosen):
    return AdaptiveStep.objects.create(
        run=run, trial=trial, number=number, track=chosen["track"], catch=chosen["catch"],
        level=chosen["level"], value=chosen["value"], test_pane=chosen["test_pane"],
    )


def advance_adaptive(trial_ids):
    """Score each adaptive step among these trials whose deciding answer is now stored, update its
    run, and make the next trial (and any attention check due before it). Runs inside the
    transaction that stored the answers (record_ratings), with the run's row locked, so a step is
    scored exactly once however often its answer is delivered."""
    advance_runs(
        AdaptiveStep.objects.filter(trial_id__in=list(trial_ids), answered_at__isnull=True)
        .values_list("run_id", flat=True)
    )


def advance_runs(run_ids):
    """advance_adaptive for runs already known to have an unanswered step among the stored answers."""
    for run_id in sorted(set(run_ids)):
        run = AdaptiveRun.objects.select_for_update().select_related("participant__study").get(pk=run_id)
        for step in run.steps.filter(answered_at__isnull=True).order_by("number"):
            if not score_step(run, step):
                break


def shown_trial(run, step):
    """The step as AdaptiveSession.next_trial made it."""
    return {"track": step.track, "level": step.level, "value": step.value, "catch": step.catch,
            "test_pane": step.test_pane, "reference_value": run.reference_value}


def ends_its_run(trial):
    """Whether nothing can follow this adaptive trial: its run has ended, or its answer ends the
    run whichever answer it is (the last of max_trials, or every track stopping either way). Only
    such a trial is the session's last (the page's give-up, completion.may_give_up)."""
    step = AdaptiveStep.objects.filter(trial_id=trial.pk).select_related("run__participant__study").first()
    if step is None:
        return False  # practice or attention check: an adaptive trial always follows it
    run = step.run
    if run.finished_at is not None:
        return True
    if step.answered_at is not None:
        return False  # answered and the run goes on: its next trial exists
    return session_of(run, adaptive_config(run.participant.study)).ends_after(run.state, shown_trial(run, step))


def end_runs(participant_ids, now=None):
    """End the adaptive runs of these participants (their sessions ended: expired, or shown the
    code without the last answer confirmed). An answer stored later is still scored, but an ended
    run makes no more trials."""
    AdaptiveRun.objects.filter(participant_id__in=list(participant_ids), finished_at__isnull=True).update(
        finished_at=now or timezone.now()
    )


def score_step(run, step):
    """Record the step's answer and make what comes next; False while its answer is not stored."""
    participant = run.participant
    config = adaptive_config(participant.study)
    answer = (
        Rating.objects.filter(trial_id=step.trial_id, question__name=config["question"])
        .order_by().values_list("value", flat=True).first()
    )
    if answer is None:
        return False
    session = session_of(run, config)
    correct = answer == faster_pane(step.value, run.reference_value, step.test_pane, config["dimension"])
    run.state, summary = session.record(run.state, shown_trial(run, step), correct)
    step.answer, step.correct, step.summary, step.answered_at = answer, correct, summary, timezone.now()
    step.save(update_fields=["answer", "correct", "summary", "answered_at"])
    # A run ended with its session (end_runs) keeps the late answer but makes no trial.
    chosen = session.next_trial(run.state) if run.finished_at is None else None
    if chosen is None:
        run.finished_at = run.finished_at or timezone.now()
    else:
        arm = reference_arm(participant.study)
        index = (participant.trials.order_by("-index").values_list("index", flat=True).first() or 0) + 1
        checks = list(participant.study.session.attention_checks)
        due = [check for check, after in zip(checks, attention_positions(with_defaults(config)["max_trials"], checks))
               if after == step.number + 1]
        prompts = {prompt.name: prompt for prompt in participant.study.prompts.filter(role="attention")}
        for check in due:  # both panes the reference arm: the response text says what to answer
            make_trial(participant, index, "attention", prompts[check["prompt"]], arm, {})
            index += 1
        trial = make_trial(participant, index, "trial", trial_prompt(participant, step.number + 1), arm,
                           pane_stimulus(config["dimension"], chosen["value"], chosen["test_pane"]))
        add_step(run, trial, step.number + 1, chosen)
    run.save(update_fields=["state", "finished_at"])
    return True
