"""Request checks that run before any view: a NUL character is refused with a 400.

No path, query or form value of uxlab may hold one, and Postgres refuses them in text: without
this check a NUL in a panel id or a token reached the database and became a 500.
"""

from django.http import HttpResponseBadRequest
from django.http.request import RawPostDataException

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def has_nul(request):
    if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", "") or "\x00" in request.path_info:
        return True
    if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
        return True
    if request.method == "POST" and request.content_type in FORM_TYPES:
        try:
            form = request.POST
        except (RawPostDataException, ValueError):
            return False  # Django answers malformed forms itself
        return any("\x00" in key or any("\x00" in str(value) for value in values) for key, values in form.lists())
    return False


class RejectNulCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if has_nul(request):
            return HttpResponseBadRequest(
                "Bad request: the address or form contains a NUL character.", content_type="text/plain"
            )
        return self.get_response(request)
