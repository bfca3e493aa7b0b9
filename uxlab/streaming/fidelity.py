"""How faithfully a pane was shown: the schedule's targets against what the browser observed.

Definitions follow the serving metrics in docs/protocol.md: TTFT to the first thinking token and to
the first answer token, E2E to the last token, TPOT = (E2E - TTFT) / (N - 1), tokens/s = (N - 1) /
(E2E - TTFT) over the answer phase. Everything is per token: a token is due at its own schedule
time and was shown by one display frame (the frame's time) and presented no earlier than a
conservative estimate (docs/protocol.md, Telemetry). Its paint error is frame time minus due time;
it was shown early when the frame began before its due time; it is "in the first frame" when its
frame was the first at or after its due time *and* that frame's rendering was done within the frame
(presentation estimate less than a frame after the frame's time), so it was not shown a frame late.
The displayed speed is the observed answer tokens/s; its ratio to the target is ``speed_ratio``.
"""

from uxlab.streaming.pacing import percentile

DEFAULT_FRAME_MS = 1000 / 60
# Due and frame times travel rounded to the microsecond; closer than this to due is not early.
EARLY_TOLERANCE_MS = 0.002
# Above this clock-sync uncertainty (half the best ping's round trip) a trial's onset is not known
# to within half a frame: reported with the verdict, not a reason to exclude (both panes share t0).
CLOCK_OK_MS = DEFAULT_FRAME_MS / 2


def phase_timing(points):
    """TTFT / E2E / TPOT / tokens/s from (time_s, tokens, phase) points of one pane."""
    thinking = [t for t, n, phase in points if phase == "thinking" and n]
    answer = [(t, n) for t, n, phase in points if phase == "answer" and n]
    result = {
        "ttft_thinking_s": min(thinking) if thinking else None,
        "ttft_answer_s": answer[0][0] if answer else None,
        "e2e_s": answer[-1][0] if answer else None,
        "answer_tokens": sum(n for _, n in answer),
        "tpot_s": None,
        "tokens_per_second": None,
    }
    tokens = result["answer_tokens"]
    if answer and tokens > 1 and result["e2e_s"] > result["ttft_answer_s"]:
        span = result["e2e_s"] - result["ttft_answer_s"]
        result["tpot_s"] = span / (tokens - 1)
        result["tokens_per_second"] = (tokens - 1) / span
    return result


def hidden_seconds(visibility, end_s):
    """Seconds the page was hidden from t0 to end_s, from [(t_s, "hidden"|"visible"), ...]."""
    total, hidden_since = 0.0, None
    for at, state in sorted(visibility):
        if state == "hidden" and hidden_since is None:
            hidden_since = max(0.0, at)
        elif state == "visible" and hidden_since is not None:
            total += max(0.0, min(at, end_s) - hidden_since)
            hidden_since = None
    if hidden_since is not None and end_s > hidden_since:
        total += end_s - hidden_since
    return total


def _token_dues(target):
    """Each token's due time (s) of one target ``(due_s, tokens, phase[, token_dues])``."""
    due_s, tokens = target[0], target[1]
    if len(target) > 3 and target[3]:
        return list(target[3])
    return [due_s] * tokens


def token_times(targets, observed, updates=None, frame_ms=DEFAULT_FRAME_MS):
    """Per token of one pane, in order: (due_ms, frame_ms, presented_ms, phase), times None if unseen.

    ``updates``: {seq: [(tokens, frame_ms, presented_ms), ...]} in the order the page showed them.
    Without updates for a message (a page from before per-token telemetry), all its tokens count as
    shown at its paint time. A missing presentation estimate counts as a frame after the frame.
    """
    updates = updates or {}
    rows = []
    for seq in sorted(targets):
        target = targets[seq]
        dues = _token_dues(target)
        shown = []
        for count, frame, presented in updates.get(seq, ()):
            # Past the message's own tokens an update shows nothing more: a count the page cannot have
            # sent (a script's trillion) takes no more than the message's tokens of memory.
            room = len(dues) - len(shown)
            if room <= 0:
                break
            shown.extend([(frame, frame + frame_ms if presented is None else presented)] * min(count, room))
        if not updates.get(seq):
            paint = observed.get(seq, (None, None))[1]
            if paint is not None:
                shown = [(paint, paint)] * len(dues)
        for index, due_s in enumerate(dues):
            frame, presented = shown[index] if index < len(shown) else (None, None)
            rows.append((due_s * 1000, frame, presented, target[2]))
    return rows


def _spread(values):
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


