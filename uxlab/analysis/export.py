"""Export writers: each takes a table's columns and rows and yields bytes (or writes a file object),
so the same code serves streamed downloads, Celery-built files and the benchmark with flat memory.

Formats: CSV (UTF-8, header first, ISO 8601 UTC times, booleans as true/false, JSON cells as JSON
text), JSON Lines (one object per row), Parquet (row groups of ROW_GROUP rows) and a Psych-DS
bundle (zip) of CSVs with dataset_description.json and the study definition under materials/.
"""

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from itertools import islice

import orjson

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}
FLUSH_BYTES = 256 * 1024
ROW_GROUP = 20_000


# --- Generic tables ------------------------------------------------------------------------------

# CSV formula injection (OWASP): a text cell a spreadsheet would read as a formula gets a leading
# single quote. A plain number ("-2", "+1.5") is no formula and stays as it is, so negative Likert
# values still read as numbers. rows.py has the SQL twin for the Postgres COPY path.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]+)?")


def neutralise_formula(value):
    """``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _cell_formatters(columns):
    """Per column, how a value becomes CSV text (None means: as is)."""

    def datetime_text(value):
        return "" if value is None else value.isoformat()

    def boolean_text(value):
        return "" if value is None else ("true" if value else "false")

    def json_text(value):
        return "" if value is None else orjson.dumps(value).decode()

    by_type = {"datetime": datetime_text, "boolean": boolean_text, "json": json_text, "string": neutralise_formula}
    return [(index, by_type[column.type]) for index, column in enumerate(columns) if column.type in by_type]


class _LineFeedRows:
    """A file for csv.writer whose rows end in "\n" although the writer's terminator is "\r\n":
    the writer quotes a cell holding either character of its terminator, so a bare CR in free text
    stays inside its quoted cell (as Postgres COPY writes it) instead of starting a new spreadsheet
    row where a formula could hide. csv.writer writes each row, terminator included, in one call."""

    def __init__(self, buffer):
        self.buffer = buffer

    def write(self, row):
        return self.buffer.write(row[:-2] + "\n" if row.endswith("\r\n") else row)


def iter_csv(columns, rows: Iterable[tuple]) -> Iterator[bytes]:
    """CSV as UTF-8 byte chunks of about FLUSH_BYTES; memory stays flat however many rows."""
    buffer = io.StringIO()
    writer = csv.writer(_LineFeedRows(buffer), lineterminator="\r\n")
    writer.writerow([column.name for column in columns])
    formatters = _cell_formatters(columns)
    writerow = writer.writerow
    for row in rows:
        if formatters:
            row = list(row)
            for index, formatter in formatters:
                row[index] = formatter(row[index])
        writerow(row)
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def iter_jsonl(columns, rows: Iterable[tuple]) -> Iterator[bytes]:
    """JSON Lines: one object per row with the columns as keys; times as ISO 8601 strings."""
    names = [column.name for column in columns]
    chunk = []
    size = 0
    for row in rows:
        line = orjson.dumps(dict(zip(names, row, strict=True))) + b"\n"
        chunk.append(line)
        size += len(line)
        if size >= FLUSH_BYTES:
            yield b"".join(chunk)
            chunk, size = [], 0
    yield b"".join(chunk)


def arrow_schema(columns):
    import pyarrow as pa

    types = {
        "integer": pa.int64(),
        "number": pa.float64(),
        "string": pa.string(),
        "boolean": pa.bool_(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "json": pa.string(),
    }
    return pa.schema([pa.field(column.name, types[column.type]) for column in columns])


def _arrow_batch(columns, schema, rows):
    import pyarrow as pa

    arrays = []
    for index, (column, values) in enumerate(zip(columns, zip(*rows, strict=True), strict=True)):
        if column.type == "json":
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        elif column.type == "string":
            values = [None if v is None else str(v) for v in values]
        arrays.append(pa.array(values, type=schema.field(index).type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _parquet_chunks(columns, rows, sink):
    import pyarrow.parquet as pq

    schema = arrow_schema(columns)
    rows = iter(rows)
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        while batch := list(islice(rows, ROW_GROUP)):
            writer.write_batch(_arrow_batch(columns, schema, batch))
            yield


class StreamSink:
    """A write-only binary file object that hands what was written to a generator in chunks."""

    def __init__(self):
        self.parts = []
        self.position = 0
        self.closed = False

    def write(self, data):
        data = bytes(data)
        self.parts.append(data)
        self.position += len(data)
        return len(data)

    def tell(self):
        return self.position

    def flush(self):
        pass

    def close(self):
        self.closed = True

    def writable(self):
        return True

    def seekable(self):
        return False

    def readable(self):
        return False

    def drain(self):
        data = b"".join(self.parts)
        self.parts = []
        return data


def iter_parquet(columns, rows: Iterable[tuple]) -> Iterator[bytes]:
    """Parquet streamed as bytes: each row group is handed on as soon as it is written."""
    sink = StreamSink()
    for _ in _parquet_chunks(columns, rows, sink):
        if data := sink.drain():
            yield data
    yield sink.drain()


CSV_BLOCK_BYTES = 4 * 1024 * 1024


def csv_blocks(chunks, size=CSV_BLOCK_BYTES):
    """Whole-row chunks (Postgres COPY sends one row per message) joined into blocks of ~size bytes."""
    block, length = [], 0
    for chunk in chunks:
        block.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(block)
            block, length = [], 0
    if block:
        yield b"".join(block)


def iter_parquet_from_csv(columns, csv_rows: Iterable[bytes], datetimes="iso") -> Iterator[bytes]:
    """Parquet from CSV rows without a header, given in chunks of whole rows as Postgres COPY sends
    them, read by Arrow a block of ~CSV_BLOCK_BYTES at a time: no Python object per cell, so a
    million rows take seconds. Blocks are read here, on the caller's thread (and database connection).

    An unquoted empty cell is null and a quoted one ("") an empty string, as COPY writes them;
    booleans are true/false. `datetimes="epoch_us"` reads datetime columns as integer microseconds.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    schema = arrow_schema(columns)
    read_types = {
        field.name: pa.int64() if column.type == "datetime" and datetimes == "epoch_us" else field.type
        for column, field in zip(columns, schema, strict=True)
    }
    read_options = pa_csv.ReadOptions(column_names=schema.names)
    convert_options = pa_csv.ConvertOptions(
        column_types=read_types,
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["true"],
        false_values=["false"],
    )
    sink = StreamSink()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for block in csv_blocks(csv_rows):
            table = pa_csv.read_csv(pa.BufferReader(block), read_options=read_options, convert_options=convert_options)
            writer.write_table(pa.table([
                column if column.type == field.type else column.cast(field.type)
                for column, field in zip(table.columns, schema, strict=True)
            ], schema=schema))  # fmt: skip
            if data := sink.drain():
                yield data
    yield sink.drain()


