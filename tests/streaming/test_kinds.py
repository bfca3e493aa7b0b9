"""The arm-kind registry: one class per kind, registered in one place, asked instead of its name."""

import pytest
from pydantic import ValidationError

from uxlab.streaming import delivery, kinds
from uxlab.streaming.kinds.synthetic import PROFILE_FIELDS
from uxlab.streaming.presets import PRESETS
from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.traces import builtin_offsets


class EchoKind(kinds.ArmKind):
    name = "echo"

    class Settings(kinds.ArmSettings):
        pass


def test_it_registers_the_three_kinds_in_the_order_errors_list_them():
    assert kinds.names() == ("synthetic", "live", "trace")
    assert [kind.name for kind in kinds.registered()] == list(kinds.names())
    assert kinds.kind_of({"profile": {}}) is kinds.get(kinds.DEFAULT_KIND) is kinds.get("synthetic")


def test_it_registers_a_new_kind_once_and_forgets_it_when_asked():
    echo = kinds.register(EchoKind())
    try:
        assert kinds.get("echo") is echo and kinds.names()[-1] == "echo"
        with pytest.raises(ValueError, match="already registered"):
            kinds.register(EchoKind())
    finally:
        kinds.unregister("echo")
    assert "echo" not in kinds.names()
    with pytest.raises(ValueError, match="unknown arm kind 'echo'"):
        kinds.get("echo")


def test_it_relays_a_trial_live_when_either_pane_is_of_a_relayed_kind():
    assert kinds.delivery_for(["synthetic", "trace"], delivery.SERVER_PACED) == delivery.SERVER_PACED
    assert kinds.delivery_for(["trace", "live"], delivery.CONTROLLED) == delivery.LIVE
    assert [kind.name for kind in kinds.registered() if kind.relayed] == ["live"]
    assert [kind.name for kind in kinds.registered() if kind.recordable] == ["live"]


def test_it_fills_settings_from_a_preset_also_without_the_arms_own_fields():
    settings = kinds.get("synthetic").Settings(preset="wafer_scale_8b", ttft_s=0.5)

    assert settings.profile["tokens_per_second"] == PRESETS["wafer_scale_8b"].profile["tokens_per_second"]
    assert settings.profile["ttft_s"] == 0.5
    with pytest.raises(ValidationError):
        kinds.get("synthetic").Settings(tokens_per_second="fast")


def test_it_exports_a_synthetic_profile_with_every_field_and_keeps_unknown_keys():
    exported = kinds.get("synthetic").export({"tokens_per_second": 20.0, "colour": "red"})

    assert list(exported) == [*PROFILE_FIELDS, "colour"]
    assert exported["tokens_per_second"] == 20.0 and exported["ttft_s"] == SyntheticProfile().ttft_s
    assert kinds.get("live").export({"model": "m"}) == {"model": "m"}


def test_it_asks_a_trace_for_its_recording_and_says_when_there_is_none():
    trace = kinds.get("trace")
    recordings = {"gpt": {"text": "Recorded.", "reasoning": "", "chunks": [[0.1, "answer", "Recorded."]]}}

    assert trace.stimulus({"builtin": "h200_llama8b_batch8"}, "Why?", recordings.get) == {
        "trace": {"offsets": list(builtin_offsets("h200_llama8b_batch8"))}
    }
    assert trace.stimulus({"recorded_arm": "gpt"}, "Why?", recordings.get) == {
        "content": "Recorded.", "reasoning": "", "trace": {"chunks": [[0.1, "answer", "Recorded."]]},
    }  # fmt: skip
    with pytest.raises(kinds.StimulusNotReady):
        trace.stimulus({"recorded_arm": "other"}, "Why?", recordings.get)
    assert kinds.get("live").stimulus({}, "Why?", recordings.get) == {"prompt": "Why?"}
    assert kinds.get("synthetic").stimulus({}, "Why?", recordings.get) == {}


def test_it_lets_a_trace_name_only_a_recordable_arm():
    trace = kinds.get("trace")
    settings = trace.Settings(recorded_arm="gpt")
    arms = {"gpt": kinds.get("live"), "fast": kinds.get("synthetic")}

    assert trace.study_errors(settings, arms.get) == {}
    assert trace.study_errors(trace.Settings(recorded_arm="fast"), arms.get) == {
        "recorded_arm": "'fast' is not a live arm of this study"
    }
    assert trace.study_errors(trace.Settings(recorded_arm="ghost"), arms.get) == {
        "recorded_arm": "'ghost' is not a live arm of this study"
    }


def test_it_refuses_to_schedule_a_relayed_kind_or_relay_a_scheduled_one():
    with pytest.raises(ValueError, match="live_events"):
        kinds.get("live").schedule({"kind": "live", "profile": {}})
    with pytest.raises(ValueError, match="not relayed"):
        kinds.get("synthetic").events({"kind": "synthetic", "profile": {}})
