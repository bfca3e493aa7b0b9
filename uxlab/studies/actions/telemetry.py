"""Trial telemetry from the browser and the fidelity summary computed from it."""

import logging
from types import SimpleNamespace
from uuid import UUID

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum, TextField
from django.db.models.functions import Cast, Length
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from uxlab.streaming import delivery, fidelity
from uxlab.streaming.trial import trial_frames
from uxlab.studies import events
from uxlab.studies.actions.answers import RatingRejected, TrialNotShown, check_session, withdrawn_participants
from uxlab.studies.actions.trials import trial_layout, trial_pane_specs
from uxlab.studies.design import SessionDesign
from uxlab.studies.models import Arm, Participant, Prompt, RecordedTrace, Study, Trial, TrialTelemetry
from uxlab.studies.raw_sql import json_parameter, json_value

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
    # A batch sent whole stores no `truncated` (nor did batches before pages could thin them).
    left_out = {"truncated"} if message.truncated is None else set()
    telemetry = message.model_dump(mode="json", exclude={"type", "key", "trial", *left_out})
    return {
        "key": str(message.key),
        "participant_id": context.participant_id,
        "group_name": context.group_name,
        "trial_id": trial_id,
        "telemetry": telemetry,
        "received_at": received_at.isoformat(),
    }


def trial_targets(trial, layout=None, recordings=None):
    """{pane: {seq: (due_s, tokens, phase[, token_dues])}} of the trial's stream messages: rebuilt
    from its seed (with each token's due time), or, for a live trial, as the server relayed them
    (a scheduled pane's messages of several tokens with each token's due time). `layout` and
    `recordings` (see trial_pane_specs), when the caller has read them, save their queries."""
    if trial.delivery == delivery.LIVE:
        targets = {"A": {}, "B": {}}
        for seq, pane, due_s, tokens, phase, *token_dues in trial.server_timing.get("relayed", []):
            targets[pane][seq] = (due_s, tokens, phase, *token_dues)
        return targets
    return delivery.delta_targets(trial_frames(trial_pane_specs(trial, recordings), **(layout or trial_layout(trial))))


def telemetry_is_stored(key):
    """Whether the telemetry batch with this key is stored."""
    return TrialTelemetry.objects.filter(key=key).exists()


def stored_telemetry_bytes(trial_id):
    """The size of the telemetry already stored for a trial (its JSON text)."""
    rows = TrialTelemetry.objects.filter(trial_id=trial_id).annotate(size=Length(Cast("payload", TextField())))
    return rows.aggregate(total=Sum("size"))["total"] or 0


# A new telemetry batch's first statement in its transaction: its trial's row, locked until the
# transaction ends, with what its fidelity summary needs (the arms, the prompt, the session's
# layout, the study's recorded traces of the prompt). No row: the trial is gone.
LOCK_TRIAL_SQL = """
SELECT t.seed, t.delivery, t.status, t.restarts, t.resumes, t.server_timing, t.stimulus,
       s.design -> 'layout', s.design -> 'sequential_gap_s', pr.text, pr.response, pr.reasoning,
       a.kind, a.profile, a.study_id, b.kind, b.profile, b.study_id,
       (SELECT jsonb_object_agg(ra.name, jsonb_build_object('text', r.text, 'reasoning', r.reasoning, 'chunks', r.chunks))
        FROM {recorded} r JOIN {arm} ra ON ra.id = r.arm_id
        WHERE ra.study_id = p.study_id AND r.prompt_id = t.prompt_id)
FROM {trial} t
JOIN {participant} p ON p.id = t.participant_id
JOIN {study} s ON s.id = p.study_id
JOIN {prompt} pr ON pr.id = t.prompt_id
JOIN {arm} a ON a.id = t.arm_a_id
JOIN {arm} b ON b.id = t.arm_b_id
WHERE t.id = %(trial)s
FOR UPDATE OF t
"""

