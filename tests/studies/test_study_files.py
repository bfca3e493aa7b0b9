"""The study file format: parsing, error reporting, import (all or nothing) and export round trips."""

import dataclasses
import textwrap
from pathlib import Path

import pytest
import yaml
from django.db import DatabaseError

import uxlab.studies
from uxlab.streaming.profiles import SyntheticProfile
from uxlab.studies.models import Arm, Participant, Prompt, Question, Study, Team
from uxlab.studies.study_files import (
    PROFILE_FIELDS,
    ArmSpec,
    StudyDefinition,
    StudyFileError,
    export_study,
    import_study,
    parse_study_yaml,
    profile_from_arm,
)

DEMO_PATH = Path(uxlab.studies.__file__).parent / "examples" / "demo.yaml"

MINIMAL = """
version: 1
title: Minimal
consent:
  text: You agree.
arms:
  - name: fast
    tokens_per_second: 500
  - name: slow
prompts:
  - name: p1
    text: Hi?
    response: Hello.
questions:
  - name: faster
    text: Which response felt faster?
design:
  pairs: [[fast, slow]]
"""

RICH = """
version: 1
code: rich-study
title: Thinking pauses — a pilot
description: |
  Two lines of
  researcher notes.
consent:
  version: 2b
  text: |
    First paragraph.

    Second paragraph with “quotes” and ünïcode.
instructions: Pick one.
completion:
  code: RICH2025
  url: https://app.prolific.com/submissions/complete?cc=RICH2025
arms:
  - name: visible
    label: Visible reasoning
    source: made up for the test
    ttft_s: 0.3
    tokens_per_second: 120.5
    jitter: gamma
    jitter_cv: 0.4
    stall_probability: 0.05
    stall_s: 1.5
    chunk_tokens: 3
    thinking_tokens: 800
    thinking_tokens_per_second: 400
    thinking_display: visible
  - name: plain
    jitter: none
  - name: spinner
    thinking_tokens: 800
prompts:
  - name: riddle
    text: What has keys but can't open locks?
    response: A piano.
    reasoning: |
      Keys... locks... a keyboard?
      A piano has keys.
  - name: capital
    text: Capital of France?
    response: Paris.
questions:
  - name: faster
    text: Which response felt faster?
  - name: thoughtful
    kind: forced_choice
    text: Which response seemed more thoughtful?
design:
  pairs:
    - [visible, spinner]
    - [plain, spinner]
  seed: 7
"""


def write_rows():
    return {model.__name__: model.objects.count() for model in (Team, Study, Arm, Prompt, Question)}


def filled_in(definition, study):
    """The definition with the code and completion code the import generated."""
    completion = definition.completion.model_copy(update={"code": study.completion_code})
    return definition.model_copy(update={"code": study.code, "completion": completion})


def errors_of(text):
    with pytest.raises(StudyFileError) as caught:
        parse_study_yaml(textwrap.dedent(text))
    return caught.value.errors


# --- Parsing -------------------------------------------------------------------------------------


def test_it_parses_the_demo_file():
    definition = parse_study_yaml(DEMO_PATH.read_text())

    assert definition.code == "demo"
    assert [arm.name for arm in definition.arms] == ["wafer_scale_8b", "loaded_gpu_cloud", "fast_reasoning"]
    fast, slow, reasoning = definition.arms
    assert (fast.tokens_per_second, fast.ttft_s) == (1800, 0.2)
    assert (slow.tokens_per_second, slow.ttft_s) == (15.3, 1.0)
    assert (reasoning.tokens_per_second, reasoning.thinking_tokens, reasoning.thinking_display) == (1500, 300, "hidden")
    assert "Cerebras" in fast.source and "Aug 2024" in fast.source
    assert "15.3" in slow.source and "1 s" in slow.source
    assert "LRMTokenEconomy" in reasoning.source
    assert [(q.name, q.kind) for q in definition.questions] == [("faster", "forced_choice_tie"), ("wait_ok", "likert")]
    assert definition.questions[0].text == "Which response felt faster?"
    assert definition.design.pairs == [["wafer_scale_8b", "loaded_gpu_cloud"]]
    assert [(check.name, check.question, check.expected) for check in definition.attention_checks] == [
        ("attention_tie", "faster", "tie")
    ]
    assert definition.completion.url == ""


def test_it_keeps_demo_responses_short_enough_for_a_six_second_slow_arm():
    definition = parse_study_yaml(DEMO_PATH.read_text())

    assert len(definition.prompts) == 3
    for prompt in definition.prompts:
        assert 50 <= len(prompt.response.split()) <= 80


