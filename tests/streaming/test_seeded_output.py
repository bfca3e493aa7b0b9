"""Exact output pinned: a seed gives the same schedule, frames and wire text byte for byte, on every
change to how they are computed (a trial resumed on another process, or replayed in an analysis,
rebuilds them from its seed). The digests were taken from the code as it was before any
optimisation; a test failing here means participants would see different timing, not a test to
update."""

import hashlib

import pytest

from uxlab.live import protocol
from uxlab.streaming.arms import schedule_for_spec
from uxlab.streaming.delivery import plan_messages
from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.schedule import build_schedule
from uxlab.streaming.trial import trial_frames

# The demo study's arms and one of its responses (uxlab/studies/examples/demo.yaml), copied so an
# edit to the demo does not move the pins.
WAFER = {
    "ttft_s": 0.2, "tokens_per_second": 1800, "jitter": "lognormal", "jitter_cv": 0.1, "stall_probability": 0,
    "stall_s": 0, "chunk_tokens": 1, "thinking_tokens": 0, "thinking_tokens_per_second": 0, "thinking_display": "hidden",
}  # fmt: skip
LOADED = {**WAFER, "ttft_s": 1.0, "tokens_per_second": 15.3, "jitter_cv": 0.25}
REASONING = {**WAFER, "tokens_per_second": 1500, "thinking_tokens": 300}
RESPONSE = (
    "Sunlight holds every colour, but on its way through the air it bumps into tiny gas molecules. They "
    "scatter short wavelengths such as blue far more than long ones such as red. Our eyes are more sensitive "
    "to blue than to violet, so the scattered blue light reaching us from every direction makes the whole "
    "sky look blue."
)
THOUGHT = "Rayleigh scattering goes as the inverse fourth power of the wavelength, so blue wins."


def pane(profile, seed, reasoning=""):
    return {"kind": "synthetic", "profile": profile, "content": RESPONSE, "reasoning": reasoning, "seed": seed}


# name -> (panes, trial_frames keyword arguments, delivery mode)
# fmt: off
CASES = {
    "demo": ({"A": pane(WAFER, "t1:A"), "B": pane(LOADED, "t1:B")}, {}, "controlled"),
    "demo_swapped": ({"A": pane(LOADED, "42:A"), "B": pane(WAFER, "42:B")}, {}, "controlled"),
    "hidden_thinking": ({"A": pane(REASONING, "r:A"), "B": pane(LOADED, "r:B")}, {}, "controlled"),
    "visible_thinking": (
        {"A": pane({**REASONING, "thinking_display": "visible", "thinking_tokens_per_second": 400}, "v:A", THOUGHT),
         "B": pane({**REASONING, "thinking_display": "none"}, "v:B", THOUGHT)},
        {}, "controlled",
    ),
    "gamma_stalls_chunks": (
        {"A": pane({"jitter": "gamma", "jitter_cv": 0.6, "stall_probability": 0.1, "stall_s": 0.4, "chunk_tokens": 3}, "g:A"),
         "B": pane({"jitter": "normal", "jitter_cv": 0.3, "stall_probability": 1.0, "stall_s": 0.05}, "g:B")},
        {}, "server_paced",
    ),
    "no_jitter_sequential": (
        {"A": pane({"jitter": "none", "tokens_per_second": 30, "chunk_tokens": 4}, 7),
         "B": pane({"jitter_cv": 1.5, "tokens_per_second": 90, "ttft_s": 0.0}, "s:B")},
        {"layout": "sequential", "gap_s": 1.5}, "controlled",
    ),
}
# fmt: on

PINS = {
    # name: (sha256 of both panes' schedules, sha256 of the encoded plan)
    "demo": ("8efa66cd54b03125d1e51e4c5dd45947e676067b6164468f3a8d255f500292dc", "8151e2d1bc8e42b8f8450e36f4b6ab4339d51aea8483d98e2a22e2f9f31e3267"),
    "demo_swapped": ("35ae86f457c533236ba4d01b9ec3a083eb45e4155a26cc2bef5deb6c83d4ecc4", "b98b6750bcf3827ffc5af9cd2516ca671f24a23fbab825d65b8c7508971a6e65"),
    "hidden_thinking": ("d3e20959ce7a7c5c166419c7ff0554f525351b28074016ad5a6cffe848bdbb3f", "2079edd761229dbf9be7388716b7fd03c5be3277b50f8149adf93bdfbf7c5347"),
    "visible_thinking": ("dd38fe4d2f6a940c2fdd428305281ae6b9a03f3e54d2a9d7760b767f8f80ae74", "5b706daeb97a8d90353569207b563f55652fb2f4d1d9e7397894f3ad284bf2b0"),
    "gamma_stalls_chunks": ("02610c639049d5dfd09c3eaffc03da0662afeb087ead57f332db3d13ffe53887", "b9dd3c210ab4e26f58351a49b82e5a0b8675029f11993d4d016f3d3b3597e109"),
    "no_jitter_sequential": ("51a3c82c6a4232d5c5a2805435d00fb709ee5c0329344c5430f4ad4547dd4147", "3ee09af61aa5ffeaa62dcab97c0a946c8457a9d71801ba924f7b1f8587a990cf"),
}  # fmt: skip


def schedule_digest(name):
    panes, _layout, _mode = CASES[name]
    schedules = [(key, [(repr(t.due_s), t.text, t.phase) for t in schedule_for_spec(spec)]) for key, spec in sorted(panes.items())]
    return hashlib.sha256(repr(schedules).encode()).hexdigest()


def encoded(name):
    """(send time, wire text) of every message, as the consumer's encoded_plan makes them."""
    panes, layout, mode = CASES[name]
    return [(repr(m.send_s), protocol.stream_message_frame(m)) for m in plan_messages(trial_frames(panes, **layout), mode)]


def plan_digest(name):
    return hashlib.sha256(repr(encoded(name)).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(CASES))
def test_it_gives_the_pinned_schedules_and_wire_frames(name):
    assert (schedule_digest(name), plan_digest(name)) == PINS[name]


def test_it_gives_the_pinned_due_times_of_a_loaded_gpu_pane():
    tokens = build_schedule(SyntheticProfile(**LOADED), RESPONSE, "t1:B")
    assert len(tokens) == 77
    assert [t.due_s for t in tokens[:4]] == [1.0, 1.0739865948173077, 1.1370883716046638, 1.1858461055517628]
    assert tokens[-1].due_s == 5.7938134540093165


def test_it_gives_the_pinned_first_wire_frames_of_chunked_panes():
    assert encoded("gamma_stalls_chunks")[:3] == [
        ("0.5", ('{"type":"stream.delta","seq":1,"pane":"A","phase":"answer","text":"Sunlight holds","tokens":3,'
                 '"due_ms":500.0,"parts":[[500.0,"Sunl"],[500.0,"ight"],[500.0," holds"]]}')),
        ("0.5", '{"type":"stream.delta","seq":2,"pane":"B","phase":"answer","text":"Sunl","tokens":1,"due_ms":500.0}'),
        ("0.5525212939329887", ('{"type":"stream.delta","seq":3,"pane":"A","phase":"answer","text":" every colour,",'
                                '"tokens":3,"due_ms":552.521,"parts":[[552.521," every"],[552.521," colour"],[552.521,","]]}')),
    ]  # fmt: skip
