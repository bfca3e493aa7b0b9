"""Large exports as background jobs: the same bytes as the streamed downloads (web/downloads.py),
written by a worker to a file with progress, for a download once ready (web/views_jobs.py).

Progress counts rows written against the study's row counts (an estimate for the tables whose size
is not one count away, so the bar is never shown full before the file is).
"""

import os
import tempfile

from uxlab.analysis.export import FORMATS, iter_parquet_from_csv, iter_psychds_zip, iter_table
from uxlab.analysis.rows import (
    ExportOptions,
    _epoch_us_sql,
    _raw_sql,
    export_tables,
    ratings_copy_chunks,
    ratings_table,
)
from uxlab.studies.actions.jobs import Progress, fail_job, finish_job
from uxlab.studies.models import Participant, Rating, Trial
from uxlab.studies.study_files import export_study


def estimated_rows(study, table_name):
    """Rows a table of the study will have (exact for ratings, participants and trials)."""
    if table_name == "ratings":
        return Rating.objects.filter(participant__study=study).count()
    if table_name == "participants":
        return Participant.objects.filter(study=study).count()
    return Trial.objects.filter(participant__study=study).count()


def counted(rows, progress):
    for row in rows:
        progress.step()
        yield row


def counted_csv(chunks, progress):
    """CSV byte chunks from COPY, counting their lines as rows (a quoted newline counts too: an estimate)."""
    for chunk in chunks:
        progress.step(chunk.count(b"\n"))
        yield chunk


def table_job_chunks(table, fmt, study, options, progress):
    """web/downloads.table_response's bytes, counted: Postgres COPY for the ratings table."""
    from django.db import connection

    if table.name == "ratings" and connection.vendor == "postgresql" and fmt in {"csv", "parquet"}:
        if fmt == "csv":
            header = (",".join(ratings_table().column_names) + "\n").encode()
            return iter([header, *counted_csv(ratings_copy_chunks(study, options), progress)])
        copy = ratings_copy_chunks(study, options, times=_epoch_us_sql, text=_raw_sql)
        return iter_parquet_from_csv(table.columns, counted_csv(copy, progress), datetimes="epoch_us")
    return iter_table(fmt, table.columns, counted(table.rows(study, options), progress))


def export_file(job):
    """(chunks, file name, content type) for the job's export."""
    params = job.params
    study = job.study
    options = ExportOptions(exclusion_rules=tuple(params.get("rules", ())), include_external_ids=job.owners_only)
    tables = export_tables(options.include_external_ids)
    progress = Progress(job)
    if params.get("target") == "psychds":
        chosen = list(tables.values())
        progress.set_total(sum(estimated_rows(study, table.name) for table in chosen))
        chunks = iter_psychds_zip(study, chosen, lambda table: counted(table.rows(study, options), progress),
                                  export_study(study))
        return chunks, f"study-{study.code}_psychds.zip", "application/zip"
    table, fmt = tables.get(params.get("table")), params.get("format")
    if table is None or fmt not in FORMATS:
        raise ValueError("unknown table or format")
    progress.set_total(estimated_rows(study, table.name))
    chunks = table_job_chunks(table, fmt, study, options, progress)
    return chunks, f"study-{study.code}_table-{table.name}_data.{fmt}", FORMATS[fmt]


def build_export(job):
    """Write the job's export to a temporary file, then store it as the job's result."""
    try:
        chunks, file_name, content_type = export_file(job)
    except ValueError as error:
        return fail_job(job, str(error))
    handle, path = tempfile.mkstemp(prefix="uxlab-export-")
    try:
        with os.fdopen(handle, "wb") as output:
            for chunk in chunks:
                output.write(chunk)
        return finish_job(job, path, file_name, content_type)
    finally:
        os.unlink(path)
