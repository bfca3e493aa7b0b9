"""Pieces the benchmark commands run in their own processes (load generators, a baseline server)."""
