"""A study's audit log: one entry per change to the study or privacy event (models AuditEntry),
written by the step that did it, in its transaction."""

from uxlab.studies.models import AuditEntry


def record_audit(study, user, action, detail="", *, participant_number=None, data=None):
    """Add an entry to the study's audit log. ``user``: the researcher who did it (None, or an
    anonymous user, when a participant or uxlab itself did); ``detail`` says what happened in words,
    ``data`` holds the facts (counts, who asked). A change to the study records its version."""
    researcher = user if user is not None and user.is_authenticated else None
    facts = dict(data or {})
    if researcher is not None:
        facts.setdefault("by", "researcher")
    return AuditEntry.objects.create(
        study_id=study.pk if hasattr(study, "pk") else study, user=researcher, action=action, detail=detail[:500],
        participant_number=participant_number, data=facts,
        version=None if action in AuditEntry.Action.values else getattr(study, "version", None),
    )