def pane_fidelity(targets, observed, frame_ms=DEFAULT_FRAME_MS, updates=None):
    """Summarise one pane.

    ``targets``: {seq: (due_s, tokens, phase[, token_dues])} for the pane's delta messages.
    ``observed``: {seq: (receive_ms, paint_ms)} relative to t0 on the browser's clock.
    ``updates``: {seq: [(tokens, frame_ms, presented_ms), ...]} (see ``token_times``).
    """
    rows = token_times(targets, observed, updates, frame_ms)
    shown = [row for row in rows if row[1] is not None]
    target = phase_timing([(due / 1000, 1, phase) for due, _, _, phase in rows])
    observed_timing = phase_timing([(frame / 1000, 1, phase) for _, frame, _, phase in shown])
    errors = [frame - due for due, frame, _, _ in shown]
    presented_errors = [presented - due for due, _, presented, _ in shown]
    on_time = sum(
        1 for due, frame, presented, _ in shown
        if -EARLY_TOLERANCE_MS <= frame - due < frame_ms and presented - frame < frame_ms
    )
    painted = {seq for seq in targets if (updates or {}).get(seq) or observed.get(seq, (None, None))[1] is not None}
    speed_ratio = None
    if target["tokens_per_second"] and observed_timing["tokens_per_second"]:
        speed_ratio = observed_timing["tokens_per_second"] / target["tokens_per_second"]
    return {
        "target": target,
        "observed": observed_timing,
        "frames": len(targets),
        "frames_painted": len(painted),
        "tokens": len(rows),
        "tokens_shown": len(shown),
        # Frame time minus due time, per token: the frame that showed it against its schedule.
        "paint_error_ms": _spread(errors),
        # Conservative presentation estimate minus due time, per token.
        "presented_error_ms": _spread(presented_errors),
        "tokens_early": sum(1 for error in errors if error < -EARLY_TOLERANCE_MS),
        "onset_error_ms": errors[0] if shown and rows[0][1] is not None else None,
        "speed_ratio": speed_ratio,
        # The share of the pane's tokens shown in the first frame at or after due, not a frame late.
        "fraction_in_first_frame": on_time / len(rows) if rows else None,
        "complete": len(shown) == len(rows),
    }


def clock_summary(clock, frame_ms=DEFAULT_FRAME_MS):
    """The page's clock estimate with its uncertainty (half the best round trip) and whether the
    trial's onset is known to within half a frame."""
    if not clock:
        return None, None
    uncertainty = clock.get("uncertainty_ms")
    if uncertainty is None and clock.get("rtt_ms") is not None:
        uncertainty = clock["rtt_ms"] / 2
    return uncertainty, (None if uncertainty is None else uncertainty <= frame_ms / 2)


def trial_fidelity(
    targets_by_pane, observed, visibility=(), frame_ms=DEFAULT_FRAME_MS, interrupted=False, updates=None, clock=None
):
    """Per-pane summaries plus what concerns the whole trial (hidden time, start alignment, clock)."""
    panes = {
        pane: pane_fidelity(targets, observed, frame_ms, updates)
        for pane, targets in sorted(targets_by_pane.items())
    }
    shown_ms = [times[1] for times in observed.values() if times[1] is not None]
    shown_ms += [frame for entries in (updates or {}).values() for _, frame, _ in entries]
    end_s = max(shown_ms or [0.0]) / 1000
    first_paints = {
        pane: min((observed[seq][1] for seq in targets if seq in observed and observed[seq][1] is not None), default=None)
        for pane, targets in targets_by_pane.items()
    }
    uncertainty, clock_ok = clock_summary(clock, frame_ms)
    return {
        "panes": panes,
        "time_hidden_s": hidden_seconds(list(visibility), end_s),
        "interrupted": interrupted or not all(pane["complete"] for pane in panes.values()),
        "first_paint_ms": first_paints,
        "frame_ms": frame_ms,
        "tokens_early": sum(pane["tokens_early"] for pane in panes.values()),
        "clock": clock,
        "clock_uncertainty_ms": uncertainty,
        "clock_ok": clock_ok,
    }


# --- The live standard ---------------------------------------------------------------------------

LIVE = "live"
# A relayed message is on time when it is presented within this long of its arrival at the server:
# the relay's own delay (network to the browser plus the frame it waits for) is then below the
# ~100 ms at which a response stops feeling immediate (Card, Moran & Newell; RAIL's 100 ms).
LIVE_LATENESS_BUDGET_MS = 100.0


def live_trial_fidelity(
    targets_by_pane,
    observed,
    visibility=(),
    frame_ms=DEFAULT_FRAME_MS,
    interrupted=False,
    budget_ms=LIVE_LATENESS_BUDGET_MS,
    updates=None,
    clock=None,
):
    """The live standard: a relayed trial has no lookahead, so it cannot be held to the first frame
    at or after a due time. Each message is judged by its lateness from its arrival at the server
    (a live pane's backend chunk; a scheduled partner's due time, when the server sent it) to its
    presentation, against ``budget_ms``; TTFT and speed are the target as the backend delivered
    them (the arrival times) against what was shown.
    """
    summary = trial_fidelity(targets_by_pane, observed, visibility, frame_ms, interrupted, updates, clock)
    summary["standard"] = LIVE
    summary["lateness_budget_ms"] = budget_ms
    for pane, targets in targets_by_pane.items():
        late = [
            (observed[seq][1] - due_s * 1000, tokens)
            for seq, (due_s, tokens, _phase, *_dues) in targets.items()
            if seq in observed and observed[seq][1] is not None
        ]
        lateness = [ms for ms, _tokens in late]
        total_tokens = sum(target[1] for target in targets.values())
        summary["panes"][pane].update(
            standard=LIVE,
            lateness_ms={
                "p50": percentile(lateness, 50),
                "p95": percentile(lateness, 95),
                "p99": percentile(lateness, 99),
                "max": max(lateness) if lateness else None,
            },
            # Weighted by tokens: the share of the pane's tokens presented within the budget.
            fraction_within_budget=(
                sum(tokens for ms, tokens in late if ms <= budget_ms) / total_tokens if total_tokens else None
            ),
        )
    return summary
