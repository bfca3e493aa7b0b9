"""A study's results: its answers read from the database and summarised by analysis.stats.

This is the one place that decides which answers go into which statistic; the results page, the
API and the plots all read `study_results`.
"""

import math

from uxlab.analysis import stats
from uxlab.analysis.rows import StudyContext, trial_record
from uxlab.studies.models import Question, Rating, Trial

CHOICE_KINDS = {"forced_choice", "forced_choice_tie", "preference"}
LIKERT_KINDS = {"likert", "likert_pane", "pane_likert"}
WAITING_KINDS = {"wait_estimate"}


def default_rules():
    return [rule.name for rule in stats.EXCLUSION_RULES]


def parse_rules(values):
    """Exclusion rules from request parameters: known names only; none given means all enabled."""
    return [name for name in values if name in stats.RULES_BY_NAME]


def _answers(study, context):
    """Every answer with its trial's exclusion record, as plain tuples."""
    trial_fields = ["kind", "hidden_during_stream", "fidelity"]
    queryset = Rating.objects.filter(participant__study=study).values_list(
        "participant_id", "trial_id", "trial__status", "trial__arm_a__name", "trial__arm_b__name",
        "question__name", "value", *(f"trial__{name}" for name in trial_fields),
    )
    for participant, trial_id, status, arm_a, arm_b, question, value, *rest in queryset.iterator(chunk_size=5000):
        extras = dict(zip(trial_fields, rest, strict=True))
        extras["participant_failed_attention_check"] = participant in context.failed_attention
        record = trial_record(participant, status, extras)
        yield participant, trial_id, arm_a, arm_b, question, value, record, extras.get("fidelity")


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def study_results(study, rules=None, n_boot=500):
    """Everything the results page and the API report, for the answers the enabled rules keep."""
    rules = default_rules() if rules is None else list(rules)
    context = StudyContext(study)
    questions = list(study.questions.all())
    trial_records, kept = {}, []
    wait_questions = {q.name: q for q in questions if q.kind in WAITING_KINDS and getattr(q, "pane", "")}
    waits = {}  # question base name -> arm -> ([estimated s], [actual s])
    for participant, trial_id, arm_a, arm_b, question, value, record, fidelity in _answers(study, context):
        trial_records[trial_id] = record
        if not stats.exclusion_reasons(record, rules):
            kept.append((participant, arm_a, arm_b, question, value))
            if question in wait_questions:
                pane = wait_questions[question].pane
                arm = arm_a if pane == "A" else arm_b
                actual = actual_wait_s(fidelity, pane, context.profiles.get(arm, {}))
                estimated = _number(value)
                if actual is not None and estimated is not None:
                    pair = waits.setdefault(wait_questions[question].base_name, {}).setdefault(arm, ([], []))
                    pair[0].append(estimated)
                    pair[1].append(actual)
    # Trials without answers still count in what the rules would exclude.
    for trial_id, status in Trial.objects.filter(participant__study=study).values_list("id", "status"):
        trial_records.setdefault(trial_id, {"status": status})
    speeds = {name: profile.get("tokens_per_second") for name, profile in context.profiles.items()}
    minus_ttft = {
        name: -profile["ttft_s"] for name, profile in context.profiles.items() if profile.get("ttft_s") is not None
    }
    result = {
        "study": study.code,
        "arms": context.arm_order,
        "exclusions": stats.exclusion_effect(trial_records.values(), rules),
        "answers_kept": len(kept),
        "choice_questions": [],
        "likert_questions": [],
        "waiting_time": None,
    }
    for question in questions:
        answers = [row for row in kept if row[3] == question.name]
        if question.kind in CHOICE_KINDS:
            choices = [stats.Choice(p, a, b, value) for p, a, b, _q, value in answers]
            speed_points = stats.speed_choices(choices, {k: v for k, v in speeds.items() if v}, stats.log_speed_ratio)
            ttft_points = stats.speed_choices(choices, minus_ttft, stats.ttft_difference)
            result["choice_questions"].append(
                {
                    "question": question.name,
                    "text": question.text,
                    "n": len(choices),
                    "pairs": stats.pair_summaries(choices, context.arm_order),
                    "position_bias": stats.position_bias(choices),
                    "bradley_terry": stats.bradley_terry(choices, context.arm_order, n_boot=n_boot),
                    "psychometric_speed": stats.psychometric(speed_points),
                    "psychometric_ttft": stats.psychometric(ttft_points),
                }
            )
        elif question.kind in LIKERT_KINDS:
            # A per-pane question (pane "A"/"B", e.g. wait_ok_A) rates the arm streamed in that pane.
            # A question about the whole trial names no arm, so only per-pane rows add to an arm's summary.
            base = question.base_name
            existing = next((q for q in result["likert_questions"] if q["question"] == base), None)
            per_arm = existing["_values"] if existing else {}
            for _p, arm_a, arm_b, _q, value in answers:
                if question.pane and value.lstrip("-").isdigit():
                    per_arm.setdefault(arm_a if question.pane == "A" else arm_b, []).append(int(value))
            scale = question.option("scale")
            if existing:
                existing["arms"] = [{"arm": arm, **stats.likert_summary(per_arm[arm], range(1, (scale or 7) + 1))}
                                    for arm in context.arm_order if arm in per_arm]
                continue
            result["likert_questions"].append(
                {
                    "_values": per_arm,
                    "question": base,
                    "text": question.text,
                    "arms": [
                        {"arm": arm, **stats.likert_summary(per_arm[arm], range(1, (scale or 7) + 1))}
                        for arm in context.arm_order if arm in per_arm
                    ],
                }
            )
    for question in result["likert_questions"]:
        question.pop("_values", None)
    result["waiting_time"] = [
        {
            "question": base,
            "text": next(q.text for q in wait_questions.values() if q.base_name == base),
            "arms": [
                {"arm": arm, **stats.waiting_time_summary(*per_arm[arm])} for arm in context.arm_order if arm in per_arm
            ],
        }
        for base, per_arm in waits.items()
    ]
    return _clean(result)


def actual_wait_s(fidelity, pane, profile):
    """How long the participant waited for the pane's first answer token: as observed in their
    browser (the trial's fidelity summary) or, unmeasured, as the arm's schedule intended."""
    observed = (((fidelity or {}).get("panes") or {}).get(pane) or {}).get("observed") or {}
    if observed.get("ttft_answer_s") is not None:
        return observed["ttft_answer_s"]
    if profile.get("ttft_s") is None:
        return None
    thinking = profile.get("thinking_tokens") or 0
    speed = profile.get("thinking_tokens_per_second") or profile.get("tokens_per_second") or 0
    return profile["ttft_s"] + (thinking / speed if thinking and speed else 0.0)


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _clean(value):
    """Make a result JSON-safe: NaN and infinities become null, tuples lists, keys strings."""
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if isinstance(value, float):
        return _finite(value)
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def question_kinds():
    return {kind for kind, _label in Question.Kind.choices}
