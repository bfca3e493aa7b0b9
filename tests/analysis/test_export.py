"""Export writers over real study rows: CSV, JSON Lines, Parquet and the Psych-DS bundle."""

import csv
import io
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.web.conftest import run_participant
from uxlab.analysis import export
from uxlab.analysis.rows import TRIAL_STATE_COLUMNS, ExportOptions, export_tables
from uxlab.studies.models import Trial
from uxlab.studies.study_files import export_study

pytestmark = pytest.mark.django_db
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def answered(study):
    for values in (["A"], ["B"], ["tie"]):
        run_participant(study, values)
    return study


def table_bytes(fmt, study, name, options=ExportOptions()):
    table = export_tables(options.include_external_ids)[name]
    return b"".join(export.iter_table(fmt, table.columns, table.rows(study, options)))


def test_it_writes_the_same_ratings_as_csv_jsonl_and_parquet(answered):
    from_csv = list(csv.DictReader(io.StringIO(table_bytes("csv", answered, "ratings").decode())))
    from_jsonl = [json.loads(line) for line in table_bytes("jsonl", answered, "ratings").splitlines()]
    from_parquet = pq.read_table(io.BytesIO(table_bytes("parquet", answered, "ratings"))).to_pylist()
    assert len(from_csv) == len(from_jsonl) == len(from_parquet) == 3
    assert [r["value"] for r in from_csv] == [r["value"] for r in from_jsonl] == [r["value"] for r in from_parquet]
    assert [r["chosen_arm"] for r in from_csv] == [r["chosen_arm"] for r in from_parquet]
    assert from_csv[0]["received_at"] == from_jsonl[0]["received_at"]
    assert from_parquet[0]["received_at"].isoformat() == from_csv[0]["received_at"]
    assert from_csv[0]["excluded"] == "false" and from_parquet[0]["excluded"] is False
    chosen = {row["value"]: row["chosen_arm"] for row in from_csv}
    assert chosen["tie"] == "" and {chosen["A"], chosen["B"]} <= {"fast_arm", "slow_arm"}


def test_it_flags_excluded_trials_without_dropping_them(answered):
    trial = Trial.objects.filter(participant__study=answered).first()
    Trial.objects.filter(pk=trial.pk).update(status=Trial.Status.INTERRUPTED)
    flagged = list(csv.DictReader(io.StringIO(table_bytes("csv", answered, "trials").decode())))
    assert len(flagged) == 3
    assert [(r["excluded"], r["exclusion_reasons"]) for r in flagged if r["status"] == "interrupted"] == [
        ("true", "interrupted")
    ]
    none = ExportOptions(exclusion_rules=())
    unflagged = list(csv.DictReader(io.StringIO(table_bytes("csv", answered, "ratings", none).decode())))
    assert {r["excluded"] for r in unflagged} == {"false"}


def test_it_streams_parquet_one_row_group_at_a_time(answered, monkeypatch):
    monkeypatch.setattr(export, "ROW_GROUP", 1)
    table = export_tables()["ratings"]
    chunks = list(export.iter_parquet(table.columns, table.rows(answered, ExportOptions())))
    assert len([chunk for chunk in chunks if chunk]) >= 3
    parquet = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
    assert parquet.metadata.num_row_groups == 3 and parquet.metadata.num_rows == 3


def test_it_bundles_psych_ds_with_every_column_documented(answered):
    tables = list(export_tables().values())
    options = ExportOptions()
    data = b"".join(export.iter_psychds_zip(answered, tables, lambda t: t.rows(answered, options), export_study(answered)))
    bundle = zipfile.ZipFile(io.BytesIO(data))
    names = set(bundle.namelist())
    assert {"dataset_description.json", "materials/study.yaml"} <= names
    description = json.loads(bundle.read("dataset_description.json"))
    assert description["@type"] == "Dataset" and description["name"] == answered.title
    documented = {variable["name"] for variable in description["variableMeasured"]}
    for table in tables:
        path = f"data/study-{answered.code}_table-{table.name}_data.csv"
        header = next(csv.reader(io.StringIO(bundle.read(path).decode())))
        assert header == table.column_names
        assert set(header) <= documented
    assert b"code: quick" in bundle.read("materials/study.yaml")


def test_it_documents_every_column_in_the_data_dictionary():
    text = (DOCS / "data-dictionary.md").read_text()
    columns = {column.name for table in export_tables(True).values() for column in table.columns}
    columns |= {column.name for column in TRIAL_STATE_COLUMNS}
    missing = sorted(name for name in columns if f"| `{name}` |" not in text)
    assert missing == []


def test_it_keeps_the_legacy_ratings_csv_download(client, answered, alice):
    client.force_login(alice)
    response = client.get(f"/studies/{answered.code}/ratings.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3 and list(rows[0])[:13] == [
        "study", "participant", "trial_index", "prompt", "arm_a", "arm_b", "question", "value", "chosen_arm",
        "response_ms", "received_at", "stored_at", "rating_key",
    ]


