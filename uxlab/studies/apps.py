from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class StudiesConfig(AppConfig):
    name = "uxlab.studies"
    verbose_name = "Studies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings

        from uxlab.streaming.backends import egress

        egress.configure(egress.EgressPolicy.from_lists(settings.UXLAB_LIVE_ALLOWED_HOSTS, settings.UXLAB_LIVE_KEY_NAMES))


class OperatorAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the operators-only site (admin_site.py) as its default site."""

    default = False  # named in INSTALLED_APPS; StudiesConfig stays this module's default
    default_site = "uxlab.studies.admin_site.OperatorAdminSite"
