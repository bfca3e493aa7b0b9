"""Entry, consent, assignment and the participant's steps through a study."""

import hashlib

from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from uxlab.studies.assignment import attention_positions, cell_key, plan_trials
from uxlab.studies.models import ExternalIdentity, Participant, Study, Trial


def enroll_participant(study, *, panel=None, external_id=None, panel_study_id="", panel_session_id=""):
    """A participant for this study: the same one again for a known panel id, else a new one."""
    if not external_id:
        return Participant.objects.create(study=study)
    existing = find_participant_by_external_id(study, panel, external_id)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            participant = Participant.objects.create(study=study)
            ExternalIdentity.objects.create(
                participant=participant,
                study=study,
                panel=panel,
                external_id=external_id,
                panel_study_id=panel_study_id or "",
                panel_session_id=panel_session_id or "",
            )
            return participant
    except IntegrityError:
        # A concurrent request enrolled the same id first: return that participant.
        return find_participant_by_external_id(study, panel, external_id)


def find_participant_by_external_id(study, panel, external_id):
    identity = (
        ExternalIdentity.objects.filter(study=study, panel=panel, external_id=external_id)
        .select_related("participant")
        .first()
    )
    return identity.participant if identity else None


def give_consent(participant):
    """Record consent and assign the participant's trials, atomically and only once.

    Raises StudyFull (and records nothing) when the study's quotas leave no room.
    """
    with transaction.atomic():
        # The study's row lock serialises assignments, so cell counts are read and raised atomically.
        Study.objects.select_for_update().filter(pk=participant.study_id).first()
        locked = Participant.objects.select_for_update().select_related("study").get(pk=participant.pk)
        if locked.consented_at is not None:
            return locked
        locked.consented_at = timezone.now()
        locked.consent_version = locked.study.consent_version
        locked.status = Participant.Status.CONSENTED
        locked.assignment_seed = assignment_seed(locked)
        locked.last_seen_at = locked.consented_at
        assign_trials(locked)
        locked.save(
            update_fields=["consented_at", "consent_version", "status", "assignment_seed", "assignment", "last_seen_at"]
        )
        return locked


def decline_consent(participant):
    """Declining keeps nothing of the participant: they are deleted and only counted."""
    with transaction.atomic():
        deleted, _ = Participant.objects.filter(pk=participant.pk, consented_at__isnull=True).delete()
        if deleted:
            Study.objects.filter(pk=participant.study_id).update(declined_count=F("declined_count") + 1)
    return bool(deleted)


def assignment_seed(participant):
    base = participant.study.design.get("seed") or participant.study.code
    return hashlib.sha256(f"{base}:{participant.token}".encode()).hexdigest()[:16]


def live_cell_counts(study):
    """How many participants hold each design cell, not counting expired sessions (their slots are free)."""
    rows = (
        Trial.objects.filter(participant__study=study, kind="trial")
        .exclude(participant__status=Participant.Status.EXPIRED)
        .values_list("cell")
        .annotate(count=Count("id"))
    )
    return dict(rows)


def assign_trials(participant):
    """Plan and create the participant's trials (call with the study row locked; see give_consent).

    Cells are balanced across participants and ordered by Latin square or seeded shuffle, with
    left/right counterbalanced within the participant (studies/assignment.py); a practice trial
    comes first and attention checks are inserted among the trials. The plan is stored on the
    participant (`assignment`) with the seed.
    """
    study = participant.study
    session = study.session
    arms = {arm.name: arm for arm in study.arms.all()}
    prompts = {prompt.name: prompt for prompt in study.prompts.all()}
    trial_prompts = [prompt.name for prompt in prompts.values() if prompt.role == "trial"]
    ordinal = study.participants.exclude(assignment={}).exclude(pk=participant.pk).count()
    planned = plan_trials(
        [list(pair) for pair in session.pairs],
        trial_prompts,
        counts=live_cell_counts(study),
        ordinal=ordinal,
        seed=participant.assignment_seed,
        order=session.order,
        per_participant=session.trials_per_participant,
        quota=session.quota_per_cell,
    )

    def arms_of(pair_index, first_left):
        first, second = (arms[name] for name in session.pairs[pair_index])
        return (first, second) if first_left else (second, first)

    sequence = [("trial", item.prompt, item.cell, arms_of(item.pair_index, item.first_arm_left)) for item in planned]
    checks = list(session.attention_checks)
    for offset, (position, check) in enumerate(
        sorted(zip(attention_positions(len(planned), checks), range(len(checks))), key=lambda pair: pair[0])
    ):
        sequence.insert(position + offset, ("attention", checks[check]["prompt"], "", arms_of(0, (ordinal + offset) % 2 == 1)))
    practice = [prompt for prompt in prompts.values() if prompt.role == "practice"]
    if practice:
        sequence.insert(0, ("practice", practice[0].name, "", arms_of(0, ordinal % 2 == 0)))

    Trial.objects.bulk_create(
        Trial(
            participant=participant,
            index=index,
            kind=kind,
            cell=cell,
            prompt=prompts[prompt],
            arm_a=arm_a,
            arm_b=arm_b,
            seed=f"{participant.assignment_seed}:{index}",
        )
        for index, (kind, prompt, cell, (arm_a, arm_b)) in enumerate(sequence)
    )
    participant.assignment = {
        "order": session.order,
        "ordinal": ordinal,
        "seed": participant.assignment_seed,
        "trials": [
            {"index": index, "kind": kind, "prompt": prompt, "cell": cell, "arm_a": arm_a.name, "arm_b": arm_b.name}
            for index, (kind, prompt, cell, (arm_a, arm_b)) in enumerate(sequence)
        ],
    }


