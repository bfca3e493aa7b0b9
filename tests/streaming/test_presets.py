"""Named presets: valid profiles, each citing a source and year, with the published figures."""

import pytest

from uxlab.streaming.presets import PRESETS, get_preset, preset_choices
from uxlab.streaming.profiles import SyntheticProfile


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_it_gives_every_preset_a_valid_profile_a_source_and_a_year(name):
    preset = PRESETS[name]

    assert isinstance(preset.synthetic_profile(), SyntheticProfile)
    assert preset.source and any(char.isdigit() for char in preset.year)
    assert preset.year in preset.citation


@pytest.mark.parametrize(
    ("name", "tokens_per_second", "ttft_s", "thinking_tokens"),
    [
        ("wafer_scale_8b", 1800, 0.2, 0),
        ("wafer_scale_405b", 969, 0.24, 0),
        ("groq_8b", 751, 0.2, 0),
        ("groq_70b", 250, 0.2, 0),
        ("gpu_provider_8b", 288, 0.3, 0),
        ("gpu_provider_70b", 71, 0.3, 0),
        ("loaded_gpu_cloud_70b", 15.3, 4.09, 0),
        ("gpu_hyperscaler_405b", 13, 2.0, 0),
        ("r1_wafer_scale_basic", 1500, 0.2, 307),
        ("r1_wafer_scale_aime", 1500, 0.2, 3211),
        ("r1_gpu_cloud_aime", 15.3, 4.09, 3211),
    ],
)
def test_it_carries_the_published_figures(name, tokens_per_second, ttft_s, thinking_tokens):
    profile = get_preset(name).synthetic_profile()

    assert (profile.tokens_per_second, profile.ttft_s, profile.thinking_tokens) == (tokens_per_second, ttft_s, thinking_tokens)


def test_it_marks_what_is_not_published():
    assert any("derived" in note for note in get_preset("gpu_hyperscaler_405b").notes)
    assert any("assumed" in note for note in get_preset("wafer_scale_8b").notes)
    assert not get_preset("wafer_scale_405b").notes  # TTFT 0.24 s is published


def test_it_rejects_an_unknown_name_and_lists_choices():
    with pytest.raises(ValueError, match="unknown preset 'warp_speed'"):
        get_preset("warp_speed")
    assert ("wafer_scale_8b", 'Wafer-scale, Llama 3.1 8B — Cerebras, "Introducing Cerebras Inference" (Aug 2024)') in preset_choices()


def test_it_cites_every_preset_from_an_entry_of_docs_sources():
    from pathlib import Path

    sources = (Path(__file__).resolve().parents[2] / "docs" / "sources.md").read_text()
    for name, preset in PRESETS.items():
        assert preset.references, name
        for reference in preset.references:
            assert f'<a id="{reference}"></a>' in sources, (name, reference)
