"""manage.py import_study FILE: create a study (or redefine a draft one) from a study YAML file.

With --user, the import is that researcher's: into a team where they are an owner or editor, or a
new team that they own; a team they are not in (or only view) is refused. Without it (an operator
on the server) the team must exist, so no study lands in a team nobody can see.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug
from django.db import transaction

from uxlab.studies.actions.teams import TeamActionRefused, team_for_import
from uxlab.studies.models import Study, Team
from uxlab.studies.study_files import StudyFileError, import_study, parse_study_yaml


class Command(BaseCommand):
    help = "Import a study YAML file (see docs/study-format.md) and print the study's code."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the study YAML file")
        parser.add_argument(
            "--team", default="default",
            help="slug of the owning team (default: default); created, owned by --user, if missing",
        )
        parser.add_argument(
            "--user", help="username of the researcher importing: must own or edit --team, or becomes its owner"
        )
        parser.add_argument("--status", choices=Study.Status.values, default=Study.Status.DRAFT)
        parser.add_argument(
            "--replace",
            action="store_true",
            help="redefine the existing study with the file's code, if it has no participants yet",
        )

    def handle(self, *args, file, team, user, status, replace, **options):
        try:
            validate_slug(team)
        except ValidationError:
            raise CommandError(f"--team must be a slug (letters, digits, '-' and '_'), not {team!r}") from None
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{file}: cannot read the file: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{file}: is not UTF-8 text") from None

        try:
            definition = parse_study_yaml(text)
            # The team is created in the same transaction, so a failed import leaves nothing behind.
            with transaction.atomic():
                owner = self.team(team, user)
                study = import_study(definition, team=owner, status=status, replace=replace)
        except StudyFileError as exc:
            for error in exc.errors:
                self.stderr.write(f"{file}: {error}")
            count = len(exc.errors)
            raise CommandError(f"{file}: {count} error{'s' if count != 1 else ''}; nothing was imported") from None
        self.stdout.write(study.code)

    def team(self, slug, username):
        if username is None:
            team = Team.objects.filter(slug=slug).first()
            if team is None:
                raise CommandError(
                    f"team {slug!r} does not exist: give --user USERNAME to create it with that researcher "
                    "as its owner (a team nobody is in would hide the study); nothing was imported"
                )
            return team
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"--user: no researcher called {username!r}; nothing was imported")
        try:
            return team_for_import(user, slug)
        except TeamActionRefused as refused:
            raise CommandError(refused.message) from None
