"""Entry, consent, assignment and the participant's steps through a study."""

import hashlib

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from uxlab.studies.actions.adaptive import adaptive_config, assign_adaptive_trials, ends_its_run
from uxlab.studies.assignment import attention_positions, cell_key, plan_trials
from uxlab.studies.models import Arm, Participant, Prompt, Question, Rating, Study, Trial
from uxlab.studies.raw_sql import ModelColumns, fetch_rows, json_parameter

PARTICIPANT_COLUMNS = ModelColumns(Participant, "p")
STUDY_COLUMNS = ModelColumns(Study, "s")
QUESTION_COLUMNS = ModelColumns(Question, "q")
TRIAL_COLUMNS = ModelColumns(Trial, "t")
PROMPT_COLUMNS = ModelColumns(Prompt, "pr")
PARTICIPANT_AND_STUDY = (
    f"SELECT {PARTICIPANT_COLUMNS.sql}, {STUDY_COLUMNS.sql} FROM {PARTICIPANT_COLUMNS.table} p"
    f' INNER JOIN {STUDY_COLUMNS.table} s ON s."id" = p."study_id"'
)
PARTICIPANT_BY_TOKEN = f'{PARTICIPANT_AND_STUDY} WHERE p."token" = %s'
PARTICIPANT_BY_ID = f'{PARTICIPANT_AND_STUDY} WHERE p."id" = %s'
STUDY_QUESTIONS = (
    f'SELECT {QUESTION_COLUMNS.sql} FROM {QUESTION_COLUMNS.table} q WHERE q."study_id" = %s'
    ' ORDER BY q."position", q."id"'  # Question.Meta.ordering
)


def participant_by_token(token):
    """The participant with this token, their study read with them (one statement, written once:
    every participant page starts here; studies/raw_sql.py); None when there is none."""
    rows = fetch_rows(PARTICIPANT_BY_TOKEN, [token])
    return participant_and_study(rows[0]) if rows else None


def participant_and_study(row):
    participant = PARTICIPANT_COLUMNS.instance(row[: PARTICIPANT_COLUMNS.width])
    participant.study = STUDY_COLUMNS.instance(row[PARTICIPANT_COLUMNS.width :])
    return participant


def study_questions(study):
    """The study's questions in their order, as `study.questions.all()` reads them."""
    return [QUESTION_COLUMNS.instance(row) for row in fetch_rows(STUDY_QUESTIONS, [study.pk])]


def record_consent(participant):
    """Record consent, once. No cells are reserved yet: that waits for the first trial
    (reserve_trials), so consenting and leaving holds nothing back from other participants."""
    Participant.objects.filter(pk=participant.pk, consented_at__isnull=True).update(
        consented_at=timezone.now(),
        consent_version=participant.study.consent_version,
        status=Participant.Status.CONSENTED,
        last_seen_at=timezone.now(),
    )
    participant.refresh_from_db()
    return participant


def reserve_trials(participant):
    """Assign the participant's trials (reserving their cells), atomically and only once; the
    participant is on their way to the first trial. Raises StudyFull (and records nothing) when the
    study's quotas leave no room."""
    with transaction.atomic():
        locked = lock_participant_and_study(participant.pk)
        if locked.assignment or not locked.has_consented:
            return locked
        locked.assignment_seed = assignment_seed(locked)
        locked.assigned_at = timezone.now()
        assign_trials(locked)
        locked.save(update_fields=["assignment_seed", "assignment", "assigned_at"])
        return locked


# The study's row lock serialises assignments, so cell counts are read and raised atomically. It is
# the weaker NO KEY UPDATE lock: a participant (or anything else) referring to the study checks its
# foreign key with a KEY SHARE lock, which FOR UPDATE would make wait for every assignment in turn;
# study edits and status changes take FOR UPDATE, which still waits for it. The study is locked
# before the participant (Postgres locks in the clauses' order), as everything else that locks both
# does: a draft's save locks the study, then deletes its preview participants.
LOCK_PARTICIPANT_AND_STUDY = f"{PARTICIPANT_BY_ID} FOR NO KEY UPDATE OF s FOR UPDATE OF p"


