"""Adaptive designs' data (the ORM-touching part): every step as an export table, and each
participant's thresholds for the results page (docs/adaptive.md, docs/data-dictionary.md)."""

import math

from uxlab.adaptive.session import with_defaults
from uxlab.analysis import columns, stats
from uxlab.analysis.adaptive import NO_ANSWER, by_group, clip_interval, distribution, track_ranges
from uxlab.analysis.columns import Column, Table
from uxlab.analysis.context import StudyContext
from uxlab.studies.models import AdaptiveStep, Rating

CHUNK = 5000

ADAPTIVE_STEP_COLUMNS = (
    columns.STUDY_COLUMN,
    columns.PARTICIPANT_COLUMN,
    columns.TRIAL_INDEX_COLUMN,
    Column("step", "integer", "the step's place in the participant's adaptive run, from 0 (catch trials included)"),
    Column("track", "string", "the track (staircase or QUEST+ run) the step belongs to"),
    Column("catch", "boolean", "a catch trial: the track's easiest difference, not used by the procedure"),
    Column("procedure", "string", "staircase or quest_plus"),
    Column("dimension", "string", "what the test pane varied: tokens_per_second, ttft_s or thinking_tokens"),
    Column("reference_value", "number", "the reference arm's value of the dimension (the other pane)"),
    Column("value", "number", "the test pane's value of the dimension on this trial"),
    Column("level_log10", "number", "the difficulty, an unsigned distance from the reference in log10 units: "
           "|log10(value) - log10(reference_value)| (not a log10 value; summary.next_level_log10 is one)"),
    Column("test_pane", "string", "A or B: the pane that showed the test value"),
    Column("answer", "string", "the participant's answer to the adaptive question (A or B); empty until stored"),
    Column("correct", "boolean", "whether the answer named the pane that really was faster"),
    Column("threshold_log10", "number", "the track's threshold estimate after this answer, log10 of the dimension's units (staircase: empty before two reversals)"),
    Column("threshold", "number", "the same estimate in the dimension's units (10^threshold_log10)"),
    Column("threshold_sd_log10", "number", "QUEST+: posterior SD of the threshold; staircase: SD of the reversal levels used"),
    Column("threshold_low_log10", "number", "lower end of the 95% interval (QUEST+ credible, staircase t interval)"),
    Column("threshold_high_log10", "number", "upper end of the 95% interval (staircase: both ends clipped to the track's range)"),
    Column("threshold_interval_clipped", "boolean", "staircase: the t interval reached outside the track's range and was clipped to it (no longer a 95% interval); false for QUEST+, empty without an estimate"),
    Column("reversals", "integer", "staircase: reversals so far on the track (empty for QUEST+)"),
    Column("summary", "json", "the procedure's whole summary after this answer, as stored (interval not clipped; "
           "also slope and lapse modes for QUEST+); its *_log10 keys but sd_log10 are signed log10 values, "
           "next_level_log10 included"),
    Column("answered_at", "datetime", "when the answer was stored and the next trial chosen (ISO 8601 UTC)"),
    # Participant rules only: the procedure already used every step (docs/data-dictionary.md).
    columns.EXCLUDED_COLUMN,
    columns.EXCLUSION_REASONS_COLUMN,
)


def clipped(config):
    """A function that clips a stored summary's interval to its track's range (staircases only;
    analysis/adaptive.py, docs/adaptive.md) and marks it; QUEST+ summaries get ``interval_clipped`` false."""
    if not config:
        return lambda track, summary: summary
    filled = with_defaults(config)
    ranges = track_ranges(filled)
    use_reversals = filled["staircase"]["use_reversals"]

    def clip(track, summary):
        if not summary or summary.get("low_log10") is None:
            return summary
        if filled["procedure"] != "staircase" or track not in ranges:
            return dict(summary, interval_clipped=False)
        return clip_interval(summary, ranges[track], use_reversals)

    return clip


