from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "uxlab.studies"
    verbose_name = "Studies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings

        from uxlab.streaming.backends import egress

        egress.configure(egress.EgressPolicy.from_lists(settings.UXLAB_LIVE_ALLOWED_HOSTS, settings.UXLAB_LIVE_KEY_NAMES))
