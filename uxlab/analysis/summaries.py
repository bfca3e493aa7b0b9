"""One summariser per question kind, used by the results page, the API and the summary download
with the same options and bootstrap size (no Django; docs/analysis.md describes each statistic).

A summariser is a small class registered in SUMMARISERS by the question kinds it reads; it takes
the kept answers of one question (a per-pane question's two rows together) as `Answer` records and
returns a JSON-ready dict whose "summary" names it (the page picks its template by that name).
"""

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from uxlab.analysis import pairs, psychometric
from uxlab.analysis.clustered import N_BOOT, clustered_mean, one_blas_thread
from uxlab.analysis.simulation import PaneTiming
from uxlab.analysis.stats import Choice, pair_key

SPEED_OPTIONS = ("declared", "displayed")


@dataclass(frozen=True)
class AnalysisOptions:
    """The analyst's choices, each with its stated default."""

    ties: str = psychometric.DEFAULT_TIES  # half | davidson | drop
    speeds: str = "declared"  # declared (the arms' profiles) | displayed (the browser's fidelity summary)
    level: float = 0.75  # the researcher's chosen threshold level, besides 75%
    n_boot: int = N_BOOT
    seed: int = 0

    def __post_init__(self):
        if self.ties not in psychometric.TIE_OPTIONS:
            raise ValueError(f"ties must be one of {', '.join(psychometric.TIE_OPTIONS)}")
        if self.speeds not in SPEED_OPTIONS:
            raise ValueError(f"speeds must be one of {', '.join(SPEED_OPTIONS)}")
        if not 0.5 < self.level < 1:
            raise ValueError("level must be between 0.5 and 1")


@dataclass(frozen=True)
class Answer:
    """One kept answer with what its trial showed: declared timing (the arms' profiles) and displayed
    timing (observed in the participant's browser; None where not measured)."""

    participant: object
    arm_a: str
    arm_b: str
    value: str
    pane: str = ""  # "A" or "B" for a per-pane question
    declared: PaneTiming = field(default_factory=lambda: PaneTiming(None, None, None, None))
    displayed: PaneTiming = field(default_factory=lambda: PaneTiming(None, None, None, None))

    def timing(self, speeds):
        """Declared, or displayed with each missing observation filled from the declared value."""
        if speeds == "declared":
            return self.declared
        return PaneTiming(*(shown if shown is not None else meant
                            for shown, meant in zip(_fields(self.displayed), _fields(self.declared), strict=True)))

    @property
    def arm(self):
        return self.arm_a if self.pane == "A" else self.arm_b if self.pane == "B" else None


def _fields(timing):
    return (timing.speed_a, timing.speed_b, timing.ttft_a, timing.ttft_b)


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _median(values):
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def _quantile(values, q):
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _mean_row(values, people):
    """Mean with its participant-clustered t interval, plus n, median and sd."""
    return {**clustered_mean(values, people), "median": _median(values)}


class Summariser:
    name = ""
    kinds = ()

    def summarise(self, question, answers, context):
        raise NotImplementedError


class ChoiceSummariser(Summariser):
    """Forced choice (with or without "no difference") and preference: the pair table, position
    bias, Bradley–Terry and the psychometric functions of speed and TTFT."""

    name = "choice"
    kinds = ("forced_choice", "forced_choice_tie", "preference")

    def summarise(self, question, answers, context):
        options = context.options
        choices = [Choice(a.participant, a.arm_a, a.arm_b, a.value) for a in answers]
        bt_ties = "davidson" if options.ties == "davidson" else "half"
        bt_choices = [c for c in choices if options.ties != "drop" or c.value in ("A", "B")]
        judgements = []
        for a in answers:
            value = "tie" if a.value in pairs.TIE_VALUES else a.value
            if value not in psychometric.OUTCOMES:
                continue
            used, meant = a.timing(options.speeds), a.declared
            judgements.append(psychometric.Judgement(
                a.participant, "|".join(pair_key(a.arm_a, a.arm_b, context.arm_order)),
                psychometric.stimulus(used.speed_a, used.speed_b, used.ttft_a, used.ttft_b),
                psychometric.stimulus(meant.speed_a, meant.speed_b, meant.ttft_a, meant.ttft_b), value))
        fits = psychometric.psychometric_analysis(judgements, ties=options.ties, level=options.level,
                                                  n_boot=options.n_boot, seed=options.seed,
                                                  stimulus_kind=options.speeds)
        return {
            "n": len(choices),
            "n_participants": len({c.participant for c in choices}),
            "allows_tie": question.kind != "forced_choice",
            "values": dict(Counter(c.value for c in choices)),
            "pairs": pairs.pair_table(choices, context.arm_order),
            "position_bias": pairs.position_bias(choices),
            "bradley_terry": pairs.bradley_terry(bt_choices, context.arm_order, ties=bt_ties,
                                                 n_boot=options.n_boot, seed=options.seed),
            "psychometric_speed": fits["speed"],
            "psychometric_ttft": fits["ttft"],
        }


