#!/usr/bin/env python
"""Django's command-line utility for uxlab."""

import os
import sys


def main():
    # Settings from .env (exported variables win), exactly as the Celery and ASGI entry points read them.
    from uxlab.envfile import load_or_exit

    load_or_exit()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uxlab.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
