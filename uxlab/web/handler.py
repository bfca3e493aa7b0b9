"""Django's ASGI handler with each request's synchronous work done in one trip to a thread.

Django's own ASGIHandler runs a request's middleware, view and end-of-request signals in several
hops between the event loop and a thread made for that request (its ThreadSensitiveContext): a
sync middleware chain over an async core costs a hop in and out for the chain, another for the
view, and more for the request_started and request_finished signals, and each new thread gets new
database-connection objects. Measured on the welcome page, that was more than half the CPU of a
request (4.4 ms against 2.0 ms; docs/benchmarks.md).

Here the middleware chain is loaded synchronously (every middleware uxlab uses is sync-capable)
and request_started, the chain and request_finished run in one call, in a bounded pool of threads
that live as long as the process (UXLAB_HTTP_THREADS), so each thread keeps its connection objects
and the pool bounds how many requests use the database at once. The same middleware run in the
same order; only the thread they run in changes. A streamed response (a download) is sent and
closed the way Django's handler does it, in a thread of its own for that request, since its
content is produced while it is sent.
"""

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections
from django.http import FileResponse
from django.urls import set_script_prefix


class OneTripASGIHandler(ASGIHandler):
    def __init__(self):
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(max_workers=settings.UXLAB_HTTP_THREADS, thread_name_prefix="http")
        self.respond_in_thread = sync_to_async(self.respond, thread_sensitive=False, executor=self.executor)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            response = await self.respond_in_thread(scope, body_file)
            if response.streaming:
                # Produced while it is sent: in a thread of this request's own, closed there.
                async with ThreadSensitiveContext():
                    await self.send_response(response, send)
                    await sync_to_async(response.close, thread_sensitive=True)()
            else:
                await self.send_response(response, send)
        finally:
            body_file.close()

    def respond(self, scope, body_file):
        """The request's whole synchronous part: request_started, the middleware and view, and
        (for a response that is complete) its close, which sends request_finished and so gives
        the thread's database connection back."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if response.streaming:
            # Its content is produced in another thread: what this one holds goes back now.
            close_old_connections()
        else:
            response.close()
        return response