def test_it_mirrors_the_synthetic_profile_fields_and_defaults():
    profile_fields = dataclasses.fields(SyntheticProfile)

    assert PROFILE_FIELDS == tuple(f.name for f in profile_fields)
    defaults = ArmSpec(name="x")
    for f in profile_fields:
        assert getattr(defaults, f.name) == f.default, f.name
    for arm in parse_study_yaml(DEMO_PATH.read_text()).arms:
        assert SyntheticProfile(**arm.profile)  # every valid arm is a valid profile


def test_it_fills_in_defaults_for_optional_fields():
    definition = parse_study_yaml(MINIMAL)

    assert definition.code is None
    assert definition.completion.code is None
    assert definition.consent.version == "1"
    assert definition.description == definition.instructions == ""
    assert definition.arms[1].model_dump(include=set(PROFILE_FIELDS)) == dataclasses.asdict(SyntheticProfile())
    assert definition.questions[0].kind == "forced_choice_tie"
    assert definition.design.seed is None


def test_it_reads_numbers_meant_as_text_as_text():
    definition = parse_study_yaml(RICH)

    assert definition.design.seed == "7"
    versioned = MINIMAL.replace("  text: You agree.", "  version: 3\n  text: You agree.")
    assert parse_study_yaml(versioned).consent.version == "3"


# --- Errors --------------------------------------------------------------------------------------


def test_it_lists_every_error_by_path():
    errors = errors_of(
        """
        version: 2
        code: x
        title: "   "
        colour: blue
        consent:
          text: You agree.
        completion:
          url: not a url
        arms:
          - name: fast
            tokens_per_second: 500
            jitter: wobbly
          - name: slow
            tokens_per_second: 0
            ttft_s: -1
            jitter_cv: 4
            stall_probability: 1.5
            chunk_tokens: 1.5
            thinking_display: shown
          - name: bad name
            ttft_s: fast
          - name: odd
            kind: telepathic
        prompts: []
        questions:
          - name: faster
            kind: rating
        design:
          pairs: [[fast, nope], [fast, fast], [fast]]
          seed: demo
        """
    )

    assert errors == [
        "version: must be 1",
        "code: must be at least 3 characters",
        "title: must not be empty",
        "completion.url: must be an http(s) URL",
        "arms[0].jitter: must be one of: none, lognormal, gamma, normal",
        "arms[1].ttft_s: must be >= 0",
        "arms[1].tokens_per_second: must be >= 0.1",
        "arms[1].jitter_cv: must be <= 3",
        "arms[1].stall_probability: must be <= 1",
        "arms[1].chunk_tokens: must be a whole number",
        "arms[1].thinking_display: must be one of: hidden, visible, none",
        "arms[2].name: must contain only letters, digits, '-' and '_'",
        "arms[2].ttft_s: must be a number",
        "arms[3].kind: must be one of: synthetic, live, trace",
        "prompts: at least 1 item required",
        "questions[0].kind: must be one of: forced_choice, forced_choice_tie, preference, likert, slider,"
        " wait_estimate, free_text",
        "questions[0].text: required",
        "design.pairs[0][1]: unknown arm 'nope'",
        "design.pairs[1]: must name two different arms",
        "design.pairs[2]: must name exactly 2 arms",
        "colour: unknown field",
    ]


def test_it_requires_at_least_two_arms_and_the_top_level_fields():
    assert errors_of("version: 1\narms:\n  - name: only\n") == [
        "title: required",
        "consent: required",
        "arms: at least 2 items required",
        "prompts: required",
        "questions: required",
        "design: required",
    ]


def test_it_reports_an_unknown_arm_in_a_pair():
    errors = errors_of(MINIMAL.replace("pairs: [[fast, slow]]", "pairs: [[fast, slow], [slow, nope]]"))

    assert errors == ["design.pairs[1][1]: unknown arm 'nope'"]


def test_it_reports_duplicate_names_in_each_list():
    text = (
        MINIMAL.replace("  - name: slow", "  - name: fast")
        .replace("pairs: [[fast, slow]]", "pairs: [[fast, fast]]")
        .replace("questions:\n", "questions:\n  - name: faster\n    text: Again?\n")
    )

    assert errors_of(text) == [
        "arms[0].name: duplicate name 'fast'",
        "arms[1].name: duplicate name 'fast'",
        "questions[0].name: duplicate name 'faster'",
        "questions[1].name: duplicate name 'faster'",
        "design.pairs[0]: must name two different arms",
    ]


def test_it_reports_a_yaml_syntax_error_with_its_line_and_column():
    errors = errors_of("version: 1\ntitle: Broken\narms:\n  - name: a\n   tokens_per_second: 5\n")

    assert len(errors) == 1
    assert errors[0].startswith("line 5, column 4: not valid YAML:")