def iter_table(fmt, columns, rows) -> Iterator[bytes]:
    return {"csv": iter_csv, "jsonl": iter_jsonl, "parquet": iter_parquet}[fmt](columns, rows)


# --- Psych-DS ------------------------------------------------------------------------------------

PSYCHDS_TYPES = {"integer": "integer", "number": "number", "string": "string", "boolean": "boolean",
                 "datetime": "datetime", "json": "string (JSON)"}


def psychds_description(study, tables):
    """dataset_description.json: schema.org Dataset whose variableMeasured documents every column."""
    variables, seen = [], {}
    for table in tables:
        for column in table.columns:
            if column.name in seen:
                seen[column.name]["description"] += f" [{table.name}]"
                continue
            entry = {
                "@type": "PropertyValue",
                "name": column.name,
                "description": f"{column.description} [{table.name}]",
                "unitText": PSYCHDS_TYPES[column.type],
            }
            seen[column.name] = entry
            variables.append(entry)
    return {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": study.title,
        "description": study.description or f"uxlab study {study.code}: {study.title}",
        "identifier": study.code,
        "variableMeasured": variables,
        "keywords": ["uxlab", "LLM streaming speed", "perception"],
    }


def psychds_file_name(study, table):
    return f"data/study-{study.code}_table-{table.name}_data.csv"


def iter_psychds_zip(study, tables, rows_for, study_yaml) -> Iterator[bytes]:
    """The Psych-DS bundle as a zip streamed in chunks: data/*.csv, dataset_description.json,
    materials/study.yaml and a README. `rows_for(table)` gives each table's rows."""
    sink = StreamSink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("dataset_description.json", orjson.dumps(psychds_description(study, tables),
                                                                 option=orjson.OPT_INDENT_2))
        bundle.writestr("materials/study.yaml", study_yaml)
        bundle.writestr(
            "README.md",
            f"# {study.title}\n\nExported by uxlab. Columns are documented in dataset_description.json "
            "(variableMeasured) and in uxlab's docs/data-dictionary.md. Excluded rows are kept and flagged "
            "(columns `excluded`, `exclusion_reasons`).\n",
        )
        yield sink.drain()
        for table in tables:
            with bundle.open(psychds_file_name(study, table), "w", force_zip64=True) as member:
                for chunk in iter_csv(table.columns, rows_for(table)):
                    member.write(chunk)
                    if sink.position and len(sink.parts) > 8:
                        yield sink.drain()
            yield sink.drain()
    yield sink.drain()
