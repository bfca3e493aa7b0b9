"""The example studies shipped in uxlab/studies/examples: valid, cited, and analysable end to end."""

from pathlib import Path

import pytest
from django.core.management import call_command

from uxlab.analysis.results import study_results
from uxlab.studies.models import Study
from uxlab.studies.study_files import import_study, parse_study_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "uxlab" / "studies" / "examples"
SOURCES = (Path(__file__).resolve().parents[2] / "docs" / "sources.md").read_text()
REPLICATIONS = {"zhou_2025_streaming_speed.yaml": "zhou-2025", "tan_2026_ttft.yaml": "tan-2026",
                "stall_position_etalon.yaml": "serving-metrics", "speed_threshold_adaptive.yaml": "watson-2017"}


@pytest.mark.parametrize("name, anchor", sorted(REPLICATIONS.items()))
def test_it_ships_each_replication_with_its_citation(name, anchor):
    text = (EXAMPLES / name).read_text()
    definition = parse_study_yaml(text)
    assert f"[{anchor}]" in text and f'<a id="{anchor}"></a>' in SOURCES
    assert "Design notes" in text and definition.attention_checks or definition.design.pairs or definition.design.adaptive


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(REPLICATIONS))
def test_it_simulates_and_analyses_each_example(team, name):
    study = import_study(parse_study_yaml((EXAMPLES / name).read_text()), team=team, status=Study.Status.LIVE)
    call_command("simulate_participants", study.code, "--participants", "6")
    summary = study_results(study)
    assert summary["answers_kept"] > 0
    kinds = {q["summary"] for q in summary["questions"]}
    assert "choice" in kinds


def test_it_plans_a_study_by_simulation(capsys):
    import json

    call_command("plan_study", str(EXAMPLES / "zhou_2025_streaming_speed.yaml"), "--participants", "3,12",
                 "--repetitions", "3", "--n-boot", "30", "--target-width", "5")
    plan = json.loads(capsys.readouterr().out)
    assert [row["participants"] for row in plan["sizes"]] == [3, 12]
    assert plan["truth"]["threshold_ratio"] == 1.5 and plan["repetitions"] == 3
    smaller, bigger = plan["sizes"]
    assert smaller["fit_statuses"] == {"too_few_participants": 3} and smaller["fitted"] == 0
    assert bigger["fitted"] > 0 and 0 < bigger["median_threshold_ci_width_log"] < 5
    assert bigger["share_at_target_width"] == bigger["bounded"]  # every bounded interval is under 5 log units
    assert plan["participants_for_target_width"] == (12 if bigger["share_at_target_width"] >= 0.8 else None)
    assert set(bigger["pair_power"]) >= {"tps_5|tps_80"}


def test_it_plans_the_power_of_an_assumed_pair_effect(capsys):
    import json

    call_command("plan_study", str(EXAMPLES / "stall_position_etalon.yaml"), "--participants", "4,30",
                 "--repetitions", "6", "--n-boot", "20", "--arm-effect", "stall_late=1.0", "--tie-tendency", "0")
    plan = json.loads(capsys.readouterr().out)
    small, large = (row["pair_power"]["stall_early|stall_late"] for row in plan["sizes"])
    assert plan["truth"]["arm_effects"] == {"stall_late": 1.0}
    assert large >= 0.8 and large >= small
    assert plan["sizes"][1]["fit_statuses"] == {"no_variation": 6}  # trace arms declare no speed


@pytest.mark.django_db
def test_it_simulates_the_adaptive_example_to_each_participants_threshold(team):
    from uxlab.analysis.adaptive_rows import adaptive_results

    name = "speed_threshold_adaptive.yaml"
    assert "[brysbaert-2019]" in (EXAMPLES / name).read_text() and '<a id="brysbaert-2019"></a>' in SOURCES
    study = import_study(parse_study_yaml((EXAMPLES / name).read_text()), team=team, status=Study.Status.LIVE)
    call_command("simulate_participants", study.code, "--participants", "3", "--dropout", "0", "--inattentive", "0")
    results = adaptive_results(study)
    assert len(results["participants"]) == 3
    assert all(person["trials"] > 5 and person["tracks"]["slower"]["log10"] for person in results["participants"])
    # The screener on AI-assistant use, asked once (with the practice trial), groups the thresholds.
    from uxlab.studies.models import Rating

    screener = Rating.objects.filter(participant__study=study, question__name="ai_use")
    assert screener.count() == 3 and set(screener.values_list("trial__index", flat=True)) == {0}
    grouped = adaptive_results(study, "ai_use")
    assert sum(group["n"] for group in grouped["per_track"]["slower"]["by_group"]["groups"].values()) == 3
    assert all(person["group"] in ("1", "2", "3") for person in grouped["participants"])


def test_it_lists_every_example_for_the_builder_demo_first():
    from uxlab.studies.example_studies import example_document, example_studies

    examples = example_studies()
    assert [example.file_name for example in examples][0] == "demo.yaml"
    assert {example.file_name for example in examples} == {path.name for path in EXAMPLES.glob("*.yaml")}
    for example in examples:
        assert example.title and example.description and example_document(example.name)["code"] == example.code
    with pytest.raises(KeyError):
        example_document("../../settings")