def adaptive_step_rows(study, options=None):
    config = (study.design or {}).get("adaptive") or {}
    clip = clipped(config)
    context = StudyContext(study)
    rules = stats.DEFAULT_RULES if options is None else options.exclusion_rules
    steps = (
        AdaptiveStep.objects.filter(run__participant__study=study)
        .order_by("run__participant_id", "number")
        .values_list("run__participant_id", "trial__index", "number", "track", "catch", "run__reference_value",
                     "value", "level", "test_pane", "answer", "correct", "summary", "answered_at")
    )
    for participant, index, number, track, catch, reference, value, level, pane, answer, correct, summary, at in (
        steps.iterator(chunk_size=CHUNK)
    ):
        summary = summary or {}
        shown = clip(track, summary)
        threshold = summary.get("log10")
        yield (
            study.code, participant, index, number, track, catch, config.get("procedure", ""),
            config.get("dimension", ""), reference, value, level, pane, answer, correct, threshold,
            None if threshold is None else 10**threshold, summary.get("sd_log10"), shown.get("low_log10"),
            shown.get("high_log10"), shown.get("interval_clipped"), summary.get("reversals"), summary or None, at,
            *excluded(context, participant, rules),
        )


def excluded(context, participant, rules):
    reasons = context.participant_exclusion(participant, rules)
    return bool(reasons), ";".join(reasons)


def adaptive_steps_table():
    return Table("adaptive_steps", "Adaptive designs: one row per adaptive trial, with its stimulus, the answer and "
                 "the track's estimate after it.", ADAPTIVE_STEP_COLUMNS, adaptive_step_rows)


def adaptive_question(study):
    """The name of the question whose answers drive an adaptive design (None for a fixed one)."""
    return ((study.design or {}).get("adaptive") or {}).get("question")


def group_questions(study):
    """The names of the questions an adaptive study's thresholds can be grouped by: every question
    but the adaptive one (its answers are the data, not a group), those asked once (``ask: once``,
    screeners about the participant) first."""
    adaptive = adaptive_question(study)
    questions = [question for question in study.questions.all() if question.name != adaptive]
    return [question.name for question in sorted(questions, key=lambda question: not question.asked_once)]


def participant_groups(study, question):
    """{participant id: their answer to ``question``}: the one answer of a question asked once (a
    screener), or else the participant's first stored answer (on their earliest trial)."""
    rows = (
        Rating.objects.filter(participant__study=study, question__name=question)
        .order_by("participant_id", "trial__index")
        .values_list("participant_id", "value")
    )
    groups = {}
    for participant, value in rows:
        groups.setdefault(participant, value)
    return groups


