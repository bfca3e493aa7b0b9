"""The builder's study file: a dict in the study-file format, edited section by section.

A draft is checked by the very schema an imported YAML file is (studies/study_files), so what the
builder saves and what an import writes are the same validated definition. Problems come back as
``(path, message)`` pairs with the file's paths (``arms[1].tokens_per_second``), which the builder
shows beside the field of that path. Templates (a blank study, two presets compared) are drafts too.
See docs/builder.md.
"""

import copy
from dataclasses import dataclass

import yaml

from uxlab.streaming.presets import PRESETS
from uxlab.studies.study_files import FORMAT_VERSION, StudyFileError, export_study, validate_study_data


@dataclass(frozen=True)
class Section:
    """One page of the builder: the document keys it edits and whether launch freezes it."""

    name: str
    title: str
    keys: tuple  # top-level keys, or "design.<name>" for part of the design section
    frozen_when_live: bool
    is_list: bool = False
    help: str = ""


# The design settings that define the cells and the order (frozen at launch); the others are the
# session settings, which may change in a new version of a live study.
DESIGN_KEYS = ("pairs", "seed", "order", "trials_per_participant", "quota_per_cell", "delivery")
SESSION_KEYS = (
    "layout", "sequential_gap_s", "allow_stacked", "min_viewport_width", "min_viewport_height", "answering",
    "min_exposure_s", "interrupted_trial", "max_restarts", "failure_pause_rate", "failure_pause_after",
    "time_limit_minutes", "abandon_after_minutes", "participant_param", "require_participant_id", "save_timeout_s",
)

SECTIONS = (
    Section("study", "Study details", ("title", "description", "consent", "instructions"), False,
            help="The title participants see, the consent form and the instructions."),
    Section("arms", "Arms", ("arms",), True, is_list=True,
            help="The latency conditions: at least two. Start from a preset with a published source."),
    Section("prompts", "Prompts", ("prompts",), True, is_list=True,
            help="What the participant asked and the response both panes stream."),
    Section("questions", "Questions", ("questions",), True, is_list=True,
            help="Asked after every trial."),
    Section("practice", "Practice", ("practice",), True,
            help="An optional practice trial before the real ones (left out of analysis)."),
    Section("attention_checks", "Attention checks", ("attention_checks",), True, is_list=True,
            help="Instructed-response trials: the response tells the participant which answer to give."),
    Section("design", "Design", tuple(f"design.{key}" for key in DESIGN_KEYS), True,
            help="Which pairs of arms each participant compares, in which order, and quotas."),
    Section("adaptive", "Adaptive design", ("design.adaptive",), True,
            help="Instead of pairs: each participant's threshold, the next trial chosen after every answer."),
    Section("session", "Session", tuple(f"design.{key}" for key in SESSION_KEYS), False,
            help="Layout, answering, time limits and panel ids."),
    Section("completion", "Completion", ("completion",), False,
            help="The completion code and link participants get, per outcome. For Prolific, the link is "
                 "Prolific's completion URL ending in cc= and the code (the study's Prolific page shows "
                 "and checks each one)."),
)
SECTIONS_BY_NAME = {section.name: section for section in SECTIONS}
# Parts of the design section an adaptive design refuses or does not use (docs/study-format.md).
PAIRS_ONLY_KEYS = ("pairs", "order", "trials_per_participant", "quota_per_cell")
# The sections that edit part of the design mapping.
DESIGN_PARTS = ("design", "session", "adaptive")
LIST_SECTIONS = {section.name for section in SECTIONS if section.is_list}

DEFAULT_CONSENT = (
    "You are invited to take part in a study of how people perceive AI assistants' answers. You will "
    "read pairs of answers and say how they felt to you. It takes about ten minutes. Taking part is "
    "voluntary and you may stop at any time. Your answers are stored without your name."
)
DEFAULT_QUESTION = {"name": "faster", "kind": "forced_choice_tie", "text": "Which response felt faster?"}
DEFAULT_PROMPT = {
    "name": "explain_tides",
    "text": "Why are there two high tides a day?",
    "response": (
        "The Moon's gravity pulls the ocean on the near side of the Earth towards it, and the Earth itself "
        "is pulled away from the water on the far side. That leaves two bulges of water, one facing the "
        "Moon and one opposite. As the Earth turns, most coasts pass through both bulges each day."
    ),
}


# --- Paths and problems ---------------------------------------------------------------------------


def problems_of(document):
    """(definition or None, [(path, message)]): the document checked by the study-file schema."""
    try:
        return validate_study_data(document), []
    except StudyFileError as exc:
        return None, [split_problem(line) for line in exc.errors]


def split_problem(line):
    path, _, message = line.partition(": ")
    return (path, message) if message else ("(top level)", line)


def section_of_path(path):
    """The builder section a problem's path belongs to (``design.layout`` is the session's)."""
    head = path.split(".")[0].split("[")[0]
    if head == "design":
        rest = path[len("design."):].split("[")[0].split(".")[0]
        return "session" if rest in SESSION_KEYS else "adaptive" if rest == "adaptive" else "design"
    for section in SECTIONS:
        if head in section.keys:
            return section.name
    return "study"


