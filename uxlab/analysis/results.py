"""A study's results: its answers read from the database and summarised by analysis.summaries.

This is the one place that decides which answers go into which summary; the results page, the API
and the summary download all call `study_results` with options parsed by `options_from`.
"""

import math

from uxlab.analysis import stats
from uxlab.analysis.rows import (
    EXCLUDED_COLUMN,
    EXCLUSION_REASONS_COLUMN,
    PARTICIPANT_COLUMN,
    TRIAL_INDEX_COLUMN,
    Column,
    StudyContext,
    trial_exclusion,
    trial_record,
)
from uxlab.analysis.simulation import PaneTiming
from uxlab.analysis.summaries import AnalysisOptions, Answer, QuestionInfo, SummaryContext, summarise
from uxlab.studies.models import Question, Rating, Trial


def default_rules():
    return list(stats.DEFAULT_RULES)


def parse_rules(values):
    """Exclusion rules from request parameters: known names only; none given means all enabled."""
    return [name for name in values if name in stats.RULES_BY_NAME]


def options_from(params):
    """Analysis options from request parameters (ties, speeds, level); unknown values fall back to
    the defaults, so a stale link still shows a page."""
    defaults = AnalysisOptions()
    ties = params.get("ties", defaults.ties)
    speeds = params.get("speeds", defaults.speeds)
    try:
        level = float(params.get("level", defaults.level))
    except (TypeError, ValueError):
        level = defaults.level
    return AnalysisOptions(
        ties=ties if ties in ("half", "davidson", "drop") else defaults.ties,
        speeds=speeds if speeds in ("declared", "displayed") else defaults.speeds,
        level=level if math.isfinite(level) and 0.5 < level < 1 else defaults.level,
    )


def declared_timing(profile_a, profile_b):
    """What the arms' profiles promise: tokens/s and the wait for the first answer token."""
    return PaneTiming(profile_a.get("tokens_per_second"), profile_b.get("tokens_per_second"),
                      scheduled_wait_s(profile_a), scheduled_wait_s(profile_b))


def displayed_timing(fidelity):
    """What the participant's browser showed (the trial's fidelity summary); None where unmeasured."""
    panes = (fidelity or {}).get("panes") or {}

    def observed(pane, name):
        value = ((panes.get(pane) or {}).get("observed") or {}).get(name)
        return value if isinstance(value, (int, float)) and math.isfinite(value) and value > 0 else None

    return PaneTiming(observed("A", "tokens_per_second"), observed("B", "tokens_per_second"),
                      observed("A", "ttft_answer_s"), observed("B", "ttft_answer_s"))


def scheduled_wait_s(profile):
    """How long the schedule keeps a pane waiting for its first answer token (thinking included)."""
    if profile.get("ttft_s") is None:
        return None
    thinking = profile.get("thinking_tokens") or 0
    speed = profile.get("thinking_tokens_per_second") or profile.get("tokens_per_second") or 0
    return profile["ttft_s"] + (thinking / speed if thinking and speed else 0.0)


def actual_wait_s(fidelity, pane, profile):
    """How long the participant waited for the pane's first answer token: as observed in their
    browser (the trial's fidelity summary) or, unmeasured, as the arm's schedule intended."""
    observed = displayed_timing(fidelity)
    value = observed.ttft_a if pane == "A" else observed.ttft_b
    return value if value is not None else scheduled_wait_s(profile)


def _answers(study, context):
    """Every answer with its trial's exclusion record and fidelity, as plain tuples."""
    trial_fields = ["kind", "hidden_during_stream", "fidelity"]
    queryset = Rating.objects.filter(participant__study=study).values_list(
        "participant_id", "trial_id", "trial__status", "trial__arm_a__name", "trial__arm_b__name",
        "question__name", "value", *(f"trial__{name}" for name in trial_fields),
    )
    for participant, trial_id, status, arm_a, arm_b, question, value, *rest in queryset.iterator(chunk_size=5000):
        extras = dict(zip(trial_fields, rest, strict=True))
        extras.update(context.participant_flags(participant))
        record = trial_record(participant, status, extras)
        yield participant, trial_id, arm_a, arm_b, question, value, record, extras.get("fidelity")