def adaptive_results(study, group_by=None, rules=None):
    """Per participant and track: the final threshold with its interval, the track of every step,
    trials and catch accuracy; the distribution of thresholds per track; and, with ``group_by``
    (a question name), thresholds by the participants' first answer to it. Participants whom the
    enabled participant rules exclude (pilot, failed attention check, ...) are left out and counted."""
    config = (study.design or {}).get("adaptive")
    if not config:
        return None
    rules = stats.DEFAULT_RULES if rules is None else rules
    context = StudyContext(study)
    clip = clipped(config)
    left_out = {}
    steps = (
        AdaptiveStep.objects.filter(run__participant__study=study, answered_at__isnull=False)
        .order_by("run__participant_id", "number")
        .values("run__participant_id", "run__reference_value", "track", "catch", "value", "correct", "summary",
                "trial__index")
    )
    participants = {}
    for step in steps:
        reasons = context.participant_exclusion(step["run__participant_id"], rules)
        if reasons:
            left_out.setdefault(step["run__participant_id"], reasons)
            continue
        person = participants.setdefault(step["run__participant_id"], {
            "participant": step["run__participant_id"], "reference_value": step["run__reference_value"],
            "steps": [], "tracks": {}, "catch_trials": 0, "catch_correct": 0,
        })
        person["steps"].append({key: step[key] for key in ("track", "catch", "value", "correct")}
                               | {"trial_index": step["trial__index"]})
        if step["catch"]:
            person["catch_trials"] += 1
            person["catch_correct"] += int(bool(step["correct"]))
        else:
            person["tracks"][step["track"]] = clip(step["track"], step["summary"])
    groups = participant_groups(study, group_by) if group_by else {}
    tracks = [track["name"] for track in config["tracks"]]
    per_track = {}
    for name in tracks:
        estimates = [person["tracks"].get(name, {}).get("log10") for person in participants.values()]
        grouped = [(groups.get(pk, NO_ANSWER), person["tracks"][name]["log10"])
                   for pk, person in participants.items()
                   if person["tracks"].get(name, {}).get("log10") is not None]
        per_track[name] = {"distribution": distribution(estimates), "by_group": by_group(grouped) if group_by else None}
    for person in participants.values():
        person["trials"] = len(person["steps"])
        person["catch_accuracy"] = (person["catch_correct"] / person["catch_trials"]) if person["catch_trials"] else None
        person["group"] = groups.get(person["participant"]) if group_by else None
        person["completed"] = person["participant"] not in context.did_not_complete
        for summary in person["tracks"].values():
            if summary.get("log10") is not None and not math.isfinite(summary["log10"]):
                summary["log10"] = None
            for end in ("low", "high"):  # the interval as values too, as the threshold is shown
                if summary.get(f"{end}_log10") is not None:
                    summary[f"{end}_value"] = 10 ** summary[f"{end}_log10"]
    return {
        "config": config,
        "tracks": tracks,
        "participants": list(participants.values()),
        "per_track": per_track,
        "group_by": group_by,
        # Kept although their runs stopped before the procedure's end: estimates leaning on the prior.
        "not_completed": sum(not person["completed"] for person in participants.values()),
        "excluded": {"participants": len(left_out), "participant_ids": sorted(left_out), "by_rule": {
            name: count for name in rules if (count := sum(name in reasons for reasons in left_out.values()))}},
    }


def adaptive_for(study, group_by, rules=None):
    """``adaptive_results`` for the results page, the summary download and the API alike:
    ``group_by`` must name one of the questions thresholds can be grouped by (group_questions;
    anything else is ignored and echoed as ``unknown_group_by``, so the page and the JSON can say
    so). None for a fixed design."""
    questions = group_questions(study)
    known = group_by if group_by in questions else None
    section = adaptive_results(study, known, rules)
    if section is None:
        return None
    section["questions"] = questions
    section["unknown_group_by"] = group_by if group_by and known is None else ""
    # Why it is not grouped: the adaptive question's own answers are the data, not a group.
    section["unknown_group_by_reason"] = (
        ("adaptive_question" if group_by == adaptive_question(study) else "no_such_question")
        if section["unknown_group_by"] else ""
    )
    return section


def adaptive_json(section):
    """The results page's "Adaptive thresholds" section as JSON (summary.json and the API's
    results, key ``adaptive``; docs/api.md): the same numbers, without the per-step tracks (the
    adaptive_steps table has every step) and without the page's plots. None for a fixed design."""
    if section is None:
        return None

    config = section["config"]
    participants = []
    for person in section["participants"]:
        tracks = {}
        for name in section["tracks"]:
            summary = person["tracks"].get(name)
            if summary is None:
                continue
            tracks[name] = {"procedure": config["procedure"], **summary}
        participants.append({
            "participant": person["participant"], "excluded": False, "completed": person["completed"],
            "group": person["group"], "trials": person["trials"], "catch_trials": person["catch_trials"],
            "catch_correct": person["catch_correct"], "catch_accuracy": person["catch_accuracy"],
            "reference_value": person["reference_value"], "tracks": tracks,
        })
    return stats.json_safe({
        "procedure": config["procedure"], "dimension": config["dimension"], "reference": config.get("reference"),
        "config": config, "tracks": section["tracks"], "group_by": section["group_by"],
        "unknown_group_by": section["unknown_group_by"],
        "unknown_group_by_reason": section["unknown_group_by_reason"], "participants": participants,
        "per_track": section["per_track"], "not_completed": section["not_completed"],
        "excluded": section["excluded"],
    })
