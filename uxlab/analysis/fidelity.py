"""Study-level summaries of delivery fidelity (pure: no Django), from per-trial summaries.

Each trial's summary is made by uxlab.streaming.fidelity when its telemetry arrives; here they are
grouped by arm so a researcher can see whether each condition was shown as intended.
"""

from statistics import median


def _median(values):
    values = [value for value in values if value is not None]
    return median(values) if values else None


def _min(values):
    values = [value for value in values if value is not None]
    return min(values) if values else None


def _max(values):
    values = [value for value in values if value is not None]
    return max(values) if values else None


def _sum(values):
    values = [value for value in values if value is not None]
    return sum(values) if values else None


def arm_fidelity(trials):
    """Per arm: how many panes were measured and the medians of their target vs observed timing,
    the displayed speed over the declared (observed / target tokens/s), tokens shown before their
    due time, and the clock-sync uncertainty of the trials the arm was shown in.

    ``trials``: iterable of mappings with ``arm_a``, ``arm_b`` and ``fidelity`` (may be empty).
    """
    panes_by_arm, clocks_by_arm = {}, {}
    for trial in trials:
        fidelity = trial.get("fidelity") or {}
        panes = fidelity.get("panes") or {}
        for pane, arm in (("A", trial["arm_a"]), ("B", trial["arm_b"])):
            panes_by_arm.setdefault(arm, [])
            clocks_by_arm.setdefault(arm, [])
            if pane in panes:
                panes_by_arm[arm].append(panes[pane])
                clocks_by_arm[arm].append(fidelity.get("clock_uncertainty_ms"))
    summary = []
    for arm, panes in panes_by_arm.items():
        target = [pane.get("target") or {} for pane in panes]
        observed = [pane.get("observed") or {} for pane in panes]
        summary.append(
            {
                "arm": arm,
                "panes": len(panes),
                "target_ttft_answer_s": _median(t.get("ttft_answer_s") for t in target),
                "observed_ttft_answer_s": _median(o.get("ttft_answer_s") for o in observed),
                "target_tokens_per_second": _median(t.get("tokens_per_second") for t in target),
                "observed_tokens_per_second": _median(o.get("tokens_per_second") for o in observed),
                "fraction_in_first_frame": _median(pane.get("fraction_in_first_frame") for pane in panes),
                "p99_paint_error_ms": _median((pane.get("paint_error_ms") or {}).get("p99") for pane in panes),
                "p99_presented_error_ms": _median((pane.get("presented_error_ms") or {}).get("p99") for pane in panes),
                "speed_ratio_min": _min(pane.get("speed_ratio") for pane in panes),
                "speed_ratio_max": _max(pane.get("speed_ratio") for pane in panes),
                "tokens_early": _sum(pane.get("tokens_early") for pane in panes),
                "clock_uncertainty_ms": _median(clocks_by_arm[arm]),
                # The live standard (streaming/fidelity.live_trial_fidelity): lateness from arrival.
                "live_panes": sum(1 for pane in panes if pane.get("standard") == "live"),
                "fraction_within_budget": _median(pane.get("fraction_within_budget") for pane in panes),
                "p99_lateness_ms": _median((pane.get("lateness_ms") or {}).get("p99") for pane in panes),
            }
        )
    return sorted(summary, key=lambda row: row["arm"])


def clock_fidelity(trials):
    """How well the measured trials' page clocks were synced: the median and largest uncertainty
    (half the fastest ping's round trip) and how many trials' onsets are not known to half a frame."""
    fidelities = [trial.get("fidelity") or {} for trial in trials]
    uncertainties = [f["clock_uncertainty_ms"] for f in fidelities if f.get("clock_uncertainty_ms") is not None]
    return {
        "trials": len(uncertainties),
        "median_ms": _median(uncertainties),
        "max_ms": _max(uncertainties),
        "uncertain_trials": sum(1 for f in fidelities if f.get("clock_ok") is False),
    }


def trial_fidelity_rows(trials):
    """One flat row per trial for the researcher's table: both panes side by side."""
    rows = []
    for trial in trials:
        fidelity = trial.get("fidelity") or {}
        panes = fidelity.get("panes") or {}
        row = {key: trial[key] for key in ("participant", "index", "arm_a", "arm_b", "status", "delivery")}
        row.update(
            measured=bool(panes),
            interrupted=fidelity.get("interrupted", trial["status"] == "interrupted"),
            time_hidden_s=fidelity.get("time_hidden_s"),
            restarts=trial.get("restarts", 0),
            resumes=trial.get("resumes", 0),
            clock_uncertainty_ms=fidelity.get("clock_uncertainty_ms"),
            clock_ok=fidelity.get("clock_ok"),
            tokens_early=fidelity.get("tokens_early"),
            standard=fidelity.get("standard", "controlled") if panes else None,
        )
        on_time = "fraction_within_budget" if fidelity.get("standard") == "live" else "fraction_in_first_frame"
        for pane in "AB":
            data = panes.get(pane) or {}
            row[f"{pane}_on_time"] = data.get(on_time)
            row[f"{pane}_p99_lateness_ms"] = (data.get("lateness_ms") or {}).get("p99")
            row[f"{pane}_fraction_in_first_frame"] = data.get("fraction_in_first_frame")
            row[f"{pane}_p99_paint_error_ms"] = (data.get("paint_error_ms") or {}).get("p99")
            row[f"{pane}_target_ttft_s"] = (data.get("target") or {}).get("ttft_answer_s")
            row[f"{pane}_observed_ttft_s"] = (data.get("observed") or {}).get("ttft_answer_s")
            row[f"{pane}_speed_ratio"] = data.get("speed_ratio")
        rows.append(row)
    return rows
