"""The suite's database backend (tests/settings.py): Django's PostgreSQL backend, except that a
transactional test's flush empties the tables with DELETE instead of one TRUNCATE.

pytest-django flushes the database after every test marked `django_db(transaction=True)` (the
websocket, process and browser tests). PostgreSQL's TRUNCATE makes a new file for every table, some
0.3 s for uxlab's 34 nearly empty tables; DELETE takes about 15 ms. Django makes every foreign key
DEFERRABLE INITIALLY DEFERRED, and the flush runs in one transaction, so the order of the DELETEs
does not matter. A flush that resets sequences or cascades to other tables is left to TRUNCATE.
"""

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or allow_cascade:
            return super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        delete_from = f"{style.SQL_KEYWORD('DELETE')} {style.SQL_KEYWORD('FROM')}"
        return [f"{delete_from} {style.SQL_FIELD(self.quote_name(table))};" for table in tables]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
