from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class StudiesConfig(AppConfig):
    name = "uxlab.studies"
    verbose_name = "Studies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        from uxlab.streaming import tokenizer_files
        from uxlab.streaming.backends import egress

        try:
            egress.configure(egress.policy_from_settings(settings))
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from None
        tokenizer_files.configure(tokenizer_files.TokenizerFiles(settings.UXLAB_TOKENIZER_DIR, settings.UXLAB_TOKENIZER_MAX_BYTES))


class OperatorAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the operators-only site (admin_site.py) as its default site."""

    default = False  # named in INSTALLED_APPS; StudiesConfig stays this module's default
    default_site = "uxlab.studies.admin_site.OperatorAdminSite"
