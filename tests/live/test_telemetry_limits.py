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
