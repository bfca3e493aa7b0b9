"""The study file's adaptive block: its defaults, its ranges, and clear errors by path."""

from pathlib import Path

import pytest
import yaml

from uxlab.studies import study_files
from uxlab.studies.study_files import StudyFileError, parse_study_yaml
from uxlab.studies.study_files import validate_study_data as validate

EXAMPLE = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples" / "speed_threshold_adaptive.yaml"


def example(**changes):
    data = yaml.safe_load(EXAMPLE.read_text())
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return data


def errors_of(data):
    with pytest.raises(StudyFileError) as caught:
        validate(data)
    return caught.value.errors


def test_it_reads_the_example_with_its_defaults():
    config = parse_study_yaml(EXAMPLE.read_text()).design.adaptive.config
    assert config["procedure"] == "quest_plus" and config["grid"] == 31
    assert config["quest_plus"]["prior"] == {"threshold": 5.0, "sd_log10": 0.3}
    assert config["tracks"] == [{"name": "slower", "range": [1.5, 15.0]}]


def test_it_takes_a_range_as_one_track_and_fills_the_staircase_defaults():
    data = example(design__adaptive__tracks=None, design__adaptive__range=[1.5, 15],
                   design__adaptive__procedure="staircase", design__adaptive__quest_plus=None,
                   design__adaptive__stop={"reversals": 8})
    config = validate(data).design.adaptive.config
    assert config["tracks"] == [{"name": "main", "range": [1.5, 15.0]}]
    assert config["staircase"] == {"rule": "1up2down", "steps": [0.2, 0.1, 0.05], "use_reversals": 6}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"design__adaptive__reference": "nope"}, "design.adaptive.reference: unknown arm 'nope'"),
        ({"design__adaptive__question": "nope"}, "design.adaptive.question: unknown question 'nope'"),
        ({"design__adaptive__dimension": "colour"},
         "design.adaptive.dimension: must be one of: tokens_per_second, ttft_s, thinking_tokens"),
        ({"design__adaptive__tracks__0__range": [5, 50]},
         "design.adaptive.tracks[0].range: must lie on one side of the reference (15); use two tracks for both sides"),
        ({"design__adaptive__tracks__0__range": [15, 1.5]},
         "design.adaptive.tracks[0]: range must be [low, high] with low < high"),
        ({"design__adaptive__tracks__0__range": [0, 15]}, "design.adaptive.tracks[0].range[0]: must be > 0"),
        ({"design__adaptive__catch_trials": 0.9}, "design.adaptive.catch_trials: must be <= 0.5"),
        ({"design__adaptive__max_trials": 0}, "design.adaptive.max_trials: must be >= 1"),
        ({"design__adaptive__stop": {"reversals": 6}}, "design.adaptive: stop.reversals: used by staircases only"),
        ({"design__adaptive__quest_plus__prior__threshold": 50},
         "design.adaptive.quest_plus.prior.threshold: must lie within a track's range"),
        ({"design__adaptive__quest_plus__lapses": [0.5]}, "design.adaptive.quest_plus.lapses[0]: must be <= 0.3"),
        ({"design__adaptive__quest_plus__prior__sd_log10": 0.02},
         "design.adaptive.stop.posterior_sd: the prior alone is this narrow on track 'slower' (SD 0.0201 log10"
         " units); lower it or widen the prior"),
        ({"design__adaptive__staircase": {"rule": "1up3down"}},
         "design.adaptive: staircase: not used by procedure 'quest_plus'"),
        ({"design__pairs": [["reference", "other"]],
          "arms": [{"name": "reference", "tokens_per_second": 15}, {"name": "other", "tokens_per_second": 30}]},
         "design: give pairs (a fixed design) or adaptive (an adaptive one), not both or neither"),
        ({"design__adaptive": None}, "design: give pairs (a fixed design) or adaptive (an adaptive one), not both or neither"),
        ({"design__adaptive__range": [1.5, 15]}, "design.adaptive: give range (one track) or tracks, not both"),
        ({"design__adaptive__tracks": None}, "design.adaptive: give range (one track) or tracks"),
        ({"design__adaptive__tracks__0__range": [0.01, 15]},
         "design.adaptive.tracks: a range reaches more than 1000 times the reference value"),
    ],
)
def test_it_reports_each_problem_by_path(changes, error):
    assert error in errors_of(example(**changes))


def test_it_needs_a_forced_choice_question_and_an_arm_kind_that_can_vary_the_dimension():
    data = example(questions=[{"name": "faster", "kind": "forced_choice_tie", "text": "Which?"}])
    assert errors_of(data) == ["design.adaptive.question: must be a forced_choice question (which pane was faster)"]
    data = example(design__adaptive__dimension="thinking_tokens")
    data["arms"][0] = {"name": "reference", "kind": "trace", "builtin": "stall_early_20tps", "tokens_per_second": 15}
    assert "design.adaptive.dimension: a trace arm cannot vary thinking_tokens (it can vary: tokens_per_second, ttft_s)" \
        in errors_of(data)


def test_it_refuses_a_range_whose_slowest_trial_outlasts_the_time_limit():
    data = example(design__adaptive__tracks__0__range=[0.1, 15], design__time_limit_minutes=1)
    assert any(error.startswith("design.adaptive.tracks[0].range: a trial with prompt") for error in errors_of(data))


@pytest.mark.django_db
def test_it_round_trips_through_import_and_export(team):
    study = study_files.import_study(parse_study_yaml(EXAMPLE.read_text()), team=team)
    exported = study_files.export_study(study)
    assert "pairs" not in yaml.safe_load(exported)["design"]
    study.delete()
    again = study_files.import_study(parse_study_yaml(exported), team=team)
    assert again.design["adaptive"] == parse_study_yaml(EXAMPLE.read_text()).design.adaptive.config


def test_the_format_docs_state_the_range_rules_the_schema_checks():
    """range and tracks are exclusive and no end may be 1,000 times the reference (docs/study-format.md)."""
    text = (EXAMPLE.parents[3] / "docs" / "study-format.md").read_text()
    assert "0 < low < high ≤ 100,000; not with `tracks`" in text
    assert "no end further than 1,000 times (or a thousandth of) the reference value" in text
