"""Named latency presets from published figures, each with its source and year.

Vendors change quickly, so every preset says where its numbers come from and when; anything not
published is marked as assumed or derived in ``notes``. A study file uses a preset by name
(``preset: wafer_scale_8b``) and may override any field. Full citations: docs/sources.md, where
each preset's ``references`` are anchors.
"""

from dataclasses import dataclass, field

from uxlab.streaming.profiles import SyntheticProfile

# Jitter fitted to the shipped H200 decode cadences at batch 8–64 (traces.fit_jitter: lognormal,
# CV 0.20–0.22): a realistic shape for GPU serving, where no vendor publishes one.
GPU_JITTER = {"jitter": "lognormal", "jitter_cv": 0.2}
GPU_JITTER_NOTE = "jitter: lognormal CV 0.2, fitted to uxlab's H200 decode cadences (derived)"
ASSUMED_TTFT = "TTFT not published; {ttft} s assumed"


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    source: str
    year: str
    profile: dict
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def references(self) -> tuple[str, ...]:
        """The entries of docs/sources.md its figures come from (anchor ids)."""
        return REFERENCES[self.name]

    @property
    def citation(self) -> str:
        """Source and year in one line, as an arm's ``source`` field shows it."""
        return f"{self.source} ({self.year})"

    def synthetic_profile(self) -> SyntheticProfile:
        return SyntheticProfile(**self.profile)


def _preset(name, label, source, year, notes=(), **profile):
    return Preset(name, label, source, year, profile, tuple(notes))


_CEREBRAS_AUG_2024 = 'Cerebras, "Introducing Cerebras Inference"'
_AA_SEP_2024 = "Artificial Analysis provider data"
_OCI = "OCI Generative AI benchmark docs, Llama 3.3 70B"
_R1_LENGTH = "LRMTokenEconomy: DeepSeek-R1 median reasoning+answer tokens"

PRESET_LIST = [
    _preset("wafer_scale_8b", "Wafer-scale, Llama 3.1 8B", _CEREBRAS_AUG_2024, "Aug 2024",
            [ASSUMED_TTFT.format(ttft=0.2)], tokens_per_second=1800.0, ttft_s=0.2),
    _preset("wafer_scale_70b", "Wafer-scale, Llama 3.1 70B", _CEREBRAS_AUG_2024, "Aug 2024",
            [ASSUMED_TTFT.format(ttft=0.2)], tokens_per_second=450.0, ttft_s=0.2),
    _preset("wafer_scale_405b", "Wafer-scale, Llama 3.1 405B", "Cerebras 405B announcement", "Nov 2024",
            tokens_per_second=969.0, ttft_s=0.24),
    _preset("groq_8b", "Groq-class LPU, Llama 3.1 8B", _AA_SEP_2024, "Sep 2024",
            [ASSUMED_TTFT.format(ttft=0.2)], tokens_per_second=751.0, ttft_s=0.2),
    _preset("groq_70b", "Groq-class LPU, Llama 3.1 70B", _AA_SEP_2024, "Sep 2024",
            [ASSUMED_TTFT.format(ttft=0.2)], tokens_per_second=250.0, ttft_s=0.2),
    _preset("sambanova_8b", "SambaNova, Llama 3.1 8B", _AA_SEP_2024, "Sep 2024",
            [ASSUMED_TTFT.format(ttft=0.2)], tokens_per_second=1042.0, ttft_s=0.2),
    _preset("sambanova_70b", "SambaNova, Llama 3.1 70B", _AA_SEP_2024, "Sep 2024",
            [ASSUMED_TTFT.format(ttft=0.2)], tokens_per_second=457.0, ttft_s=0.2),
    _preset("sambanova_405b", "SambaNova, Llama 3.1 405B", _AA_SEP_2024, "Sep 2024",
            [ASSUMED_TTFT.format(ttft=0.3)], tokens_per_second=129.0, ttft_s=0.3),
    _preset("gpu_provider_8b", "GPU provider (Fireworks), Llama 3.1 8B", _AA_SEP_2024, "Sep 2024",
            [ASSUMED_TTFT.format(ttft=0.3), GPU_JITTER_NOTE], tokens_per_second=288.0, ttft_s=0.3, **GPU_JITTER),
    _preset("gpu_provider_70b", "GPU provider (Fireworks), Llama 3.1 70B", _AA_SEP_2024, "Sep 2024",
            [ASSUMED_TTFT.format(ttft=0.3), GPU_JITTER_NOTE], tokens_per_second=71.0, ttft_s=0.3, **GPU_JITTER),
    _preset("gpu_provider_405b", "GPU provider (Fireworks), Llama 3.1 405B", _AA_SEP_2024, "Sep 2024",
            [ASSUMED_TTFT.format(ttft=0.5), GPU_JITTER_NOTE], tokens_per_second=72.0, ttft_s=0.5, **GPU_JITTER),
    _preset("loaded_gpu_cloud_70b", "Loaded GPU cloud, Llama 3.3 70B at 256 concurrent users", _OCI,
            "2025, undated page", [GPU_JITTER_NOTE], tokens_per_second=15.3, ttft_s=4.09, **GPU_JITTER),
    _preset("gpu_cloud_70b_one_user", "GPU cloud, Llama 3.3 70B, one user", _OCI, "2025, undated page",
            [GPU_JITTER_NOTE], tokens_per_second=58.6, ttft_s=0.05, **GPU_JITTER),
    _preset("gpu_hyperscaler_405b", "GPU hyperscaler, Llama 3.1 405B",
            'Cerebras comparison: 969 tok/s is "75x" a GPU hyperscaler', "Nov 2024",
            ["tokens/s derived: 969 / 75 ≈ 13", "TTFT assumed 2.0 s (cf. Azure 405B, 2.01 s, Artificial Analysis)",
             GPU_JITTER_NOTE],
            tokens_per_second=13.0, ttft_s=2.0, **GPU_JITTER),
    _preset("r1_wafer_scale_basic", "Reasoning model on wafer-scale, basic question (R1-class thinking)",
            f"Cerebras DeepSeek-R1-Distill-Llama-70B ~1,500 tok/s (early 2025); {_R1_LENGTH}", "2025",
            ["thinking_tokens: DeepSeek-R1 median for a basic question, 307 (Aug 2025)",
             ASSUMED_TTFT.format(ttft=0.2)],
            tokens_per_second=1500.0, ttft_s=0.2, thinking_tokens=307, thinking_tokens_per_second=1500.0),
    _preset("r1_wafer_scale_aime", "Reasoning model on wafer-scale, AIME-level problem (R1-class thinking)",
            f"Cerebras DeepSeek-R1-Distill-Llama-70B ~1,500 tok/s (early 2025); {_R1_LENGTH}", "2025",
            ["thinking_tokens: DeepSeek-R1 median on AIME 2025, 3,211 (Aug 2025)", ASSUMED_TTFT.format(ttft=0.2)],
            tokens_per_second=1500.0, ttft_s=0.2, thinking_tokens=3211, thinking_tokens_per_second=1500.0),
    _preset("r1_gpu_cloud_basic", "Reasoning model on a loaded GPU cloud, basic question",
            f"{_OCI} (speed, TTFT); {_R1_LENGTH}", "2025",
            ["thinking_tokens: DeepSeek-R1 median for a basic question, 307 (Aug 2025)",
             "speed and TTFT of the loaded GPU cloud preset (derived)", GPU_JITTER_NOTE],
            tokens_per_second=15.3, ttft_s=4.09, thinking_tokens=307, thinking_tokens_per_second=15.3, **GPU_JITTER),
    _preset("r1_gpu_cloud_aime", "Reasoning model on a loaded GPU cloud, AIME-level problem",
            f"{_OCI} (speed, TTFT); {_R1_LENGTH}", "2025",
            ["thinking_tokens: DeepSeek-R1 median on AIME 2025, 3,211 (Aug 2025)",
             "speed and TTFT of the loaded GPU cloud preset (derived)", GPU_JITTER_NOTE],
            tokens_per_second=15.3, ttft_s=4.09, thinking_tokens=3211, thinking_tokens_per_second=15.3, **GPU_JITTER),
]  # fmt: skip

