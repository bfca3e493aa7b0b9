"""The preset picker's cards: each preset's figures, source, notes and its entries of docs/sources.md."""

import functools
import re

from django.conf import settings

from uxlab.streaming.presets import PRESET_LIST
from uxlab.studies.study_files.errors import tidy_number

_ENTRY = re.compile(r'<a id="(?P<id>[^"]+)"></a>\s*\n(?P<text>.+?)(?:\n\s*\n|\Z)', re.S)


@functools.cache
def source_entries():
    """{anchor: text} of docs/sources.md (empty when the docs are not shipped with the app)."""
    path = settings.BASE_DIR / "docs" / "sources.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    entries = {}
    for match in _ENTRY.finditer(text):
        entry = " ".join(match["text"].split()).replace("**", "")
        entries[match["id"]] = entry.removeprefix(f"[{match['id']}]").strip()
    return entries


def preset_cards():
    """One card per preset, in the presets' order: what the picker shows before a researcher picks."""
    entries = source_entries()
    cards = []
    for preset in PRESET_LIST:
        profile = preset.profile
        figures = [f"{tidy_number(profile.get('tokens_per_second'))} tokens/s", f"TTFT {tidy_number(profile.get('ttft_s'))} s"]
        if profile.get("thinking_tokens"):
            figures.append(f"{profile['thinking_tokens']} thinking tokens")
        if profile.get("jitter"):
            figures.append(f"jitter {profile['jitter']} CV {profile.get('jitter_cv')}")
        cards.append({
            "name": preset.name,
            "label": preset.label,
            "citation": preset.citation,
            "figures": ", ".join(figures),
            "notes": preset.notes,
            "references": [(ref, entries.get(ref, "")) for ref in preset.references],
        })
    return cards


def preset_card(name):
    return next((card for card in preset_cards() if card["name"] == name), None)


def refilled_arm(arm, preset_name):
    """An existing arm with its latency settings re-filled from another preset: its name kept; its
    label, source, preset and every profile value the preset's (values the preset leaves out go
    back to their defaults). Shown in the arm form to check; saved only by Save."""
    from uxlab.studies.drafts import preset_arm

    return preset_arm(preset_name, arm.get("name"))


def refill_context(request, specs, index, frozen):
    """The arm form's "fill from a preset" choice: for a saved arm of a kind with presets, while its
    section can change. None otherwise."""
    if index is None or frozen or not any(spec.name == "preset" for spec in specs):
        return None
    filled = request.GET.get("preset", "") if request.method == "GET" else ""
    return {"choices": [(card["name"], card["label"]) for card in preset_cards()],
            "filled": filled if any(card["name"] == filled for card in preset_cards()) else ""}
