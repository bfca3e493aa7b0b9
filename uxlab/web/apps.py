from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "uxlab.web"
    verbose_name = "Web"
