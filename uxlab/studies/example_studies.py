"""The example study files shipped in uxlab/studies/examples, offered by the builder as templates.

Each is a complete, cited study file (tests/studies/test_example_studies.py); a study started from
one is that file as a new draft, with the researcher's title and code when given (docs/builder.md).
"""

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


@dataclass(frozen=True)
class ExampleStudy:
    """One shipped example: its file's name (without .yaml), the study's code, title and description."""

    name: str
    code: str
    title: str
    description: str

    @property
    def file_name(self):
        return f"{self.name}.yaml"


@functools.cache
def example_studies():
    """The examples, the demo first, then by file name."""
    examples = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml"), key=lambda path: (path.stem != "demo", path.stem)):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        examples.append(ExampleStudy(
            name=path.stem, code=str(document.get("code", "")), title=str(document.get("title", "")),
            description=" ".join(str(document.get("description", "")).split()),
        ))
    return tuple(examples)


def example_choices():
    return [(example.name, example.title) for example in example_studies()]


def example_document(name):
    """The example's study file as a dict (a fresh copy each time). KeyError for an unknown name."""
    if name not in {example.name for example in example_studies()}:
        raise KeyError(name)
    return yaml.safe_load((EXAMPLES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
