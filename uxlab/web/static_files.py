"""Static files served by the ASGI app itself (the embedded default and `manage.py serve`)."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousOperation
from django.http import Http404


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Django's handler, except that a path that escapes the static directories
    (``/static/..%2f..%2fsettings.py``) or holds a NUL is a 404 instead of a 500."""

    def serve(self, request):
        try:
            return super().serve(request)
        except (SuspiciousOperation, ValueError):
            raise Http404("No such file.") from None
