"""What hand-written SQL needs, in one place: model instances from its rows, JSON values in and
out, and id lists split to what one statement can bind. The actions write SQL of their own only
for the few statements every participant request or trial runs.

Django builds an ORM query's SQL anew each time it runs it: for a participant looked up by token
with their study, ~0.7 ms of CPU against ~0.1 ms for the round trip itself, on every page and
socket of every participant. Here a model's column list is written once per model, the statement
once per caller, and each row becomes an instance as the ORM makes it (`Model.from_db`, with each
field's database converters, so a JSON field is decoded as the ORM decodes it). The SQL is plain
enough for both Postgres and the embedded default's SQLite.

    columns = ModelColumns(Participant, "p")
    sql = f"SELECT {columns.sql} FROM {columns.table} p WHERE p.token = %s"
    participant = columns.instance(row)          # row: the columns in the order of columns.sql
"""

import json

from django.db import connection, connections


class ModelColumns:
    """A model's concrete columns under a table alias: their SQL, and instances from their values."""

    def __init__(self, model, alias, using="default"):
        self.model = model
        self.using = using
        self.table = model._meta.db_table
        self.fields = list(model._meta.concrete_fields)
        self.names = [field.attname for field in self.fields]
        self.width = len(self.fields)
        self.sql = ", ".join(f'{alias}."{field.column}"' for field in self.fields)
        self._converters = {}  # by database vendor: [(position, column, [converter])]

    def converters(self, connection):
        if connection.vendor not in self._converters:
            found = []
            for position, field in enumerate(self.fields):
                column = field.get_col(self.table)
                chain = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if chain:
                    found.append((position, column, chain))
            self._converters[connection.vendor] = found
        return self._converters[connection.vendor]

    def instance(self, values):
        """The model instance of these column values (exactly `width` of them, in column order)."""
        connection = connections[self.using]
        values = list(values)
        for position, column, chain in self.converters(connection):
            for convert in chain:
                values[position] = convert(values[position], column, connection)
        return self.model.from_db(self.using, self.names, values)


def fetch_rows(sql, params, using="default"):
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# Postgres takes at most 65,535 parameters in one statement once they are bound on the server
# (settings.DB_PREPARE_THRESHOLD); a list of ids for `__in` that may grow with a study is split.
MAX_IDS_PER_STATEMENT = 10_000


def in_chunks(ids, size=MAX_IDS_PER_STATEMENT):
    """`ids` in lists of at most `size`."""
    ids = list(ids)
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def json_value(value):
    """A json/jsonb column read through a raw cursor (Django has psycopg give them as text, for
    JSONField to parse); a value already decoded passes through."""
    return json.loads(value) if isinstance(value, str) else value


def json_parameter(model, field_name, value):
    """A value for a JSONField's column in raw SQL, encoded as the ORM encodes it."""
    return model._meta.get_field(field_name).get_db_prep_save(value, connection)
