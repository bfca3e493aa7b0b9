from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    """Benchmarks: management commands that run the real processes and print JSON (no models)."""

    name = "uxlab.benchmarks"
    verbose_name = "Benchmarks"
