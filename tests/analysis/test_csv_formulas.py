"""CSV formula injection: text a spreadsheet would run gets a leading quote in CSV (both the Python
writer and the Postgres COPY path); plain numbers stay numbers; JSON Lines keep the raw value."""

import csv
import io
import json

import pytest

from tests.web.conftest import run_participant
from uxlab.analysis import export
from uxlab.analysis.columns import Column
from uxlab.analysis.rows import ExportOptions, export_tables, iter_ratings_csv_copy
from uxlab.studies.models import ExternalIdentity

pytestmark = pytest.mark.django_db
HOSTILE = ['=HYPERLINK("http://x","y")', "+SUM(1,2)", "-1+2", "@cmd", "\tx", "\r=1", "-2", "+1.5", "7", "plain"]
NEUTRALISED = ["'" + v for v in HOSTILE[:6]] + ["-2", "+1.5", "7", "plain"]


def test_it_neutralises_formula_text_and_keeps_numbers():
    assert [export.neutralise_formula(v) for v in HOSTILE] == NEUTRALISED
    assert export.neutralise_formula(-3) == -3 and export.neutralise_formula(None) is None


def test_a_bare_carriage_return_stays_inside_its_quoted_cell_as_postgres_copy_writes_it():
    columns = [Column("text", "string", "free text"), Column("n", "integer", "a number")]
    data = b"".join(export.iter_csv(columns, [("ok\r=HYPERLINK(1)", 1), ("plain", 2), ("two\r\nlines", 3)]))
    assert data == b'text,n\n"ok\r=HYPERLINK(1)",1\nplain,2\n"two\r\nlines",3\n'
    assert csv_rows([data])[1:] == [["ok\r=HYPERLINK(1)", "1"], ["plain", "2"], ["two\r\nlines", "3"]]


def csv_rows(chunks):
    return list(csv.reader(io.StringIO(b"".join(chunks).decode(), newline="")))


def test_ratings_csv_neutralises_free_text_in_python_and_in_postgres_copy(study):
    participant = run_participant(study, HOSTILE)
    table = export_tables()["ratings"]
    by_rows = csv_rows(export.iter_csv(table.columns, table.rows(study, ExportOptions())))
    by_copy = csv_rows(iter_ratings_csv_copy(study, ExportOptions()))

    assert by_copy == by_rows
    values = [row[7] for row in by_rows[1:]]
    trials = participant.trials.count()
    assert values == [NEUTRALISED[i % len(HOSTILE)] for i in range(trials)]
    assert all(int(row[9]) >= 0 for row in by_rows[1:])  # integer columns are untouched


def test_panel_ids_are_neutralised_in_csv_and_raw_in_json_lines(study):
    participant = run_participant(study, ["A"])
    ExternalIdentity.objects.create(participant=participant, study=study, external_id="=cmd|' /C calc'!A0")
    table = export_tables(include_external_ids=True)["participants"]
    options = ExportOptions(include_external_ids=True)
    rows = list(csv.DictReader(io.StringIO(b"".join(export.iter_csv(table.columns, table.rows(study, options))).decode())))
    assert rows[0]["external_id"] == "'=cmd|' /C calc'!A0"
    lines = [json.loads(line) for line in b"".join(export.iter_jsonl(table.columns, table.rows(study, options))).splitlines()]
    assert lines[0]["external_id"] == "=cmd|' /C calc'!A0"
