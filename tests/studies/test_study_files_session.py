"""Study files: question kinds and options, practice, attention checks and session settings."""

import textwrap

import pytest

from tests.conftest import SCREENER_QUESTION_YAML
from tests.studies.test_study_files import MINIMAL
from uxlab.studies.study_files import StudyFileError, export_study, import_study, parse_study_yaml

SESSION = MINIMAL.replace(
    "questions:",
    """practice:
  text: "Practice?"
  response: Practice answer.
attention_checks:
  - name: check
    text: "Check?"
    response: Choose B.
    question: speed_B
    expected: 3
    after_trial: 0
questions:
  - name: speed
    kind: likert
    scale: 5
    low_label: Slow
    high_label: Fast
    text: How fast was it?
  - name: guess
    kind: wait_estimate
    per_pane: false
    max_seconds: 30
    text: How long did you wait?
  - name: notes
    kind: free_text
    max_length: 120
    text: Anything else?""",
).replace("design:\n", "design:\n  order: shuffle\n  layout: sequential\n  answering: min_exposure\n  min_exposure_s: 2\n  quota_per_cell: 10\n  interrupted_trial: block\n")


def test_it_round_trips_questions_practice_checks_and_settings(team):
    definition = parse_study_yaml(SESSION)
    study = import_study(definition, team=team)

    assert [(q.name, q.pane) for q in study.questions.all()][:3] == [("speed_A", "A"), ("speed_B", "B"), ("guess", "")]
    assert study.questions.get(name="speed_B").clean_value("5") == "5"
    assert study.session.layout == "sequential" and study.session.interrupted_trial == "block"
    reparsed = parse_study_yaml(export_study(study))
    assert reparsed.questions == definition.questions
    assert reparsed.practice == definition.practice and reparsed.attention_checks == definition.attention_checks
    assert reparsed.design == definition.design


@pytest.mark.parametrize(
    ("replace", "error"),
    [
        (("max_seconds: 30", "scale: 3"), "questions[1]: scale: not used by kind 'wait_estimate'"),
        (("expected: 3", "expected: 9"), "attention_checks[0].expected: the answer must be one of: 1, 2, 3, 4, 5"),
        (("question: speed_B", "question: speed"), "attention_checks[0].question: unknown question 'speed'"),
        (("question: speed_B", "question: notes"), "attention_checks[0].question: must be a question that has to be answered"),
        (("answering: min_exposure", "answering: later"), "design.answering: must be one of: after_both, min_exposure, any_time"),
        (("interrupted_trial: block", "interrupted_trial: skip"), "design.interrupted_trial: must be one of: restart, resume, block"),
    ],
)
def test_it_reports_session_mistakes_by_path(replace, error):
    with pytest.raises(StudyFileError) as caught:
        parse_study_yaml(SESSION.replace(*replace))
    assert caught.value.errors == [error]


def test_it_refuses_a_per_pane_name_that_clashes():
    text = SESSION.replace("  - name: guess\n", "  - name: speed_A\n")
    with pytest.raises(StudyFileError) as caught:
        parse_study_yaml(textwrap.dedent(text))
    assert caught.value.errors == ["questions[1].name: 'speed_A' is already used by another question"]


def test_it_takes_every_design_default_from_the_session_design():
    from dataclasses import fields

    from uxlab.studies.design import SessionDesign
    from uxlab.studies.study_files import DesignSpec

    spec = DesignSpec(pairs=[["fast", "slow"]])
    defaults = SessionDesign()
    # attention_checks are a section of their own in the file, stored with the design.
    session_settings = {field.name for field in fields(SessionDesign)} - {"pairs", "attention_checks"}
    assert set(DesignSpec.model_fields) - {"pairs"} == session_settings
    assert {name: getattr(spec, name) for name in session_settings} == {
        name: getattr(defaults, name) for name in session_settings
    }
    assert SessionDesign.of(spec.model_dump()) == SessionDesign(pairs=(("fast", "slow"),))


SCREENER = SESSION.replace(
    "questions:\n",
    "questions:\n" + SCREENER_QUESTION_YAML,
)


def test_it_round_trips_a_question_asked_once_which_is_not_per_pane(team):
    definition = parse_study_yaml(SCREENER)
    assert definition.questions[0].ask == "once" and not definition.questions[0].is_per_pane
    study = import_study(definition, team=team)
    stored = study.questions.get(name="ai_use")
    assert stored.pane == "" and stored.asked_once and stored.asked_on(0) and not stored.asked_on(1)
    assert not study.questions.get(name="speed_A").asked_once and study.questions.get(name="speed_A").asked_on(3)
    exported = export_study(study)
    assert "ask: once" in exported and exported.count("ask:") == 1
    assert parse_study_yaml(exported).questions == definition.questions


@pytest.mark.parametrize(
    ("replace", "error"),
    [
        (("ask: once\n", "ask: sometimes\n"), "questions[0].ask: must be one of: every_trial, once"),
        (("ask: once\n", "ask: once\n    per_pane: true\n"),
         "questions[0]: ask: once cannot be per_pane (a question asked once is about the participant, not about a pane)"),
        (("kind: likert\n    ask: once\n    scale: 3\n    low_label: Never\n    high_label: Daily\n",
          "kind: forced_choice\n    ask: once\n"),
         "questions[0]: ask: once is for questions of kind likert, slider, wait_estimate, free_text; "
         "a 'forced_choice' answer names a pane, so it is asked after every trial"),
        (("question: speed_B", "question: ai_use"),
         "attention_checks[0].question: must be asked after every trial, not once (ask: once)"),
    ],
)
def test_it_refuses_a_question_asked_once_where_it_cannot_be(replace, error):
    with pytest.raises(StudyFileError) as caught:
        parse_study_yaml(SCREENER.replace(*replace).replace("expected: 3", "expected: 2") if "ai_use" in replace[1]
                         else SCREENER.replace(*replace))
    assert error in caught.value.errors


def test_it_takes_the_default_ask_every_trial_written_out_on_any_kind():
    text = SCREENER.replace("kind: likert\n    ask: once\n    scale: 3\n    low_label: Never\n    high_label: Daily\n",
                            "kind: forced_choice\n    ask: every_trial\n")
    assert "ask: every_trial" in text
    question = parse_study_yaml(text).questions[0]
    assert question.kind == "forced_choice" and not question.asked_once