def lock_participant_and_study(participant_id):
    """The participant with their study, both rows locked until the transaction ends (one statement)."""
    if connection.vendor != "postgresql":  # the embedded SQLite: every write transaction is serial
        return Participant.objects.select_related("study").get(pk=participant_id)
    return participant_and_study(fetch_rows(LOCK_PARTICIPANT_AND_STUDY, [participant_id])[0])


def give_consent(participant):
    """Consent and reserve the trials at once, as a participant who goes straight on to the trials
    (simulations, benchmarks, tests). Raises StudyFull like reserve_trials."""
    with transaction.atomic():
        record_consent(participant)
        return reserve_trials(participant)


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
    """How many participants hold each design cell, not counting expired sessions (their slots are
    free). Cells are held from the first trial on (reserve_trials); unstarted reservations are
    released by the expiry task."""
    return dict(fetch_rows(LIVE_CELL_COUNTS, [study.pk, Participant.Status.EXPIRED]))


# What an assignment reads while it holds the study's lock, in two statements written once
# (studies/raw_sql.py): the ORM spent ~10 ms of CPU building the four queries these replace, all of
# it with the lock held, so every other participant's first trial of the study waited for it.
ARM_TABLE, PROMPT_TABLE = Arm._meta.db_table, Prompt._meta.db_table
STUDY_ARMS_AND_PROMPTS = (
    f'SELECT \'arm\', a."id", a."name", \'\', a."position" FROM {ARM_TABLE} a WHERE a."study_id" = %s'
    f' UNION ALL SELECT \'prompt\', pr."id", pr."name", pr."role", pr."position" FROM {PROMPT_TABLE} pr'
    ' WHERE pr."study_id" = %s ORDER BY 1, 5, 2'  # Arm and Prompt Meta.ordering: position, id
)
LIVE_CELL_COUNTS = (
    f'SELECT t."cell", COUNT(*) AS n FROM {TRIAL_COLUMNS.table} t'
    f' INNER JOIN {PARTICIPANT_COLUMNS.table} p ON p."id" = t."participant_id"'
    ' WHERE p."study_id" = %s AND t."kind" = \'trial\' AND p."mode" = \'\' AND p."status" <> %s GROUP BY t."cell"'
)
# Row 0: how many other real (not preview or pilot) participants were assigned before (the
# ordinal); then the live cell counts.
ORDINAL_AND_CELL_COUNTS = (
    f'SELECT 0, \'\', COUNT(*) FROM {PARTICIPANT_COLUMNS.table} p'
    ' WHERE p."study_id" = %s AND p."mode" = \'\' AND p."assignment" <> %s AND p."id" <> %s'
    f' UNION ALL SELECT 1, q."cell", q."n" FROM ({LIVE_CELL_COUNTS}) q'
)


def arms_and_prompts(study):
    """The study's arms as {name: id} and prompts as {name: (id, role)}, each in its order."""
    arms, prompts = {}, {}
    for kind, pk, name, role, _position in fetch_rows(STUDY_ARMS_AND_PROMPTS, [study.pk, study.pk]):
        if kind == "arm":
            arms[name] = pk
        else:
            prompts[name] = (pk, role)
    return arms, prompts


def ordinal_and_cell_counts(study, participant):
    rows = fetch_rows(
        ORDINAL_AND_CELL_COUNTS,
        [study.pk, json_parameter(Participant, "assignment", {}), participant.pk, study.pk, Participant.Status.EXPIRED],
    )
    ordinal = next(count for part, _cell, count in rows if part == 0)
    return ordinal, {cell: count for part, cell, count in rows if part == 1}