def problems_by_section(problems):
    grouped = {}
    for path, message in problems:
        grouped.setdefault(section_of_path(path), []).append((path, message))
    return grouped


# --- Reading and writing sections -----------------------------------------------------------------


def section_data(document, name):
    """The part of the document one section edits, as a dict (list sections: ``{"items": [...]}``)."""
    section = SECTIONS_BY_NAME[name]
    if section.is_list:
        return {"items": copy.deepcopy(document.get(name) or [])}
    if name in DESIGN_PARTS:
        design = document.get("design") or {}
        return {key.split(".", 1)[1]: copy.deepcopy(design[key.split(".", 1)[1]])
                for key in section.keys if key.split(".", 1)[1] in design}
    return {key: copy.deepcopy(document[key]) for key in section.keys if key in document}


def is_adaptive(document):
    """Whether the document's design is adaptive (design.adaptive given) rather than pairs."""
    design = document.get("design") if isinstance(document, dict) else None
    return isinstance(design, dict) and design.get("adaptive") is not None


def with_section(document, name, data):
    """A copy of the document with one section's part replaced by ``data`` (as section_data gives it)."""
    section = SECTIONS_BY_NAME[name]
    updated = copy.deepcopy(document)
    if section.is_list:
        if data["items"] or name != "attention_checks":
            updated[name] = copy.deepcopy(data["items"])
        else:
            updated.pop(name, None)
        return updated
    if name in DESIGN_PARTS:
        design = updated.setdefault("design", {})
        if not isinstance(design, dict):
            design = updated["design"] = {}
        for key in section.keys:
            design.pop(key.split(".", 1)[1], None)
        if name == "adaptive" and data.get("adaptive") is not None:
            for key in PAIRS_ONLY_KEYS:  # an adaptive design replaces the pairs and what goes with them
                design.pop(key, None)
        design.update(copy.deepcopy(data))
        return updated
    for key in section.keys:
        updated.pop(key, None)
    updated.update(copy.deepcopy(data))
    return _in_file_order(updated)


_ORDER = ("version", "code", "title", "description", "consent", "instructions", "completion", "arms", "prompts",
          "questions", "practice", "attention_checks", "design")


def _in_file_order(document):
    ordered = {key: document[key] for key in _ORDER if key in document}
    ordered.update((key, value) for key, value in document.items() if key not in ordered)
    return ordered


def rename_arm(document, old, new):
    """Pairs naming an arm follow it when it is renamed."""
    pairs = (document.get("design") or {}).get("pairs") or []
    for pair in pairs:
        if isinstance(pair, list):
            pair[:] = [new if name == old else name for name in pair]
    return document


# --- Documents of studies, YAML, templates --------------------------------------------------------


def study_document(study):
    """The study as the builder edits it: exactly what its exported YAML file loads as."""
    return yaml.safe_load(export_study(study))


def document_yaml(document):
    """The document as a study file, valid or not, for download: the file's sections in the order
    of a study file, each item's name first. (Drafts are stored as Postgres jsonb, which keeps a
    mapping's keys sorted by length, not in the order they were written.)"""
    from uxlab.studies.study_files.exporter import dump_study_data

    return dump_study_data(_readable(document))


_FIRST_KEYS = ("version", "name", "code", "kind", "label", "source", "preset", "text")


def _readable(document):
    document = _in_file_order(document)
    for key, value in document.items():
        if isinstance(value, list):
            document[key] = [_named_first(item) for item in value]
        elif isinstance(value, dict) and key != "design":
            document[key] = _named_first(value)
    return document


def _named_first(item):
    if not isinstance(item, dict):
        return item
    return {**{key: item[key] for key in _FIRST_KEYS if key in item}, **item}


def blank_document(title, code):
    """A new study with a title, a consent form and one question; arms, prompts and pairs to add."""
    return {
        "version": FORMAT_VERSION, "code": code, "title": title,
        "consent": {"version": "1", "text": DEFAULT_CONSENT},
        "arms": [], "prompts": [], "questions": [dict(DEFAULT_QUESTION)], "design": {"pairs": []},
    }


def preset_arm(preset_name, name=None):
    """An arm with a preset's label, source and values (the exporter's layout of such an arm)."""
    preset = PRESETS[preset_name]
    arm = {"name": name or preset.name, "label": preset.label, "source": preset.citation, "kind": "synthetic",
           "preset": preset.name}
    arm.update(preset.profile)
    return arm


def preset_comparison_document(title, code, first, second):
    """The "two presets compared" template: both arms from presets, one prompt, one question, one pair."""
    document = blank_document(title, code)
    names = [first, second] if first != second else [first, f"{second}_2"]
    document["arms"] = [preset_arm(first, names[0]), preset_arm(second, names[1])]
    document["prompts"] = [dict(DEFAULT_PROMPT)]
    document["design"] = {"pairs": [names]}
    return document


def without_code(document):
    return {key: value for key, value in document.items() if key != "code"}
