"""Field types for study-file settings, framework-free so an arm kind can declare its own.

Numbers are strict (``ttft_s: "0.2"`` or ``chunk_tokens: 1.5`` is an error, not a silent
conversion) and text is stripped. The study file (studies/study_files) uses the same types.
"""

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, Strict, StringConstraints
from pydantic_core import PydanticCustomError

from uxlab.streaming.presets import PRESETS
from uxlab.streaming.tokenizer_files import open_tokenizer

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Count = Annotated[int, Strict()]

# Sane ranges shared by the kinds' timing settings (docs/study-format.md); a trial must also be
# able to finish within the session's time limit, which the study file checks as a whole.
Seconds = Annotated[Number, Field(ge=0, le=300)]
TokensPerSecond = Annotated[Number, Field(ge=0.1, le=100_000)]

SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"  # the same as Django's SlugField
Slug = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=SLUG_PATTERN)]


def _none_as_empty(value):
    return "" if value is None else value


# The longest text any field takes unless it says less (a prompt's response, a consent form).
MAX_TEXT = 100_000


def required_text(max_length=MAX_TEXT):
    """Required text, stripped at both ends."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)]


def optional_text(max_length=MAX_TEXT):
    """Text that may be left out or empty (a bare `key:` in YAML counts as empty)."""
    return Annotated[
        str, BeforeValidator(_none_as_empty), StringConstraints(strip_whitespace=True, max_length=max_length)
    ]


# --- URLs: the rules of Django's URLValidator(schemes=["http", "https"]), without Django ---------

_UL = "\u00a1-\uffff"  # Unicode letters
_IPV4 = r"(?:0|25[0-5]|2[0-4][0-9]|1[0-9]?[0-9]?|[1-9][0-9]?)(?:\.(?:0|25[0-5]|2[0-4][0-9]|1[0-9]?[0-9]?|[1-9][0-9]?)){3}"
_IPV6 = r"\[[0-9a-f:.]+\]"  # checked properly below
_HOSTNAME = rf"[a-z{_UL}0-9](?:[a-z{_UL}0-9-]{{0,61}}[a-z{_UL}0-9])?"
_DOMAIN = rf"(?:\.(?!-)[a-z{_UL}0-9-]{{1,63}}(?<!-))*"
_TLD = rf"\.(?!-)(?:[a-z{_UL}-]{{2,63}}|xn--[a-z0-9]{{1,59}})(?<!-)\.?"
_URL = re.compile(
    r"^(?:[a-z0-9.+-]*)://"  # the scheme is checked separately
    r"(?:[^\s:@/]+(?::[^\s:@/]*)?@)?"  # user:password
    rf"(?:{_IPV4}|{_IPV6}|(?:{_HOSTNAME}{_DOMAIN}{_TLD}|localhost))"
    r"(?::[0-9]{1,5})?"  # port
    r"(?:[/?#][^\s]*)?"  # path, query, fragment
    r"\Z",
    re.IGNORECASE,
)


def is_http_url(value: str) -> bool:
    """Whether ``value`` is an http(s) URL by the rules of Django's URLValidator."""
    if len(value) > 2048 or {"\t", "\r", "\n"} & set(value):
        return False
    if value.split("://")[0].lower() not in ("http", "https"):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if not _URL.search(value):
        return False
    bracketed = re.search(r"^\[(.+)\](?::[0-9]{1,5})?$", parts.netloc)
    if bracketed:
        if len(bracketed[1]) > 39:
            return False
        try:
            ipaddress.IPv6Address(bracketed[1])
        except ValueError:
            return False
    return parts.hostname is not None and len(parts.hostname) <= 253


def check_http_url(value):
    if value and not is_http_url(value):
        raise PydanticCustomError("url", "must be an http(s) URL")
    return value


HttpUrl = Annotated[optional_text(200), AfterValidator(check_http_url)]
RequiredHttpUrl = Annotated[required_text(200), AfterValidator(check_http_url)]


# --- Arm settings --------------------------------------------------------------------------------


def _env_name(value):
    # The value is never echoed: a researcher may have pasted the key itself here by mistake.
    if not re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]{0,99})?", value):
        raise PydanticCustomError("env_name", "must be the name of an environment variable (letters, digits, '_')")
    return value


EnvName = Annotated[optional_text(100), AfterValidator(_env_name)]


def _loadable_tokenizer(name):
    # Only a file in the operator's tokenizer directory, regular and not too large (tokenizer_files.py).
    if name:
        try:
            open_tokenizer(name)
        except (ValueError, OSError) as exc:
            raise PydanticCustomError("tokenizer", "{error}", {"error": str(exc)}) from None
    return name


TokenizerPath = Annotated[optional_text(500), AfterValidator(_loadable_tokenizer)]
PresetName = Literal[tuple(PRESETS)]

