"""Trial telemetry from the browser and the fidelity summary computed from it."""

from uuid import UUID

from django.db import transaction
from django.utils.dateparse import parse_datetime

from uxlab.streaming import delivery, fidelity
from uxlab.streaming.trial import trial_frames
from uxlab.studies import events, queue
from uxlab.studies.actions.answers import RatingRejected
from uxlab.studies.actions.trials import trial_layout, trial_pane_specs
from uxlab.studies.models import Trial, TrialTelemetry


def check_telemetry(context, message, received_at):
    """Validate a telemetry batch against the participant's own trials; return the task payload."""
    trial_id = context.trial_ids.get(message.trial)
    if trial_id is None:
        raise RatingRejected("unknown_trial", "There is no such trial for this session.")
    telemetry = message.model_dump(mode="json", exclude={"type", "key", "trial"})
    return {
        "key": str(message.key),
        "group_name": context.group_name,
        "trial_id": trial_id,
        "telemetry": telemetry,
        "received_at": received_at.isoformat(),
    }


def enqueue_telemetry(payload):
    queue.enqueue(queue.STORE_TELEMETRY, payload)


def trial_targets(trial):
    """{pane: {seq: (due_s, tokens, phase)}} of the trial's stream messages: rebuilt from its seed,
    or, for a live trial, as the server recorded them when it relayed them."""
    if trial.delivery == delivery.LIVE:
        targets = {"A": {}, "B": {}}
        for seq, pane, due_s, tokens, phase in trial.server_timing.get("relayed", []):
            targets[pane][seq] = (due_s, tokens, phase)
        return targets
    frames = trial_frames(trial_pane_specs(trial), **trial_layout(trial))
    messages = delivery.plan_messages(frames, trial.delivery or delivery.CONTROLLED)
    targets = {"A": {}, "B": {}}
    for message in messages:
        if message.kind == "delta":
            frame = message.frame
            targets[frame.pane][message.seq] = (frame.due_s, frame.tokens, frame.phase)
    return targets


def record_telemetry(payload):
    """Store one telemetry batch once per key and update the trial's fidelity summary from it."""
    key = UUID(payload["key"])
    telemetry = payload["telemetry"]
    with transaction.atomic():
        if not TrialTelemetry.objects.filter(key=key).exists():
            trial = lock_trial(Trial.objects.filter(pk=payload["trial_id"]))
            TrialTelemetry.objects.create(
                key=key, trial=trial, payload=telemetry, received_at=parse_datetime(payload["received_at"])
            )
            refresh_fidelity(trial)
        events.send_event_on_commit(payload["group_name"], {"type": "telemetry.stored", "key": str(key)})


def lock_trial(trials):
    """The trial, its row locked until the transaction ends, with what its summary needs."""
    return trials.select_for_update(of=("self",)).select_related("prompt", "arm_a", "arm_b", "participant__study").get()


def timing_is_stored(trial):
    """Whether the server's half of the trial is here: a live trial's targets are its relayed timing."""
    return trial.delivery != delivery.LIVE or "relayed" in (trial.server_timing or {})


def refresh_fidelity(trial):
    """(Re)compute the trial's fidelity summary from its latest telemetry batch and the server's
    timing. Called, with the trial's row locked, whenever either half arrives, in either order: a
    live trial's telemetry may be stored before its relayed timing, and is summarised once it is."""
    batch = trial.telemetry.order_by("-received_at", "-pk").first()
    if batch is None or not timing_is_stored(trial):
        return
    telemetry = batch.payload
    observed = {frame[0]: (frame[1], frame[2]) for frame in telemetry["frames"]}
    measure = fidelity.live_trial_fidelity if trial.delivery == delivery.LIVE else fidelity.trial_fidelity
    summary = measure(
        trial_targets(trial),
        observed,
        visibility=[(at / 1000, state) for at, state in telemetry.get("visibility", [])],
        frame_ms=telemetry.get("frame_ms") or fidelity.DEFAULT_FRAME_MS,
        interrupted=trial.status == Trial.Status.INTERRUPTED,
    )
    summary["restarts"], summary["resumes"] = trial.restarts, trial.resumes
    summary["clock"] = telemetry.get("clock")
    trial.fidelity = summary
    trial.hidden_during_stream = summary["time_hidden_s"] > 0
    trial.save(update_fields=["fidelity", "hidden_during_stream"])
