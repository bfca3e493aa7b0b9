"""Study files with synthetic, live and trace arms, and presets: parsing, errors by path, round trips."""

import textwrap

import pytest

from uxlab.streaming.presets import PRESETS
from uxlab.studies.study_files import StudyFileError, export_study, import_study, parse_study_yaml

HEAD = """
version: 1
title: Arm kinds
consent:
  text: You agree.
prompts:
  - name: p1
    text: Why is the sky blue?
    response: Because air scatters blue light more than red light.
questions:
  - name: faster
    text: Which response felt faster?
design:
  pairs: [[fast, slow]]
arms:
"""

ARMS = """
  - name: fast
    preset: wafer_scale_8b
  - name: slow
    preset: loaded_gpu_cloud_70b
    ttft_s: 2.5
  - name: gpt
    kind: live
    base_url: https://api.example.org/v1
    model: gpt-4o-mini
    api_key_env: UXLAB_KEY_EXAMPLE
    max_tokens: 300
    temperature: 0
    first_chunk_timeout_s: 600
  - name: gpt_at_cerebras_speed
    kind: trace
    recorded_arm: gpt
    preset: wafer_scale_8b
  - name: h200
    kind: trace
    builtin: h200_llama8b_batch1
    speed_factor: 2
    thinking_display: none
"""


def parse(arms):
    return parse_study_yaml(HEAD + textwrap.dedent(arms).strip("\n").replace("\n", "\n  ").join(["  ", "\n"]))


def errors_of(arms):
    with pytest.raises(StudyFileError) as caught:
        parse(arms)
    return caught.value.errors


def test_it_fills_a_synthetic_arm_from_its_preset_and_keeps_explicit_fields():
    fast, slow, *_ = parse(ARMS).arms

    assert fast.profile["tokens_per_second"] == 1800 and fast.profile["ttft_s"] == 0.2
    assert fast.source == PRESETS["wafer_scale_8b"].citation and "Aug 2024" in fast.source
    assert fast.label == PRESETS["wafer_scale_8b"].label
    assert slow.profile["tokens_per_second"] == 15.3 and slow.profile["ttft_s"] == 2.5  # the override wins
    assert (slow.profile["jitter"], slow.profile["jitter_cv"]) == ("lognormal", 0.2)


def test_it_reads_live_arms_without_ever_holding_a_key():
    gpt = parse(ARMS).arms[2]

    assert gpt.profile == {
        "base_url": "https://api.example.org/v1",
        "model": "gpt-4o-mini",
        "api_key_env": "UXLAB_KEY_EXAMPLE",
        "max_tokens": 300,
        "temperature": 0.0,
        "connect_timeout_s": 10.0,
        "first_chunk_timeout_s": 600.0,
        "inter_chunk_timeout_s": 60.0,
        "thinking_display": "hidden",
        "when_full": "queue",
        "queue_timeout_s": 60.0,
    }


def test_it_reads_trace_arms_with_their_retiming():
    _fast, _slow, _gpt, replay, h200 = parse(ARMS).arms

    assert replay.profile == {"recorded_arm": "gpt", "tokens_per_second": 1800.0, "ttft_s": 0.2, "thinking_display": "hidden"}
    assert h200.profile == {"builtin": "h200_llama8b_batch1", "speed_factor": 2.0, "thinking_display": "none"}


@pytest.mark.django_db
def test_it_round_trips_every_arm_kind_through_the_database(team):
    definition = parse(ARMS)
    study = import_study(definition, team=team)

    exported = export_study(study)

    assert "    preset: wafer_scale_8b\n    ttft_s: 0.2\n    tokens_per_second: 1800\n" in exported
    assert "api_key_env: UXLAB_KEY_EXAMPLE" in exported
    again = parse_study_yaml(exported)
    assert [arm.model_dump() for arm in again.arms] == [arm.model_dump() for arm in definition.arms]
    assert [(arm.kind, arm.preset) for arm in study.arms.all()] == [
        ("synthetic", "wafer_scale_8b"), ("synthetic", "loaded_gpu_cloud_70b"), ("live", ""), ("trace", "wafer_scale_8b"),
        ("trace", ""),
    ]  # fmt: skip


def test_it_reports_arm_errors_by_path():
    errors = errors_of(
        """
        - name: fast
          preset: warp_speed
        - name: slow
          kind: live
          api_key_env: sk-live-123
          api_key: sk-live-123
          first_chunk_timeout_s: 0
        - name: replay
          kind: trace
          builtin: h200_llama8b_batch1
          recorded_arm: slow
        - name: replay2
          kind: trace
          recorded_arm: fast
          speed_factor: 2
          tokens_per_second: 100
        - name: odd
          kind: 3
        """
    )

    assert errors[0].startswith("arms[0].preset: must be one of: wafer_scale_8b, wafer_scale_70b,")
    assert not any("sk-live" in error for error in errors)
    assert errors[1:] == [
        "arms[1].base_url: required",
        "arms[1].model: required",
        "arms[1].api_key_env: must be the name of an environment variable (letters, digits, '_')",
        "arms[1].first_chunk_timeout_s: must be > 0",
        "arms[1].api_key: unknown field",
        "arms[2]: give exactly one of builtin and recorded_arm",
        "arms[3]: give speed_factor or tokens_per_second, not both",
        "arms[4].kind: must be one of: synthetic, live, trace",
    ]


def test_it_requires_a_recorded_arm_to_be_a_live_arm_of_the_study():
    errors = errors_of(
        """
        - name: fast
        - name: slow
          kind: trace
          recorded_arm: fast
        - name: ghost_replay
          kind: trace
          recorded_arm: ghost
        """
    )

    assert errors == [
        "arms[1].recorded_arm: 'fast' is not a live arm of this study",
        "arms[2].recorded_arm: 'ghost' is not a live arm of this study",
    ]


def test_it_checks_that_a_tokenizer_file_loads(tokenizer_dir):
    path = tokenizer_dir / "tokenizer.json"
    path.write_text("{}")

    errors = errors_of(f"- name: fast\n  tokenizer: {path}\n- name: slow\n")

    assert len(errors) == 1 and errors[0].startswith(f"arms[0].tokenizer: {path}: not a loadable tokenizer.json")
    errors = errors_of("- name: fast\n  tokenizer: tokenizer.json\n- name: slow\n")  # the same file, by its name
    assert len(errors) == 1 and errors[0].startswith("arms[0].tokenizer: tokenizer.json: not a loadable tokenizer.json")


@pytest.mark.parametrize("name", ["/etc/passwd", "/etc/hostname", "../../../../etc/passwd"])
def test_a_tokenizer_outside_the_operators_directory_is_refused_by_path_before_it_is_read(tokenizer_dir, name):
    outside = f"{name} is outside the tokenizer directory (UXLAB_TOKENIZER_DIR): name a file in it, e.g. llama-3/tokenizer.json"
    errors = errors_of(f"- name: fast\n  tokenizer: {name}\n- name: slow\n  kind: trace\n  builtin: h200_llama8b_batch1\n"
                       f"  tokenizer: {name}\n")
    assert errors == [f"arms[0].tokenizer: {outside}", f"arms[1].tokenizer: {outside}"]


def test_a_tokenizer_that_is_not_a_regular_file_is_refused(tokenizer_dir):
    (tokenizer_dir / "llama").mkdir()
    assert errors_of("- name: fast\n  tokenizer: llama\n- name: slow\n") == ["arms[0].tokenizer: llama: not a regular file"]