def _by_arm_or_pair(answers, context, number):
    """Per arm for a per-pane question (the arm streamed in that pane), else per pair of arms."""
    groups = defaultdict(lambda: ([], []))
    per_pane = any(a.pane for a in answers)
    for a in answers:
        value = number(a.value)
        if value is None:
            continue
        key = a.arm if per_pane else "|".join(pair_key(a.arm_a, a.arm_b, context.arm_order))
        groups[key][0].append(value)
        groups[key][1].append(a.participant)
    order = context.arm_order if per_pane else sorted(groups, key=lambda k: [
        context.arm_order.index(n) if n in context.arm_order else 1e9 for n in k.split("|")])
    return per_pane, [(key, *groups[key]) for key in order if key in groups]


class LikertSummariser(Summariser):
    """A Likert item, per pane (each arm) and overall: counts per level, median, and the mean with a
    participant-clustered t interval."""

    name = "likert"
    kinds = ("likert",)

    def summarise(self, question, answers, context):
        scale = question.options.get("scale") or 7
        levels = range(1, scale + 1)

        def row(values, people):
            counts = Counter(int(v) for v in values)
            return {"distribution": {level: counts.get(level, 0) for level in levels}, **_mean_row(values, people)}

        per_pane, groups = _by_arm_or_pair(answers, context, _number)
        values = [v for _, vs, _ in groups for v in vs]
        people = [p for _, _, ps in groups for p in ps]
        return {"per_pane": per_pane, "scale": scale, "overall": row(values, people),
                "rows": [{"label": key, **row(vs, ps)} for key, vs, ps in groups]}


class SliderSummariser(Summariser):
    """A slider, per pane and overall: median and quartiles, and the mean with a clustered t interval."""

    name = "slider"
    kinds = ("slider",)

    def summarise(self, question, answers, context):
        def row(values, people):
            return {**_mean_row(values, people), "q1": _quantile(values, 0.25), "q3": _quantile(values, 0.75)}

        per_pane, groups = _by_arm_or_pair(answers, context, _number)
        values = [v for _, vs, _ in groups for v in vs]
        people = [p for _, _, ps in groups for p in ps]
        return {"per_pane": per_pane, "min": question.options.get("min"), "max": question.options.get("max"),
                "overall": row(values, people), "rows": [{"label": key, **row(vs, ps)} for key, vs, ps in groups]}


class WaitSummariser(Summariser):
    """Estimated against actual waiting time (the pane's TTFT to its first answer token, observed in the
    browser or else as scheduled): the geometric-mean ratio estimate/actual with a clustered t
    interval on the log scale, per arm. Without a pane there is no single actual wait: the estimates
    are summarised per pair."""

    name = "wait_estimate"
    kinds = ("wait_estimate",)

    def summarise(self, question, answers, context):
        per_pane = any(a.pane for a in answers)
        if not per_pane:
            _, groups = _by_arm_or_pair(answers, context, _number)
            return {"per_pane": False, "rows": [{"label": key, **_mean_row(vs, ps)} for key, vs, ps in groups]}
        groups = defaultdict(list)
        for a in answers:
            estimated = _number(a.value)
            timing = a.timing("displayed")
            actual = timing.ttft_a if a.pane == "A" else timing.ttft_b
            if estimated is not None and estimated > 0 and actual is not None and actual > 0:
                groups[a.arm].append((estimated, actual, a.participant))
        rows = []
        for arm in context.arm_order:
            if arm not in groups:
                continue
            items = groups[arm]
            logs = clustered_mean([math.log(e / t) for e, t, _ in items], [p for *_, p in items])
            rows.append({
                "label": arm, "n": len(items), "n_participants": logs["n_participants"],
                "mean_estimated_s": sum(e for e, _, _ in items) / len(items),
                "mean_actual_s": sum(t for _, t, _ in items) / len(items),
                "ratio": math.exp(logs["mean"]),
                "ratio_ci_low": None if logs["ci_low"] is None else math.exp(logs["ci_low"]),
                "ratio_ci_high": None if logs["ci_high"] is None else math.exp(logs["ci_high"]),
            })
        return {"per_pane": True, "rows": rows}


class FreeTextSummariser(Summariser):
    """Free text: how many answered, and the most frequent answers (case and punctuation folded)."""

    name = "free_text"
    kinds = ("free_text",)
    shown = 20

    def summarise(self, question, answers, context):
        folded = Counter(re.sub(r"[^\w\s]", "", a.value.casefold()).strip() or a.value for a in answers)
        return {
            "n": len(answers),
            "n_participants": len({a.participant for a in answers}),
            "n_distinct": len(folded),
            "top": [{"text": text, "count": count} for text, count in folded.most_common(self.shown)],
        }


SUMMARISERS = {kind: summariser for summariser in (ChoiceSummariser(), LikertSummariser(), SliderSummariser(),
                                                    WaitSummariser(), FreeTextSummariser()) for kind in summariser.kinds}


@dataclass(frozen=True)
class QuestionInfo:
    """What a summariser needs to know of a question (a per-pane question's base name)."""

    name: str
    kind: str
    text: str
    options: dict


@dataclass(frozen=True)
class SummaryContext:
    arm_order: list
    options: AnalysisOptions = AnalysisOptions()


def summarise(question: QuestionInfo, answers, context: SummaryContext):
    """The summary of one question by its kind's summariser (None for a kind without one)."""
    summariser = SUMMARISERS.get(question.kind)
    if summariser is None:
        return None
    with one_blas_thread():
        summary = summariser.summarise(question, list(answers), context)
    return {"summary": summariser.name, "question": question.name, "kind": question.kind, "text": question.text,
            **summary}
