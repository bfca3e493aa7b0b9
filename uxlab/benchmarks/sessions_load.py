"""The load process of bench_sessions: N simulated participants, each running whole sessions the
way the participant pages do, through the proxy.

A session: the study link (welcome page, POST), the checks (POST JSON), consent (POST agree), the
instructions (POST), then per trial the trial page and a websocket: `trial.start`, both panes to
`stream.end`, a moment's thought, the answers (`rating.submit`, kept in an outbox until
`rating.stored` and resent after a reconnect or 15 s unconfirmed, as the page's outbox does) and
the telemetry (`telemetry.submit`), then on to the next step once the answers are stored (a trial
whose page says `data-telemetry-follows` leaves its telemetry in the outbox, sent again when the
next trial's socket opens; the last trial waits for all of it), until the done page shows the
completion code. A socket that closes mid-trial is reopened and the trial resumed after the last
`seq` seen (`after_seq`), as the page does.

Writes one JSON object to OUTPUT (a file, not a pipe: a result of a few hundred kilobytes once
arrived cut short through the pipe). Run: python -m uxlab.benchmarks.sessions_load SPEC.json OUTPUT.json
"""

import asyncio
import gc
import json
import os
import random
import re
import resource
import secrets
import sys
import time
import uuid

import orjson
from websockets.asyncio.client import connect

from uxlab.benchmarks.http_client import HttpClient
from uxlab.benchmarks.sockets import recv_within

OUTBOX_RESEND_S = 15.0
TRIAL_TIMEOUT_S = 120.0
TOKEN_URL = re.compile(r"/p/([^/]+)/")
PLAYER = re.compile(r'id="player"[^>]*data-trial="(\d+)"')
TELEMETRY_FOLLOWS = re.compile(r'data-telemetry-follows="true"')
QUESTION = re.compile(r'data-question="([^"]+)" data-kind="([^"]+)"')
COMPLETION_CODE = re.compile(r'id="completion-code">([^<]+)<')


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


def must_be_stored_first(kind, of_trial, trial, telemetry_follows):
    """Whether the page of `trial` waits for an outbox message (its type and trial) to be stored
    before it moves on (uxlab/static/uxlab/outbox.js: mustBeStoredFirst): the trial's answers, and
    every trial's telemetry unless the page says `data-telemetry-follows`."""
    if kind == "telemetry.submit":
        return not telemetry_follows
    return of_trial == trial


def answer_value(kind, rng):
    if kind in ("forced_choice", "preference"):
        return rng.choice(["A", "B"])
    if kind == "forced_choice_tie":
        return rng.choice(["A", "B", "tie"])
    if kind == "likert":
        return str(rng.randint(1, 5))
    return "3"


class Results:
    def __init__(self):
        self.trial_start_ms = []
        self.submit_to_stored_ms = []
        self.lateness = []  # receive - (t0 + due - lookahead): how late after the server meant to send it
        self.after_due = 0  # messages that arrived after their due time
        self.deltas = 0
        self.streams = []  # (stream.start received, stream.end received) wall-clock seconds
        self.submitted, self.confirmed = set(), set()
        self.sessions_completed = 0
        self.participants_completed = 0
        self.resumes = []  # (reconnected at, resumed without a gap)
        self.trials = 0
        self.errors = []
        self.http_requests = 0

    def error(self, where, error):
        if len(self.errors) < 2000:
            self.errors.append(f"{where}: {error!r}"[:300])


