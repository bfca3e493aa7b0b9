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
                "stall_position_etalon.yaml": "serving-metrics"}


@pytest.mark.parametrize("name, anchor", sorted(REPLICATIONS.items()))
def test_it_ships_each_replication_with_its_citation(name, anchor):
    text = (EXAMPLES / name).read_text()
    definition = parse_study_yaml(text)
    assert f"[{anchor}]" in text and f'<a id="{anchor}"></a>' in SOURCES
    assert "Design notes" in text and definition.attention_checks or definition.design.pairs


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

    call_command("plan_study", str(EXAMPLES / "zhou_2025_streaming_speed.yaml"), "--participants", "6,12",
                 "--repetitions", "3", "--n-boot", "30", "--target-width", "5")
    plan = json.loads(capsys.readouterr().out)
    assert [row["participants"] for row in plan["sizes"]] == [6, 12]
    assert plan["truth"]["threshold_ratio"] == 1.5 and plan["repetitions"] == 3
    bigger = plan["sizes"][1]
    assert bigger["fitted"] > 0 and bigger["median_threshold_ci_width_log"] < plan["sizes"][0]["median_threshold_ci_width_log"] * 1.5
    assert set(bigger["pair_power"]) >= {"tps_5|tps_80"}
