"""What a trial page displayed, measured from outside uxlab's own telemetry.

``SCRIPT`` (display_probe.js) is injected before the page's scripts; after the trial has streamed,
``window.__uxlabProbe`` holds every change to the panes with the frame that made it. Here it is
compared with the trial's schedule, rebuilt from its seed with uxlab.streaming as the server does:
the displayed speed over each pane's answer (tokens counted from the text the probe saw, each at
the frame that showed it), every token shown before its due time, and the onset of each pane (its
first visible change against its first token's due time). Shared by tests/browser and
bench_fidelity; docs/benchmarks.md says how to read the figures.
"""

from pathlib import Path
from statistics import median

from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.schedule import ANSWER, THINKING

SCRIPT = (Path(__file__).with_name("display_probe.js")).read_text()

SENTENCE = "Water boils at a lower temperature at altitude because the air pressure is lower there. "
# Pairs of arms at 15, 100, 1,800 and 5,000 tokens/s with a hidden and a visible thinking phase, each
# with an answer as long as a ±2% speed needs: the displayed span is known to a frame at each end,
# so the fastest arm of a pair streams for over a second. Shared by the probe test and bench_fidelity.
PROBE_PAIRS = {
    # 7,140 answer tokens: 1.4 s at 5,000 tokens/s, 4 s at 1,800.
    "fast": {
        "arms": {
            "burst_5000": {"ttft_s": 0.2, "tokens_per_second": 5000},
            "wafer_1800": {"ttft_s": 0.3, "tokens_per_second": 1800},
        },
        "response": SENTENCE * 340,
    },
    # 147 answer tokens (1.5 s at 100 tokens/s) after 20 thinking tokens at 40 tokens/s.
    "thinking": {
        "arms": {
            "hidden_thinking_100": {
                "ttft_s": 0.2, "tokens_per_second": 100, "thinking_tokens": 20,
                "thinking_tokens_per_second": 40, "thinking_display": "hidden",
            },
            "visible_thinking_100": {
                "ttft_s": 0.3, "tokens_per_second": 100, "thinking_tokens": 20,
                "thinking_tokens_per_second": 40, "thinking_display": "visible",
            },
        },
        "response": SENTENCE * 7,
        "reasoning": "The pressure falls with height, so the boiling point falls with it.",
    },
    # 29 answer tokens: 1.9 s at 15 tokens/s.
    "slow": {
        "arms": {
            "gpu_15": {"ttft_s": 0.5, "tokens_per_second": 15},
            "gpu_15_late": {"ttft_s": 0.9, "tokens_per_second": 15},
        },
        "response": SENTENCE + "It boils at about 90 degrees.",
    },
}  # fmt: skip


def probe_study(name, pair=None, delivery="controlled"):
    """A one-pair, one-prompt study file (a dict, as parse_study_yaml gives) for a probe pair."""
    pair = pair or PROBE_PAIRS[name]
    return {
        "version": 1,
        "code": f"probe-{name}" if delivery == "controlled" else f"probe-{name}-{delivery}".replace("_", "-"),
        "title": f"Display probe: {name}",
        "consent": {"text": "You agree."},
        "arms": [{"name": arm, **profile} for arm, profile in pair["arms"].items()],
        "prompts": [
            {
                "name": name,
                "text": "Why does water boil at a lower temperature at altitude?",
                "reasoning": pair.get("reasoning", ""),
                "response": pair["response"],
            }
        ],
        "questions": [{"name": "faster", "kind": "forced_choice_tie", "text": "Which response felt faster?"}],
        "design": {"pairs": [list(pair["arms"])], "seed": f"probe-{name}", "delivery": delivery},
    }
# Due times travel rounded to the microsecond; a frame this close to due is not early.
EARLY_TOLERANCE_MS = 0.002


def utf16_length(text):
    """Length of ``text`` as the page's textContent.length counts it."""
    return len(text.encode("utf-16-le")) // 2


def pane_tokens(frames, pane):
    """[(due_ms, text, phase)] of one pane's tokens in order, from a trial's frames (streaming.trial)."""
    tokens = []
    for frame in frames:
        if frame.pane == pane and frame.tokens:
            texts = frame.token_texts or (frame.text,) + ("",) * (frame.tokens - 1)
            tokens.extend((due_s * 1000, text, frame.phase) for due_s, text in zip(frame.token_dues(), texts))
    return tokens


def frame_interval_ms(record):
    """The median interval of the probe's own animation frames."""
    times = record["frames"]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    return median(gaps) if gaps else 1000 / 60


def page_t0(record):
    """The trial's t0 on the page's performance.now() clock, mapped as the page maps it (the
    server's t0 less the page's clock offset), from the last fresh stream.start the probe saw."""
    starts = [start for start in record["starts"] if start[1] == 0]
    if not starts or not record["clocks"] or not record["clocks"][-1]:
        raise ValueError("the probe saw no stream.start or no clock estimate")
    offset = record["clocks"][-1]["offset_ms"]
    return starts[-1][0] - offset - record["timeOrigin"]


def _at(change):
    """A change's time: the frame that made it, or when the observer saw it (outside a frame)."""
    return change[1] if change[1] is not None else change[2]