def test_it_rejects_a_repeated_key_instead_of_keeping_the_last():
    errors = errors_of(MINIMAL + "arms: []\n")

    assert errors == ["line 19, column 1: not valid YAML: duplicate key 'arms'"]


NOT_A_MAPPING = "(top level): must be a mapping of study fields (version, title, arms, ...), not "


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "(top level): the file is empty"),
        ("# only a comment\n", "(top level): the file is empty"),
        ("- version: 1\n", NOT_A_MAPPING + "a list"),
        ("just text\n", NOT_A_MAPPING + "a single piece of text"),
    ],
)
def test_it_rejects_a_document_that_is_not_a_mapping(text, error):
    assert errors_of(text) == [error]


def test_it_checks_references_when_a_definition_is_built_in_code():
    data = parse_study_yaml(MINIMAL).model_dump()
    data["design"]["pairs"].append(["slow", "ghost"])

    with pytest.raises(ValueError, match=r"design.pairs\[1\]\[1\]: unknown arm 'ghost'"):
        StudyDefinition(**data)


# --- Import --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_imports_the_demo_study(team):
    study = import_study(parse_study_yaml(DEMO_PATH.read_text()), team=team)

    study.refresh_from_db()
    assert (study.code, study.team, study.status) == ("demo", team, Study.Status.DRAFT)
    assert study.title == "How fast does it feel?"
    assert "about 5 minutes" in study.consent_text and study.consent_version == "2"
    # Panel ids can be linked to answers by the team: the data is pseudonymous, never called anonymous.
    assert "pseudonymous, not anonymous" in study.consent_text and "withdraw" in study.consent_text
    assert study.consent_text.count("anonymous") == study.consent_text.count("not anonymous")
    assert study.completion_code == "UXLABDEMO" and study.completion_url == ""
    arms = list(study.arms.all())
    assert [(arm.name, arm.position, arm.kind) for arm in arms] == [
        ("wafer_scale_8b", 0, "synthetic"),
        ("loaded_gpu_cloud", 1, "synthetic"),
        ("fast_reasoning", 2, "synthetic"),
    ]
    assert arms[1].profile == {
        "ttft_s": 1.0,
        "tokens_per_second": 15.3,
        "jitter": "lognormal",
        "jitter_cv": 0.25,
        "stall_probability": 0.0,
        "stall_s": 0.0,
        "chunk_tokens": 1,
        "thinking_tokens": 0,
        "thinking_tokens_per_second": 0.0,
        "thinking_display": "hidden",
    }
    assert [(p.name, p.position, p.role) for p in study.prompts.all()] == [
        ("sky", 0, "trial"),
        ("egg", 1, "trial"),
        ("bike", 2, "trial"),
        ("attention_tie", 3, "attention"),
    ]
    assert [(q.name, q.kind, q.pane) for q in study.questions.all()] == [
        ("faster", "forced_choice_tie", ""),
        ("wait_ok_A", "likert", "A"),
        ("wait_ok_B", "likert", "B"),
    ]
    assert study.design["pairs"] == [["wafer_scale_8b", "loaded_gpu_cloud"]] and study.design["seed"] == "demo"
    assert study.design["attention_checks"] == [
        {"prompt": "attention_tie", "question": "faster", "expected": "tie", "after_trial": 2}
    ]
    assert study.session.order == "latin_square" and study.session.time_limit_minutes == 30


@pytest.mark.django_db
def test_it_generates_the_code_and_completion_code_when_absent(team):
    study = import_study(parse_study_yaml(MINIMAL), team=team, status="live")

    assert len(study.code) >= 3 and study.completion_code
    assert Study.objects.get(code=study.code).status == Study.Status.LIVE


@pytest.mark.django_db
def test_it_refuses_an_existing_code_and_writes_nothing(team):
    definition = parse_study_yaml(DEMO_PATH.read_text())
    import_study(definition, team=team)
    before = write_rows()

    with pytest.raises(StudyFileError) as caught:
        import_study(definition, team=team)

    assert caught.value.errors == ["code: a study with code 'demo' already exists"]
    assert write_rows() == before


@pytest.mark.django_db
def test_it_writes_nothing_when_a_write_fails_midway(team):
    definition = parse_study_yaml(MINIMAL)
    # Bypass validation to make the last insert (the questions) fail in the database.
    too_long = definition.questions[0].model_copy(update={"text": "x" * 501})
    broken = definition.model_copy(update={"questions": [too_long]})
    before = write_rows()

    with pytest.raises(DatabaseError):
        import_study(broken, team=team)

    assert write_rows() == before


