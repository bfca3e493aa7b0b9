"""Plots for the results page as inline SVG text (no Django, no JavaScript, no CDN).

Each `*_svg` function takes a piece of `results.study_results` and returns an <svg> element as a
string; every text it draws is escaped. Each has a `*_table` twin returning the same numbers as
(headers, rows) for the table the page shows with the plot (a text alternative, WCAG 1.1.1).
"""

import math
from html import escape

WIDTH, HEIGHT = 560, 300
MARGIN = {"left": 56, "right": 16, "top": 16, "bottom": 44}


def _fmt(value):
    return f"{value:.1f}"


def _ticks(low, high, count=5):
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    first = math.ceil(low / step) * step
    ticks, value = [], first
    while value <= high + 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _frame(title, body, width=WIDTH, height=HEIGHT):
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" class="plot"><title>{escape(title)}</title>'
        f'<style>.plot text{{font:11px sans-serif;fill:#333}} .axis{{stroke:#555}} .grid{{stroke:#e4e4e4}}'
        f" .curve{{fill:none;stroke:#1f6feb;stroke-width:2}} .point{{fill:#d9480f}} .bar{{stroke:#d9480f}}"
        f" .ref{{stroke:#888;stroke-dasharray:4 3}}</style>{body}</svg>"
    )


