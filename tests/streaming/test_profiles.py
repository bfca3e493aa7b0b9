import pytest

from uxlab.streaming.profiles import SyntheticProfile


def test_it_has_the_documented_defaults():
    p = SyntheticProfile()
    assert (p.ttft_s, p.tokens_per_second, p.jitter, p.jitter_cv) == (0.5, 50.0, "lognormal", 0.0)
    assert (p.stall_probability, p.stall_s, p.chunk_tokens) == (0.0, 0.0, 1)
    assert (p.thinking_tokens, p.thinking_tokens_per_second, p.thinking_display) == (0, 0.0, "hidden")


def test_it_is_frozen():
    with pytest.raises(AttributeError):
        SyntheticProfile().ttft_s = 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tokens_per_second": 0},
        {"tokens_per_second": -5},
        {"ttft_s": -0.1},
        {"ttft_s": float("nan")},
        {"tokens_per_second": float("inf")},
        {"jitter": "uniform"},
        {"jitter_cv": -0.1},
        {"stall_probability": -0.01},
        {"stall_probability": 1.01},
        {"stall_s": -1.0},
        {"chunk_tokens": 0},
        {"thinking_tokens": -1},
        {"thinking_tokens_per_second": -1.0},
        {"thinking_tokens_per_second": 5e-324},
        {"tokens_per_second": 5e-324},
        {"thinking_display": "shown"},
    ],
)
def test_it_rejects_nonsensical_values(kwargs):
    with pytest.raises(ValueError):
        SyntheticProfile(**kwargs)


def test_it_accepts_boundary_values():
    SyntheticProfile(ttft_s=0.0, stall_probability=1.0, jitter="none", thinking_display="none")
    SyntheticProfile(stall_probability=0.0, jitter="gamma", jitter_cv=2.0, thinking_display="visible")


def test_it_uses_the_answer_speed_for_thinking_when_thinking_speed_is_zero():
    assert SyntheticProfile(tokens_per_second=80).thinking_speed == 80
    assert SyntheticProfile(tokens_per_second=80, thinking_tokens_per_second=1500).thinking_speed == 1500