class Participant:
    def __init__(self, spec, client, results, number):
        self.spec, self.client, self.results = spec, client, results
        self.rng = random.Random(number)
        csrf = secrets.token_hex(16)
        self.headers = {"Cookie": f"csrftoken={csrf}", "X-CSRFToken": csrf}
        self.csrf = csrf
        self.outbox = {}  # key -> (frame, first sent at, last sent at, type, trial)
        self.websocket = None

    async def get(self, path):
        self.results.http_requests += 1
        response = await self.client.get(path, headers=self.headers)
        response.raise_for_status()
        return response

    async def post(self, path, headers=None, **kwargs):
        self.results.http_requests += 1
        response = await self.client.post(path, headers=headers or self.headers, **kwargs)
        response.raise_for_status()
        return response

    async def session(self):
        code = self.spec["code"]
        await self.get(f"/s/{code}/")
        response = await self.post(f"/s/{code}/", data={"csrfmiddlewaretoken": self.csrf})
        self.token = TOKEN_URL.search(str(response.url)).group(1)
        checks = {
            "viewport_width": 1400, "viewport_height": 900, "device_pixel_ratio": 1, "refresh_hz": 60,
            "frame_ms_median": 16.7, "ws_rtt_ms_median": 1, "ws_rtt_ms_min": 1, "clock_offset_ms": 0,
            "clock_offset_spread_ms": 1, "pings": 8,
        }  # fmt: skip
        await self.post(f"/p/{self.token}/checks/", content=orjson.dumps(checks), headers=self.headers | {"Content-Type": "application/json"})
        await self.get(f"/p/{self.token}/consent/")
        await self.post(f"/p/{self.token}/consent/", data={"csrfmiddlewaretoken": self.csrf, "decision": "agree"})
        response = await self.post(f"/p/{self.token}/instructions/", data={"csrfmiddlewaretoken": self.csrf})
        while True:
            page = response.text
            if str(response.url).endswith("/done/"):
                if COMPLETION_CODE.search(page) is None:
                    raise RuntimeError("the done page shows no completion code")
                return
            trial = int(PLAYER.search(page).group(1))
            questions = QUESTION.findall(page)
            await self.run_trial(trial, questions, TELEMETRY_FOLLOWS.search(page) is not None)
            response = await self.get(f"/p/{self.token}/trial/")  # the page's data-continue-url

    # --- one trial page ----------------------------------------------------------------------

    async def open_socket(self):
        base = self.spec["base_url"]
        self.websocket = await connect(
            f"{base.replace('http', 'ws', 1)}/ws/p/{self.token}/", origin=base, compression=None,
            max_queue=None, open_timeout=60, ping_interval=None,
        )  # fmt: skip
        hello = orjson.loads(await self.websocket.recv())
        assert hello["type"] == "hello", hello

    async def run_trial(self, trial, questions, telemetry_follows):
        results = self.results
        await self.open_socket()
        for frame, *_rest in list(self.outbox.values()):  # an earlier trial's telemetry, as the page sends it
            await self.websocket.send(frame)
        frames, last_seq, reconnects = [], 0, 0
        t0 = lookahead = None
        sent_at = time.time()
        await self.websocket.send(orjson.dumps({"type": "trial.start", "trial": trial}).decode())
        started_stream = None
        deadline = time.monotonic() + TRIAL_TIMEOUT_S
        while True:
            try:
                raw = await recv_within(self.websocket, max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                raise RuntimeError(f"trial {trial} did not end in {TRIAL_TIMEOUT_S} s") from None
            except Exception as error:  # the socket closed mid-trial: reopen and resume, as the page does
                if last_seq == 0 and t0 is None:
                    raise
                reconnects += 1
                reconnected_at = time.time()
                await asyncio.sleep(0.1 + self.rng.random() * 0.2)
                await self.reopen()
                await self.websocket.send(
                    orjson.dumps({"type": "trial.start", "trial": trial, "after_seq": last_seq}).decode()
                )
                results.resumes.append([reconnected_at, None, repr(error)[:80]])
                continue
            now = time.time()
            message = orjson.loads(raw)
            kind = message["type"]
            if kind == "stream.start":
                if t0 is None:
                    results.trial_start_ms.append((now - sent_at) * 1000)
                    started_stream = now
                t0, lookahead = message["t0_ms"], message["lookahead_ms"]
                if message["after_seq"] != last_seq:
                    results.error("resume", f"asked after {last_seq}, got {message['after_seq']}")
            elif kind in ("stream.delta", "stream.done", "stream.end"):
                seq = message["seq"]
                if seq != last_seq + 1:
                    results.error("stream", f"seq {seq} after {last_seq}")
                    if results.resumes and results.resumes[-1][1] is None:
                        results.resumes[-1][1] = False
                last_seq = max(last_seq, seq)
                if kind == "stream.delta":
                    received_ms = now * 1000
                    due = t0 + message["due_ms"]
                    results.lateness.append(received_ms - (due - lookahead))
                    results.after_due += received_ms > due
                    results.deltas += 1
                    frames.append([seq, received_ms - t0, max(received_ms, due) - t0])
                if kind == "stream.end":
                    break
            elif kind == "error":
                raise RuntimeError(f"trial {trial}: {message}")
            else:
                self.on_other(message)
        results.streams.append((started_stream, time.time()))
        results.trials += 1
        if results.resumes and results.resumes[-1][1] is None:
            results.resumes[-1][1] = True
        await asyncio.sleep(self.spec["think_s"] * (0.5 + self.rng.random()))
        answers = [
            {
                "type": "rating.submit", "key": str(uuid.uuid4()), "trial": trial, "question": name,
                "value": answer_value(kind, self.rng), "response_ms": 800 + self.rng.randint(0, 2000),
            }  # fmt: skip
            for name, kind in questions
        ]
        telemetry = {
            "type": "telemetry.submit", "key": str(uuid.uuid4()), "trial": trial, "frames": frames,
            "clock": {"offset_ms": 0, "rtt_ms": 1, "rounds": 6}, "frame_ms": 16.7, "reconnects": reconnects,
        }  # fmt: skip
        for item in [*answers, telemetry]:
            await self.send_outbox(item)
        await self.wait_outbox_empty(trial, telemetry_follows)
        await self.websocket.close()

    async def send_outbox(self, item):
        frame = orjson.dumps(item).decode()
        now = time.monotonic()
        self.outbox[item["key"]] = (frame, now, now, item["type"], item["trial"])
        if item["type"] == "rating.submit":
            self.results.submitted.add(item["key"])
        await self.websocket.send(frame)

    def on_other(self, message):
        kind = message["type"]
        if kind in ("rating.stored", "telemetry.stored"):
            entry = self.outbox.pop(message["key"], None)
            if entry is not None and kind == "rating.stored":
                self.results.submit_to_stored_ms.append((time.monotonic() - entry[1]) * 1000)
                self.results.confirmed.add(message["key"])
        elif kind == "rating.retry":
            entry = self.outbox.get(message["key"])
            if entry is not None:
                self.outbox[message["key"]] = (*entry[:2], 0.0, *entry[3:])  # resend at the next tick

    def must_be_stored_first(self, trial, telemetry_follows):
        """The outbox keys the page waits for before it moves on."""
        return [
            key for key, (_frame, _first, _last, kind, of_trial) in self.outbox.items()
            if must_be_stored_first(kind, of_trial, trial, telemetry_follows)
        ]  # fmt: skip

    async def wait_outbox_empty(self, trial, telemetry_follows=False):
        deadline = time.monotonic() + TRIAL_TIMEOUT_S
        while pending := self.must_be_stored_first(trial, telemetry_follows):
            if time.monotonic() > deadline:
                kinds = [self.outbox[key][3] for key in pending]
                raise RuntimeError(f"trial {trial}: never confirmed in {TRIAL_TIMEOUT_S:.0f} s: "
                                   f"{kinds.count('rating.submit')} answers, {kinds.count('telemetry.submit')} telemetry")
            try:
                raw = await recv_within(self.websocket, 1.0)
                message = orjson.loads(raw)
                if message["type"] == "error":
                    raise RuntimeError(f"trial {trial}: {message}")
                self.on_other(message)
            except TimeoutError:
                pass
            except RuntimeError:
                raise
            except Exception:  # closed: reopen and resend everything unconfirmed, as the page does
                await asyncio.sleep(0.2)
                await self.reopen()
                for key, entry in list(self.outbox.items()):
                    self.outbox[key] = (*entry[:2], 0.0, *entry[3:])
            now = time.monotonic()
            for key, (frame, first, last, *rest) in list(self.outbox.items()):
                if now - last >= OUTBOX_RESEND_S or last == 0.0:
                    self.outbox[key] = (frame, first, now, *rest)
                    try:
                        await self.websocket.send(frame)
                    except Exception:
                        pass

    async def reopen(self):
        for attempt in range(50):
            try:
                await self.open_socket()
                return
            except Exception:
                await asyncio.sleep(0.2 + 0.1 * attempt)
        raise RuntimeError("could not reconnect")


async def run_participant(spec, client, results, number, start_at, stop_at):
    await asyncio.sleep(max(0.0, start_at - time.time()))
    participant_ok = True
    first = True
    while first or time.time() < stop_at:
        first = False
        participant = Participant(spec, client, results, number)
        try:
            await participant.session()
            results.sessions_completed += 1
        except Exception as error:
            participant_ok = False
            results.error("session", error)
            if participant.websocket is not None:
                await participant.websocket.close()
            break
    results.participants_completed += participant_ok


def concurrency(streams, start, end, step=0.1):
    """How many streams were open at each step of [start, end]."""
    if end <= start:
        return []
    counts = []
    at = start
    while at <= end:
        counts.append(sum(1 for began, ended in streams if began is not None and began <= at < ended))
        at += step
    return counts


def take_priority(nice):
    """Run at this CPU priority (a negative nice needs root or CAP_SYS_NICE); returns the nice
    value the process has. Participants' browsers have machines of their own; here the load
    generator shares the server's cores, and a higher priority shows how much of a latency is its
    own wait for a core (bench_sessions --load-nice)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except (PermissionError, OSError):
        pass
    return os.getpriority(os.PRIO_PROCESS, 0)


async def main(spec):
    results = Results()
    client = HttpClient(spec["base_url"], max_connections=spec.get("http_connections", 200), timeout=120)
    try:
        gc.collect()
        gc.freeze()
        begin = time.time() + 1.0
        count, ramp = spec["participants"], spec["ramp_s"]
        stop_at = begin + ramp + spec["seconds"]
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(
            *(
                run_participant(spec, client, results, number, begin + (ramp * number / count if ramp else 0), stop_at)
                for number in range(count)
            )
        )
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        finished = time.time()
    finally:
        await client.aclose()
    # The measured window: from the last participant's first stream to the first participant's
    # last stream end (everybody was there); with sessions back to back, the whole run after the ramp.
    starts_by_first = sorted(began for began, _ in results.streams if began)
    window_start = begin + ramp + (2.0 if not ramp else 0.0)
    window_end = stop_at if spec["seconds"] else min((end for _, end in results.streams), default=window_start)
    window_end = max(window_end, min(finished, window_start + 5))
    counts = concurrency(results.streams, window_start, min(window_end, finished))
    return {
        "participants": count,
        "completed": results.participants_completed,
        "sessions_completed": results.sessions_completed,
        "trials": results.trials,
        "began_at": begin,
        "finished_at": finished,
        "duration_s": finished - begin,
        "trial_start_ms": summary(results.trial_start_ms),
        "submit_to_stored_ms": summary(results.submit_to_stored_ms),
        "receive_lateness_ms": summary(results.lateness),
        "deltas": results.deltas,
        "deltas_after_due": results.after_due,
        "concurrent_streams": {
            "window_s": [window_start - begin, min(window_end, finished) - begin],
            "min": min(counts) if counts else 0,
            "median": percentile(counts, 50) if counts else 0,
            "max": max(counts) if counts else 0,
            "all_streaming_fraction": (sum(c == count for c in counts) / len(counts)) if counts else 0.0,
        },
        "first_stream_spread_s": (starts_by_first[-1] - starts_by_first[0]) if starts_by_first else None,
        "submitted": sorted(results.submitted),
        "confirmed": sorted(results.confirmed),
        "resumes": results.resumes,
        "http_requests": results.http_requests,
        "errors": len(results.errors),
        "error_samples": results.errors[:5],
        "load_cpu_seconds": (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
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
    nice = take_priority(spec.get("nice", 0))
    result = json.dumps(asyncio.run(main(spec)) | {"nice": nice})
    with open(sys.argv[2], "w") as output:
        output.write(result)
    os._exit(0)
