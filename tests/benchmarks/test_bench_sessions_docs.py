"""docs/benchmarks.md names every key bench_sessions prints (a plain run's, a --find-capacity
search's and each of its steps'), read from the command's source, so neither drifts from the other
without a run of the benchmark."""

import ast
import re

from uxlab.benchmarks.management.commands import bench_sessions
from uxlab.settings import BASE_DIR

COMMAND = BASE_DIR / "uxlab" / "benchmarks" / "management" / "commands" / "bench_sessions.py"
DOCS = BASE_DIR / "docs" / "benchmarks.md"


def returned_keys(function_name):
    """The literal keys of the dict a method of the command returns."""
    tree = ast.parse(COMMAND.read_text())
    function = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == function_name)
    returns = [node.value for node in ast.walk(function) if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict)]
    return {key.value for value in returns for key in value.keys if isinstance(key, ast.Constant)}


def documented_keys():
    """Every key the page writes in backticks, with its shorthands spelt out: `p50/p99_x` is
    p50_x and p99_x, `x_min/_median/_max` is x_min, x_median and x_max, and `x_median` / `_max`
    is x_median and x_max."""
    text = DOCS.read_text()
    keys = set()
    previous = ""
    for token in re.findall(r"`([^`\s]+)`", text):
        if re.fullmatch(r"_\w+", token) and "_" in previous:
            keys.add(previous.rsplit("_", 1)[0] + token)
            continue
        first, *rest = token.split("/")
        keys.add(first)
        for part in rest:
            if part.startswith("_"):
                keys.add(first.rsplit("_", 1)[0] + part)
            elif re.fullmatch(r"p\d+(_\w+)?", first) and "_" in part:
                keys.add(part)
                keys.add(first.split("_")[0] + "_" + part.split("_", 1)[1])
            else:
                keys.add(part)
        previous = token
    return keys


def test_the_benchmark_page_names_every_key_bench_sessions_prints():
    printed = returned_keys("report") | returned_keys("find_capacity") | set(bench_sessions.STEP_KEYS)
    assert printed, "no keys read from the command"
    missing = printed - documented_keys()
    assert not missing, f"keys bench_sessions prints that docs/benchmarks.md does not name: {sorted(missing)}"
