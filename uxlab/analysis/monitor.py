"""The live monitor's snapshot of a running study (ORM-touching; the consumer sends it as JSON)."""

from collections import Counter

from django.db.models import Count, Q

from uxlab.analysis.rows import StudyContext
from uxlab.analysis.stats import is_low_fidelity, pair_key
from uxlab.studies import models
from uxlab.studies.models import Participant, Rating, RatingConflict, Trial

PARTICIPANT_STATES = ("welcome", "consented", "in_trial", "completed", "abandoned", "returned", "declined", "withdrawn")
RECENT_TRIALS = 10


def participant_state(status, consented, started_trials):
    if status == "expired":  # over the time limit or not seen for a while (the expire_sessions task)
        return "abandoned"
    if status in ("completed", "abandoned", "returned", "declined", "withdrawn"):
        return status
    if not consented:
        return "welcome"
    return "in_trial" if started_trials else "consented"


def fidelity_summary(fidelity):
    """A compact per-pane view of a trial's fidelity summary (streaming/fidelity.py) for the monitor."""
    if not fidelity:
        return None
    summary = {"low": is_low_fidelity(fidelity), "interrupted": fidelity.get("interrupted", False)}
    for pane, data in (fidelity.get("panes") or {}).items():
        summary[pane] = {
            "fraction_in_first_frame": data.get("fraction_in_first_frame"),
            "paint_error_p99_ms": (data.get("paint_error_ms") or {}).get("p99"),
            "target_tokens_per_second": (data.get("target") or {}).get("tokens_per_second"),
            "observed_tokens_per_second": (data.get("observed") or {}).get("tokens_per_second"),
        }
    return summary


def live_arm_failures(study):
    """Per live arm: its requests, how many failed (a pane stopped by its partner's failure is not
    counted), the failure rate, the failures by code, and the trials skipped with it in a pane."""
    arms = {}
    responses = models.LiveResponse.objects.filter(arm__study=study).exclude(failure="cancelled")
    for arm, failure, count in responses.values_list("arm__name", "failure").annotate(n=Count("id")).order_by():
        row = arms.setdefault(arm, {"arm": arm, "requests": 0, "failures": 0, "codes": {}, "skipped_trials": 0})
        row["requests"] += count
        if failure:
            row["failures"] += count
            row["codes"][failure] = count
    skipped = Trial.objects.filter(participant__study=study, status=Trial.Status.SKIPPED)
    for arm_a, arm_b in skipped.values_list("arm_a__name", "arm_b__name"):
        for arm in {arm_a, arm_b} & set(arms):
            arms[arm]["skipped_trials"] += 1
    for row in arms.values():
        row["failure_rate"] = row["failures"] / row["requests"] if row["requests"] else None
    return sorted(arms.values(), key=lambda row: row["arm"])


UNCOUNTED_MODES = ("pilot", "preview")  # Participant.mode of those who fill no quota (studies/actions/lifecycle.py)


def participants_by_state(study):
    """({state: count} of real participants, {mode: {state: count}} of pilot and preview ones)."""
    states = Counter({state: 0 for state in PARTICIPANT_STATES})
    uncounted = {mode: Counter() for mode in UNCOUNTED_MODES}
    participants = study.participants.annotate(
        started=Count("trials", filter=Q(trials__started_at__isnull=False))
    ).values_list("mode", "status", "consented_at", "started")
    for mode, status, consented_at, started in participants:
        state = participant_state(status, consented_at is not None, started)
        (uncounted.setdefault(mode, Counter()) if mode else states)[state] += 1
    return dict(states), {mode: dict(counts) for mode, counts in uncounted.items()}


def monitor_snapshot(study):
    """Everything the live monitor shows, as JSON-ready data. Counts, cells, ratings, attention
    failures and conflicts are real participants' only; pilot and preview participants are counted
    apart (``uncounted``), and their trials are marked in the recent list (``mode``)."""
    study.refresh_from_db(fields=["status", "paused_reason"])
    context = StudyContext(study)
    states, uncounted = participants_by_state(study)

    cells = Counter()
    finished = Trial.objects.filter(participant__study=study, participant__mode="", status=Trial.Status.FINISHED,
                                    kind="trial")
    for arm_a, arm_b, prompt, count in (
        finished.values_list("arm_a__name", "arm_b__name", "prompt__name").annotate(n=Count("id")).order_by()
    ):
        cells[(pair_key(arm_a, arm_b, context.arm_order), prompt)] += count
    quota = (study.design or {}).get("quota_per_cell")
    design_cells = [
        (pair_key(first, second, context.arm_order), prompt)
        for first, second in (study.design or {}).get("pairs", [])
        for prompt in study.prompts.values_list("name", flat=True)
    ]
    quota_rows = [
        {"pair": "|".join(pair), "prompt": prompt, "finished": cells.get((pair, prompt), 0), "quota": quota}
        for pair, prompt in design_cells
    ]

    fields = ["participant_id", "participant__mode", "index", "arm_a__name", "arm_b__name", "status", "started_at",
              "finished_at"]
    extra = ["fidelity", "hidden_during_stream"]
    recent = (
        Trial.objects.filter(participant__study=study, started_at__isnull=False)
        .order_by("-started_at")
        .values_list(*fields, *extra)[:RECENT_TRIALS]
    )
    recent_rows = []
    for participant, mode, index, arm_a, arm_b, status, started, done, *rest in recent:
        values = dict(zip(extra, rest, strict=True))
        recent_rows.append(
            {
                "participant": participant,
                "mode": mode,
                "trial_index": index,
                "arm_a": arm_a,
                "arm_b": arm_b,
                "status": status,
                "started_at": started.isoformat() if started else None,
                "finished_at": done.isoformat() if done else None,
                "hidden_during_stream": values.get("hidden_during_stream"),
                "fidelity": fidelity_summary(values.get("fidelity")),
            }
        )
    dead_letters = (
        models.FailedTask.objects.filter(study=study).count() if hasattr(models, "FailedTask") else None
    )
    return {
        "type": "monitor.snapshot",
        "study": study.code,
        "status": study.status,
        "paused_reason": study.paused_reason,
        "live_arms": live_arm_failures(study),
        "participants": states,
        "uncounted": uncounted,
        "ratings": Rating.objects.filter(participant__study=study, participant__mode="").count(),
        "uncounted_ratings": Rating.objects.filter(participant__study=study).exclude(participant__mode="").count(),
        "quota": quota_rows,
        "recent_trials": recent_rows,
        "attention_check_failures": len(context.failed_attention - context.uncounted),
        "dead_letters": dead_letters,
        "conflicts": RatingConflict.objects.filter(participant__study=study, participant__mode="").count(),
    }


def participant_statuses():
    return {status for status, _label in Participant.Status.choices}
