import uuid

import pytest
from django.utils import timezone

from uxlab.analysis.rows import ExportOptions, export_tables
from uxlab.studies.models import TrialTelemetry

pytestmark = pytest.mark.django_db


def test_it_lays_a_telemetry_batch_out_in_long_format(participant, trial):
    key = uuid.uuid4()
    TrialTelemetry.objects.create(
        key=key,
        trial=trial,
        received_at=timezone.now(),
        payload={
            "frames": [[1, -240.5, 16.7], [2, -200.0, None]],
            "updates": [[1, 2, 16.7, 19.1], [1, 1, 33.4, 35.0]],
            "visibility": [[500.0, "hidden"], [900.0, "visible"]],
            "focus": [[450.0, "blur"]],
            "clock": {"offset_ms": 3.2, "rtt_ms": 0.8, "rounds": 6},
        },
    )
    table = export_tables()["telemetry"]
    names = [column.name for column in table.columns]

    rows = [dict(zip(names, row)) for row in table.rows(participant.study, ExportOptions())]

    assert [(row["kind"], row["seq"], row["paint_ms"], row["at_ms"], row["state"]) for row in rows] == [
        ("frame", 1, 16.7, None, None),
        ("frame", 2, None, None, None),
        ("update", 1, 16.7, None, None),
        ("update", 1, 33.4, None, None),
        ("visibility", None, None, 500.0, "hidden"),
        ("visibility", None, None, 900.0, "visible"),
        ("focus", None, None, 450.0, "blur"),
    ]
    assert {row["batch_key"] for row in rows} == {str(key)} and rows[0]["trial_index"] == trial.index
    # Each update: how many of the message's tokens its frame showed, and the presentation estimate.
    assert [(row["tokens"], row["presented_ms"]) for row in rows if row["kind"] == "update"] == [(2, 19.1), (1, 35.0)]


def test_it_marks_every_row_of_a_batch_the_page_thinned(participant, trial):
    left_out = {"frames": 0, "updates": 5120, "visibility": 0, "focus": 0}
    for payload in ({"frames": [[1, 2.0, 16.7]]}, {"frames": [[1, 2.0, 16.7]], "truncated": left_out}):
        TrialTelemetry.objects.create(key=uuid.uuid4(), trial=trial, received_at=timezone.now(), payload=payload)
    table = export_tables()["telemetry"]
    names = [column.name for column in table.columns]

    rows = [dict(zip(names, row)) for row in table.rows(participant.study, ExportOptions())]

    assert sorted((row["batch_truncated"] or {}).get("updates", 0) for row in rows) == [0, 5120]
