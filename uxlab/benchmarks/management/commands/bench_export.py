"""Benchmark the tidy exports: seed a throwaway Postgres database with a study of N ratings, time a
full CSV and Parquet export of the ratings table, print seconds and peak memory (JSON with --json).

    python manage.py bench_export --ratings 1000000 --json

The throwaway database (named in the output) is created on the configured server and dropped
afterwards (keep it with --keep). Targets: one million ratings as CSV in <= 15 s and <= 300 MB peak RSS,
as Parquet (from COPY through Arrow) in <= 10 s.
"""

import json
import os
import resource
import secrets
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models
from psycopg import sql
from psycopg.types.json import Jsonb

from uxlab.analysis.rows import ExportOptions, ratings_table, table_chunks
from uxlab.benchmarks.database import ThrowawayDatabase

TRIALS_PER_PARTICIPANT = 10  # one pair x 10 prompts
QUESTIONS = 4
COPY_CHUNK = 50_000


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def copy_rows(model, rows, explicit):
    """COPY rows into a model's table; columns not in `explicit` get the field's default."""
    fields = [f for f in model._meta.concrete_fields if f.attname in explicit or not isinstance(f, models.AutoField)]
    names = [f.column for f in fields]
    defaults = []
    for f in fields:
        if f.attname in explicit:
            defaults.append(None)
            continue
        value = f.get_default() if f.has_default() else None
        if value is None and not f.null and isinstance(f, (models.CharField, models.TextField)):
            value = ""
        defaults.append(value)
    positions = [explicit.index(f.attname) if f.attname in explicit else None for f in fields]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        raw = cursor.cursor
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(name) for name in names)
        )
        with raw.copy(statement) as copy:
            for row in rows:
                values = []
                for position, default in zip(positions, defaults, strict=True):
                    value = row[position] if position is not None else default
                    if isinstance(value, (dict, list)):
                        value = Jsonb(value)
                    values.append(value)
                copy.write_row(values)


class Command(BaseCommand):
    help = "Time a full CSV and Parquet export of a seeded study with N ratings (throwaway database)."

    def add_arguments(self, parser):
        parser.add_argument("--ratings", type=int, default=1_000_000)
        parser.add_argument("--json", action="store_true", help="print only the JSON result")
        parser.add_argument("--keep", action="store_true", help="keep the throwaway database")

    def handle(self, ratings, keep, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_export needs Postgres: set DATABASE_URL.")
        if ratings < QUESTIONS:
            raise CommandError(f"--ratings must be at least {QUESTIONS}.")
        bench = f"uxlab_bench_{os.getpid()}_{secrets.token_hex(3)}"
        with ThrowawayDatabase(bench, keep=keep, tables="models"):
            result = {"database": bench, "ratings": ratings, **self.run(ratings)}
        # The target is for the CSV export: its peak is read before the Parquet export starts.
        result["peak_rss_mb"] = result.pop("peak_rss_after_csv_mb")
        result["parquet_peak_rss_mb"] = result.pop("peak_rss_after_parquet_mb")
        result["targets"] = {"csv_seconds": 15, "parquet_seconds": 10, "peak_rss_mb": 300}
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key}: {value}")

    def run(self, ratings):
        started = time.perf_counter()
        study = self.seed(ratings)
        seeded = time.perf_counter()
        rss_after_seed = peak_rss_mb()
        table = ratings_table()
        options = ExportOptions()
        timings = {"seed_seconds": round(seeded - started, 2), "rss_after_seed_mb": round(rss_after_seed, 1)}
        with tempfile.TemporaryDirectory() as directory:
            for fmt in ("csv", "parquet"):
                path = os.path.join(directory, f"ratings.{fmt}")
                began = time.perf_counter()
                with open(path, "wb") as file:
                    for chunk in table_chunks(table, fmt, study, options):
                        file.write(chunk)
                timings[f"{fmt}_seconds"] = round(time.perf_counter() - began, 2)
                timings[f"{fmt}_bytes"] = os.path.getsize(path)
                timings[f"peak_rss_after_{fmt}_mb"] = round(peak_rss_mb(), 1)
        return timings

    def seed(self, ratings):
        from uxlab.studies.models import (
            Arm,
            Participant,
            Prompt,
            Question,
            Rating,
            Study,
            Team,
            Trial,
        )

        team = Team.objects.create(name="Bench lab", slug="bench-lab")
        study = Study.objects.create(team=team, code="bench", title="Export benchmark", consent_text="-",
                                     design={"pairs": [["fast", "slow"]], "seed": "bench"})
        fast = Arm.objects.create(study=study, name="fast", profile={"ttft_s": 0.2, "tokens_per_second": 1800})
        slow = Arm.objects.create(study=study, name="slow", profile={"ttft_s": 1.0, "tokens_per_second": 15},
                                  position=1)
        prompts = [Prompt.objects.create(study=study, name=f"p{i}", text="?", response="!", position=i)
                   for i in range(TRIALS_PER_PARTICIPANT)]
        questions = [Question.objects.create(study=study, name=f"q{i}", text="?", position=i) for i in range(QUESTIONS)]
        trial_count = -(-ratings // QUESTIONS)
        participant_count = -(-trial_count // TRIALS_PER_PARTICIPANT)
        now = datetime(2025, 1, 1, tzinfo=UTC)

        copy_rows(Participant, (
            (p, study.pk, secrets.token_hex(12), "completed", now, now, now) for p in range(1, participant_count + 1)
        ), ["id", "study_id", "token", "status", "created_at", "consented_at", "completed_at"])
        copy_rows(Trial, (
            (t, t // TRIALS_PER_PARTICIPANT + 1, t % TRIALS_PER_PARTICIPANT, prompts[t % TRIALS_PER_PARTICIPANT].pk,
             (fast if t % 2 else slow).pk, (slow if t % 2 else fast).pk, f"s{t}", "finished",
             now + timedelta(seconds=t), now + timedelta(seconds=t + 5))
            for t in range(trial_count)
        ), ["id", "participant_id", "index", "prompt_id", "arm_a_id", "arm_b_id", "seed", "status", "started_at",
            "finished_at"])
        values = ("A", "B", "tie")
        copy_rows(Rating, (
            (uuid.uuid4(), r // QUESTIONS // TRIALS_PER_PARTICIPANT + 1, r // QUESTIONS, questions[r % QUESTIONS].pk,
             values[r % 3], 500 + r % 2000, now + timedelta(seconds=r), now + timedelta(seconds=r, milliseconds=40))
            for r in range(ratings)
        ), ["key", "participant_id", "trial_id", "question_id", "value", "response_ms", "received_at", "stored_at"])
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return study
