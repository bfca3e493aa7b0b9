"""plan_study: how many participants a study file needs, by simulation through the analysis code.

For a study file (its arms, pairs, prompts, attention checks and session design, assigned as the
real assignment does) and an assumed truth (the simulate_participants response model), it simulates
`--repetitions` studies per number of participants, analyses each as the results page does, and
prints per size the median width of the 75% threshold's interval (log units), the share of studies
reaching `--target-width`, the interval's coverage of the truth, and the power of each pair's
Holm-adjusted test. docs/analysis.md explains how to read it.

    manage.py plan_study uxlab/studies/examples/zhou_2025_streaming_speed.yaml --participants 20,40,80 --target-width 0.3
"""

from pathlib import Path

import orjson
from django.core.management.base import BaseCommand, CommandError

from uxlab.analysis.planning import PlannedTrial, plan
from uxlab.analysis.results import declared_timing
from uxlab.studies.assignment import attention_positions, plan_trials
from uxlab.studies.management.commands.simulate_participants import add_model_arguments, model_from
from uxlab.studies.study_files import StudyFileError, parse_study_yaml

CHOICE_KINDS = ("forced_choice", "forced_choice_tie", "preference")


def design_of(definition, seed):
    """(trials_for(i), timings, arm order, choice question kind) of a parsed study file."""
    profiles = {arm.name: arm.profile for arm in definition.arms}
    order = [arm.name for arm in definition.arms]
    pairs = [list(pair) for pair in definition.design.pairs]
    prompts = [prompt.name for prompt in definition.prompts]
    choice = next((q for q in definition.questions if q.kind in CHOICE_KINDS), None)
    if choice is None:
        raise CommandError("the study has no choice question to plan for")
    timings = {}
    for first, second in pairs:
        timings[(first, second)] = declared_timing(profiles[first], profiles[second])
        timings[(second, first)] = declared_timing(profiles[second], profiles[first])
    checks = [check for check in definition.attention_checks if check.question == choice.name]
    counts = {}

    def trials_for(ordinal):
        planned = plan_trials(pairs, prompts, counts=counts, ordinal=ordinal, seed=f"{seed}:{ordinal}",
                              order=definition.design.order, per_participant=definition.design.trials_per_participant)
        for item in planned:
            counts[item.cell] = counts.get(item.cell, 0) + 1
        trials = []
        for item in planned:
            first, second = pairs[item.pair_index]
            a, b = (first, second) if item.first_arm_left else (second, first)
            trials.append(PlannedTrial(a, b, timings[(a, b)]))
        first, second = pairs[0]
        for offset, position in enumerate(sorted(attention_positions(len(planned), [c.model_dump() for c in checks]))):
            trials.insert(position + offset, PlannedTrial(first, second, timings[(first, second)], "attention",
                                                          checks[offset].expected))
        return trials

    return trials_for, timings, order, choice.kind


class Command(BaseCommand):
    help = "Plan a study by simulation: participants needed for a threshold interval width or a pair's power."

    def add_arguments(self, parser):
        parser.add_argument("study_file", help="a study YAML file (docs/study-format.md)")
        parser.add_argument("--participants", default="10,20,40,80", help="comma-separated sizes to try")
        parser.add_argument("--repetitions", type=int, default=50, help="simulated studies per size")
        parser.add_argument("--target-width", type=float, default=None,
                            help="wanted width of the 75%% threshold's 95%% interval, in log units (0.2 ≈ ±10%%)")
        parser.add_argument("--alpha", type=float, default=0.05, help="level of the Holm-adjusted pair tests")
        parser.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples per simulated analysis")
        parser.add_argument("--seed", type=int, default=0)
        add_model_arguments(parser)

    def handle(self, study_file, **options):
        try:
            definition = parse_study_yaml(Path(study_file).read_text())
        except OSError as error:
            raise CommandError(f"cannot read {study_file}: {error}") from None
        except StudyFileError as error:
            raise CommandError("; ".join(error.errors)) from None
        try:
            sizes = [int(size) for size in options["participants"].split(",") if size.strip()]
        except ValueError:
            raise CommandError("--participants takes comma-separated whole numbers") from None
        if not sizes or min(sizes) < 1 or options["repetitions"] < 1:
            raise CommandError("sizes and repetitions must be at least 1")
        model = model_from(options)
        trials_for, timings, order, kind = design_of(definition, options["seed"])
        result = plan(model, trials_for, timings, order, sizes, repetitions=options["repetitions"],
                      target_width=options["target_width"], alpha=options["alpha"], n_boot=options["n_boot"],
                      seed=options["seed"], question_kind=kind)
        result["study"] = definition.code or definition.title
        self.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())
