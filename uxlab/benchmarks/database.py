"""A throwaway Postgres database for a benchmark: created, given its tables, used, and dropped.

Benchmarks never touch real data: they create a database of their own on the server that
DATABASE_URL names (marked with a comment so an unrelated database is never dropped), point
Django's connection at it, and drop it when done.
"""

import subprocess
import sys

import psycopg
from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection, connections
from psycopg import sql

from uxlab.benchmarks.processes import child_env, database_url

MARK = "uxlab benchmark throwaway database"
OLD_MARKS = {"uxlab bench_ratings throwaway database"}  # what bench_ratings wrote before


def require_postgres(command, redis=False):
    """Stop a benchmark that has no Postgres server to measure (the embedded default's SQLite is
    not what it measures), or no Redis when it needs the channel layer too."""
    if connection.vendor != "postgresql" or (redis and not settings.REDIS_URL):
        needs = "DATABASE_URL (Postgres) and REDIS_URL" if redis else "DATABASE_URL pointing at a Postgres server"
        raise CommandError(f"{command} needs {needs}")


def admin_connection():
    database = settings.DATABASES["default"]
    return psycopg.connect(
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


class ThrowawayDatabase:
    """`with ThrowawayDatabase("uxlab_bench_x") as db:` — Django's default connection uses it inside.

    `tables="migrations"` runs `manage.py migrate`; `tables="models"` creates the tables straight
    from the models (as the test suite does), so a benchmark runs whatever the migrations' state;
    `tables=None` leaves the database empty and Django's connection where it was (a test that
    migrates it from a child process).
    """

    def __init__(self, name, keep=False, tables="migrations"):
        require_postgres("benchmarks")
        self.name = name
        self.keep = keep
        self.tables = tables
        self.original_name = settings.DATABASES["default"]["NAME"]
        self.claim = None  # the admin connection holding this name's advisory lock

    def url(self):
        return database_url(self.name)

    def env(self, **overrides):
        """Environment for a child process (web server, worker, migrate) that uses this database."""
        env = child_env(self.name, **overrides)
        env.setdefault("SECRET_KEY", "benchmark-only")
        return env

    def __enter__(self):
        # Two runs on one name would drop each other's database mid-run: the name is claimed with a
        # session advisory lock on a connection held for the run (released however the run ends).
        self.claim = admin_connection()
        claimed = self.claim.execute(
            "select pg_try_advisory_lock(hashtext(%s))", [f"uxlab-benchmark:{self.name}"]
        ).fetchone()[0]
        if not claimed:
            self.claim.close()
            raise CommandError(
                f"another benchmark is using the database {self.name!r}: wait for it to finish, "
                "or give this one another with --database NAME"
            )
        try:
            with admin_connection() as admin:
                row = admin.execute(
                    "select shobj_description(oid, 'pg_database') from pg_database where datname = %s", [self.name]
                ).fetchone()
                if row is not None and row[0] != MARK and row[0] not in OLD_MARKS:
                    raise CommandError(f"database {self.name!r} exists and is not a benchmark database")
                quoted = sql.Identifier(self.name)
                admin.execute(sql.SQL("drop database if exists {} with (force)").format(quoted))
                admin.execute(sql.SQL("create database {}").format(quoted))
                admin.execute(sql.SQL("comment on database {} is {}").format(quoted, sql.Literal(MARK)))
            if self.tables == "migrations":
                subprocess.run(
                    [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                    cwd=settings.BASE_DIR,
                    env=self.env(),
                    check=True,
                )
                self.switch(self.name)
            elif self.tables == "models":
                self.switch(self.name)
                with connection.schema_editor() as editor:
                    for model in apps.get_models():
                        editor.create_model(model)
        except BaseException:
            self.claim.close()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.switch(self.original_name)
            if not self.keep:
                with admin_connection() as admin:
                    admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(self.name)))
        finally:
            self.claim.close()

    @staticmethod
    def release_connections():
        """Close this process's connections, its pool's idle ones too (a pool keeps
        DB_POOL_MIN_SIZE open), so only the processes a benchmark starts hold any; the next query
        opens the pool again."""
        connections.close_all()
        if connections["default"].settings_dict.get("OPTIONS", {}).get("pool"):
            connections["default"].close_pool()

    @classmethod
    def switch(cls, name):
        # A pool connects to the database it was opened for: close it, so the next one opens on `name`.
        cls.release_connections()
        settings.DATABASES["default"]["NAME"] = name
        connections["default"].settings_dict["NAME"] = name
