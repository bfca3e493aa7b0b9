"""manage.py export_study CODE: write a study as a YAML study file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from uxlab.studies.models import Study
from uxlab.studies.study_files import export_study


class Command(BaseCommand):
    help = "Export a study as a YAML study file (see docs/study-format.md), to stdout or --output."

    def add_arguments(self, parser):
        parser.add_argument("code", help="the study's code")
        parser.add_argument("--output", "-o", help="write to this file instead of stdout")

    def handle(self, *args, code, output, **options):
        try:
            study = Study.objects.get(code=code)
        except Study.DoesNotExist:
            raise CommandError(f"no study with code '{code}'") from None
        text = export_study(study)
        if output:
            try:
                Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"{output}: cannot write the file: {exc.strerror or exc}") from None
            self.stderr.write(f"wrote study '{code}' to {output}")
        else:
            self.stdout.write(text, ending="")
