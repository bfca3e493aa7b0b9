"""What an adaptive design may vary on each arm kind: a synthetic profile or a re-timed trace with
one dimension changed, and a clear refusal for what a kind cannot vary."""

import pytest

from uxlab.streaming import kinds
from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.tokens import split_tokens

TEXT = "A short answer of some twenty words, streamed twice so that only its speed differs between the two panes."


def test_it_changes_one_dimension_of_a_synthetic_profile():
    synthetic = kinds.get("synthetic")
    profile = {"ttft_s": 0.5, "tokens_per_second": 15.0}
    assert synthetic.with_dimension(profile, "tokens_per_second", 7.5) == {"ttft_s": 0.5, "tokens_per_second": 7.5}
    assert synthetic.with_dimension(profile, "thinking_tokens", 99.6)["thinking_tokens"] == 100
    # A profile that leaves a field out has the synthetic profile's default for it.
    assert synthetic.dimension_value({}, "ttft_s") == SyntheticProfile().ttft_s
    assert profile == {"ttft_s": 0.5, "tokens_per_second": 15.0}  # the arm's own profile is untouched
    slow = synthetic.schedule({"profile": synthetic.with_dimension(profile, "tokens_per_second", 5.0),
                               "content": TEXT, "seed": "s"})
    fast = synthetic.schedule({"profile": profile, "content": TEXT, "seed": "s"})
    assert len(slow) == len(fast) == len(split_tokens(TEXT))
    assert slow[-1].due_s - slow[0].due_s == pytest.approx(3 * (fast[-1].due_s - fast[0].due_s), rel=0.35)


def test_it_retimes_a_trace_to_the_new_speed_instead_of_its_factor():
    trace = kinds.get("trace")
    profile = {"builtin": "stall_early_20tps", "speed_factor": 2.0}
    changed = trace.with_dimension(profile, "tokens_per_second", 12.0)
    assert changed == {"builtin": "stall_early_20tps", "tokens_per_second": 12.0}
    assert trace.dimension_value(changed, "tokens_per_second") == 12.0


@pytest.mark.parametrize(("kind", "dimension"), [("trace", "thinking_tokens"), ("live", "tokens_per_second")])
def test_it_refuses_what_a_kind_cannot_vary(kind, dimension):
    with pytest.raises(ValueError, match="cannot vary"):
        kinds.get(kind).with_dimension({}, dimension, 1.0)
