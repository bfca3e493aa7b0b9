"""The study builder's writes: a new study from a draft, a saved section, and applying a valid
draft to the study's rows with the same importer a YAML file goes through (docs/builder.md)."""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from uxlab.studies import drafts
from uxlab.studies.actions.audit import record_audit
from uxlab.studies.actions.lifecycle import PREVIEW, bump_version
from uxlab.studies.models import Study, StudyDraft
from uxlab.studies.study_files import StudyFileError, import_study
from uxlab.studies.study_files.importer import apply_study_texts


@dataclass
class SaveResult:
    """What saving a section did: its own problems (then nothing was saved), the problems left
    elsewhere in the draft, and whether the study's rows now match the draft."""

    section_problems: list = field(default_factory=list)
    other_problems: list = field(default_factory=list)
    applied: bool = False

    @property
    def saved(self):
        return not self.section_problems


def create_study(team, user, document, *, action="create", detail=""):
    """A draft study of the team from a builder document (blank, a template or an uploaded file).

    The study's row exists at once (its code, title, team); its arms, prompts and questions are
    written as soon as the whole document validates. Raises StudyFileError for a taken code.
    """
    code = document.get("code")
    with transaction.atomic():
        if code and Study.objects.filter(code__iexact=code).exists():
            raise StudyFileError([f"code: a study with code '{code}' already exists"])
        study = Study(team=team, title=str(document.get("title") or "Untitled study")[:200], status=Study.Status.DRAFT)
        if code:
            study.code = code
        study.save()
        document = {**document, "code": study.code}
        StudyDraft.objects.create(study=study, document=document, updated_by=user)
        record_audit(study, user, action, detail)
        definition, _problems = drafts.problems_of(document)
        if definition is not None:
            _apply(study, user, definition, document)
    return study


def draft_of(study):
    """The study's draft; a study without one (imported from YAML) gets its exported file as its draft."""
    draft = StudyDraft.objects.filter(study=study).first()
    if draft is None:
        draft, _created = StudyDraft.objects.get_or_create(study=study, defaults={"document": drafts.study_document(study)})
    return draft


def frozen(study, section_name):
    """Whether a section can no longer change: arms, prompts, questions and design once launched,
    everything once closed."""
    if study.status == Study.Status.CLOSED:
        return True
    return study.status != Study.Status.DRAFT and drafts.SECTIONS_BY_NAME[section_name].frozen_when_live


def _owns(path, item_path):
    return item_path is None or path == item_path or path.startswith((item_path + ".", item_path + "["))


def save_section(study, user, name, data, detail="", item_path=None):
    """Save one section of the study's draft if the schema finds no problem in it.

    The whole document is validated, so problems that involve this section (a pair naming an arm
    that is gone) are found; problems of other sections do not stop the save. Once the whole draft
    is valid it is applied: a draft study's rows are rewritten, a live study gets a new version.
    For one item of a list section (``item_path`` such as ``arms[2]``), only that item's problems
    stop the save (a first arm is saved although a study needs two).
    """
    if frozen(study, name):
        return SaveResult(section_problems=[("(top level)", f"the {name} section cannot change once a study is {study.status}")])
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        draft = draft_of(locked)
        document = drafts.with_section(draft.document, name, data)
        document["code"] = locked.code
        definition, problems = drafts.problems_of(document)
        grouped = drafts.problems_by_section(problems)
        own = [problem for problem in grouped.get(name, []) if _owns(problem[0], item_path)]
        grouped[name] = [problem for problem in grouped.get(name, []) if problem not in own]
        if own:
            return SaveResult(section_problems=own)
        draft.document = document
        draft.updated_at = timezone.now()
        draft.updated_by = user
        draft.save()
        record_audit(locked, user, f"edit_{name}", detail or f"saved the {name} section")
        result = SaveResult(other_problems=[problem for items in grouped.values() for problem in items])
        if definition is not None:
            try:
                _apply(locked, user, definition, document)
            except StudyFileError as exc:
                result.other_problems += [drafts.split_problem(line) for line in exc.errors]
                return result
            result.applied = True
    study.refresh_from_db()
    return result


def _apply(study, user, definition, document):
    """Write a valid definition to the study: a draft's rows are rewritten (previews of it are
    dropped; pilot data must be deleted first), a launched study changes only what may change after
    launch, as a new version. The draft becomes the study's exported file (one canonical form)."""
    if study.status == Study.Status.DRAFT:
        study.participants.filter(mode=PREVIEW).delete()
        if study.participants.exists():
            raise StudyFileError(["(top level): this draft has pilot data; delete it before changing the study"])
        import_study(definition, team=study.team, status=Study.Status.DRAFT, replace=True)
    else:
        _apply_after_launch(study, definition, document)
        study.refresh_from_db()
        bump_version(study, user, "edited after launch")
    study.refresh_from_db()
    StudyDraft.objects.filter(study=study).update(document=drafts.study_document(study), updated_at=timezone.now())


def _apply_after_launch(study, definition, document):
    """The parts that may change after launch: details, consent, instructions, completion, session.
    The frozen sections of the document must still be the study's own."""
    current = drafts.study_document(study)
    for section in drafts.SECTIONS:
        if section.frozen_when_live and drafts.section_data(current, section.name) != drafts.section_data(
            document, section.name
        ):
            raise StudyFileError([f"{section.name}: cannot change once the study is {study.status}"])
    apply_study_texts(study, definition)
    design = dict(study.design)
    design.update(definition.design.model_dump(include=set(drafts.SESSION_KEYS)))
    study.design = design
    study.save()


def apply_draft(study, user):
    """Apply a valid draft that is not in the study yet (after its pilot data was deleted)."""
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        document = draft_of(locked).document
        definition, _problems = drafts.problems_of(document)
        if definition is None or locked.status != Study.Status.DRAFT or not unapplied(locked, document):
            return False
        _apply(locked, user, definition, document)
    study.refresh_from_db()
    return True


def unapplied(study, document=None):
    """Whether a valid draft differs from what the study's rows say (a draft with pilot data keeps
    its changes in the draft until that data is deleted)."""
    document = document if document is not None else draft_of(study).document
    if not study.arms.exists():
        return True
    return drafts.without_code(document) != drafts.without_code(drafts.study_document(study))