def assign_trials(participant):
    """Plan and create the participant's trials (call with the study row locked; see reserve_trials).

    Cells are balanced across participants and ordered by Latin square or seeded shuffle, with
    left/right counterbalanced within the participant (studies/assignment.py); a practice trial
    comes first and attention checks are inserted among the trials. The plan is stored on the
    participant (`assignment`) with the seed.
    """
    study = participant.study
    if adaptive_config(study):
        return assign_adaptive_trials(participant)
    session = study.session
    arms, prompts = arms_and_prompts(study)
    trial_prompts = [name for name, (_pk, role) in prompts.items() if role == "trial"]
    ordinal, counts = ordinal_and_cell_counts(study, participant)
    planned = plan_trials(
        [list(pair) for pair in session.pairs],
        trial_prompts,
        counts=counts,
        ordinal=ordinal,
        seed=participant.assignment_seed,
        order=session.order,
        per_participant=session.trials_per_participant,
        quota=None if participant.mode else session.quota_per_cell,  # previews and pilots fill no quota
    )

    def arms_of(pair_index, first_left):
        first, second = session.pairs[pair_index]
        return (first, second) if first_left else (second, first)

    sequence = [("trial", item.prompt, item.cell, arms_of(item.pair_index, item.first_arm_left)) for item in planned]
    checks = list(session.attention_checks)
    for offset, (position, check) in enumerate(
        sorted(zip(attention_positions(len(planned), checks), range(len(checks))), key=lambda pair: pair[0])
    ):
        sequence.insert(position + offset, ("attention", checks[check]["prompt"], "", arms_of(0, (ordinal + offset) % 2 == 1)))
    practice = [name for name, (_pk, role) in prompts.items() if role == "practice"]
    if practice:
        sequence.insert(0, ("practice", practice[0], "", arms_of(0, ordinal % 2 == 0)))

    Trial.objects.bulk_create(
        Trial(
            participant=participant,
            index=index,
            kind=kind,
            cell=cell,
            prompt_id=prompts[prompt][0],
            arm_a_id=arms[arm_a],
            arm_b_id=arms[arm_b],
            seed=f"{participant.assignment_seed}:{index}",
        )
        for index, (kind, prompt, cell, (arm_a, arm_b)) in enumerate(sequence)
    )
    participant.assignment = {
        "order": session.order,
        "ordinal": ordinal,
        "seed": participant.assignment_seed,
        "trials": [
            {"index": index, "kind": kind, "prompt": prompt, "cell": cell, "arm_a": arm_a, "arm_b": arm_b}
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
    """The step the participant is on: withdrawn, expired, checks, consent, instructions, trial or done.

    ``trial`` includes a participant whose trials are not reserved yet (the trial page reserves them).
    """
    return participant_position(participant)[0]


def participant_position(participant, questions=None, trials=None):
    """(step, pending trial): participant_step, and the trial pending_trial finds when the step
    depended on it (else None), so a page that needs both reads the trials once. `questions`: the
    study's questions, and `trials` the participant's (trials_with_answers), when the caller has
    read them."""
    if participant.is_withdrawn:
        return "withdrawn", None
    if participant.is_expired:
        return "expired", None
    if participant.checked_at is None or not participant.checks.get("passed"):
        return "checks", None
    if not participant.has_consented:
        return "consent", None
    if participant.instructions_seen_at is None:
        return "instructions", None
    if participant.completed_at is not None:
        return "done", None
    if not participant.assignment:
        return "trial", None
    pending = pending_trial(participant, questions, trials)
    return ("trial" if pending is not None else "done"), pending


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


def mark_instructions_seen(participant, assistive_technology=None):
    """The participant read the instructions; with the study's assistive-technology question, their
    answer is kept too (True, or False when they left it unticked)."""
    extra = {} if assistive_technology is None else {"assistive_technology": assistive_technology}
    now = timezone.now()
    Participant.objects.filter(pk=participant.pk, instructions_seen_at__isnull=True).update(
        instructions_seen_at=now, last_seen_at=now, **extra
    )
    participant.refresh_from_db()


def touch_participant(participant):
    """Note that the participant is still here (abandoned sessions are the ones not seen for a while)."""
    now = timezone.now()
    Participant.objects.filter(pk=participant.pk).update(last_seen_at=now)
    participant.last_seen_at = now


# --- Where the participant is --------------------------------------------------------------------


def pending_trial(participant, questions=None, trials=None):
    """The first trial not yet streamed or with a required question unanswered (its prompt read
    with it); None when every trial was streamed and answered (or none is reserved yet). A skipped
    trial (it could not be shown) is passed by: the participant goes on without it. `questions`:
    the study's questions, when the caller has read them; `trials`: the participant's trials as
    trials_with_answers reads them, when the caller has. A question asked once (``ask: once``) is
    required on the first trial only (Question.FIRST_TRIAL_INDEX)."""
    if trials is None:
        trials = trials_with_answers(participant, questions)
    for trial in trials:
        if trial.status == Trial.Status.SKIPPED:
            continue
        if (
            trial.started_at is None
            or trial.required_answered < trial.required_count
            or (trial.index == Question.FIRST_TRIAL_INDEX and trial.once_answered < trial.once_count)
        ):
            return trial
    return None


def trials_with_answers(participant, questions=None):
    """The participant's trials in order, each with its prompt and how many of the study's required
    questions it has answers to: `required_answered` of the `required_count` asked on every trial,
    `once_answered` of the `once_count` asked once. One statement, written once per count of
    questions (studies/raw_sql.py): no rating is read, only counted."""
    if questions is None:
        questions = study_questions(participant.study)
    required = [question for question in questions if question.required]
    every = [question.pk for question in required if not question.asked_once]
    once = [question.pk for question in required if question.asked_once]
    rows = fetch_rows(trials_with_answers_sql(len(every), len(once)), [*every, *once, participant.pk])
    trials = []
    for row in rows:
        trial = TRIAL_COLUMNS.instance(row[: TRIAL_COLUMNS.width])
        trial.prompt = PROMPT_COLUMNS.instance(row[TRIAL_COLUMNS.width : TRIAL_COLUMNS.width + PROMPT_COLUMNS.width])
        trial.required_answered, trial.once_answered = row[-2:]
        trial.required_count, trial.once_count = len(every), len(once)
        trials.append(trial)
    return trials


def answered_count_sql(count):
    """How many of `count` questions (parameters) a trial `t` has answers to."""
    if not count:
        return "0"
    placeholders = ", ".join(["%s"] * count)
    return (
        f'(SELECT COUNT(DISTINCT r."question_id") FROM {Rating._meta.db_table} r'
        f' WHERE r."trial_id" = t."id" AND r."question_id" IN ({placeholders}))'
    )


def trials_with_answers_sql(every, once):
    return (
        f"SELECT {TRIAL_COLUMNS.sql}, {PROMPT_COLUMNS.sql}, {answered_count_sql(every)}, {answered_count_sql(once)}"
        f' FROM {TRIAL_COLUMNS.table} t INNER JOIN {PROMPT_COLUMNS.table} pr ON pr."id" = t."prompt_id"'
        ' WHERE t."participant_id" = %s ORDER BY t."index"'
    )


def is_last_trial(participant, trial):
    """Whether no trial follows this one: the participant's last in a fixed design; in an adaptive
    one (whose trials are made as answers are stored), a trial whose answer ends the run whichever
    answer it is."""
    if (participant.assignment or {}).get("design") == "adaptive":
        return ends_its_run(trial)
    return trial.index == participant.trials.order_by("-index").values_list("index", flat=True).first()


def missing_telemetry(participant):
    """Whether a trial with stored answers still lacks the browser's stored telemetry."""
    return participant.trials.filter(ratings__isnull=False, telemetry__isnull=True).exists()