def _shown_times(changes, tokens, field):
    """When each token of ``tokens`` (due_ms, text) first appeared in the text measured by ``field``
    (3: answer, 4: reasoning) of the changes, in page ms; None for tokens never shown."""
    ends, total = [], 0
    for _, text in tokens:
        total += utf16_length(text)
        ends.append(total)
    shown, count = [None] * len(tokens), 0
    for change in changes:
        while count < len(tokens) and ends[count] <= change[field]:
            shown[count] = _at(change)
            count += 1
    return shown


def in_first_frame(frames, change_at, due_at):
    """Whether a change at ``change_at`` was made by the first animation frame the page had at or
    after ``due_at`` (page ms): on a machine that keeps up that frame is within one frame interval
    of due; when the browser drops frames, it is the first one it rendered."""
    first = next((frame for frame in frames if frame >= due_at - EARLY_TOLERANCE_MS), None)
    return first is not None and change_at == first


def measure_pane(
    changes, tokens, t0, declared_tps, thinking_display="hidden", frame_ms=1000 / 60, frames=(),
    early_tolerance_ms=EARLY_TOLERANCE_MS,
):
    """One pane against its schedule: displayed speed, early tokens and onsets, in ms after t0.

    ``changes``: the probe's changes of this pane; ``tokens``: ``pane_tokens`` of the pane;
    ``t0``: ``page_t0(record)``; ``declared_tps``: the arm's declared answer speed; ``frames``: the
    probe's animation-frame times (page ms); a token shown more than ``early_tolerance_ms`` before
    its due time is early.
    """
    answer = [(due, text) for due, text, phase in tokens if phase == ANSWER]
    thinking = [(due, text) for due, text, phase in tokens if phase == THINKING]
    answer_at = _shown_times(changes, answer, 3)
    checked = list(zip(answer, answer_at))
    if thinking and thinking_display == "visible":
        checked += list(zip(thinking, _shown_times(changes, thinking, 4)))
    elif thinking:
        # A hidden thinking phase shows only its indicator, from its first token on.
        checked.append((thinking[0], next((_at(change) for change in changes if change[5]), None)))
    lateness = [at - t0 - due for (due, _), at in checked if at is not None]
    early = [value for value in lateness if value < -early_tolerance_ms]

    displayed_tps = None
    if len(answer) > 1 and None not in answer_at and answer_at[-1] > answer_at[0]:
        displayed_tps = (len(answer) - 1) / ((answer_at[-1] - answer_at[0]) / 1000)
    first_visible = next((_at(change) for change in changes if change[3] or change[4] or change[5]), None)
    answer_due = t0 + answer[0][0] if answer else None
    return {
        "declared_tokens_per_second": declared_tps,
        "displayed_tokens_per_second": displayed_tps,
        "displayed_speed_ratio": displayed_tps / declared_tps if displayed_tps and declared_tps else None,
        "answer_tokens": len(answer),
        "tokens_checked": len(checked),
        "tokens_not_shown": sum(1 for _, at in checked if at is None),
        "tokens_shown_early": len(early),
        "max_early_ms": -min(early) if early else 0.0,
        "max_lateness_ms": max(lateness) if lateness else None,
        "onset_error_ms": None if first_visible is None or not tokens else first_visible - t0 - tokens[0][0],
        "answer_onset_error_ms": None if not answer or answer_at[0] is None else answer_at[0] - answer_due,
        "onset_in_first_frame": bool(tokens) and in_first_frame(frames, first_visible, t0 + tokens[0][0]),
        "answer_onset_in_first_frame": bool(answer) and in_first_frame(frames, answer_at[0], answer_due),
        "frame_ms": frame_ms,
    }


def clock_uncertainty_ms(record):
    """Half the round trip of the page's clock estimate: how far its t0 may be from the server's."""
    clock = record["clocks"][-1] if record["clocks"] else None
    return clock["rtt_ms"] / 2 if clock else None


def measure_trial(record, trial, early_tolerance_ms=EARLY_TOLERANCE_MS):
    """Both panes of a stored trial (a Trial with prompt and arms loaded) against the probe record.

    In controlled delivery the page and the probe put the schedule on the page's clock the same way,
    so "early" is exact. Server-paced, the page shows what arrived, and the schedule's due times are
    on the server's clock: pass the clock uncertainty as ``early_tolerance_ms`` there.
    """
    from uxlab.studies.actions import trial_layout, trial_pane_specs
    from uxlab.streaming.trial import trial_frames

    frames = trial_frames(trial_pane_specs(trial), **trial_layout(trial))
    t0, frame_ms = page_t0(record), frame_interval_ms(record)
    result = {}
    for pane, arm in (("A", trial.arm_a), ("B", trial.arm_b)):
        result[pane] = measure_pane(
            [change for change in record["changes"] if change[0] == pane],
            pane_tokens(frames, pane),
            t0,
            arm.profile.get("tokens_per_second", SyntheticProfile.tokens_per_second),
            arm.profile.get("thinking_display", "hidden"),
            frame_ms,
            record["frames"],
            early_tolerance_ms,
        )
        result[pane]["arm"] = arm.name
    return result
