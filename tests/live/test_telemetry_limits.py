"""The page thins telemetry to what a frame may carry (stream.js fitTelemetry, TELEMETRY_LIMITS):
its limits are the protocol's, and a thinned batch, marked `truncated`, is one the server takes."""

import json
import re
import uuid

import pytest
from annotated_types import MaxLen

from uxlab.live import protocol
from uxlab.settings import BASE_DIR

STREAM_JS = BASE_DIR / "uxlab" / "static" / "uxlab" / "stream.js"


def page_limits():
    match = re.search(r"export const TELEMETRY_LIMITS = (\{[^}]*\});", STREAM_JS.read_text())
    return json.loads(re.sub(r"(\w+):", r'"\1":', match.group(1)))


def protocol_cap(field):
    return next(item.max_length for item in protocol.TelemetrySubmit.model_fields[field].metadata if isinstance(item, MaxLen))


def test_the_pages_telemetry_limits_are_the_protocols():
    assert page_limits() == {
        "bytes": protocol.MAX_TELEMETRY_BYTES,
        **{field: protocol_cap(field) for field in ("frames", "updates", "visibility", "focus")},
    }


def thinned_batch(**truncated):
    return {
        "type": "telemetry.submit", "key": str(uuid.uuid4()), "trial": 0, "frames": [[1, 2.5, 16.7]],
        "updates": [[1, 3, 16.7, 18.0]], "truncated": {"frames": 0, "updates": 5120, "visibility": 0, "focus": 0, **truncated},
    }


def test_it_takes_a_batch_the_page_thinned_with_what_it_left_out():
    message = protocol.parse_client_frame(json.dumps(thinned_batch()))
    assert message.truncated.updates == 5120 and message.truncated.frames == 0
    assert protocol.parse_client_frame(json.dumps({**thinned_batch(), "truncated": None})).truncated is None


@pytest.mark.parametrize("truncated", [{}, {"frames": 0}, {"frames": 0, "updates": 0, "visibility": 0, "focus": 0}])
def test_it_reads_a_truncation_mark_that_left_nothing_out_as_no_mark(truncated):
    """A page (or a script) that marks a batch `truncated` with nothing left out did not thin it: the
    batch is taken as sent whole, so nothing downstream claims it was thinned."""
    message = protocol.parse_client_frame(json.dumps({**thinned_batch(), "truncated": truncated}))
    assert message.truncated is None


@pytest.mark.parametrize("truncated", [{"updates": -1}, {"updates": 1.0}, {"updates": "5"}, {"seconds": 3}])
def test_it_refuses_a_truncation_mark_it_cannot_read(truncated):
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse_client_frame(json.dumps(thinned_batch(**truncated)))
    assert refused.value.code == "bad_message"


def hostile_batch(**fields):
    return {
        "type": "telemetry.submit", "key": str(uuid.uuid4()), "trial": 0, "frames": [[1, 2.5, 16.7]],
        "updates": [[1, 3, 16.7, 18.0]], **fields,
    }


@pytest.mark.parametrize(
    "fields",
    [
        # An update claiming a trillion tokens of one message: the worker once built a list of them.
        {"updates": [[1, 10**12, 16.7, 18.0]]},
        {"updates": [[1, -3, 16.7, 18.0]]},
        {"updates": [[2**63, 3, 16.7, 18.0]]},
        {"frames": [[2**63, 2.5, 16.7]]},
        {"frames": [[-1, 2.5, 16.7]]},
        # Times near the float's limits: their differences overflowed to Infinity in the trial's
        # summary, which Postgres's jsonb refuses (the worker retried the batch into a dead letter).
        {"frames": [[1, -1.7e308, 1.7e308]]},
        {"updates": [[1, 3, 1.7e308, -1.7e308]]},
        {"visibility": [[-1.7e308, "hidden"], [1.7e308, "visible"]]},
        {"focus": [[1e300, "blur"]]},
    ],
)
def test_it_refuses_telemetry_no_page_can_have_observed(fields):
    """Counts and times past anything a page measures are a bad_message naming the batch, so the page
    (or script) drops it, rather than a batch that costs the worker memory or fails in it."""
    batch = hostile_batch(**fields)
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse_client_frame(json.dumps(batch))
    assert refused.value.code == "bad_message"
    assert refused.value.ref == batch["key"]


def test_it_takes_the_times_and_counts_a_long_session_observes():
    """A day's session with its extensions (design.time_limit_minutes at most 1,440, docs/study-format.md)
    stays within the bounds, before t0 as after it."""
    day_ms = (1440 + 100) * 60_000.0
    batch = hostile_batch(
        frames=[[1, -400.0, day_ms], [1_000_000, 0, None]],
        updates=[[1, 0, -16.7, day_ms], [2, 100_000, day_ms, None]],
        visibility=[[-day_ms, "hidden"], [day_ms, "visible"]],
        focus=[[day_ms, "blur"]],
    )
    message = protocol.parse_client_frame(json.dumps(batch))
    assert message.updates[1][1] == 100_000
