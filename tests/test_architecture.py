"""The shape docs/architecture.md describes, checked from the source: no import cycle among uxlab's
modules, no oversized module, benchmarks in their own app, framework-free rooms, nothing that
points outside the repository."""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "uxlab"


def module_name(path):
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def uxlab_modules():
    return {
        module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
    }


def imported_modules(path, name, known):
    """The uxlab modules a module imports, at any depth (a function-level import is still a dependency)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {module for module in found if module in known and module != name}


def import_graph():
    known = uxlab_modules()
    return {name: imported_modules(path, name, known) for name, path in known.items()}


def find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_it_finds_a_cycle_when_there_is_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_it_has_no_import_cycle_among_uxlab_modules():
    graph = import_graph()
    assert graph["uxlab.studies.tasks"] >= {"uxlab.studies.actions"}, "workers import actions"
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_it_has_no_module_over_600_lines():
    big = {name: len(path.read_text().splitlines()) for name, path in uxlab_modules().items()}
    assert {name: lines for name, lines in big.items() if lines > 600} == {}


def test_it_keeps_benchmark_commands_in_their_own_app():
    assert not list((PACKAGE / "studies").rglob("bench_*.py"))


def test_it_keeps_streaming_and_stats_free_of_django():
    pure_analysis = ("stats", "clustered", "psychometric", "batched_fit", "pairs", "summaries", "simulation",
                     "planning", "plots", "adaptive")
    framework_free = [*(PACKAGE / "streaming").rglob("*.py"), *(PACKAGE / "adaptive").rglob("*.py"),
                      *(PACKAGE / "analysis" / f"{name}.py" for name in pure_analysis)]
    known = uxlab_modules()
    for path in framework_free:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for imported in names:
                assert not imported.startswith(("django", "channels", "celery")), f"{path}: {imported}"
        pure = {f"uxlab.analysis.{name}" for name in pure_analysis}
        for imported in imported_modules(path, module_name(path), known):
            assert imported.startswith(("uxlab.streaming", "uxlab.adaptive")) or imported in pure, (
                f"{path} imports {imported}")


OUTSIDE = re.compile(r"(\"|\s|^|\()/(work|tmp|home|root)/[a-z]|\.\./shared")


def test_nothing_points_outside_the_repository():
    places = [PACKAGE, REPO / "docs", REPO / "templates", REPO / "README.md", REPO / "Makefile", REPO / ".ci"]
    files = [path for place in places for path in ([place] if place.is_file() else place.rglob("*")) if path.is_file()]
    offenders = []
    for path in files:
        if path.suffix in {".pyc", ".parquet"}:
            continue
        text = path.read_text(errors="ignore")
        offenders += [f"{path.relative_to(REPO)}: {match.group(0)!r}" for match in OUTSIDE.finditer(text)]
    assert offenders == []
