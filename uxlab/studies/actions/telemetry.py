"""Trial telemetry from the browser and the fidelity summary computed from it."""

import logging
from uuid import UUID

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import Sum, TextField
from django.db.models.functions import Cast, Length
from django.utils.dateparse import parse_datetime

from uxlab.streaming import delivery, fidelity
from uxlab.streaming.trial import trial_frames
from uxlab.studies import events
from uxlab.studies.actions.answers import RatingRejected, TrialNotShown, check_session, withdrawn_participants
from uxlab.studies.actions.trials import trial_layout, trial_pane_specs
from uxlab.studies.models import Trial, TrialTelemetry

log = logging.getLogger(__name__)


def check_telemetry(context, message, received_at, size=0):
    """Validate a telemetry batch (`size` bytes on the wire) against the participant's own trials;
    return the task payload. Telemetry is taken only for a trial that was streamed, and past the
    first batch only up to UXLAB_TELEMETRY_BYTES_PER_TRIAL per trial (counted on this socket here,
    across sockets when it is stored)."""
    trial_id = check_session(context, message.trial)
    if message.trial not in context.started:
        raise TrialNotShown("trial_not_streamed", "Telemetry is accepted only for a trial that was streamed.")
    # A resend of a batch (the outbox after rating.retry or a reconnect) is not counted again.
    taken = context.telemetry_bytes.setdefault(message.trial, {})
    key = str(message.key)
    if key not in taken:
        if taken and sum(taken.values()) + size > settings.UXLAB_TELEMETRY_BYTES_PER_TRIAL:
            raise RatingRejected("telemetry_limit", "This trial has all the telemetry it can take.")
        taken[key] = size
    telemetry = message.model_dump(mode="json", exclude={"type", "key", "trial"})
    return {
        "key": str(message.key),
        "participant_id": context.participant_id,
        "group_name": context.group_name,
        "trial_id": trial_id,
        "telemetry": telemetry,
        "received_at": received_at.isoformat(),
    }


def trial_targets(trial):
    """{pane: {seq: (due_s, tokens, phase[, token_dues])}} of the trial's stream messages: rebuilt
    from its seed (with each token's due time), or, for a live trial, as the server relayed them
    (a scheduled pane's messages of several tokens with each token's due time)."""
    if trial.delivery == delivery.LIVE:
        targets = {"A": {}, "B": {}}
        for seq, pane, due_s, tokens, phase, *token_dues in trial.server_timing.get("relayed", []):
            targets[pane][seq] = (due_s, tokens, phase, *token_dues)
        return targets
    frames = trial_frames(trial_pane_specs(trial), **trial_layout(trial))
    messages = delivery.plan_messages(frames, trial.delivery or delivery.CONTROLLED)
    targets = {"A": {}, "B": {}}
    for message in messages:
        if message.kind == "delta":
            frame = message.frame
            targets[frame.pane][message.seq] = (frame.due_s, frame.tokens, frame.phase, frame.token_dues())
    return targets


def telemetry_is_stored(key):
    """Whether the telemetry batch with this key is stored."""
    return TrialTelemetry.objects.filter(key=key).exists()


def stored_telemetry_bytes(trial_id):
    """The size of the telemetry already stored for a trial (its JSON text)."""
    rows = TrialTelemetry.objects.filter(trial_id=trial_id).annotate(size=Length(Cast("payload", TextField())))
    return rows.aggregate(total=Sum("size"))["total"] or 0


def record_telemetry(payload):
    """Store one telemetry batch once per key and update the trial's fidelity summary from it.

    A trial keeps its first batch whatever its size and later ones while its telemetry stays
    within UXLAB_TELEMETRY_BYTES_PER_TRIAL; a batch past that is confirmed but not kept."""
    key = UUID(payload["key"])
    telemetry = payload["telemetry"]
    with transaction.atomic():
        if not TrialTelemetry.objects.filter(key=key).exists():
            trial = lock_trial(Trial.objects.filter(pk=payload["trial_id"]))
            if trial is None:
                if withdrawn_participants([payload.get("participant_id")]):
                    # The participant withdrew while this batch was queued: it is not kept.
                    log.info("telemetry %s: its participant withdrew; not kept", key)
                    return
                raise Trial.DoesNotExist(f"trial {payload['trial_id']} of telemetry {key} does not exist")
            stored = stored_telemetry_bytes(trial.pk)
            if stored and stored + len(orjson.dumps(telemetry)) > settings.UXLAB_TELEMETRY_BYTES_PER_TRIAL:
                log.warning("trial %s has %d bytes of telemetry; batch %s is not kept", trial.pk, stored, key)
            else:
                batch = TrialTelemetry.objects.create(
                    key=key, trial=trial, payload=telemetry, received_at=parse_datetime(payload["received_at"])
                )
                # The trial's first batch (the usual case) is its latest: no need to read it back.
                refresh_fidelity(trial, latest=None if stored else batch)
        events.send_event_on_commit(payload["group_name"], {"type": "telemetry.stored", "key": str(key)})


def lock_trial(trials):
    """The trial, its row locked until the transaction ends, with what its summary needs; None when
    it is gone (its participant withdrew)."""
    try:
        return trials.select_for_update(of=("self",)).select_related("prompt", "arm_a", "arm_b", "participant__study").get()
    except Trial.DoesNotExist:
        return None


def timing_is_stored(trial):
    """Whether the server's half of the trial is here: a live trial's targets are its relayed timing."""
    return trial.delivery != delivery.LIVE or "relayed" in (trial.server_timing or {})


def refresh_fidelity(trial, latest=None):
    """(Re)compute the trial's fidelity summary from its latest telemetry batch (`latest`, when the
    caller knows it) and the server's timing. Called, with the trial's row locked, whenever either
    half arrives, in either order: a live trial's telemetry may be stored before its relayed
    timing, and is summarised once it is."""
    batch = latest or trial.telemetry.order_by("-received_at", "-pk").first()
    if batch is None or not timing_is_stored(trial):
        return
    telemetry = batch.payload
    observed = {frame[0]: (frame[1], frame[2]) for frame in telemetry["frames"]}
    updates = {}
    for seq, tokens, frame_ms, presented_ms in telemetry.get("updates") or ():
        updates.setdefault(seq, []).append((tokens, frame_ms, presented_ms))
    measure = fidelity.live_trial_fidelity if trial.delivery == delivery.LIVE else fidelity.trial_fidelity
    summary = measure(
        trial_targets(trial),
        observed,
        visibility=[(at / 1000, state) for at, state in telemetry.get("visibility", [])],
        frame_ms=telemetry.get("frame_ms") or fidelity.DEFAULT_FRAME_MS,
        interrupted=trial.status == Trial.Status.INTERRUPTED,
        updates=updates,
        clock=telemetry.get("clock"),
    )
    summary["restarts"], summary["resumes"] = trial.restarts, trial.resumes
    trial.fidelity = summary
    trial.hidden_during_stream = summary["time_hidden_s"] > 0
    trial.save(update_fields=["fidelity", "hidden_during_stream"])
