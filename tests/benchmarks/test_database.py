"""The throwaway database of a benchmark run is its own: a second run on the same name is refused
(it would drop the first one's database mid-run), and the name is free again once the first ends."""

import os

import pytest
from django.core.management.base import CommandError

from uxlab.benchmarks.database import ThrowawayDatabase, admin_connection


def database_exists(name):
    with admin_connection() as admin:
        return admin.execute("select 1 from pg_database where datname = %s", [name]).fetchone() is not None


@pytest.mark.services
def test_a_second_run_on_the_same_database_is_refused_and_leaves_the_first_alone():
    name = f"uxlab_claim_test_{os.getpid()}"
    with ThrowawayDatabase(name, tables=None):
        with pytest.raises(CommandError, match="another benchmark is using the database .* --database NAME"):
            with ThrowawayDatabase(name, tables=None):
                pass  # never reached
        assert database_exists(name), "the refused run dropped the first run's database"
    assert not database_exists(name)
    with ThrowawayDatabase(name, tables=None):  # free again
        assert database_exists(name)
    assert not database_exists(name)
