"""The builder's form for the study file's adaptive block (``design.adaptive``, docs/adaptive.md).

Fields come from the block's pydantic models (study_files/adaptive.py), as the other forms' do,
with the names the builder needs to choose from (arms, questions) as selects, lists of numbers as
comma-separated text, and each track as a row of name, range and start. The posted form becomes
the block as a YAML file would hold it; the study-file schema checks it, and each ``path:
message`` problem is put beside its field (a track's range problems beside its row).
"""

import re
from dataclasses import dataclass, field

from uxlab.adaptive.procedures import DEFAULTS, PROCEDURES
from uxlab.adaptive.staircase import RULES
from uxlab.streaming import kinds
from uxlab.studies.study_files.adaptive import MAX_TRACKS, AdaptiveSpec, PriorSpec, QuestPlusSpec, StaircaseSpec, StopSpec
from uxlab.web.builder.forms import FieldSpec, display, fields_of, value_at
from uxlab.web.builder.forms import _number as as_number

ENABLED = "adaptive_enabled"
BLANK_TRACK_ROWS = 2
LIST_FIELDS = ("staircase.steps", "quest_plus.slopes", "quest_plus.lapses")
# Settings of one procedure only: dropped from the block when the other procedure is chosen (the
# page hides them then, builder_adaptive.js).
PROCEDURE_OF = {
    "stop.reversals": "staircase", "stop.posterior_sd": "quest_plus",
    **{f"staircase.{name}": "staircase" for name in StaircaseSpec.model_fields},
    **{f"quest_plus.{name}": "quest_plus" for name in ("slopes", "lapses", "guess", "prior.threshold", "prior.sd_log10")},
}
LABELS = {
    "reference": "Reference arm", "dimension": "Dimension varied", "question": "Question (forced choice)",
    "max_trials": "Most trials per participant", "catch_trials": "Catch trials (share, 0–0.5)",
    "grid": "Grid values per track", "stop.trials_per_track": "Stop a track after this many trials",
    "stop.reversals": "Stop a track after this many reversals (staircase)",
    "stop.posterior_sd": "Stop a track at this posterior SD, log10 (QUEST+)",
    "staircase.rule": "Rule", "staircase.steps": "Steps, log10 units",
    "staircase.use_reversals": "Reversals averaged for the estimate",
    "quest_plus.slopes": "Slopes β", "quest_plus.lapses": "Lapse rates λ",
    "quest_plus.guess": "Guess rate γ", "quest_plus.prior.threshold": "Prior: threshold value",
    "quest_plus.prior.sd_log10": "Prior: SD, log10 units",
}


@dataclass
class TrackRow:
    """One track's inputs (name, low and high end of its range, start) and its row's problems."""

    number: int
    fields: list
    errors: list = field(default_factory=list)

    @property
    def is_blank(self):
        return not any(spec.value for spec in self.fields)


@dataclass
class AdaptiveForm:
    enabled: bool
    fields: list  # every field but the tracks', in page order
    tracks: list
    track_errors: list = field(default_factory=list)
    other_errors: list = field(default_factory=list)

    def group(self, prefix):
        return [spec for spec in self.fields if spec.name.startswith(prefix)]

    @property
    def what(self):
        return [spec for spec in self.fields if "." not in spec.name and spec.name not in ("max_trials", "catch_trials", "grid")]

    @property
    def trials(self):
        return [spec for spec in self.fields if spec.name in ("max_trials", "catch_trials", "grid")]

    @property
    def stop(self):
        return self.group("stop.")

    @property
    def staircase(self):
        return self.group("staircase.")

    @property
    def quest_plus(self):
        return self.group("quest_plus.")

    @property
    def errors(self):
        return bool(self.track_errors or self.other_errors or any(spec.errors for spec in self.all_fields))

    @property
    def all_fields(self):
        return self.fields + [spec for row in self.tracks for spec in row.fields]


def _select(spec, choices):
    spec.widget, spec.choices = "select", tuple(choices)
    return spec


