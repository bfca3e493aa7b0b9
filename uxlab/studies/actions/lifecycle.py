"""A study's lifecycle (draft → live → paused → closed), its versions, its audit trail, and the
participants who do not count: researchers' previews and pilots (docs/builder.md)."""

from django.db import transaction

from uxlab.studies.actions.audit import record_audit
from uxlab.studies.models import Participant, Study, StudyVersion

Status = Study.Status

# Which status each button leads to, from which statuses (the rule of each step).
TRANSITIONS = {
    "launch": ({Status.DRAFT}, Status.LIVE),
    "pause": ({Status.LIVE}, Status.PAUSED),
    "resume": ({Status.PAUSED}, Status.LIVE),
    "close": ({Status.LIVE, Status.PAUSED}, Status.CLOSED),
}
ACTION_LABELS = {"launch": "Launch", "pause": "Pause", "resume": "Resume", "close": "Close"}
COUNTED = ""  # Participant.mode of a real participant
PILOT, PREVIEW = "pilot", "preview"


class TransitionRefused(Exception):
    """This change of status is not allowed now; the message says why."""


def available_transitions(study):
    """The buttons the study page offers now, in lifecycle order."""
    return [name for name, (sources, _target) in TRANSITIONS.items() if study.status in sources]


def transition(study, name, user, *, launch_check=None):
    """Move the study along its lifecycle (one of TRANSITIONS), audited. ``launch_check`` returns a
    list of problems that stop a launch (a draft that does not validate, a study with no arms)."""
    if name not in TRANSITIONS:
        raise TransitionRefused(f"unknown action '{name}'")
    sources, target = TRANSITIONS[name]
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        if locked.status not in sources:
            raise TransitionRefused(f"a {locked.status} study cannot be {ACTION_LABELS[name].lower()}d")
        if name == "launch":
            problems = launch_check(locked) if launch_check else []
            if problems:
                raise TransitionRefused("the study has problems to fix first: " + "; ".join(problems))
        locked.status = target
        locked.paused_reason = ""
        locked.save(update_fields=["status", "paused_reason", "updated_at"])
        if name == "launch":
            record_version(locked, user)
        record_audit(locked, user, name, f"{'/'.join(sorted(sources))} → {target}")
    study.refresh_from_db()
    return study


def record_version(study, user):
    """Keep the study file of the study's current version (at launch and after each later edit)."""
    from uxlab.studies.drafts import study_document

    StudyVersion.objects.update_or_create(
        study=study, number=study.version, defaults={"document": study_document(study), "created_by": user}
    )


def bump_version(study, user, detail):
    """An edit after launch: the study gets a new version, kept and audited; participants who
    start from now on record it (Participant.study_version)."""
    Study.objects.filter(pk=study.pk).update(version=study.version + 1)
    study.refresh_from_db(fields=["version"])
    record_version(study, user)
    record_audit(study, user, "new_version", detail)


# --- Participants who do not count -----------------------------------------------------------------


def enroll_uncounted(study, mode):
    """A preview or pilot participant: the whole flow, outside quotas (and, by default, analysis)."""
    if mode not in (PILOT, PREVIEW):
        raise ValueError(f"unknown mode {mode!r}")
    return Participant.objects.create(study=study, mode=mode, study_version=study.version)


def uncounted_counts(study):
    rows = study.participants.exclude(mode=COUNTED).values_list("mode", flat=True)
    counts = {PILOT: 0, PREVIEW: 0}
    for mode in rows:
        counts[mode] = counts.get(mode, 0) + 1
    return counts


def delete_uncounted(study, user, modes=(PILOT, PREVIEW)):
    """Delete every pilot and preview participant of the study with all their data, audited."""
    with transaction.atomic():
        deleted = study.participants.filter(mode__in=modes).count()
        study.participants.filter(mode__in=modes).delete()
        record_audit(study, user, "delete_pilot_data", f"{deleted} pilot/preview participant(s) deleted")
    return deleted
