"""Import: a validated StudyDefinition becomes a Study with its arms, prompts and questions."""

from django.db import IntegrityError, transaction

from uxlab.studies.models import Arm, Prompt, Question, Study
from uxlab.studies.study_files.errors import StudyFileError
from uxlab.studies.study_files.schema import PRACTICE_PROMPT_NAME, StudyDefinition



def apply_study_texts(study, definition):
    """The study's own fields a study file sets (title, texts, completion codes), the same for an
    import and for the builder's save (actions/builder.py); not saved here."""
    study.title = definition.title
    study.description = definition.description
    study.consent_version = definition.consent.version
    study.consent_text = definition.consent.text
    study.instructions = definition.instructions
    if definition.completion.code:
        study.completion_code = definition.completion.code
    study.completion_url = definition.completion.url
    study.completion_outcomes = definition.completion.outcomes

def import_study(definition: StudyDefinition, *, team, status=Study.Status.DRAFT, replace=False) -> Study:
    """Create the study a definition describes (or, with replace, redefine it) in one transaction.

    Replacing keeps the study row but recreates its arms, prompts and questions, so it is refused
    once the study has participants: their trials and ratings refer to the old ones.
    """
    status = Study.Status(status)
    try:
        with transaction.atomic():
            return _write_study(definition, team=team, status=status, replace=replace)
    except IntegrityError:
        # Another import took the code between our check and our insert.
        if definition.code and Study.objects.filter(code=definition.code).exists():
            raise StudyFileError([f"code: a study with code '{definition.code}' already exists"]) from None
        raise


def _write_study(definition, *, team, status, replace):
    code = definition.code
    if code:
        clash = Study.objects.filter(code__iexact=code).exclude(code=code).values_list("code", flat=True).first()
        if clash is not None:
            raise StudyFileError(
                [f"code: a study with code '{clash}' already exists (codes that differ only in case cannot coexist)"]
            )
    study = Study.objects.select_for_update().filter(code=code).first() if code else None
    if study is None:
        study = Study(team=team)
        if code:
            study.code = code
    else:
        if not replace:
            raise StudyFileError([f"code: a study with code '{code}' already exists"])
        if study.team_id != team.pk:
            raise StudyFileError(
                [f"code: study '{code}' belongs to another team; it cannot be replaced from team '{team.slug}'"]
            )
        if study.participants.exists():
            raise StudyFileError([f"code: study '{code}' already has participants; it cannot be replaced"])
        study.questions.all().delete()
        study.prompts.all().delete()
        study.arms.all().delete()

    apply_study_texts(study, definition)
    study.status = status
    study.design = {"pairs": [list(pair) for pair in definition.design.pairs or []], "seed": definition.design.seed}
    study.design["delivery"] = definition.design.delivery
    study.design.update(definition.design.model_dump(exclude={"pairs", "seed", "delivery", "adaptive"}))
    if definition.design.adaptive is not None:
        study.design["adaptive"] = definition.design.adaptive.config
    study.design["attention_checks"] = [
        {"prompt": check.name, "question": check.question, "expected": check.expected, "after_trial": check.after_trial}
        for check in definition.attention_checks
    ]
    study.save()

    Arm.objects.bulk_create(
        Arm(
            study=study,
            name=arm.name,
            label=arm.label,
            source=arm.source,
            kind=arm.kind,
            preset=getattr(arm, "preset", None) or "",  # kinds without presets have no such field
            profile=arm.profile,
            position=position,
        )
        for position, arm in enumerate(definition.arms)
    )
    Prompt.objects.bulk_create(
        Prompt(
            study=study,
            name=prompt.name,
            text=prompt.text,
            response=prompt.response,
            reasoning=prompt.reasoning,
            position=position,
        )
        for position, prompt in enumerate(definition.prompts)
    )
    extra_prompts = [
        Prompt(study=study, name=check.name, text=check.text, response=check.response, role="attention")
        for check in definition.attention_checks
    ]
    if definition.practice is not None:
        practice = definition.practice
        extra_prompts.append(
            Prompt(
                study=study,
                name=PRACTICE_PROMPT_NAME,
                text=practice.text,
                response=practice.response,
                reasoning=practice.reasoning,
                role="practice",
            )
        )
    for position, prompt in enumerate(extra_prompts, start=len(definition.prompts)):
        prompt.position = position
    Prompt.objects.bulk_create(extra_prompts)
    questions = [question for spec in definition.questions for question in spec.stored_questions()]
    for position, question in enumerate(questions):
        question.study = study
        question.position = position
    Question.objects.bulk_create(questions)
    return study
