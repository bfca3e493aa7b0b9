"""Scoring instructed-response (attention-check) trials as soon as their answer is stored.

A check is scored by the transaction that stores its answer (record_ratings), so a participant who
fails one and then leaves, expires or never finishes is flagged all the same, and the exclusion
rules of the analysis see it (analysis/rows.py, ``failed_attention_check``).
"""

from uxlab.studies.design import SessionDesign
from uxlab.studies.models import Rating, Trial


def score_attention_trials(trial_ids):
    """Store pass/fail on each unscored attention-check trial among these whose answer is stored.
    Only the columns it needs are read (no trial, participant or study objects): the worker runs it
    with every batch that holds an attention check's answer."""
    trials = Trial.objects.filter(pk__in=list(trial_ids), kind="attention", attention_passed__isnull=True)
    for trial_id, prompt_name, design in trials.values_list("pk", "prompt__name", "participant__study__design"):
        expected = {check["prompt"]: check for check in SessionDesign.of(design).attention_checks}
        check = expected.get(prompt_name)
        if check is None:
            continue
        value = (
            Rating.objects.filter(trial_id=trial_id, question__name=check["question"])
            .order_by()
            .values_list("value", flat=True)
            .first()
        )
        if value is not None:
            Trial.objects.filter(pk=trial_id, attention_passed__isnull=True).update(
                attention_passed=value == check["expected"]
            )


def score_attention_checks(participant):
    """Score every answered, unscored attention check of the participant (a safety net at completion)."""
    score_attention_trials(participant.trials.filter(kind="attention").values_list("pk", flat=True))