# The second, with the trial's row locked (so the sum sees every batch stored before): keep the
# batch if the trial's telemetry stays within the limit (the first batch whatever its size), once
# per key (a batch stored by another worker since its key was looked up is a conflict, not an
# error), and save the trial's fidelity summary, computed from this batch, if it is the trial's
# latest. It returns the bytes stored before, whether a later batch is stored and whether this
# one was kept.
STORE_TELEMETRY_SQL = """
WITH stored AS (
    SELECT COALESCE(SUM(length(payload::text)), 0) AS bytes,
           COALESCE(bool_or(received_at > %(received_at)s), FALSE) AS later
    FROM {telemetry} WHERE trial_id = %(trial)s
),
kept AS (
    INSERT INTO {telemetry} (key, trial_id, payload, received_at, stored_at)
    SELECT %(key)s, %(trial)s, %(payload)s, %(received_at)s, %(now)s FROM stored
    WHERE stored.bytes = 0 OR stored.bytes + %(size)s <= %(limit)s
    ON CONFLICT (key) DO NOTHING
    RETURNING id
),
summarised AS (
    UPDATE {trial} SET fidelity = %(fidelity)s, hidden_during_stream = %(hidden)s
    WHERE id = %(trial)s AND %(summarise)s AND NOT (SELECT later FROM stored) AND EXISTS (SELECT 1 FROM kept)
)
SELECT bytes, later, EXISTS (SELECT 1 FROM kept) FROM stored
"""

TABLES = {
    "trial": Trial._meta.db_table,
    "participant": Participant._meta.db_table,
    "study": Study._meta.db_table,
    "prompt": Prompt._meta.db_table,
    "arm": Arm._meta.db_table,
    "recorded": RecordedTrace._meta.db_table,
    "telemetry": TrialTelemetry._meta.db_table,
}
LOCK_TRIAL_SQL = LOCK_TRIAL_SQL.format(**TABLES)
STORE_TELEMETRY_SQL = STORE_TELEMETRY_SQL.format(**TABLES)


def record_telemetry(payload):
    """Store one telemetry batch once per key and update the trial's fidelity summary from it.

    A trial keeps its first batch whatever its size and later ones while its telemetry stays
    within UXLAB_TELEMETRY_BYTES_PER_TRIAL; a batch past that is confirmed but not kept.

    On Postgres a resend (from another web process, or a redelivered message) is one statement,
    and a new batch five: its key looked up, then BEGIN, LOCK_TRIAL_SQL, STORE_TELEMETRY_SQL and
    COMMIT, the summary computed between the two from the batch in hand."""
    if connection.vendor != "postgresql":
        return record_telemetry_portable(payload)
    key = UUID(payload["key"])
    if not telemetry_is_stored(key):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(LOCK_TRIAL_SQL, {"trial": payload["trial_id"]})
            row = cursor.fetchone()
            if row is None:
                drop_if_withdrawn(payload, key)
                return
            store_batch(cursor, payload, key, *locked_trial(payload["trial_id"], row))
    events.send_event_on_commit(payload["group_name"], {"type": "telemetry.stored", "key": str(key)})


def store_batch(cursor, payload, key, trial, layout, recordings):
    """STORE_TELEMETRY_SQL for a batch whose trial is locked, with the trial's summary computed from
    the batch in hand (saved if the batch is the trial's latest)."""
    telemetry = payload["telemetry"]
    summary = None
    if timing_is_stored(trial):
        summary = fidelity_summary(trial, telemetry, trial_targets(trial, layout, recordings))
    size = len(orjson.dumps(telemetry))
    cursor.execute(
        STORE_TELEMETRY_SQL,
        {
            "trial": trial.pk,
            "key": key,
            "payload": json_parameter(TrialTelemetry, "payload", telemetry),
            "received_at": parse_datetime(payload["received_at"]),
            "now": timezone.now(),
            "size": size,
            "limit": settings.UXLAB_TELEMETRY_BYTES_PER_TRIAL,
            "summarise": summary is not None,
            "fidelity": json_parameter(Trial, "fidelity", summary) if summary else None,
            "hidden": bool(summary and summary["time_hidden_s"] > 0),
        },
    )
    stored, later, kept = cursor.fetchone()
    if stored and stored + size > settings.UXLAB_TELEMETRY_BYTES_PER_TRIAL:
        log.warning("trial %s has %d bytes of telemetry; batch %s is not kept", trial.pk, stored, key)
    elif kept and later:
        # Stored out of order: the summary is the latest batch's, read back.
        refresh_fidelity(trial, layout=layout, recordings=recordings)


