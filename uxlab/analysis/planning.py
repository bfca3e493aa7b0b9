"""Planning a study by simulation (no Django): for a design and an assumed truth, how many
participants give a threshold interval of a chosen width, or the power to detect a pair difference,
by simulating whole studies and analysing each with the code the results page uses
(psychometric.psychometric_analysis and pairs.pair_table)."""

import math
import random
import statistics
from dataclasses import dataclass

from uxlab.analysis import pairs, psychometric
from uxlab.analysis.simulation import PaneTiming, ResponseModel, answer, draw_participant
from uxlab.analysis.stats import Choice


@dataclass(frozen=True)
class PlannedTrial:
    """One trial of a simulated participant: the arms in panes A and B and what they show."""

    arm_a: str
    arm_b: str
    timing: PaneTiming
    kind: str = "trial"  # or "attention" (answered with `expected` by attentive participants)
    expected: str | None = None


def simulate_study(model, trials_for, participants, question_kind="forced_choice_tie", seed=0):
    """Answers of `participants` simulated people: `trials_for(i)` gives participant i's trials.
    Inattentive people answer at random; drop-outs stop part-way. Returns Choice records of the
    analysed trials (attention checks are not judgements and are left out, as the rules do)."""
    rng = random.Random(seed)
    choices = []
    for index in range(participants):
        trials = trials_for(index)
        person = draw_participant(model, rng, len(trials))
        failed = False
        rows = []
        for position, trial in enumerate(trials):
            if person.leaves_after is not None and position >= person.leaves_after:
                break
            value = answer(model, rng, person, question_kind, {}, trial.timing, expected=trial.expected,
                           arms=(trial.arm_a, trial.arm_b))
            if trial.kind == "attention":
                failed = failed or value != trial.expected
            else:
                rows.append(Choice(index, trial.arm_a, trial.arm_b, value))
        if not failed:  # the attention-check exclusion rule
            choices.extend(rows)
    return choices


def judgements_of(choices, timings, order):
    """Psychometric judgements from choices, given each (arm_a, arm_b)'s timing."""
    result = []
    for choice in choices:
        timing = timings[(choice.arm_a, choice.arm_b)]
        value = "tie" if choice.value in pairs.TIE_VALUES else choice.value
        x = psychometric.stimulus(timing.speed_a, timing.speed_b, timing.ttft_a, timing.ttft_b)
        pair = "|".join(sorted((choice.arm_a, choice.arm_b), key=lambda arm: order.index(arm)))
        result.append(psychometric.Judgement(choice.participant, pair, x, x, value))
    return result


def covers(interval, truth):
    """Whether a threshold interval (low, high) holds the truth; an unbounded end (None) holds
    everything on its side. The one rule of coverage for plan_study and bench_recovery."""
    if not interval:
        return False
    low, high = interval
    return (low is None or low <= truth) and (high is None or truth <= high)


def width(interval):
    """An interval's width in log units; infinite when an end is unbounded or there is none."""
    if not interval or None in interval:
        return math.inf
    return interval[1] - interval[0]


def plan(model: ResponseModel, trials_for, timings, order, sizes, repetitions=50, target_width=None,
         alpha=0.05, n_boot=200, seed=0, question_kind="forced_choice_tie", ties=psychometric.DEFAULT_TIES):
    """Per number of participants: the speed threshold's interval width (log units; median, and the
    share of studies at or under `target_width`), how often the interval holds the truth, how often
    a fit is possible, and per pair the power (share of studies whose Holm-adjusted p < alpha).

    `fitted`: the share of studies whose fit has status ok (a threshold estimate exists), as in
    bench_recovery. `threshold_ci_coverage`: among fitted studies, the share whose interval holds the
    truth (`covers`: an unbounded end holds everything on its side). Widths: an unbounded interval or
    no fit counts as infinitely wide; `bounded` is the share of studies with a fit and both ends."""
    truth = model.speed_threshold_log
    rows = []
    for size in sizes:
        widths, covered, fitted, bounded, significant, statuses = [], 0, 0, 0, {}, {}
        for repetition in range(repetitions):
            choices = simulate_study(model, trials_for, size, question_kind, seed=seed * 100_003 + size * 1009 + repetition)
            fit = psychometric.psychometric_analysis(judgements_of(choices, timings, order), ties=ties,
                                                     n_boot=n_boot, seed=repetition)["speed"]
            statuses[fit["status"]] = statuses.get(fit["status"], 0) + 1
            interval = (fit.get("threshold_75") or {}).get("ci_log")
            if fit["status"] == "ok":
                fitted += 1
                covered += covers(interval, truth)
                widths.append(width(interval))
                bounded += math.isfinite(widths[-1])
            else:
                widths.append(math.inf)
            for row in pairs.pair_table(choices, order):
                key = f"{row['first']}|{row['second']}"
                significant.setdefault(key, 0)
                significant[key] += row["p_holm"] is not None and row["p_holm"] < alpha
        rows.append({
            "participants": size,
            "fitted": fitted / repetitions,
            "bounded": bounded / repetitions,
            "fit_statuses": statuses,
            "median_threshold_ci_width_log": statistics.median(widths) if bounded else None,
            "share_at_target_width": None if target_width is None else sum(w <= target_width for w in widths) / repetitions,
            "threshold_ci_coverage": covered / fitted if fitted else None,
            "pair_power": {key: count / repetitions for key, count in significant.items()},
        })
    enough = None
    if target_width is not None:
        enough = next((row["participants"] for row in rows if (row["share_at_target_width"] or 0) >= 0.8), None)
    return {"truth": {"threshold_ratio": math.exp(truth), "threshold_log": truth, "slope": model.speed_slope,
                      "lapse": model.lapse, "position_bias": model.position_bias, "tie_tendency": model.tie_tendency,
                      "inattentive": model.inattentive, "dropout": model.dropout,
                      "arm_effects": dict(model.arm_effects)},
            "repetitions": repetitions, "n_boot": n_boot, "target_width_log": target_width, "alpha": alpha,
            "sizes": rows, "participants_for_target_width": enough}