@pytest.mark.django_db
def test_it_replaces_a_study_without_participants(team):
    old = import_study(parse_study_yaml(DEMO_PATH.read_text()), team=team)
    old_arm_ids = set(old.arms.values_list("id", flat=True))
    changed = parse_study_yaml(RICH.replace("code: rich-study", "code: demo"))

    new = import_study(changed, team=team, status="paused", replace=True)

    assert new.pk == old.pk
    new.refresh_from_db()
    assert (new.title, new.status, new.completion_code) == ("Thinking pauses — a pilot", "paused", "RICH2025")
    assert [arm.name for arm in new.arms.all()] == ["visible", "plain", "spinner"]
    assert not Arm.objects.filter(id__in=old_arm_ids).exists()
    assert [p.name for p in new.prompts.all()] == ["riddle", "capital"]
    assert [q.name for q in new.questions.all()] == ["faster", "thoughtful"]
    assert Study.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_to_replace_a_study_with_participants(team):
    definition = parse_study_yaml(DEMO_PATH.read_text())
    study = import_study(definition, team=team)
    Participant.objects.create(study=study)
    before = write_rows()

    with pytest.raises(StudyFileError) as caught:
        import_study(definition.model_copy(update={"title": "Changed"}), team=team, replace=True)

    assert caught.value.errors == ["code: study 'demo' already has participants; it cannot be replaced"]
    assert write_rows() == before
    assert Study.objects.get(code="demo").title == "How fast does it feel?"


@pytest.mark.django_db
def test_it_refuses_to_replace_another_teams_study(team, other_team):
    definition = parse_study_yaml(DEMO_PATH.read_text())
    import_study(definition, team=team)

    with pytest.raises(StudyFileError) as caught:
        import_study(definition, team=other_team, replace=True)

    assert caught.value.errors == [
        "code: study 'demo' belongs to another team; it cannot be replaced from team 'other-lab'"
    ]
    assert Study.objects.get(code="demo").team == team


@pytest.mark.django_db
def test_it_keeps_the_old_study_when_a_replace_fails_midway(team):
    study = import_study(parse_study_yaml(DEMO_PATH.read_text()), team=team)
    definition = parse_study_yaml(MINIMAL.replace("title: Minimal", "code: demo\ntitle: Minimal"))
    too_long = definition.questions[0].model_copy(update={"text": "x" * 501})
    before = write_rows()

    with pytest.raises(DatabaseError):
        import_study(definition.model_copy(update={"questions": [too_long]}), team=team, replace=True)

    assert write_rows() == before
    study.refresh_from_db()
    assert study.title == "How fast does it feel?"
    assert [arm.name for arm in study.arms.all()] == ["wafer_scale_8b", "loaded_gpu_cloud", "fast_reasoning"]


# --- Export --------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("text", [DEMO_PATH.read_text(), MINIMAL, RICH], ids=["demo", "minimal", "rich"])
def test_it_round_trips_import_export_parse(team, text):
    definition = parse_study_yaml(text)
    study = import_study(definition, team=team)

    assert parse_study_yaml(export_study(study)) == filled_in(definition, study)


@pytest.mark.django_db
def test_it_exports_readable_yaml(team):
    exported = export_study(import_study(parse_study_yaml(RICH), team=team))

    assert exported.startswith("# uxlab study file, version 1")
    assert "  text: |-\n    First paragraph.\n\n    Second paragraph with “quotes” and ünïcode.\n" in exported
    assert "  - [visible, spinner]\n" in exported
    assert "    tokens_per_second: 400\n" not in exported  # that is thinking_tokens_per_second
    assert "    thinking_tokens_per_second: 400\n" in exported  # 400.0 written as 400
    assert "!!" not in exported  # no Python-specific tags
    assert list(yaml.safe_load(exported)) == [
        "version", "code", "title", "description", "consent", "instructions", "completion",
        "arms", "prompts", "questions", "design",
    ]  # fmt: skip


@pytest.mark.django_db
def test_it_exports_unexpected_profile_keys_so_a_reimport_flags_them(team):
    study = import_study(parse_study_yaml(MINIMAL), team=team)
    arm = study.arms.get(name="slow")
    arm.profile = {"tokens_per_second": 20.0, "colour": "red"}
    arm.save()

    assert profile_from_arm(arm) == {**dataclasses.asdict(SyntheticProfile(tokens_per_second=20.0)), "colour": "red"}
    with pytest.raises(StudyFileError) as caught:
        parse_study_yaml(export_study(study))
    assert caught.value.errors == ["arms[1].colour: unknown field"]