def locked_trial(trial_id, row):
    """(trial, layout, recordings) from LOCK_TRIAL_SQL's row: the trial has what trial_targets and
    fidelity_summary read of a Trial (as start_trial's panes do), without a model instance."""
    (seed, trial_delivery, status, restarts, resumes, server_timing, stimulus, layout, gap_s, text, response,
     reasoning, kind_a, profile_a, study_a, kind_b, profile_b, study_b, recordings) = row  # fmt: skip
    trial = SimpleNamespace(
        pk=trial_id,
        seed=seed,
        delivery=trial_delivery,
        status=status,
        restarts=restarts,
        resumes=resumes,
        server_timing=json_value(server_timing),
        stimulus=json_value(stimulus),
        prompt=SimpleNamespace(text=text, response=response, reasoning=reasoning),
        arm_a=SimpleNamespace(kind=kind_a, profile=json_value(profile_a), study_id=study_a),
        arm_b=SimpleNamespace(kind=kind_b, profile=json_value(profile_b), study_id=study_b),
    )
    session = SessionDesign.of({"layout": json_value(layout), "sequential_gap_s": json_value(gap_s)})
    return trial, {"layout": session.layout, "gap_s": session.sequential_gap_s}, json_value(recordings) or {}


def drop_if_withdrawn(payload, key):
    """The batch's trial is gone: if its participant withdrew while it was queued, it is neither
    kept nor confirmed; otherwise it is an error to retry."""
    if withdrawn_participants([payload.get("participant_id")]):
        log.info("telemetry %s: its participant withdrew; not kept", key)
        return
    raise Trial.DoesNotExist(f"trial {payload['trial_id']} of telemetry {key} does not exist")


def record_telemetry_portable(payload):
    """record_telemetry on databases other than Postgres (the embedded default's SQLite): the same
    rules as a locked read, a sum and an insert in a transaction."""
    key = UUID(payload["key"])
    telemetry = payload["telemetry"]
    with transaction.atomic():
        if not TrialTelemetry.objects.filter(key=key).exists():
            trial = lock_trial(Trial.objects.filter(pk=payload["trial_id"]))
            if trial is None:
                drop_if_withdrawn(payload, key)
                return
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


def refresh_fidelity(trial, latest=None, layout=None, recordings=None):
    """(Re)compute the trial's fidelity summary from its latest telemetry batch (`latest`, when the
    caller knows it) and the server's timing. Called, with the trial's row locked, whenever either
    half arrives, in either order: a live trial's telemetry may be stored before its relayed
    timing, and is summarised once it is. `trial` may be a Trial or what LOCK_TRIAL_SQL read
    (with its `layout` and `recordings`)."""
    if latest is not None:
        payload = latest.payload
    else:
        payload = (
            TrialTelemetry.objects.filter(trial_id=trial.pk)
            .order_by("-received_at", "-pk")
            .values_list("payload", flat=True)
            .first()
        )
    if payload is None or not timing_is_stored(trial):
        return
    summary = fidelity_summary(trial, payload, trial_targets(trial, layout, recordings))
    trial.fidelity = summary
    trial.hidden_during_stream = summary["time_hidden_s"] > 0
    Trial.objects.filter(pk=trial.pk).update(fidelity=summary, hidden_during_stream=trial.hidden_during_stream)


def fidelity_summary(trial, telemetry, targets):
    """The trial's fidelity summary from one telemetry batch (its payload) and the trial's targets
    (trial_targets)."""
    observed = {frame[0]: (frame[1], frame[2]) for frame in telemetry["frames"]}
    updates = {}
    for seq, tokens, frame_ms, presented_ms in telemetry.get("updates") or ():
        updates.setdefault(seq, []).append((tokens, frame_ms, presented_ms))
    measure = fidelity.live_trial_fidelity if trial.delivery == delivery.LIVE else fidelity.trial_fidelity
    summary = measure(
        targets,
        observed,
        visibility=[(at / 1000, state) for at, state in telemetry.get("visibility", [])],
        frame_ms=telemetry.get("frame_ms") or fidelity.DEFAULT_FRAME_MS,
        interrupted=trial.status == Trial.Status.INTERRUPTED,
        updates=updates,
        clock=telemetry.get("clock"),
    )
    summary["restarts"], summary["resumes"] = trial.restarts, trial.resumes
    if telemetry.get("truncated"):
        # Thinned by the page to fit a frame: a message it left the updates of is judged at its paint
        # time, one it left out entirely counts as not shown.
        summary["telemetry_truncated"] = telemetry["truncated"]
    return summary