PRESETS = {preset.name: preset for preset in PRESET_LIST}

# Which entries of docs/sources.md each preset's figures come from.
_GPU_FIT = "h200-cadences"
REFERENCES = {
    "wafer_scale_8b": ("cerebras-2024-08",),
    "wafer_scale_70b": ("cerebras-2024-08",),
    "wafer_scale_405b": ("cerebras-2024-11",),
    "groq_8b": ("artificial-analysis-2024-09",),
    "groq_70b": ("artificial-analysis-2024-09",),
    "sambanova_8b": ("artificial-analysis-2024-09",),
    "sambanova_70b": ("artificial-analysis-2024-09",),
    "sambanova_405b": ("artificial-analysis-2024-09",),
    "gpu_provider_8b": ("artificial-analysis-2024-09", _GPU_FIT),
    "gpu_provider_70b": ("artificial-analysis-2024-09", _GPU_FIT),
    "gpu_provider_405b": ("artificial-analysis-2024-09", _GPU_FIT),
    "loaded_gpu_cloud_70b": ("oci-llama-3-3-70b", _GPU_FIT),
    "gpu_cloud_70b_one_user": ("oci-llama-3-3-70b", _GPU_FIT),
    "gpu_hyperscaler_405b": ("cerebras-2024-11", "artificial-analysis-2024-09", _GPU_FIT),
    "r1_wafer_scale_basic": ("cerebras-2025-r1", "lrm-token-economy-2025"),
    "r1_wafer_scale_aime": ("cerebras-2025-r1", "lrm-token-economy-2025"),
    "r1_gpu_cloud_basic": ("oci-llama-3-3-70b", "lrm-token-economy-2025", _GPU_FIT),
    "r1_gpu_cloud_aime": ("oci-llama-3-3-70b", "lrm-token-economy-2025", _GPU_FIT),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; one of {', '.join(PRESETS)}") from None


def preset_choices() -> list[tuple[str, str]]:
    """(name, "label — source (year)") pairs for a select box."""
    return [(p.name, f"{p.label} — {p.citation}") for p in PRESET_LIST]