def setting_fields(document):
    """The block's fields (tracks aside), with the document's arms and questions to choose from."""
    def names(key):
        items = document.get(key) if isinstance(document.get(key), list) else []
        return [str(item["name"]) for item in items if isinstance(item, dict) and item.get("name") is not None]

    specs = fields_of(AdaptiveSpec, ["reference", "dimension", "question", "procedure", "max_trials", "catch_trials", "grid"])
    specs += fields_of(StopSpec, prefix="stop.")
    specs += fields_of(StaircaseSpec, prefix="staircase.")
    specs += fields_of(QuestPlusSpec, ["slopes", "lapses", "guess"], prefix="quest_plus.")
    specs += fields_of(PriorSpec, prefix="quest_plus.prior.")
    for spec in specs:
        spec.label = LABELS.get(spec.name, spec.label)
        spec.kinds = PROCEDURE_OF.get(spec.name, "")
        if spec.name in LIST_FIELDS:
            default = DEFAULTS[spec.name.split(".")[0]][spec.name.split(".")[1]]
            spec.widget, spec.default = "text", ", ".join(display(value) for value in default)
            # Comma-separated numbers; the page shows the defaults of number inputs only.
            spec.label += f" (comma-separated; default {spec.default})"
        if spec.name.startswith("quest_plus.prior."):
            spec.required = False  # the prior is optional as a whole
    by_name = {spec.name: spec for spec in specs}
    _select(by_name["reference"], names("arms"))
    _select(by_name["question"], names("questions"))
    _select(by_name["dimension"], kinds.DIMENSIONS)
    _select(by_name["procedure"], PROCEDURES)
    _select(by_name["staircase.rule"], RULES)
    return specs


def track_row(number):
    prefix = f"tracks.{number}."
    labels = (("name", "name"), ("low", "range from"), ("high", "range to"), ("start", "start (optional)"))
    return TrackRow(number, [
        FieldSpec(prefix + name, f"Track {number + 1}: {label}", "number" if name != "name" else "text")
        for name, label in labels
    ])


def form_for(document, block, enabled):
    """The form showing ``block`` (the adaptive block as the document or a post holds it)."""
    block = block if isinstance(block, dict) else {}
    specs = setting_fields(document)
    for spec in specs:
        value = value_at(block, spec.name)
        if spec.name in LIST_FIELDS and isinstance(value, list):
            spec.value = ", ".join(display(item) for item in value)
        else:
            spec.value = display(value) if not isinstance(value, (dict, list)) else ""
    tracks = [item for item in block.get("tracks") or [] if isinstance(item, dict)] if isinstance(block.get("tracks"), list) else []
    if not tracks and isinstance(block.get("range"), list):
        tracks = [{"name": "main", "range": block["range"]}]
    rows = []
    for number in range(min(MAX_TRACKS, len(tracks) + BLANK_TRACK_ROWS)):
        row = track_row(number)
        track = tracks[number] if number < len(tracks) else {}
        ends = track.get("range") if isinstance(track.get("range"), list) else []
        values = {"name": track.get("name"), "low": ends[0] if ends else None,
                  "high": ends[1] if len(ends) > 1 else None, "start": track.get("start")}
        for spec in row.fields:
            value = values[spec.name.rsplit(".", 1)[1]]
            spec.value = display(value) if not isinstance(value, (dict, list)) else ""
        rows.append(row)
    return AdaptiveForm(enabled=enabled, fields=specs, tracks=rows)


def starting_block(document):
    """What a study that is not adaptive yet is offered: its first arm as the reference, answer
    speed, its first forced-choice question, QUEST+, and one track from a tenth of the reference
    speed up to it (every other setting at its default)."""
    arms = [arm for arm in document.get("arms") or [] if isinstance(arm, dict)]
    questions = [q for q in document.get("questions") or [] if isinstance(q, dict)]
    choice = next((q for q in questions if q.get("kind") == "forced_choice"), questions[0] if questions else {})
    block = {"dimension": "tokens_per_second", "procedure": "quest_plus",
             "reference": arms[0].get("name") if arms else None, "question": choice.get("name")}
    speed = arms[0].get("tokens_per_second") if arms else None
    if isinstance(speed, (int, float)) and not isinstance(speed, bool) and speed > 0:
        block["tracks"] = [{"name": "slower", "range": [display_number(speed / 10), display_number(speed)]}]
    return block


