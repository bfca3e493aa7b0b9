"""Content-Security-Policy on every response (Django 5.2 has none built in).

The policy is one setting, ``UXLAB_CSP``; a view that already set the header keeps its own.
"""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.UXLAB_CSP:
            response.headers.setdefault("Content-Security-Policy", settings.UXLAB_CSP)
        return response
