"""The outcome of a live trial: its relayed timing, each live pane's whole response, and what a
failure does (restart, or skip the trial once its restarts are used up; pause a failing study)."""

from django.db import transaction
from django.utils import timezone

from uxlab.studies.actions.audit import record_audit
from uxlab.studies.actions.telemetry import lock_trial, refresh_fidelity
from uxlab.studies.actions.trials import skip_trial
from uxlab.studies.models import LiveResponse, Study, Trial

RESTART = "restart"
SKIPPED = "skipped"
# Failure codes that skip the trial at once: trying again would meet the same refusal.
SKIP_AT_ONCE = {"arm_busy"}
# A pane stopped because its partner failed: not a failure of its own arm.
NOT_THE_ARMS_FAULT = {"cancelled"}


def store_live_responses(trial, records):
    """Keep each live pane's response of this attempt (``records``: {pane: PaneRecord.as_dict()})."""
    for pane, record in records.items():
        LiveResponse.objects.update_or_create(
            trial=trial,
            pane=pane,
            attempt=trial.restarts,
            defaults={
                "arm": trial.arm_for_pane(pane),
                "text": record["text"],
                "reasoning": record["reasoning"],
                "usage": record["usage"],
                "finish_reason": (record["finish_reason"] or "")[:40],
                "failure": (record["failure"] or "")[:40],
                "chunks": record["chunks"],
                "request_s": record["request_s"],
                "ttft_s": record["ttft_s"],
                "tokens_per_second": record["tokens_per_second"],
                "in_flight": record["in_flight"],
                "queued_s": record["queued_s"] or 0.0,
                "recorded_at": timezone.now(),
            },
        )


def finish_live_trial(participant_id, index, server_timing, records):
    """The live stream was sent whole: keep its timing and responses, mark it finished, and
    summarise its fidelity if the browser's telemetry is already here."""
    with transaction.atomic():
        trial = lock_trial(Trial.objects.filter(participant_id=participant_id, index=index))
        if trial is None:
            return  # the participant withdrew meanwhile: nothing of theirs is kept
        store_live_responses(trial, records)
        trial.server_timing = server_timing
        if trial.finished_at is None:
            trial.finished_at = timezone.now()
            trial.status = Trial.Status.FINISHED
        trial.save(update_fields=["server_timing", "finished_at", "status"])
        refresh_fidelity(trial)


def fail_live_trial(participant_id, index, code, server_timing, records):
    """A live pane failed (``code``: a BackendError code). Keep what arrived and the failure; the
    trial is restarted by the next page, or skipped when its restarts are used up (or the arm
    refused it). Returns RESTART or SKIPPED. A study whose arm fails too often pauses itself."""
    with transaction.atomic():
        trial = lock_trial(Trial.objects.filter(participant_id=participant_id, index=index))
        if trial is None:
            return SKIPPED  # the participant withdrew meanwhile: nothing of theirs is kept
        store_live_responses(trial, records)
        if trial.finished_at is not None or trial.status == Trial.Status.SKIPPED:
            return SKIPPED if trial.status == Trial.Status.SKIPPED else RESTART
        trial.server_timing = {**server_timing, "interrupted": code}
        trial.status = Trial.Status.INTERRUPTED
        trial.save(update_fields=["server_timing", "status"])
        session = trial.participant.study.session
        outcome = RESTART
        if code in SKIP_AT_ONCE:
            skip_trial(trial, code)
            outcome = SKIPPED
        elif trial.restarts >= session.max_restarts:
            skip_trial(trial, f"restart_limit: {code}")
            outcome = SKIPPED
        for pane, record in records.items():
            if record["failure"] and record["failure"] not in NOT_THE_ARMS_FAULT:
                pause_if_failing(trial.participant.study, trial.arm_for_pane(pane))
    return outcome


def failure_rate(arm, last):
    """(failures, requests) among the arm's ``last`` most recent live requests."""
    failures = list(
        LiveResponse.objects.filter(arm=arm)
        .exclude(failure__in=NOT_THE_ARMS_FAULT)
        .order_by("-recorded_at", "-pk")
        .values_list("failure", flat=True)[:last]
    )
    return sum(1 for failure in failures if failure), len(failures)


def pause_if_failing(study, arm):
    """Pause a live study whose arm failed at `failure_pause_rate` or more of its last
    `failure_pause_after` requests, saying why; those already inside can finish."""
    session = study.session
    if not session.failure_pause_rate:
        return False
    failed, requests = failure_rate(arm, session.failure_pause_after)
    if requests < session.failure_pause_after or failed / requests < session.failure_pause_rate:
        return False
    reason = (
        f"Paused automatically: {failed} of the last {requests} requests to live arm '{arm.name}' failed "
        f"(the study pauses at {session.failure_pause_rate:.0%})."
    )
    paused = bool(
        Study.objects.filter(pk=study.pk, status=Study.Status.LIVE).update(
            status=Study.Status.PAUSED, paused_reason=reason
        )
    )
    if paused:
        record_audit(study, None, "pause", reason)  # no user: the study paused itself
    return paused
