"""Screenshots of every study-builder page at 1280×800 and 390×844 (docs/builder.md).

    .venv/bin/python manage.py screenshots --out docs/screenshots

Creates a throwaway team, researcher and studies in the configured database, serves the app on a
free local port in this process, photographs each page with Debian's chromium through Playwright
(the test extras), and deletes everything it created, whatever happens.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

VIEWPORTS = {"desktop": (1280, 800), "mobile": (390, 844)}


def _pages(code, blank):
    """(file name, path, what to do on the page before the shot)."""
    build = f"/studies/{code}/build"
    return [
        ("01-create", "/studies/new/", None),
        ("02-overview", f"{build}/", None),
        ("03-overview-with-problems", f"/studies/{blank}/build/", None),
        ("04-study-details", f"{build}/study/", None),
        ("05-arms", f"{build}/arms/", None),
        ("06-arm-preset-picker", f"{build}/arms/new/?from=preset", None),
        ("07-arm-edit", f"{build}/arms/0/", None),
        ("08-arm-inline-error", f"{build}/arms/0/", _invalid_speed),
        ("09-prompts", f"{build}/prompts/", None),
        ("10-prompt-edit", f"{build}/prompts/0/", None),
        ("11-questions", f"{build}/questions/", None),
        ("12-question-edit", f"{build}/questions/0/", None),
        ("13-practice", f"{build}/practice/", None),
        ("14-attention-checks", f"{build}/attention_checks/", None),
        ("15-design", f"{build}/design/", None),
        ("16-session", f"{build}/session/", None),
        ("17-completion", f"{build}/completion/", None),
        ("18-study-page", f"/studies/{code}/", None),
        ("19-pilot", f"/studies/{code}/pilot/", None),
        ("20-delete-pilot-data", f"/studies/{code}/pilot/delete/", None),
        ("21-adaptive-design", f"{build}/adaptive/", _adaptive_ticked),
        ("22-create-from-an-example", "/studies/new/", _choose_an_example),
        ("23-arm-refilled-from-a-preset", f"{build}/arms/0/?preset=loaded_gpu_cloud_70b", None),
    ]


def _adaptive_ticked(page):
    """Tick "This study is adaptive", so the shot shows the adaptive design's settings."""
    page.get_by_label("This study is adaptive").check()


def _choose_an_example(page):
    page.get_by_label("An example study").check()
    page.locator("#examples summary").click()
    page.locator("#examples").scroll_into_view_if_needed()


def _invalid_speed(page):
    """Post an invalid value, so the shot shows the schema's problem beside its field."""
    page.get_by_label("Tokens per second", exact=True).fill("0")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    page.locator("[data-field=tokens_per_second]").scroll_into_view_if_needed()


class Command(BaseCommand):
    help = "Screenshots of every study-builder page at 1280x800 and 390x844 (docs/builder.md)."

    def add_arguments(self, parser):
        parser.add_argument("--out", default="docs/screenshots", help="directory for the PNGs (created)")
        parser.add_argument("--chromium", default=os.environ.get("UXLAB_CHROMIUM", "/usr/bin/chromium"),
                            help="the chromium executable (default: $UXLAB_CHROMIUM or /usr/bin/chromium)")
        parser.add_argument("--only", nargs="*", default=None, metavar="NAME",
                            help="only the pages whose file names start with these (e.g. 08-arm-inline-error)")

    def handle(self, *args, out, chromium, only=None, **options):
        try:
            import playwright.sync_api  # noqa: F401 (only whether it is installed)
        except ImportError:
            raise CommandError("Playwright is needed: .venv/bin/python -m pip install -e '.[test]'") from None
        if not Path(chromium).exists():
            raise CommandError(f"no chromium at {chromium} (apt-get install chromium, or pass --chromium)")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync.
        # Only for this command: a process that goes on (a test session) must not keep the setting.
        unsafe_before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        try:
            self.take(out, chromium, only)
        finally:
            if unsafe_before is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = unsafe_before

    def take(self, out, chromium, only):
        from playwright.sync_api import sync_playwright

        call_command("collectstatic", "--noinput", verbosity=0)
        made = _Fixtures()
        server = None
        try:
            made.create()
            server = _serve()
            url = f"http://127.0.0.1:{server.port}"
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                try:
                    for label, (width, height) in VIEWPORTS.items():
                        context = browser.new_context(viewport={"width": width, "height": height})
                        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": made.session, "url": url}])
                        page = context.new_page()
                        for name, path, action in _pages(made.code, made.blank):
                            if only and not name.startswith(tuple(only)):
                                continue
                            response = page.goto(url + path)
                            if response is None or response.status >= 500:
                                raise CommandError(f"{path} answered {response and response.status}")
                            if action:
                                action(page)
                            target = out / f"{name}-{label}.png"
                            page.screenshot(path=str(target))
                            self.stdout.write(f"{target}")
                        context.close()
                finally:
                    browser.close()
        finally:
            if server is not None:
                server.terminate()
            made.delete()


def _serve():
    from django.test.testcases import LiveServerThread

    server = LiveServerThread("127.0.0.1", lambda handler: handler, connections_override={}, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    return server


class _Fixtures:
    """The throwaway team, researcher and studies the screenshots show; deleted afterwards."""

    def create(self):
        from django.contrib.auth import get_user_model
        from django.test import Client

        from uxlab.studies import drafts
        from uxlab.studies.actions import builder, lifecycle
        from uxlab.studies.models import Membership, Team

        suffix = secrets.token_hex(3)
        self.team = Team.objects.create(name="Perception lab", slug=f"screenshots-{suffix}")
        self.user = get_user_model().objects.create_user(f"screenshots-{suffix}", password=secrets.token_urlsafe(16))
        Membership.objects.create(team=self.team, user=self.user, role=Membership.Role.OWNER)
        study = builder.create_study(self.team, self.user, drafts.preset_comparison_document(
            "Does 1,800 tokens/s feel faster than 59?", f"screens-{suffix}", "wafer_scale_8b", "gpu_cloud_70b_one_user"))
        blank = builder.create_study(self.team, self.user, drafts.blank_document("A study started blank", f"blank-{suffix}"))
        lifecycle.enroll_uncounted(study, lifecycle.PILOT)
        self.code, self.blank = study.code, blank.code
        client = Client()
        client.force_login(self.user)
        self.session = client.cookies[settings.SESSION_COOKIE_NAME].value

    def delete(self):
        from uxlab.studies.models import Study

        if getattr(self, "team", None) is None:
            return
        for study in Study.objects.filter(team=self.team):
            study.participants.all().delete()
            study.delete()
        self.team.delete()
        self.user.delete()
