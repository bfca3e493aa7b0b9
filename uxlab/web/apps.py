from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "uxlab.web"
    verbose_name = "Web"

    def ready(self):
        from uxlab.web import checks  # noqa: F401  (registers the deployment checks)