def display_number(value):
    return float(f"{value:.4g}")


def _set(data, path, value):
    *parents, last = path.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def _numbers(text):
    """A comma- or space-separated list as numbers (text the schema reports stays text)."""
    return [as_number(part, False) for part in re.split(r"[,\s]+", text.strip()) if part]


def parse(document, post):
    """(enabled, the adaptive block as a YAML file would hold it) from the posted form."""
    enabled = post.get(ENABLED) == "on"
    block = {}
    specs = setting_fields(document)
    procedure = post.get("procedure", "").strip()
    for spec in specs:
        raw = post.get(spec.name, "")
        raw = raw.strip() if isinstance(raw, str) else ""
        if raw == "" or (spec.kinds and spec.kinds != procedure):
            continue
        if spec.name in LIST_FIELDS:
            value = _numbers(raw)
        elif spec.widget == "number":
            value = as_number(raw, spec.integer)
        else:
            value = raw
        _set(block, spec.name, value)
    tracks = []
    for row in range(MAX_TRACKS):
        prefix = f"tracks.{row}."
        raw = {name: str(post.get(prefix + name, "")).strip() for name in ("name", "low", "high", "start")}
        if not any(raw.values()):
            continue
        track = {"name": raw["name"]} if raw["name"] else {}
        track["range"] = [as_number(raw["low"], False), as_number(raw["high"], False)]
        if raw["start"]:
            track["start"] = as_number(raw["start"], False)
        tracks.append(track)
    block["tracks"] = tracks
    return enabled, block


# --- Problems beside their fields -----------------------------------------------------------------

_PATH = re.compile(r"^(?P<field>[a-z_]+(?:\.[a-z_0-9]+)*): (?P<message>.+)$")


def _relative(path):
    """design.adaptive.tracks[0].range[1] -> tracks.0.range.1 (None for a path outside the block)."""
    if path != "design.adaptive" and not path.startswith("design.adaptive."):
        return None
    return re.sub(r"\[(\d+)\]", r".\1", path[len("design.adaptive"):]).lstrip(".")


def attach_errors(form, problems):
    """Put each problem beside its field, or its track's row, or above the tracks; the rest come
    back with their paths (shown above the form)."""
    fields = sorted(form.fields, key=lambda spec: -len(spec.name))
    rest = []
    for path, message in problems:
        relative = _relative(path)
        if relative == "":  # a rule of the whole block names its field in the message
            match = _PATH.match(message)
            if match and any(match["field"] == spec.name or match["field"].startswith(spec.name + ".") or
                             spec.name.startswith(match["field"] + ".") for spec in fields):
                relative, message = match["field"], match["message"]
            elif "track" in message or "range" in message:
                form.track_errors.append(message)
                continue
        if relative is None or relative == "":
            rest.append((path, message))
            continue
        if relative == "tracks" or re.fullmatch(r"tracks\.\d+(\.range)?", relative):
            numbered = re.match(r"tracks\.(\d+)", relative)
            row = _row(form, int(numbered[1])) if numbered else None
            (row.errors if row else form.track_errors).append(message)
            continue
        track = re.match(r"tracks\.(\d+)\.(name|start|range\.(\d))", relative)
        if track:
            row = _row(form, int(track[1]))
            name = track[2] if track[3] is None else ("low", "high")[int(track[3])]
            target = next((spec for spec in row.fields if spec.name.endswith("." + name)), None) if row else None
            (target.errors if target else form.track_errors).append(message)
            continue
        target = next((spec for spec in fields if relative == spec.name or relative.startswith(spec.name + ".")
                       or spec.name.startswith(relative + ".")), None)
        if target is None:
            rest.append((path, message))
        else:
            target.errors.append(message)
    form.other_errors = rest
    return form


def _row(form, number):
    return next((row for row in form.tracks if row.number == number), None)
