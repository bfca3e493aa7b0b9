"""Export tables of live arms: each live response (text, reasoning, usage, finish reason, failure,
timing as delivered, concurrency) and each chunk with its arrival; and the per-pane live values the
trials table shows (analysis/rows.py)."""

from uxlab.analysis.columns import PARTICIPANT_COLUMN, STUDY_COLUMN, TRIAL_INDEX_COLUMN, Column, Table
from uxlab.studies.models import LiveResponse

CHUNK = 5000

PANE_COLUMN = Column("pane", "string", "the pane the response was shown in: A (left) or B (right)")
ARM_COLUMN = Column("arm", "string", "the live arm behind the pane")
ATTEMPT_COLUMN = Column("attempt", "integer", "the trial's restarts when this attempt began (0 for the first)")

# Per pane of the trials table (arm_a_… / arm_b_…): the latest attempt's live values.
LIVE_PANE_FIELDS = ("ttft_s", "tokens_per_second", "finish_reason", "failure", "in_flight", "queued_s")


def live_trial_columns():
    """The trials table's live columns, for pane A then pane B."""
    columns = []
    for pane in "ab":
        columns += [
            Column(f"arm_{pane}_finish_reason", "string",
                   f"live arm in pane {pane.upper()}: the backend's finish_reason (length: cut at max_tokens)"),
            Column(f"arm_{pane}_failure", "string",
                   f"live arm in pane {pane.upper()}: the failure code of the latest attempt, if it failed"),
            Column(f"arm_{pane}_in_flight", "integer",
                   f"live arm in pane {pane.upper()}: its streams in flight when this one started, itself included"),
            Column(f"arm_{pane}_queued_s", "number",
                   f"live arm in pane {pane.upper()}: seconds waited for a slot under the arm's max_in_flight"),
        ]
    return tuple(columns)


def latest_live_values(study):
    """{(trial id, pane): {field: value}} of each live pane's latest attempt in the study."""
    values = {}
    queryset = (
        LiveResponse.objects.filter(trial__participant__study=study)
        .order_by("trial_id", "pane", "attempt")
        .values_list("trial_id", "pane", *LIVE_PANE_FIELDS)
    )
    for trial_id, pane, *rest in queryset.iterator(chunk_size=CHUNK):
        values[(trial_id, pane)] = dict(zip(LIVE_PANE_FIELDS, rest, strict=True))
    return values


LIVE_RESPONSE_COLUMNS = (
    STUDY_COLUMN,
    PARTICIPANT_COLUMN,
    TRIAL_INDEX_COLUMN,
    PANE_COLUMN,
    ARM_COLUMN,
    ATTEMPT_COLUMN,
    Column("text", "string", "the answer text the backend sent (what the participant read)"),
    Column("reasoning", "string", "the reasoning it sent, shown or not (hidden reasoning never reaches the browser)"),
    Column("finish_reason", "string", "the backend's finish_reason: stop, length (cut at max_tokens), ..."),
    Column("failure", "string", "the failure code if the attempt failed (docs/study-format.md), else empty"),
    Column("prompt_tokens", "integer", "usage: prompt tokens, as the backend reported them"),
    Column("completion_tokens", "integer", "usage: completion tokens, as the backend reported them"),
    Column("reasoning_tokens", "integer", "usage: reasoning tokens (completion_tokens_details), if reported"),
    Column("usage", "json", "the usage object exactly as the backend sent it"),
    Column("request_s", "number", "when the request was sent, seconds after the trial's t0"),
    Column("ttft_s", "number", "first answer text as delivered: its arrival, seconds after t0"),
    Column("tokens_per_second", "number", "answer speed as delivered: (tokens - 1) / (last - first arrival)"),
    Column("chunks", "integer", "how many chunks arrived (the live_chunks table has each)"),
    Column("in_flight", "integer", "the arm's streams in flight when this one started, itself included"),
    Column("queued_s", "number", "seconds waited for a slot under the arm's max_in_flight"),
    Column("recorded_at", "datetime", "when the response was stored (ISO 8601 UTC)"),
)


def usage_count(usage, name):
    if not isinstance(usage, dict):
        return None
    if name == "reasoning_tokens":
        details = usage.get("completion_tokens_details")
        return details.get(name) if isinstance(details, dict) else None
    return usage.get(name)


def live_response_rows(study, options):
    queryset = (
        LiveResponse.objects.filter(trial__participant__study=study)
        .order_by("trial__participant_id", "trial__index", "attempt", "pane")
        .values_list(
            "trial__participant_id", "trial__index", "pane", "arm__name", "attempt", "text", "reasoning",
            "finish_reason", "failure", "usage", "request_s", "ttft_s", "tokens_per_second", "chunks",
            "in_flight", "queued_s", "recorded_at",
        )
    )
    for (participant, index, pane, arm, attempt, text, reasoning, finish, failure, usage, request_s, ttft_s,
         speed, chunks, in_flight, queued_s, recorded) in queryset.iterator(chunk_size=CHUNK):
        yield (
            study.code, participant, index, pane, arm, attempt, text, reasoning, finish, failure,
            usage_count(usage, "prompt_tokens"), usage_count(usage, "completion_tokens"),
            usage_count(usage, "reasoning_tokens"), usage, request_s, ttft_s, speed, len(chunks or []),
            in_flight, queued_s, recorded,
        )


def live_responses_table():
    return Table("live_responses", "One row per live pane per attempt: what the backend sent, as delivered.",
                 LIVE_RESPONSE_COLUMNS, live_response_rows)


LIVE_CHUNK_COLUMNS = (
    STUDY_COLUMN,
    PARTICIPANT_COLUMN,
    TRIAL_INDEX_COLUMN,
    PANE_COLUMN,
    ARM_COLUMN,
    ATTEMPT_COLUMN,
    Column("chunk", "integer", "the chunk's position in the response, from 0"),
    Column("arrival_s", "number", "when it arrived at the server, seconds after the trial's t0"),
    Column("phase", "string", "thinking or answer"),
    Column("tokens", "integer", "its tokens by the arm's tokenizer"),
    Column("seq", "integer", "the stream message that showed it (telemetry's seq); empty when withheld"),
    Column("shown", "boolean", "whether it was sent to the browser (hidden reasoning is not)"),
    Column("text", "string", "the chunk's text"),
)


def live_chunk_rows(study, options):
    queryset = (
        LiveResponse.objects.filter(trial__participant__study=study)
        .order_by("trial__participant_id", "trial__index", "attempt", "pane")
        .values_list("trial__participant_id", "trial__index", "pane", "arm__name", "attempt", "chunks")
    )
    for participant, index, pane, arm, attempt, chunks in queryset.iterator(chunk_size=CHUNK):
        for number, (arrival_s, phase, text, tokens, seq) in enumerate(chunks or []):
            yield (study.code, participant, index, pane, arm, attempt, number, arrival_s, phase, tokens, seq,
                   seq is not None, text)


def live_chunks_table():
    return Table("live_chunks", "Every chunk of every live response with its arrival, one row per chunk.",
                 LIVE_CHUNK_COLUMNS, live_chunk_rows)


def recent_live_responses(study, limit):
    """The study's most recent live responses for the fidelity page, newest first."""
    return list(
        LiveResponse.objects.filter(trial__participant__study=study)
        .order_by("-recorded_at", "-pk")
        .values(
            "pane", "attempt", "text", "finish_reason", "failure", "ttft_s", "tokens_per_second", "in_flight",
            "queued_s", "usage", "trial__participant_id", "trial__index", "arm__name",
        )[:limit]
    )
