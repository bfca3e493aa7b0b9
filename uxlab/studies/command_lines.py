"""The shell commands uxlab prints for a researcher to copy (demo_setup, the empty results page),
written as they run from the project's folder."""

import sys
from pathlib import Path

from django.conf import settings


def python_command():
    """How to run this project's Python from its folder (the virtualenv's, when that is in use)."""
    try:
        return str(Path(sys.executable).relative_to(settings.BASE_DIR))
    except ValueError:
        return "python"


def simulate_command(code, participants=20):
    """The command that adds simulated participants to a study, as it runs from the project's folder:
    with DEBUG=true in front when this process runs with it (the demo's DEBUG comes from `make demo`,
    not from the shell or .env, and without it the command stops asking for a SECRET_KEY)."""
    debug = "DEBUG=true " if settings.DEBUG else ""
    return f"{debug}{python_command()} manage.py simulate_participants {code} --participants {participants}"