def study_is_full(study):
    """Whether a new participant could not be assigned: every cell at its quota, or too few open."""
    session = study.session
    if session.quota_per_cell is None:
        return False
    prompts = list(study.prompts.filter(role="trial").values_list("name", flat=True))
    cells = [cell_key(index, prompt) for index in range(len(session.pairs)) for prompt in prompts]
    counts = live_cell_counts(study)
    open_cells = sum(1 for cell in cells if counts.get(cell, 0) < session.quota_per_cell)
    wanted = len(cells) if session.trials_per_participant is None else min(session.trials_per_participant, len(cells))
    return open_cells < wanted


# --- The participant's steps ---------------------------------------------------------------------


def participant_step(participant):
    """The step the participant is on: expired, checks, consent, instructions, trial or done."""
    if participant.is_expired:
        return "expired"
    if participant.checked_at is None or not participant.checks.get("passed"):
        return "checks"
    if not participant.has_consented:
        return "consent"
    if participant.instructions_seen_at is None:
        return "instructions"
    if participant.completed_at is None and pending_trial(participant) is not None:
        return "trial"
    return "done"


def record_checks(participant, results, *, viewport_ok, stacked):
    """Store the browser checks (already validated by the view) and the layout they lead to."""
    study_session = participant.study.session
    passed = viewport_ok or (stacked and study_session.allow_stacked)
    layout = study_session.layout if viewport_ok else ("stacked" if passed else "")
    checks = {**results, "viewport_ok": viewport_ok, "passed": passed, "layout": layout}
    Participant.objects.filter(pk=participant.pk).update(
        checks=checks, checked_at=timezone.now(), layout=layout, last_seen_at=timezone.now()
    )
    participant.refresh_from_db()
    return passed


def mark_instructions_seen(participant):
    Participant.objects.filter(pk=participant.pk, instructions_seen_at__isnull=True).update(
        instructions_seen_at=timezone.now()
    )
    participant.refresh_from_db()


def touch_participant(participant):
    """Note that the participant is still here (abandoned sessions are the ones not seen for a while)."""
    Participant.objects.filter(pk=participant.pk).update(last_seen_at=timezone.now())


def score_attention_checks(participant):
    """Store pass/fail of each answered attention-check trial from its stored answer."""
    expected = {check["prompt"]: check for check in participant.study.session.attention_checks}
    for trial in participant.trials.filter(kind="attention", attention_passed__isnull=True).select_related("prompt"):
        check = expected.get(trial.prompt.name)
        if check is None:
            continue
        rating = trial.ratings.filter(question__name=check["question"]).first()
        if rating is not None:
            Trial.objects.filter(pk=trial.pk).update(attention_passed=rating.value == check["expected"])


def record_unconfirmed_completion(participant, pending_count):
    """The page gave up waiting for the final save and showed the code anyway: keep that fact."""
    Participant.objects.filter(pk=participant.pk, completion_unconfirmed_at__isnull=True).update(
        completion_unconfirmed_at=timezone.now(), unconfirmed_count=max(0, min(pending_count, 10_000))
    )
    participant.refresh_from_db()


# --- Where the participant is --------------------------------------------------------------------


def pending_trial(participant):
    """The first trial with a required question still unanswered, or None when all are answered.
    A skipped trial (it could not be shown) is passed by: the participant goes on without it."""
    required = {question.pk for question in participant.study.questions.all() if question.required}
    trials = participant.trials.exclude(status=Trial.Status.SKIPPED).order_by("index").prefetch_related("ratings")
    for trial in trials:
        if not required <= {rating.question_id for rating in trial.ratings.all()}:
            return trial
    return None


def missing_telemetry(participant):
    """Whether a trial with stored answers still lacks the browser's stored telemetry."""
    return participant.trials.filter(ratings__isnull=False, telemetry__isnull=True).exists()


def complete_participant(participant):
    """Mark the participant completed if every answer and telemetry batch is stored; returns whether it is."""
    if not participant.has_consented or participant.is_expired or pending_trial(participant) is not None:
        return False
    if missing_telemetry(participant):
        return False
    score_attention_checks(participant)
    if participant.completed_at is None:
        Participant.objects.filter(pk=participant.pk, completed_at__isnull=True).update(
            completed_at=timezone.now(), status=Participant.Status.COMPLETED
        )
        participant.refresh_from_db()
    return True


