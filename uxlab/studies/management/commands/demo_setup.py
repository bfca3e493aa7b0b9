"""Prepare the demo: the demo study (open), a demo team and a researcher who owns it.

The researcher is an ordinary user with the owner role, never staff or superuser. With DEBUG off
the password is random (printed once) rather than the well-known demo password.
"""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from uxlab.studies.command_lines import simulate_command
from uxlab.studies.models import Membership, Study, Team
from uxlab.studies.study_files import import_study, parse_study_yaml

DEMO_FILE = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"
DEMO_USERNAME = "researcher"
DEMO_PASSWORD = "uxlab-demo"


class Command(BaseCommand):
    help = "Load the demo study, create the demo researcher, and print the links to use."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default=settings.SITE_URL)

    @transaction.atomic
    def handle(self, base_url, **options):
        team, _ = Team.objects.get_or_create(slug="demo-lab", defaults={"name": "Demo lab"})
        user, created = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
        password = DEMO_PASSWORD if settings.DEBUG else secrets.token_urlsafe(15)
        if created:
            user.set_password(password)
            user.save()
            login = f"password {password!r}"
        else:
            # Made by an earlier run (`make demo` runs this every time): its password stands.
            if settings.DEBUG and user.check_password(DEMO_PASSWORD):
                login = f"password {DEMO_PASSWORD!r}"
            else:
                login = "the password printed when this command first made it"
            if user.is_staff or user.is_superuser:  # made by an older demo_setup
                user.is_staff = user.is_superuser = False
                user.save(update_fields=["is_staff", "is_superuser"])
        Membership.objects.get_or_create(team=team, user=user, defaults={"role": Membership.Role.OWNER})
        definition = parse_study_yaml(DEMO_FILE.read_text())
        study = Study.objects.filter(code=definition.code).first()
        if study is None or not study.participants.exists():
            study = import_study(definition, team=team, status=Study.Status.LIVE, replace=study is not None)
        base_url = base_url.rstrip("/")
        self.stdout.write(
            "\n"
            f"  Participant link:  {base_url}/s/{study.code}/\n"
            f"  Researcher login:  {base_url}/accounts/login/  "
            f"(user {DEMO_USERNAME!r}, {login})\n"
            f"  Results with data: {simulate_command(study.code)}\n"
        )
