"""Benchmarks as management commands (`manage.py bench_*`), and the helpers they share with the
test suite: throwaway databases (database.py) and real child processes (processes.py)."""
