"""From a trial's two pane specs to the ordered frames the server sends (no Django)."""

from dataclasses import replace

from uxlab.streaming.arms import schedule_for_spec
from uxlab.streaming.pacing import coalesce, merge_panes


def trial_frames(panes, layout="side_by_side", gap_s=1.0):
    """All frames of both panes (`{"A": spec, "B": spec}`) in due order from one common t0.

    Side by side, both panes run from t0. Sequential, B's schedule starts `gap_s` after A's last
    token, so B's timing relative to its own start is unchanged. Only synthetic and trace panes
    have a schedule; live panes are relayed as produced.
    """
    schedules = {pane: schedule_for_spec(spec) for pane, spec in sorted(panes.items())}
    if layout == "sequential" and schedules.get("A") and "B" in schedules:
        offset = schedules["A"][-1].due_s + gap_s
        schedules["B"] = [replace(token, due_s=token.due_s + offset) for token in schedules["B"]]
    return merge_panes({pane: coalesce(pane, tokens) for pane, tokens in schedules.items()})
