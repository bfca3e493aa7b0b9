"""Settings from a `.env` file: every entry point (manage.py, the Celery app, the ASGI app and the
Makefile's `make demo`) reads the same file the same way, so a command printed in the docs behaves
the same however it is started.

The file is `.env` beside manage.py, or the one UXLAB_ENV_FILE names (empty: read none). Lines are
`NAME=value` (an `export ` prefix is allowed); blank lines and lines starting with `#` are ignored; a
value may be wrapped in single or double quotes, and an unquoted value ends at ` #` (a comment).
Variables already in the environment win over the file, so `DEBUG=true manage.py ...` overrides it.
Framework-free: it runs before Django is configured.
"""

import os
import re
import sys
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent.parent / ".env"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class EnvFileError(ValueError):
    """A line of the file that is not `NAME=value`."""


def env_file_path(environ=None):
    """The file to read: UXLAB_ENV_FILE when set (empty means none), else `.env` beside manage.py."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("UXLAB_ENV_FILE")
    if chosen is None:
        return DEFAULT_PATH
    return Path(chosen) if chosen.strip() else None


def parse_env_text(text, source=".env"):
    """The file's variables in order, as {name: value}; raises EnvFileError naming a malformed line."""
    values = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not NAME.match(name):
            raise EnvFileError(f"{source}, line {number}: expected NAME=value, not {raw.strip()[:60]!r}")
        values[name] = parse_value(value.strip(), f"{source}, line {number}")
    return values


def parse_value(value, where):
    if value[:1] in {'"', "'"}:
        quote = value[0]
        end = value.find(quote, 1)
        if end == -1:
            raise EnvFileError(f"{where}: the value's closing {quote} is missing")
        rest = value[end + 1:].strip()
        if rest and not rest.startswith("#"):
            raise EnvFileError(f"{where}: unexpected text after the quoted value")
        return value[1:end]
    comment = re.search(r"\s#", value)
    return value[: comment.start()].rstrip() if comment else value


def load_env_file(path=None, environ=None):
    """Put the file's variables into the environment where it has none of that name; returns the
    names it set. A missing file sets nothing (the embedded default, or variables exported)."""
    environ = os.environ if environ is None else environ
    path = env_file_path(environ) if path is None else Path(path)
    if path is None or not path.is_file():
        return []
    values = parse_env_text(path.read_text(encoding="utf-8"), source=str(path.name))
    added = [name for name in values if name not in environ]
    for name in added:
        environ[name] = values[name]
    return added


def load_or_exit():
    """load_env_file for an entry point: a malformed file stops the program with its message."""
    try:
        return load_env_file()
    except (EnvFileError, UnicodeDecodeError) as error:
        sys.exit(f"uxlab: cannot read the settings file: {error}")


def main(argv=None):
    """`python -m uxlab.envfile NAME [DEFAULT]`: print the value NAME has for uxlab (environment,
    then the file, then DEFAULT). The Makefile uses it, so `make demo` reads .env as manage.py does."""
    argv = sys.argv[1:] if argv is None else argv
    if not 1 <= len(argv) <= 2:
        sys.exit("usage: python -m uxlab.envfile NAME [DEFAULT]")
    environ = dict(os.environ)
    try:
        load_env_file(environ=environ)
    except EnvFileError as error:
        sys.exit(f"uxlab: cannot read the settings file: {error}")
    print(environ.get(argv[0], argv[1] if len(argv) == 2 else ""))


if __name__ == "__main__":
    main()