@pytest.mark.parametrize("rules", [ExportOptions().exclusion_rules, (), ("interrupted",),
                                   ("interrupted", "did_not_complete")])
def test_it_writes_the_same_ratings_csv_through_postgres_copy_as_row_by_row(answered, rules):
    from uxlab.analysis.rows import iter_ratings_csv_copy

    from uxlab.studies.models import Participant

    trial = Trial.objects.filter(participant__study=answered).first()
    Trial.objects.filter(pk=trial.pk).update(status=Trial.Status.INTERRUPTED)
    first, *others = Participant.objects.filter(study=answered).order_by("pk")
    Participant.objects.filter(pk__in=[p.pk for p in others]).update(status=Participant.Status.COMPLETED,
                                                                     outcome=Participant.Outcome.COMPLETED)
    Participant.objects.filter(pk=first.pk).update(status=Participant.Status.CONSENTED, completed_at=None)
    options = ExportOptions(exclusion_rules=rules)
    table = export_tables()["ratings"]
    by_rows = list(csv.reader(io.StringIO(b"".join(export.iter_csv(table.columns, table.rows(answered, options))).decode())))
    by_copy = list(csv.reader(io.StringIO(b"".join(iter_ratings_csv_copy(answered, options)).decode())))
    assert by_copy == by_rows
    assert any("interrupted" in row[-1].split(";") for row in by_copy) == ("interrupted" in rules)
    # did_not_complete flags the rows of participants who have not completed, in SQL as in Python,
    # and is not in force by default.
    unfinished = {str(pk) for pk in Participant.objects.filter(study=answered).exclude(
        status=Participant.Status.COMPLETED).values_list("pk", flat=True)}
    assert unfinished == {str(first.pk)}
    flagged = {row[1] for row in by_copy[1:] if "did_not_complete" in row[-1].split(";")}
    assert flagged == (unfinished if "did_not_complete" in rules else set())
    assert "did_not_complete" not in ExportOptions().exclusion_rules


def test_it_flags_live_trials_by_the_live_standard_in_sql_as_in_python(answered):
    from uxlab.analysis.rows import iter_ratings_csv_copy

    summaries = [
        {"standard": "live", "panes": {"A": {"fraction_in_first_frame": 0.0, "fraction_within_budget": 1.0}}},
        {"standard": "live", "panes": {"B": {"fraction_in_first_frame": 1.0, "fraction_within_budget": 0.2}}},
        {"panes": {"A": {"fraction_in_first_frame": 0.2, "fraction_within_budget": 1.0}}},
    ]
    trials = list(Trial.objects.filter(participant__study=answered, ratings__isnull=False).distinct().order_by("pk"))
    for trial, summary in zip(trials, summaries):
        Trial.objects.filter(pk=trial.pk).update(fidelity=summary)
    options = ExportOptions()
    table = export_tables()["ratings"]
    by_rows = list(csv.reader(io.StringIO(b"".join(export.iter_csv(table.columns, table.rows(answered, options))).decode())))
    by_copy = list(csv.reader(io.StringIO(b"".join(iter_ratings_csv_copy(answered, options)).decode())))
    assert by_copy == by_rows
    flagged = [row[-1] == "low_fidelity" for row in by_rows[1:]]
    assert True in flagged and False in flagged


@pytest.mark.parametrize("rules", [ExportOptions().exclusion_rules, ()])
def test_it_writes_the_same_ratings_parquet_from_arrow_as_row_by_row(answered, rules):
    from uxlab.analysis.rows import table_chunks

    from uxlab.studies.models import Participant

    trial = Trial.objects.filter(participant__study=answered).first()
    Trial.objects.filter(pk=trial.pk).update(status=Trial.Status.INTERRUPTED)
    first, *others = Participant.objects.filter(study=answered).order_by("pk")
    Participant.objects.filter(pk__in=[p.pk for p in others]).update(status=Participant.Status.COMPLETED,
                                                                     outcome=Participant.Outcome.COMPLETED)
    Participant.objects.filter(pk=first.pk).update(status=Participant.Status.CONSENTED, completed_at=None)
    options = ExportOptions(exclusion_rules=rules)
    table = export_tables()["ratings"]
    by_rows = pq.read_table(io.BytesIO(b"".join(export.iter_parquet(table.columns, table.rows(answered, options)))))
    by_arrow = pq.read_table(io.BytesIO(b"".join(table_chunks(table, "parquet", answered, options))))

    assert by_arrow.schema == by_rows.schema
    assert by_arrow.to_pylist() == by_rows.to_pylist()
    rows = by_arrow.to_pylist()
    assert {row["chosen_arm"] for row in rows} >= {""}  # a tie: an empty string, not a null
    assert any(row["excluded"] for row in rows) == bool(rules)
