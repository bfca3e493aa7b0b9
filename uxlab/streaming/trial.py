"""From a trial's two pane specs to the ordered frames the server sends (no Django)."""

from uxlab.streaming.pacing import coalesce, merge_panes
from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.schedule import Token, build_schedule


def pane_tokens(spec):
    """The tokens one pane shows, with its thinking phase reduced to what the display mode reveals.

    `hidden` keeps one empty marker at the first thinking token (the browser shows "Thinking…"
    with elapsed time, never the token count); `none` drops the thinking phase; `visible` keeps it.
    """
    profile = SyntheticProfile(**spec["profile"])
    tokens = build_schedule(profile, spec["content"], spec["seed"], reasoning=spec.get("reasoning", ""))
    if profile.thinking_display == "visible":
        return tokens
    answer = [token for token in tokens if token.phase == "answer"]
    thinking = [token for token in tokens if token.phase == "thinking"]
    if profile.thinking_display == "hidden" and thinking:
        return [Token(due_s=thinking[0].due_s, text="", phase="thinking"), *answer]
    return answer


def trial_frames(panes):
    """All frames of both panes (`{"A": spec, "B": spec}`) in due order from one common t0."""
    return merge_panes({pane: coalesce(pane, pane_tokens(spec)) for pane, spec in sorted(panes.items())})
