"""The load process of bench_pacing: N websocket participants started together.

Each connects, waits for a common start time, asks for its trial and records, for every
stream.delta, how late it arrived: receive time minus when the server meant to send it, t0 + due_ms
(minus the lookahead in controlled delivery), both on this machine's wall clock; and when its stream
started and ended, so the report says how many participants were streaming at once (capacity means
concurrency: a participant whose stream has not started yet is not being paced).
Prints one JSON object on stdout. Run: python -m uxlab.benchmarks.pacing_load SPEC.json
"""

import asyncio
import gc
import json
import os
import resource
import sys
import time

import orjson
from websockets.asyncio.client import connect


async def open_socket(url, origin):
    try:
        return await connect(url, compression=None, max_queue=None, open_timeout=120, origin=origin)
    except Exception as error:
        return error


async def participant(websocket, first_message, stop_at, lateness, counts, streams, starts_ms):
    began = ended = None
    try:
        sent = time.time()
        await websocket.send(first_message)
        t0 = None
        async with asyncio.timeout_at(asyncio.get_running_loop().time() + (stop_at - time.time())):
            async for raw in websocket:
                received = time.time() * 1000
                message = orjson.loads(raw)
                kind = message["type"]
                if kind == "stream.delta" and t0 is not None:
                    lateness.append((received, received - (t0 + message["due_ms"])))
                    counts["messages"] += 1
                elif kind == "stream.start":
                    # Sent ahead by the lookahead in controlled delivery: lateness counts from then.
                    t0 = message["t0_ms"] - message.get("lookahead_ms", 0)
                    began = received / 1000
                    starts_ms.append(received - sent * 1000)
                elif kind == "stream.end":
                    ended = received / 1000
                    return
    except TimeoutError:
        return
    except Exception as error:  # count failures; the report says how many
        counts["errors"] += 1
        counts.setdefault("error_samples", []).append(repr(error)[:200])
    finally:
        if began is not None:
            streams.append((began, ended or time.time()))
        await websocket.close()


def concurrency(streams, start, end, step=0.1):
    """How many participants were streaming at each step of [start, end)."""
    counts, at = [], start
    while at < end:
        counts.append(sum(1 for began, ended in streams if began <= at < ended))
        at += step
    return counts


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values):
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values) if values else None}


async def main(spec):
    lateness, counts = [], {"messages": 0, "errors": 0}
    sockets = []
    # Connect everybody first (a few at a time, as real arrivals would), then start all at once:
    # synchronised starts are the worst case for the server.
    for batch_start in range(0, len(spec["urls"]), 100):
        batch = spec["urls"][batch_start : batch_start + 100]
        sockets += await asyncio.gather(*(open_socket(url, spec["origin"]) for url in batch))
    failed = [error for error in sockets if isinstance(error, Exception)]
    # The measuring process must not pause itself: keep its garbage collector out of the run.
    gc.collect()
    gc.freeze()
    gc.disable()
    start_at = time.time() + 1.0
    stop_at = start_at + spec["seconds"]
    await asyncio.sleep(start_at - time.time())
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    streams, starts_ms = [], []
    await asyncio.gather(
        *(
            participant(websocket, first, stop_at, lateness, counts, streams, starts_ms)
            for websocket, first in zip(sockets, spec["first_messages"])
            if not isinstance(websocket, Exception)
        )
    )
    # The measured window is the run: every participant should be streaming all through it.
    at_once = concurrency(streams, start_at, stop_at)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return {
        "connected": len(sockets) - len(failed),
        "connect_errors": len(failed),
        "messages": counts["messages"],
        "messages_per_second": counts["messages"] / spec["seconds"],
        "errors": counts["errors"] + len(failed),
        "error_samples": (counts.get("error_samples", []) + [repr(error)[:200] for error in failed])[:3],
        "receive_lateness_ms": summary([late for _, late in lateness]),
        # The same after the synchronised start has settled (messages received 3 s or more after it).
        "receive_lateness_after_start_ms": summary([late for at, late in lateness if at >= (start_at + 3) * 1000]),
        "trial_start_ms": summary(starts_ms),
        "concurrent_streams_min": min(at_once) if at_once else 0,
        "concurrent_streams_median": percentile(at_once, 50) if at_once else 0,
        "all_streaming_fraction": sum(count == len(spec["urls"]) for count in at_once) / len(at_once) if at_once else 0.0,
        "run_started_at": start_at,
        "load_cpu_seconds": cpu,
    }


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(sys.argv[1]) as spec_file:
        spec = json.load(spec_file)
    sys.stdout.write(json.dumps(asyncio.run(main(spec))) + "\n")
    sys.stdout.flush()
    os._exit(0)
