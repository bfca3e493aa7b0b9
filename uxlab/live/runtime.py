"""Process settings for a web process that paces streams, measured with bench_pacing.

- Garbage collection: a full collection walks every tracked object (~200 per open socket) and, at
  a thousand participants, stopped the event loop for ~115 ms about once a second — the whole of
  the p99 lateness bench_pacing first found. What is loaded at start lives as long as the process,
  so it leaves the collector's generations (gc.freeze), and a full collection waits for 1,000
  younger ones instead of 10; cyclic garbage is still collected, in rarer sweeps.
- The GIL: the ORM thread's Python work holds it in 5 ms turns by default; handing it back every
  millisecond keeps a burst of trial starts from holding up frames that are due.
"""

import gc
import sys


def tune_for_pacing():
    gc.freeze()
    gc.set_threshold(7000, 50, 1000)
    sys.setswitchinterval(0.001)
