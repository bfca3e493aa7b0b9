"""Export: a Study as a version-1 YAML study file that imports back to the same definition."""

import yaml

from uxlab.streaming import kinds
from uxlab.studies.models import Arm, Study
from uxlab.studies.study_files.errors import tidy_number
from uxlab.studies.study_files.schema import FORMAT_VERSION


def profile_from_arm(arm: Arm) -> dict:
    """The arm's settings as its kind exports them (a synthetic arm: every profile field, stored
    values over SyntheticProfile's defaults, then any unknown keys, so an export shows them)."""
    return kinds.get(arm.kind).export(arm.profile)


def export_study(study: Study) -> str:
    """The study as a version-1 YAML file that imports back to the same definition."""
    return dump_study_data(_study_data(study))


def dump_study_data(data: dict) -> str:
    """A study file's data as YAML in the exporter's layout (the builder's drafts too, valid or not)."""
    design = data.get("design")
    if isinstance(design, dict) and isinstance(design.get("pairs"), list):
        data = {**data, "design": {**design, "pairs": [
            _FlowList(pair) if isinstance(pair, list) else pair for pair in design["pairs"]]}}
    header = f"# uxlab study file, version {FORMAT_VERSION}; the format is described in docs/study-format.md\n"
    return header + yaml.dump(
        data,
        Dumper=_StudyDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def _study_data(study):
    data = {"version": FORMAT_VERSION, "code": study.code, "title": study.title}
    if study.description:
        data["description"] = study.description
    data["consent"] = {"version": study.consent_version, "text": study.consent_text}
    if study.instructions:
        data["instructions"] = study.instructions
    data["completion"] = {"code": study.completion_code}
    if study.completion_url:
        data["completion"]["url"] = study.completion_url
    for outcome, given in (study.completion_outcomes or {}).items():
        data["completion"][outcome] = {key: value for key, value in given.items() if value}
    data["arms"] = [_arm_data(arm) for arm in study.arms.all()]
    prompts = list(study.prompts.all())
    data["prompts"] = [_prompt_data(prompt) for prompt in prompts if prompt.role == "trial"]
    data["questions"] = [
        {"name": question.base_name, "kind": question.kind, "text": question.text, **(question.options or {})}
        for question in study.questions.all()
        if question.pane != "B"
    ]
    practice = [prompt for prompt in prompts if prompt.role == "practice"]
    if practice:
        data["practice"] = {key: value for key, value in _prompt_data(practice[0]).items() if key != "name"}
    design = dict(study.design or {})
    checks = design.pop("attention_checks", None) or []
    attention_prompts = {prompt.name: prompt for prompt in prompts if prompt.role == "attention"}
    if checks:
        data["attention_checks"] = [
            {
                "name": check["prompt"],
                "text": attention_prompts[check["prompt"]].text,
                "response": attention_prompts[check["prompt"]].response,
                "question": check["question"],
                "expected": check["expected"],
                **({"after_trial": check["after_trial"]} if check.get("after_trial") is not None else {}),
            }
            for check in checks
        ]
    pairs = design.pop("pairs", [])
    # An adaptive design has no pairs (and its adaptive block is written as stored, below).
    data["design"] = {"pairs": [_FlowList(pair) for pair in pairs]} if pairs or not design.get("adaptive") else {}
    seed = design.pop("seed", None)
    if seed is not None:
        data["design"]["seed"] = seed
    # Anything unexpected shows up, and fails on re-import; unset optional settings are left out.
    data["design"].update((key, value) for key, value in design.items() if value is not None)
    return data


def _arm_data(arm):
    data = {"name": arm.name}
    if arm.label:
        data["label"] = arm.label
    if arm.source:
        data["source"] = arm.source
    data["kind"] = arm.kind
    if arm.preset:
        # The resolved values follow, so the file re-imports the same even if the preset changes.
        data["preset"] = arm.preset
    data.update((key, tidy_number(value)) for key, value in profile_from_arm(arm).items())
    return data


def _prompt_data(prompt):
    data = {"name": prompt.name, "text": prompt.text, "response": prompt.response}
    if prompt.reasoning:
        data["reasoning"] = prompt.reasoning
    return data


class _FlowList(list):
    """A list written inline, as in ``[wafer_scale_8b, loaded_gpu_cloud]``."""


class _StudyDumper(yaml.SafeDumper):
    """The safe dumper, with list items indented under their key and multi-line text as `|` blocks."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _represent_str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_flow_list(dumper, value):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_StudyDumper.add_representer(str, _represent_str)
_StudyDumper.add_representer(_FlowList, _represent_flow_list)