def study_results(study, rules=None, options=None):
    """Everything the results page, the API and the summary download report, for the answers the
    enabled exclusion rules keep, summarised per question by its kind's summariser."""
    rules = default_rules() if rules is None else list(rules)
    options = options or AnalysisOptions()
    context = StudyContext(study)
    questions = list(study.questions.all())
    by_name = {question.name: question for question in questions}
    trial_records, kept, answering = {}, {}, set()
    for participant, trial_id, arm_a, arm_b, name, value, record, fidelity in _answers(study, context):
        trial_records[trial_id] = record
        answering.add(participant)
        question = by_name[name]
        # A question asked once describes the participant, not the (first) trial it is stored with:
        # only the rules about participants leave it out (not `practice`, `hidden_tab`, ...).
        if (context.participant_exclusion(participant, rules) if question.asked_once
                else stats.exclusion_reasons(record, rules)):
            continue
        declared = declared_timing(context.profiles.get(arm_a, {}), context.profiles.get(arm_b, {}))
        kept.setdefault(question.base_name, []).append(
            Answer(participant, arm_a, arm_b, value, question.pane, declared, displayed_timing(fidelity)))
    # Trials without answers still count in what the rules would exclude.
    for trial_id, status in Trial.objects.filter(participant__study=study).values_list("id", "status"):
        trial_records.setdefault(trial_id, {"status": status})
    summary_context = SummaryContext(context.arm_order, options)
    summaries, seen = [], set()
    for question in questions:
        if question.base_name in seen:
            continue
        seen.add(question.base_name)
        info = QuestionInfo(question.base_name, question.kind, question.text, question.resolved_options)
        summary = summarise(info, kept.get(question.base_name, []), summary_context)
        if summary is not None:
            summaries.append(summary)
    return stats.json_safe({
        "study": study.code,
        "arms": context.arm_order,
        "options": {"ties": options.ties, "speeds": options.speeds, "level": options.level,
                    "n_boot": options.n_boot, "seed": options.seed},
        "exclusions": stats.exclusion_effect(trial_records.values(), rules),
        "answers_kept": sum(len(answers) for answers in kept.values()),
        # Participants with answers who have not completed, and whether the rule leaves them out.
        "not_completed": {"participants": len(answering & context.did_not_complete),
                          "excluded": "did_not_complete" in rules},
        "questions": summaries,
    })


FREE_TEXT_COLUMNS = (
    PARTICIPANT_COLUMN,
    TRIAL_INDEX_COLUMN,
    Column("arm_a", "string", "arm streamed in pane A (left)"),
    Column("arm_b", "string", "arm streamed in pane B (right)"),
    Column("text", "string", "the answer as given"),
    EXCLUDED_COLUMN,
    EXCLUSION_REASONS_COLUMN,
)


def free_text_rows(study, name, rules=None):
    """Every answer to the free-text question `name`, excluded ones flagged (`excluded`,
    `exclusion_reasons`) by the rules in force like every other table; None when the study has no
    such question. The page's count is the rows with excluded false."""
    if not study.questions.filter(name=name, kind=Question.Kind.FREE_TEXT).exists():
        return None
    rules = default_rules() if rules is None else list(rules)
    context = StudyContext(study)
    trial_fields = ["kind", "hidden_during_stream", "fidelity"]
    rows = []
    queryset = (
        Rating.objects.filter(participant__study=study, question__name=name)
        .order_by("participant_id", "trial__index")
        .values_list("participant_id", "trial__index", "trial__arm_a__name", "trial__arm_b__name", "value",
                     "trial__status", *(f"trial__{field}" for field in trial_fields))
    )
    for participant, index, arm_a, arm_b, value, status, *rest in queryset:
        extras = dict(zip(trial_fields, rest, strict=True))
        extras["participant_failed_attention_check"] = participant in context.failed_attention
        extras["participant_did_not_complete"] = participant in context.did_not_complete
        _low, excluded, reasons = trial_exclusion(trial_record(participant, status, extras), rules)
        rows.append((participant, index, arm_a, arm_b, value, excluded, reasons))
    return rows


def question_kinds():
    return {kind for kind, _label in Question.Kind.choices}