def _axes(x_low, x_high, y_low, y_high, x_label, y_label, y_format=_fmt):
    plot_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    plot_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]

    def sx(x):
        return MARGIN["left"] + (x - x_low) / (x_high - x_low) * plot_w

    def sy(y):
        return MARGIN["top"] + (1 - (y - y_low) / (y_high - y_low)) * plot_h

    parts = []
    for tick in _ticks(y_low, y_high):
        parts.append(f'<line class="grid" x1="{_fmt(sx(x_low))}" x2="{_fmt(sx(x_high))}" y1="{_fmt(sy(tick))}" y2="{_fmt(sy(tick))}"/>')
        parts.append(f'<text x="{_fmt(sx(x_low) - 6)}" y="{_fmt(sy(tick) + 4)}" text-anchor="end">{escape(y_format(tick))}</text>')
    for tick in _ticks(x_low, x_high):
        parts.append(f'<line class="axis" x1="{_fmt(sx(tick))}" x2="{_fmt(sx(tick))}" y1="{_fmt(sy(y_low))}" y2="{_fmt(sy(y_low) + 4)}"/>')
        parts.append(f'<text x="{_fmt(sx(tick))}" y="{_fmt(sy(y_low) + 16)}" text-anchor="middle">{tick:g}</text>')
    parts.append(f'<line class="axis" x1="{_fmt(sx(x_low))}" x2="{_fmt(sx(x_high))}" y1="{_fmt(sy(y_low))}" y2="{_fmt(sy(y_low))}"/>')
    parts.append(f'<line class="axis" x1="{_fmt(sx(x_low))}" x2="{_fmt(sx(x_low))}" y1="{_fmt(sy(y_low))}" y2="{_fmt(sy(y_high))}"/>')
    parts.append(f'<text x="{_fmt(MARGIN["left"] + plot_w / 2)}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(
        f'<text transform="translate(14 {_fmt(MARGIN["top"] + plot_h / 2)}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    return sx, sy, "".join(parts)


def psychometric_svg(psychometric, x_label, title):
    """Share choosing the faster arm per design level (clustered Wilson bars) against the ratio on a
    log axis, and the fitted curve with its threshold — the curve only when there is a fit."""
    bins = psychometric.get("bins") or []
    curve = psychometric.get("curve") or [] if psychometric.get("status") == "ok" else []
    if not bins and not curve:
        return ""
    xs = [b["stimulus"] for b in bins] + [x for x, _ in curve]
    threshold = (psychometric.get("threshold") or {}).get("log") if curve else None
    x_low, x_high = 0.0, max(xs + [threshold or 0.0])
    if x_high <= x_low:
        x_high = x_low + 1
    x_high += (x_high - x_low) * 0.05
    sx, sy, axes = _axes(x_low, x_high, 0.0, 1.0, x_label, "chose the faster arm", lambda v: f"{v:.0%}")
    parts = [axes, f'<line class="ref" x1="{_fmt(sx(x_low))}" x2="{_fmt(sx(x_high))}" y1="{_fmt(sy(0.5))}" y2="{_fmt(sy(0.5))}"/>']
    if curve:
        points = " ".join(f"{_fmt(sx(x))},{_fmt(sy(p))}" for x, p in curve if x <= x_high)
        parts.append(f'<polyline class="curve" points="{points}"/>')
        level = psychometric["threshold"]["level"]
        if threshold is not None and x_low <= threshold <= x_high:
            ratio = psychometric["threshold"]["ratio"]
            parts.append(
                f'<line class="ref" x1="{_fmt(sx(threshold))}" x2="{_fmt(sx(threshold))}" y1="{_fmt(sy(0))}" '
                f'y2="{_fmt(sy(level))}"/><text x="{_fmt(sx(threshold) + 4)}" y="{_fmt(sy(level) - 4)}">'
                f"{level:.0%}: {ratio:.2f}×</text>"
            )
    for b in bins:
        x, share = sx(b["stimulus"]), b["share"]
        if b.get("ci_low") is not None:
            parts.append(f'<line class="bar" x1="{_fmt(x)}" x2="{_fmt(x)}" y1="{_fmt(sy(b["ci_low"]))}" y2="{_fmt(sy(b["ci_high"]))}"/>')
        radius = 3 + min(6, math.sqrt(b["n"]))
        parts.append(
            f'<circle class="point" cx="{_fmt(x)}" cy="{_fmt(sy(share))}" r="{_fmt(radius)}">'
            f"<title>{b['count']:g} of {b['n']} (ratio {math.exp(b['stimulus']):.2f}×)</title></circle>"
        )
    return _frame(title, "".join(parts))


def _forest(rows, title, axis_label):
    """Rows of (label, estimate, low, high) as points with interval bars around a zero line."""
    if not rows:
        return ""
    values = [v for _label, *numbers in rows for v in numbers if v is not None]
    low, high = min(values + [0.0]), max(values + [0.0])
    pad = (high - low) * 0.08 or 1.0
    low, high = low - pad, high + pad
    row_h = 30
    height = MARGIN["top"] + MARGIN["bottom"] + row_h * len(rows)
    left = 220
    plot_w = WIDTH - left - MARGIN["right"]

    def sx(x):
        return left + (x - low) / (high - low) * plot_w

    parts = []
    for tick in _ticks(low, high):
        parts.append(f'<line class="grid" x1="{_fmt(sx(tick))}" x2="{_fmt(sx(tick))}" y1="{MARGIN["top"]}" y2="{height - MARGIN["bottom"]}"/>')
        parts.append(f'<text x="{_fmt(sx(tick))}" y="{height - MARGIN["bottom"] + 16}" text-anchor="middle">{tick:g}</text>')
    parts.append(f'<line class="ref" x1="{_fmt(sx(0))}" x2="{_fmt(sx(0))}" y1="{MARGIN["top"]}" y2="{height - MARGIN["bottom"]}"/>')
    parts.append(f'<text x="{_fmt(left + plot_w / 2)}" y="{height - 8}" text-anchor="middle">{escape(axis_label)}</text>')
    for i, (label, estimate, ci_low, ci_high) in enumerate(rows):
        y = MARGIN["top"] + row_h * i + row_h / 2
        parts.append(f'<text x="{left - 8}" y="{_fmt(y + 4)}" text-anchor="end">{escape(label)}</text>')
        if ci_low is not None and ci_high is not None:
            parts.append(f'<line class="bar" x1="{_fmt(sx(ci_low))}" x2="{_fmt(sx(ci_high))}" y1="{_fmt(y)}" y2="{_fmt(y)}"/>')
        parts.append(f'<circle class="point" cx="{_fmt(sx(estimate))}" cy="{_fmt(y)}" r="5"><title>{estimate:.2f}</title></circle>')
    return _frame(title, "".join(parts), height=height)


def strengths_svg(bradley_terry, title):
    """Bradley-Terry log strength of each arm (against the average arm) with its bootstrap interval."""
    rows = [(r["arm"], r["log_strength"], r["ci_low"], r["ci_high"]) for r in bradley_terry.get("arms") or []]
    return _forest(rows, title, "log strength against the average arm (95% participant bootstrap)")


def differences_svg(bradley_terry, title):
    """Every pairwise Bradley-Terry difference with its bootstrap interval: the test of two arms."""
    rows = [(f"{r['first']} − {r['second']}", r["difference"], r["ci_low"], r["ci_high"])
            for r in bradley_terry.get("differences") or []]
    return _forest(rows, title, "difference in log strength (95% participant bootstrap)")


LIKERT_COLOURS = ["#b2182b", "#d6604d", "#f4a582", "#e0e0e0", "#92c5de", "#4393c3", "#2166ac"]
# The level number written on each segment, in a colour that reads on its fill (not colour alone).
LIKERT_INK = {"#b2182b": "#fff", "#d6604d": "#000", "#f4a582": "#000", "#e0e0e0": "#000", "#92c5de": "#000",
              "#4393c3": "#000", "#2166ac": "#fff"}


def likert_svg(likert_question, title):
    """Each arm's (or pair's) distribution of Likert answers as a 100% stacked bar."""
    arms = likert_question.get("rows") or []
    if not arms:
        return ""
    row_h = 28
    height = MARGIN["top"] + MARGIN["bottom"] + row_h * len(arms)
    left = 170
    plot_w = WIDTH - left - MARGIN["right"]
    parts = []
    for i, row in enumerate(arms):
        distribution = row["distribution"]
        levels = sorted(distribution, key=lambda level: int(level))
        total = sum(distribution.values()) or 1
        y = MARGIN["top"] + row_h * i
        parts.append(f'<text x="{left - 8}" y="{_fmt(y + row_h / 2 + 4)}" text-anchor="end">{escape(row["label"])}</text>')
        x = left
        for position, level in enumerate(levels):
            width = plot_w * distribution[level] / total
            colour = LIKERT_COLOURS[round(position * (len(LIKERT_COLOURS) - 1) / max(1, len(levels) - 1))]
            parts.append(
                f'<rect x="{_fmt(x)}" y="{_fmt(y + 4)}" width="{_fmt(width)}" height="{row_h - 8}" fill="{colour}"'
                f' stroke="#fff" stroke-width="1"><title>{escape(str(level))}: {distribution[level]}</title></rect>'
            )
            if width >= 14:  # the level itself, so the spread does not rest on colour alone
                parts.append(
                    f'<text x="{_fmt(x + width / 2)}" y="{_fmt(y + row_h / 2 + 4)}" text-anchor="middle"'
                    f' style="fill:{LIKERT_INK[colour]}">{escape(str(level))}</text>'
                )
            x += width
    parts.append(f'<text x="{_fmt(left + plot_w / 2)}" y="{height - 8}" text-anchor="middle">share of answers by level (the number on each segment), lowest on the left</text>')
    return _frame(title, "".join(parts), height=height)


TRACK_COLOURS = ("#1f6feb", "#2f9e44", "#ae3ec9", "#e8590c")
TRACK_DASHES = ("", "8 3", "2 2", "6 2 2 2")


def adaptive_track_svg(steps, reference, title, estimates=None):
    """One participant's trial-by-trial track: each step's stimulus value (log10 axis) against the
    trial number, filled when answered right, hollow when wrong, catch trials as squares; the
    reference as a dashed grey line; and ``estimates`` ({track: summary}, in the order given) as
    each track's final threshold (solid) and interval ends (thin, dotted) in the track's own colour
    and dash pattern, labelled with the track's name. With several tracks each step's marker is
    outlined in its track's colour."""
    values = [math.log10(step["value"]) for step in steps]
    if not values:
        return _frame(title, '<text x="20" y="30">No answered trials yet.</text>')
    estimates = {name: summary for name, summary in (estimates or {}).items()
                 if summary and summary.get("log10") is not None}
    names = list(dict.fromkeys([*estimates, *(step.get("track") for step in steps if step.get("track"))]))
    colour = {name: TRACK_COLOURS[i % len(TRACK_COLOURS)] for i, name in enumerate(names)}
    dash = {name: TRACK_DASHES[i % len(TRACK_DASHES)] for i, name in enumerate(names)}
    lows = values + [math.log10(reference)]
    for summary in estimates.values():
        lows += [summary[key] for key in ("log10", "low_log10", "high_log10") if summary.get(key) is not None]
    y_low, y_high = min(lows) - 0.05, max(lows) + 0.05
    last = max(1, len(steps) - 1)
    sx, sy, axes = _axes(0, last, y_low, y_high, "trial", "stimulus (log10 scale)",
                         y_format=lambda tick: f"{10 ** tick:.3g}")
    parts = [axes]
    ref_y = sy(math.log10(reference))
    parts.append(f'<line class="ref" x1="{_fmt(sx(0))}" x2="{_fmt(sx(last))}" '
                 f'y1="{_fmt(ref_y)}" y2="{_fmt(ref_y)}"/>')
    for name, summary in estimates.items():
        pattern = f";stroke-dasharray:{dash[name]}" if dash[name] else ""
        for key, width, extra in (("log10", 2, pattern), ("low_log10", 1, ";stroke-dasharray:1 3"),
                                  ("high_log10", 1, ";stroke-dasharray:1 3")):
            if summary.get(key) is None:
                continue
            y = sy(summary[key])
            parts.append(f'<line class="threshold" data-track="{escape(name)}" data-line="{key}" '
                         f'x1="{_fmt(sx(0))}" x2="{_fmt(sx(last))}" y1="{_fmt(y)}" y2="{_fmt(y)}" '
                         f'style="stroke:{colour[name]};stroke-width:{width}{extra}"/>')
        parts.append(f'<text x="{_fmt(sx(last) - 2)}" y="{_fmt(sy(summary["log10"]) - 3)}" text-anchor="end" '
                     f'style="fill:{colour[name]}">{escape(name)}</text>')
    points = " ".join(f"{_fmt(sx(i))},{_fmt(sy(v))}" for i, v in enumerate(values))
    parts.append(f'<polyline points="{points}" style="fill:none;stroke:#999"/>')
    for i, (step, value) in enumerate(zip(steps, values)):
        stroke = colour.get(step.get("track"), "#d9480f") if len(names) > 1 else "#d9480f"
        fill = stroke if step.get("correct") else "#fff"
        if step.get("catch"):
            parts.append(f'<rect x="{_fmt(sx(i) - 4)}" y="{_fmt(sy(value) - 4)}" width="8" height="8" '
                         f'style="fill:{fill};stroke:{stroke}"/>')
        else:
            parts.append(f'<circle cx="{_fmt(sx(i))}" cy="{_fmt(sy(value))}" r="4" style="fill:{fill};stroke:{stroke}"/>')
    return _frame(title, "".join(parts))


def thresholds_svg(rows, title, axis_label):
    """Every participant's threshold with its interval, sorted (a caterpillar plot); rows are
    dicts with ``label``, ``log10``, ``low_log10`` and ``high_log10``."""
    rows = sorted((row for row in rows if row.get("log10") is not None), key=lambda row: row["log10"])
    if not rows:
        return _frame(title, '<text x="20" y="30">No thresholds yet.</text>')
    ends = [row[key] for row in rows for key in ("low_log10", "high_log10", "log10") if row.get(key) is not None]
    sx, sy, axes = _axes(min(ends) - 0.05, max(ends) + 0.05, 0, len(rows) + 1, axis_label, "participant",
                         y_format=lambda tick: "")
    parts = [axes]
    for position, row in enumerate(rows, start=1):
        y = sy(position)
        if row.get("low_log10") is not None:
            parts.append(f'<line class="bar" x1="{_fmt(sx(row["low_log10"]))}" x2="{_fmt(sx(row["high_log10"]))}" '
                         f'y1="{_fmt(y)}" y2="{_fmt(y)}"/>')
        parts.append(f'<circle class="point" cx="{_fmt(sx(row["log10"]))}" cy="{_fmt(y)}" r="3">'
                     f'<title>{escape(str(row.get("label", "")))}</title></circle>')
    return _frame(title, "".join(parts))
# --- The plots' numbers as tables -------------------------------------------------------------------


def _interval(low, high, digits=2):
    return f"[{low:.{digits}f}, {high:.{digits}f}]" if low is not None and high is not None else "–"


def psychometric_table(psychometric, choice="chose the faster arm"):
    """Each plotted point of psychometric_svg: the design level, its answers and the share choosing
    as the y axis says, with its interval."""
    headers = ("Ratio", "Answers", choice.capitalize(), "Share", "95% CI")
    rows = [
        (f"{math.exp(b['stimulus']):.2f}×", b["n"], f"{b['count']:g}", f"{b['share']:.2f}",
         _interval(b.get("ci_low"), b.get("ci_high")))
        for b in psychometric.get("bins") or []
    ]
    return headers, rows


def strengths_table(bradley_terry):
    rows = [(r["arm"], f"{r['log_strength']:.2f}", _interval(r["ci_low"], r["ci_high"]))
            for r in bradley_terry.get("arms") or []]
    return ("Arm", "Log strength", "95% CI"), rows


def differences_table(bradley_terry):
    rows = [(f"{r['first']} − {r['second']}", f"{r['difference']:.2f}", _interval(r["ci_low"], r["ci_high"]))
            for r in bradley_terry.get("differences") or []]
    return ("Difference", "Log strength", "95% CI"), rows


def likert_table(likert_question, label="Arm"):
    """Each row's count (and share) of answers at every level of the scale."""
    arms = likert_question.get("rows") or []
    levels = sorted({int(level) for row in arms for level in row["distribution"]})
    scale = likert_question.get("scale")
    if scale:
        levels = list(range(1, int(scale) + 1))
    rows = []
    for row in arms:
        distribution = {int(level): count for level, count in row["distribution"].items()}
        total = sum(distribution.values()) or 1
        rows.append((row["label"], *(f"{distribution.get(level, 0)} ({distribution.get(level, 0) / total:.0%})"
                                     for level in levels), sum(distribution.values())))
    return (label, *(f"Level {level}" for level in levels), "Answers"), rows
