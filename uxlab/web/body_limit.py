"""A cap on every HTTP request body, checked before Django reads it.

Django limits form fields (DATA_UPLOAD_MAX_MEMORY_SIZE) but reads any other body whole, spooling it
to disk, before a view or middleware runs: a script could post gigabytes of `text/plain` to any
participant page. This ASGI wrapper answers 413 to a body whose Content-Length passes
UXLAB_MAX_REQUEST_BYTES, and stops reading a chunked one once it has, as a disconnect.
"""

from django.conf import settings

TOO_LARGE = b"Request body too large."


class LimitRequestBody:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        limit = settings.UXLAB_MAX_REQUEST_BYTES
        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            too_large = declared is not None and int(declared) > limit
        except ValueError:
            too_large = True  # uvicorn refuses these itself; never trust one here
        if too_large:
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(TOO_LARGE)).encode())]})
            await send({"type": "http.response.body", "body": TOO_LARGE})
            return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        return await self.application(scope, counted, send)
