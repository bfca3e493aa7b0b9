"""Create a researcher: an ordinary user (not staff, not superuser) with a role in a team."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from uxlab.studies.models import Membership, Team


class Command(BaseCommand):
    help = "Create a researcher with a team role (owner, editor or viewer); prints a random password unless one is given."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--team", required=True, help="the team's slug (created if it does not exist)")
        parser.add_argument("--role", choices=Membership.Role.values, default=Membership.Role.EDITOR)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-env", default="", help="read the password from this environment variable instead"
        )

    @transaction.atomic
    def handle(self, username, team, role, email, password_env, **options):
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            raise CommandError(f"user {username!r} already exists")
        password = os.environ.get(password_env, "") if password_env else secrets.token_urlsafe(15)
        if not password:
            raise CommandError(f"environment variable {password_env} is empty")
        user = user_model(username=username, email=email)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        user.set_password(password)
        user.save()
        team_obj, _ = Team.objects.get_or_create(slug=slugify(team), defaults={"name": team})
        Membership.objects.create(team=team_obj, user=user, role=role)
        self.stdout.write(f"Created researcher {username!r} ({role} in {team_obj.slug}).")
        if not password_env:
            self.stdout.write(f"Password (shown once): {password}")
