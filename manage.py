#!/usr/bin/env python
"""Django's command-line utility for uxlab."""

import os
import sys


def main():
    # Settings from .env (exported variables win), exactly as the Celery and ASGI entry points read them.
    from uxlab.envfile import load_or_exit

    load_or_exit()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uxlab.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # read the settings once: a missing or bad setting is one line, not a traceback
    except ImproperlyConfigured as error:
        sys.exit(f"uxlab: {error} (docs/deployment.md lists the settings; .env.example is a starting point)")

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
