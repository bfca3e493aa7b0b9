"""Pydantic's validation errors as ``path: message`` lines a researcher can act on."""

import re

from pydantic import ValidationError

from uxlab.streaming import kinds


class StudyFileError(Exception):
    """A study file (or import) that cannot be used; ``errors`` holds every problem as ``path: message``."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def format_validation_errors(exc: ValidationError) -> list[str]:
    """Pydantic's errors as ``path: message`` lines in plain words."""
    return [f"{_format_path(_arm_loc(error))}: {_message(error)}" for error in exc.errors()]


def _arm_loc(error):
    """An arm's path without the kind pydantic inserts (``arms[0].synthetic.ttft_s``); a bad kind at ``.kind``."""
    loc = list(error["loc"])
    if len(loc) >= 2 and loc[0] == "arms" and isinstance(loc[1], int):
        if error["type"] in ("union_tag_invalid", "union_tag_not_found") and len(loc) == 2:
            return (*loc, "kind")
        if len(loc) >= 3 and loc[2] in kinds.names():
            del loc[2]
    return tuple(loc)


def _format_path(loc):
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _items(n, word="item"):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_TYPE_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "string_type": "must be text",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "string_pattern_mismatch": "must contain only letters, digits, '-' and '_'",
}


def _message(error):
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    if kind == "greater_than":
        return f"must be > {tidy_number(ctx['gt'])}"
    if kind == "greater_than_equal":
        return f"must be >= {tidy_number(ctx['ge'])}"
    if kind == "less_than":
        return f"must be < {tidy_number(ctx['lt'])}"
    if kind == "less_than_equal":
        return f"must be <= {tidy_number(ctx['le'])}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"must be one of: {', '.join(kinds.names())}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", ctx["expected"]) or re.split(r",\s*|\s+or\s+", ctx["expected"])
        return f"must be {choices[0]}" if len(choices) == 1 else f"must be one of: {', '.join(choices)}"
    # Text reports too_short / too_long instead of string_too_* when a BeforeValidator precedes its limits.
    is_text = isinstance(error.get("input"), str)
    if kind == "string_too_short" or (kind == "too_short" and is_text):
        return "must not be empty" if ctx["min_length"] == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long" or (kind == "too_long" and is_text):
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_short":
        return f"at least {_items(ctx['min_length'])} required"
    if kind == "too_long":
        return f"at most {_items(ctx['max_length'])} allowed"
    return error["msg"]  # our own PydanticCustomErrors already read well


def type_in_words(value):
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a single piece of text"
    return f"a {type(value).__name__}"

def tidy_number(value):
    """1800.0 reads better as 1800; both load back as the same float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value