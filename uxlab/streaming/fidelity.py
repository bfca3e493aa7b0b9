"""How faithfully a pane was shown: the schedule's targets against what the browser observed.

Definitions follow the serving metrics in docs/protocol.md: TTFT to the first thinking token and to
the first answer token, E2E to the last token, TPOT = (E2E - TTFT) / (N - 1), tokens/s = (N - 1) /
(E2E - TTFT) over the answer phase. A frame's paint error is paint time minus due time; it is "in
the first frame" when it was painted in the first display frame at or after its due time.
"""

from uxlab.streaming.pacing import percentile

DEFAULT_FRAME_MS = 1000 / 60


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


def pane_fidelity(targets, observed, frame_ms=DEFAULT_FRAME_MS):
    """Summarise one pane.

    ``targets``: {seq: (due_s, tokens, phase)} for the pane's delta messages.
    ``observed``: {seq: (receive_ms, paint_ms)} relative to t0 on the browser's clock.
    """
    target = phase_timing([(due, tokens, phase) for due, tokens, phase in targets.values()])
    painted = {seq: times for seq, times in observed.items() if seq in targets and times[1] is not None}
    observed_timing = phase_timing(
        [(painted[seq][1] / 1000, targets[seq][1], targets[seq][2]) for seq in sorted(painted)]
    )
    errors = [painted[seq][1] - targets[seq][0] * 1000 for seq in painted]
    in_first_frame = [0 <= error < frame_ms for error in errors]
    token_weights = [targets[seq][1] for seq in painted]
    tokens_in_first = sum(weight for weight, ok in zip(token_weights, in_first_frame) if ok)
    total_tokens = sum(tokens for _, tokens, _ in targets.values())
    return {
        "target": target,
        "observed": observed_timing,
        "frames": len(targets),
        "frames_painted": len(painted),
        "paint_error_ms": {
            "p50": percentile(errors, 50),
            "p95": percentile(errors, 95),
            "p99": percentile(errors, 99),
            "max": max(errors) if errors else None,
        },
        # Weighted by tokens: the share of the pane's tokens shown in the first frame at or after due.
        "fraction_in_first_frame": tokens_in_first / total_tokens if total_tokens else None,
        "complete": len(painted) == len(targets),
    }


def trial_fidelity(targets_by_pane, observed, visibility=(), frame_ms=DEFAULT_FRAME_MS, interrupted=False):
    """Per-pane summaries plus what concerns the whole trial (hidden time, start alignment)."""
    panes = {
        pane: pane_fidelity(targets, observed, frame_ms) for pane, targets in sorted(targets_by_pane.items())
    }
    end_s = max(
        [times[1] / 1000 for times in observed.values() if times[1] is not None] or [0.0]
    )
    first_paints = {
        pane: min((observed[seq][1] for seq in targets if seq in observed and observed[seq][1] is not None), default=None)
        for pane, targets in targets_by_pane.items()
    }
    return {
        "panes": panes,
        "time_hidden_s": hidden_seconds(list(visibility), end_s),
        "interrupted": interrupted or not all(pane["complete"] for pane in panes.values()),
        "first_paint_ms": first_paints,
        "frame_ms": frame_ms,
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
):
    """The live standard: a relayed trial has no lookahead, so it cannot be held to the first frame
    at or after a due time. Each message is judged by its lateness from its arrival at the server
    (a live pane's backend chunk; a scheduled partner's due time, when the server sent it) to its
    presentation, against ``budget_ms``; TTFT and speed are the target as the backend delivered
    them (the arrival times) against what was shown.
    """
    summary = trial_fidelity(targets_by_pane, observed, visibility, frame_ms, interrupted)
    summary["standard"] = LIVE
    summary["lateness_budget_ms"] = budget_ms
    for pane, targets in targets_by_pane.items():
        late = [
            (observed[seq][1] - due_s * 1000, tokens)
            for seq, (due_s, tokens, _phase) in targets.items()
            if seq in observed and observed[seq][1] is not None
        ]
        lateness = [ms for ms, _tokens in late]
        total_tokens = sum(tokens for _due, tokens, _phase in targets.values())
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
