"""Process settings for a web process that paces streams, measured with bench_pacing.

- Garbage collection: a full collection walks every tracked object (~200 per open socket) and, at
  a thousand participants, stopped the event loop for ~115 ms about once a second — the whole of
  the p99 lateness bench_pacing first found. What is loaded at start lives as long as the process,
  so it leaves the collector's generations (gc.freeze), and a full collection waits for 1,000
  younger ones instead of 10; cyclic garbage is still collected, in rarer sweeps.
- The GIL: the ORM threads' Python work holds it in 5 ms turns by default; handing it back every
  millisecond keeps a burst of trial starts from holding up frames that are due.
- Database calls from sockets run in a few threads of their own (`in_db_thread`), as many as
  UXLAB_SOCKET_DB_THREADS (half the connection pool by default, the rest left to HTTP requests), so
  a burst of trial starts is not served one by one by the single thread Channels would use.
"""

import gc
import sys
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings

_socket_db_executor = None


def tune_for_pacing():
    gc.freeze()
    gc.set_threshold(7000, 50, 1000)
    sys.setswitchinterval(0.001)


def socket_db_executor():
    """The bounded pool of threads sockets' database calls run in (created on first use)."""
    global _socket_db_executor
    if _socket_db_executor is None:
        _socket_db_executor = ThreadPoolExecutor(
            max_workers=settings.UXLAB_SOCKET_DB_THREADS, thread_name_prefix="socket-db"
        )
    return _socket_db_executor


def in_db_thread(function):
    """Run an ORM call from a socket in one of the socket database threads. Each call borrows a
    pooled connection and gives it back when done (database_sync_to_async closes it), so the
    threads never hold more connections than there are threads."""
    return database_sync_to_async(function, thread_sensitive=False, executor=socket_db_executor())
