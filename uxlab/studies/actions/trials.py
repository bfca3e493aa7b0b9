"""Opening, resuming and finishing a trial's stream, and what a socket knows of its participant."""

import re
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db import connection, transaction
from django.utils import timezone

from uxlab.streaming import delivery, kinds
from uxlab.studies.design import SessionDesign
from uxlab.studies.models import Arm, Participant, Prompt, Question, RecordedTrace, Study, Trial
from uxlab.studies.raw_sql import json_parameter, json_value


class TrialUnavailable(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# (code, message) of the refusal a closed session gets for any trial, answer or telemetry.
SESSION_CLOSED = {
    "expired": ("session_expired", "This session has expired: nothing more can be shown or answered."),
    "completed": ("session_completed", "This session is complete: nothing more can be shown or answered."),
    "withdrawn": ("session_withdrawn", "You have withdrawn from this study: nothing more can be shown or answered."),
}


# Participant tokens are secrets.token_urlsafe: anything else (a NUL, a slash) names no one.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# An answer under `answering: min_exposure` may arrive this much before t0 + the minimum exposure
# by the server's clock (the page's clock is synced to it only within a round trip).
EXPOSURE_SLACK_S = 1.0


def session_state(status, completed_at):
    """`active`, `expired`, `completed` or `withdrawn`: whether the session may still stream and answer."""
    if status == Participant.Status.WITHDRAWN:
        return "withdrawn"
    if status == Participant.Status.EXPIRED:
        return "expired"
    if status == Participant.Status.COMPLETED or completed_at is not None:
        return "completed"
    return "active"


@dataclass
class ParticipantContext:
    """What a consumer needs to check this participant's frames without a query per frame.

    It is loaded when the socket connects and learns as the socket works: the trials it starts and
    finishes (`started`, `finished`) and the telemetry bytes it has taken per trial. What happened
    on another socket or process since is read back only when a frame needs it (`load_progress`).
    """

    participant_id: int
    token: str
    group_name: str
    consented: bool
    state: str = "active"  # session_state()
    answering: str = "after_both"
    min_exposure_s: float = 0.0
    trial_ids: dict = field(default_factory=dict)  # index -> trial id
    questions: dict = field(default_factory=dict)  # name -> (id, Question: its clean_value checks answers)
    started: dict = field(default_factory=dict)  # index -> stream t0 (server epoch s) of started trials
    finished: set = field(default_factory=set)  # indexes of trials whose whole stream was sent
    telemetry_bytes: dict = field(default_factory=dict)  # index -> {key: bytes} of telemetry taken on this socket

    def learn_started(self, index, t0):
        self.started[index] = t0

    def learn_finished(self, index):
        self.finished.add(index)

    def learn_progress(self, progress):
        """Apply what `load_progress` read (on the event loop, not in the ORM thread)."""
        if progress is None:
            return
        index, t0, finished, state = progress
        self.state = state
        if t0 is not None:
            self.started[index] = t0
        if finished:
            self.finished.add(index)

    def trial_shown(self, index, now_s):
        """Whether answers to this trial may be taken: it was started and its panes finished; with
        `answering: any_time` once started, with `min_exposure` once the exposure could be over."""
        t0 = self.started.get(index)
        if t0 is None:
            return False
        if index in self.finished or self.answering == "any_time":
            return True
        return self.answering == "min_exposure" and now_s >= t0 + self.min_exposure_s - EXPOSURE_SLACK_S


# What a socket knows of its participant, in one statement: the participant and their study's
# design, their trials (index, id, t0, finished) in index order, and the study's questions (every
# column, in Question's ordering) as JSON rows.
PARTICIPANT_CONTEXT_SQL = """
SELECT p.id, p.token, p.status, p.completed_at, p.consented_at IS NOT NULL, s.design,
       trials.indexes, trials.ids, trials.t0s, trials.finished,
       (SELECT json_agg(row_to_json(q) ORDER BY q.position, q.id) FROM {question} q WHERE q.study_id = s.id)
FROM {participant} p
JOIN {study} s ON s.id = p.study_id
CROSS JOIN LATERAL (
    SELECT array_agg(t."index" ORDER BY t."index") AS indexes, array_agg(t.id ORDER BY t."index") AS ids,
           array_agg(t.stream_t0 ORDER BY t."index") AS t0s,
           array_agg(t.finished_at IS NOT NULL ORDER BY t."index") AS finished
    FROM {trial} t WHERE t.participant_id = p.id
) trials
WHERE p.token = %s
""".format(
    participant=Participant._meta.db_table,
    study=Study._meta.db_table,
    trial=Trial._meta.db_table,
    question=Question._meta.db_table,
)


def load_participant_context(token):
    """The ParticipantContext of the participant with this token, or None if there is none.

    One statement and no ORM compilation on Postgres (every socket connect and reload runs it);
    the ORM's three queries elsewhere (load_participant_context_portable)."""
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        return None
    if connection.vendor != "postgresql":
        return load_participant_context_portable(token)
    with connection.cursor() as cursor:
        cursor.execute(PARTICIPANT_CONTEXT_SQL, [token])
        row = cursor.fetchone()
    if row is None:
        return None
    participant_id, token, status, completed_at, consented, design, indexes, ids, t0s, finished, questions = row
    columns = Question._meta.concrete_fields
    names = [column.attname for column in columns]
    questions = [
        Question.from_db(connection.alias, names, [question[column.column] for column in columns])
        for question in json_value(questions) or ()
    ]
    trials = zip(indexes or (), ids or (), t0s or (), finished or ())
    state = session_state(status, completed_at)
    return participant_context(
        participant_id, token, consented, state, SessionDesign.of(json_value(design)), questions, trials
    )


def load_participant_context_portable(token):
    """load_participant_context through the ORM (the embedded default's SQLite)."""
    participant = next(iter(Participant.objects.select_related("study").filter(token=token)[:1]), None)
    if participant is None:
        return None
    trials = [
        (index, trial_id, t0, finished_at is not None)
        for index, trial_id, t0, finished_at in participant.trials.values_list("index", "id", "stream_t0", "finished_at")
    ]
    return participant_context(
        participant.pk, participant.token, participant.has_consented,
        session_state(participant.status, participant.completed_at), participant.study.session,
        participant.study.questions.all(), trials,
    )  # fmt: skip


def participant_context(participant_id, token, consented, state, session, questions, trials):
    """A ParticipantContext from what was read: `trials` as (index, id, t0, finished) in index order."""
    context = ParticipantContext(
        participant_id=participant_id,
        token=token,
        group_name=Participant.group_name_of(participant_id),
        consented=consented,
        state=state,
        answering=session.answering,
        min_exposure_s=session.min_exposure_s,
        questions={question.name: (question.pk, question) for question in questions},
    )
    for index, trial_id, t0, finished in trials:
        context.trial_ids[index] = trial_id
        if t0 is not None:
            context.started[index] = t0
        if finished:
            context.finished.add(index)
    return context


def load_progress(participant_id, index):
    """(index, t0, finished, session state) of one trial as stored now, for a context that has not
    seen it start or finish (another socket or process did); None if there is no such trial."""
    row = (
        Trial.objects.filter(participant_id=participant_id, index=index)
        .values_list("stream_t0", "finished_at", "participant__status", "participant__completed_at")
        .first()
    )
    if row is None:
        return None
    t0, finished_at, status, completed_at = row
    return index, t0, finished_at is not None, session_state(status, completed_at)


def load_session_state(participant_id):
    """The session's state as stored now (it expires or completes outside any socket)."""
    row = Participant.objects.filter(pk=participant_id).values_list("status", "completed_at").first()
    return "expired" if row is None else session_state(*row)


def pane_profile(trial, pane):
    """The profile a pane streams: its arm's, with an adaptive trial's dimension changed. `trial`
    may be a Trial or what start_trial reads back in one statement (arms, stimulus)."""
    arm = trial.arm_a if pane == "A" else trial.arm_b
    changed = (getattr(trial, "stimulus", None) or {}).get(pane)
    if not changed:
        return arm.profile
    return kinds.get(arm.kind).with_dimension(arm.profile, changed["dimension"], changed["value"])


def trial_pane_specs(trial, recordings=None):
    """What each pane streams (server-side only: it names the arm's parameters). `recordings`
    (recorded arm name -> its trace of this prompt), when given, is used instead of a query."""
    return {
        pane: {
            "kind": arm.kind,
            "profile": pane_profile(trial, pane),
            "content": trial.prompt.response,
            "reasoning": trial.prompt.reasoning,
            "seed": f"{trial.seed}:{pane}",
            **arm_stimulus(arm, trial.prompt, recordings),
        }
        for pane, arm in (("A", trial.arm_a), ("B", trial.arm_b))
    }


def arm_stimulus(arm, prompt, recordings=None):
    """What the arm's kind adds to its pane spec for this prompt (streaming/kinds): a trace's
    recording or built-in offsets, a live backend's prompt text. The kind reads this study's
    recorded traces through ``recording`` (from ``recordings`` when the caller has read them)."""

    def recording(arm_name):
        if recordings is not None:
            return recordings.get(arm_name)
        return (
            RecordedTrace.objects.filter(arm__study_id=arm.study_id, arm__name=arm_name, prompt=prompt)
            .values("text", "reasoning", "chunks")
            .first()
        )

    try:
        return kinds.get(arm.kind).stimulus(arm.profile or {}, prompt.text, recording)
    except kinds.StimulusNotReady:
        raise TrialUnavailable("stimulus_not_ready", "This trial cannot be shown yet.") from None


def trial_delivery(trial):
    """Live when either pane's kind is relayed as produced (a live backend), else the study's mode."""
    return kinds.delivery_for([trial.arm_a.kind, trial.arm_b.kind], trial.participant.study.session.delivery)


def trial_layout(trial):
    """How the panes are timed: side by side from one t0, or sequential (B after A)."""
    session = trial.participant.study.session
    return {"layout": session.layout, "gap_s": session.sequential_gap_s}


def skipped_by_backend(reason):
    """Whether a skip reason is a backend's doing (its restarts used up by failures, or the arm
    refusing more streams), not the participant's reloads ("restart_limit", "blocked") or a gap."""
    return reason == "arm_busy" or (reason.startswith("restart_limit: ") and reason != "restart_limit: gap")


def skip_trial(trial, reason):
    """The trial cannot be shown: the participant moves on (actions.pending_trial passes it by)
    and the reason stays with it. An attention check skipped by the participant's own reloads is
    failed, at once (a check dodged is not a check passed). Call with the trial's row locked."""
    trial.status = Trial.Status.SKIPPED
    trial.skip_reason = reason[:100]
    fields = ["status", "skip_reason"]
    if trial.kind == "attention" and not skipped_by_backend(reason):
        trial.attention_passed = False
        fields.append("attention_passed")
    trial.save(update_fields=fields)


# A trial start in one statement (one round trip, no transaction held open across several): lock
# the trial, decide what the start does (the same rules as start_trial's docstring), write the trial
# and the participant's last_seen_at, and read back what the panes need, recorded traces included.
# `action` is refused (not consented, or the session is over), skipped (already), start, resume,
# restart, block or restart_limit (these two skip the trial).
START_TRIAL_SQL = """
WITH locked AS (
    SELECT t.id, t.status, t.stream_t0, t.finished_at, t.restarts, t.seed, t.prompt_id, t.arm_a_id,
           t.arm_b_id, t.server_timing ->> 'interrupted' AS failure, t.stimulus,
           p.status AS participant_status, p.completed_at, p.consented_at IS NOT NULL AS consented,
           s.id AS study_id, s.design,
           COALESCE(s.design ->> 'interrupted_trial', %(policy)s) AS policy,
           COALESCE((s.design ->> 'max_restarts')::integer, %(max_restarts)s) AS max_restarts
    FROM {trial} t
    JOIN {participant} p ON p.id = t.participant_id
    JOIN {study} s ON s.id = p.study_id
    WHERE t.participant_id = %(participant)s AND t."index" = %(index)s
    FOR UPDATE OF t
),
decided AS (
    SELECT locked.*, CASE
        WHEN NOT consented OR participant_status IN (%(expired)s, %(completed)s) OR completed_at IS NOT NULL
            THEN 'refused'
        WHEN status = %(skipped)s THEN 'skipped'
        WHEN stream_t0 IS NULL THEN 'start'
        WHEN finished_at IS NOT NULL OR (%(resuming)s AND status <> %(interrupted)s) THEN 'resume'
        WHEN policy = 'block' THEN 'block'
        WHEN policy = 'resume' AND status <> %(interrupted)s THEN 'resume'
        WHEN restarts >= max_restarts THEN 'restart_limit'
        ELSE 'restart'
    END AS action
    FROM locked
),
saved AS (
    UPDATE {trial} t SET
        stream_t0 = CASE WHEN d.action IN ('start', 'restart') THEN %(t0)s ELSE t.stream_t0 END,
        started_at = CASE WHEN d.action = 'start' THEN %(now)s ELSE t.started_at END,
        status = CASE
            WHEN d.action IN ('start', 'restart') THEN %(streaming)s
            WHEN d.action IN ('block', 'restart_limit') THEN %(skipped)s
            ELSE t.status END,
        delivery = CASE
            WHEN d.action <> 'start' THEN t.delivery
            WHEN a.kind = ANY(%(relayed)s) OR b.kind = ANY(%(relayed)s) THEN %(live)s
            ELSE COALESCE(d.design ->> 'delivery', %(delivery)s) END,
        restarts = t.restarts + (d.action = 'restart')::integer,
        resumes = t.resumes + (d.action = 'resume')::integer,
        skip_reason = CASE
            WHEN d.action = 'block' THEN 'blocked'
            WHEN d.action = 'restart_limit' AND COALESCE(d.failure, '') <> ''
                THEN left('restart_limit: ' || d.failure, 100)
            WHEN d.action = 'restart_limit' THEN 'restart_limit'
            ELSE t.skip_reason END,
        -- An attention check skipped by the participant's own reloads is failed (skipped_by_backend).
        attention_passed = CASE
            WHEN t.kind = 'attention' AND (d.action = 'block'
                OR (d.action = 'restart_limit' AND COALESCE(d.failure, '') IN ('', 'gap'))) THEN FALSE
            ELSE t.attention_passed END
    FROM decided d
    JOIN {arm} a ON a.id = d.arm_a_id
    JOIN {arm} b ON b.id = d.arm_b_id
    WHERE t.id = d.id AND d.action NOT IN ('refused', 'skipped')
    RETURNING t.id, t.stream_t0, t.delivery
),
seen AS (
    UPDATE {participant} SET last_seen_at = %(now)s
    WHERE id = %(participant)s AND EXISTS (SELECT 1 FROM decided WHERE action <> 'refused')
)
SELECT d.action, d.consented, d.participant_status, d.completed_at, d.id, d.seed, d.design, d.stimulus,
       saved.stream_t0, saved.delivery,
       pr.text, pr.response, pr.reasoning,
       a.id, a.kind, a.profile, a.study_id, b.id, b.kind, b.profile, b.study_id,
       (SELECT jsonb_object_agg(ra.name, jsonb_build_object('text', r.text, 'reasoning', r.reasoning, 'chunks', r.chunks))
        FROM {recorded} r JOIN {arm} ra ON ra.id = r.arm_id
        WHERE ra.study_id = d.study_id AND r.prompt_id = d.prompt_id) AS recordings
FROM decided d
LEFT JOIN saved ON saved.id = d.id
JOIN {prompt} pr ON pr.id = d.prompt_id
JOIN {arm} a ON a.id = d.arm_a_id
JOIN {arm} b ON b.id = d.arm_b_id
""".format(
    trial=Trial._meta.db_table,
    participant=Participant._meta.db_table,
    study=Study._meta.db_table,
    arm=Arm._meta.db_table,
    prompt=Prompt._meta.db_table,
    recorded=RecordedTrace._meta.db_table,
)


def start_trial(participant_id, index, after_seq=None):
    """Open (or reopen) a trial's stream and return its panes, delivery mode, t0 and resume point.

    A first start fixes t0 a moment ahead, stored so any web process can resume. A reconnect that
    says how far it got (`after_seq`) resumes with the same t0. A fresh page on a trial that was
    already streaming follows the study's policy (`design.interrupted_trial`): `restart` (default)
    runs it again with a new t0, `resume` replays it on the original t0 (an interrupted stream,
    which has nothing left to replay, is restarted), `block` skips it. A trial restarted
    `design.max_restarts` times is skipped instead of restarted again; a skipped trial raises
    TrialUnavailable("trial_skipped"), so the page moves on to the next one.

    All of it is one statement (START_TRIAL_SQL): the trial's row is locked only while it runs, and
    a burst of starts costs one round trip each.
    """
    if connection.vendor != "postgresql":
        return start_trial_portable(participant_id, index, after_seq)
    defaults = SessionDesign()
    params = {
        "participant": participant_id,
        "index": index,
        "resuming": after_seq is not None,
        "t0": time.time() + delivery.START_DELAY_S,
        "now": timezone.now(),
        "policy": defaults.interrupted_trial,
        "max_restarts": defaults.max_restarts,
        "delivery": defaults.delivery,
        "relayed": [name for name in kinds.names() if kinds.get(name).relayed],  # delivered live
        "live": delivery.LIVE,
        "expired": Participant.Status.EXPIRED,
        "completed": Participant.Status.COMPLETED,
        "skipped": Trial.Status.SKIPPED,
        "streaming": Trial.Status.STREAMING,
        "interrupted": Trial.Status.INTERRUPTED,
    }
    with connection.cursor() as cursor:
        cursor.execute(START_TRIAL_SQL, params)
        row = cursor.fetchone()
    if row is None:
        raise TrialUnavailable("unknown_trial", "There is no such trial for this session.")
    (action, consented, participant_status, completed_at, trial_id, seed, design, stimulus, t0, trial_delivery_mode,
     prompt_text, response, reasoning, arm_a, kind_a, profile_a, study_a, arm_b, kind_b, profile_b, study_b,
     recordings) = row  # fmt: skip
    if action == "refused":
        if not consented:
            raise TrialUnavailable("not_consented", "Consent is needed before the trials start.")
        # Nothing about the trial changed: its status and timing stay as the session left them.
        raise TrialUnavailable(*SESSION_CLOSED[session_state(participant_status, completed_at)])
    if action in ("skipped", "block", "restart_limit"):
        raise TrialUnavailable("trial_skipped", "This trial cannot be shown; the study goes on with the next one.")
    session = SessionDesign.of(json_value(design))
    trial = SimpleNamespace(
        seed=seed,
        stimulus=json_value(stimulus),
        prompt=SimpleNamespace(text=prompt_text, response=response, reasoning=reasoning),
        arm_a=SimpleNamespace(kind=kind_a, profile=json_value(profile_a), study_id=study_a),
        arm_b=SimpleNamespace(kind=kind_b, profile=json_value(profile_b), study_id=study_b),
    )
    panes = trial_pane_specs(trial, json_value(recordings) or {})
    return {
        "trial": index,
        "trial_id": trial_id,
        "panes": panes,
        "arms": {"A": arm_a, "B": arm_b},
        "layout": {"layout": session.layout, "gap_s": session.sequential_gap_s},
        "delivery": trial_delivery_mode,
        "t0": t0,
        "after_seq": (after_seq or 0) if action == "resume" else 0,
        "resumed": action == "resume",
        "restarted": action == "restart",
    }


def start_trial_portable(participant_id, index, after_seq=None):
    """start_trial on databases other than Postgres (the embedded default's SQLite, which takes one
    writer at a time anyway): the same rules as a locked read and writes in a transaction."""
    skipped = False
    with transaction.atomic():
        trial = (
            Trial.objects.select_for_update(of=("self",))
            .select_related("prompt", "arm_a", "arm_b", "participant__study")
            .filter(participant_id=participant_id, index=index)
            .first()
        )
        if trial is None:
            raise TrialUnavailable("unknown_trial", "There is no such trial for this session.")
        if not trial.participant.has_consented:
            raise TrialUnavailable("not_consented", "Consent is needed before the trials start.")
        state = session_state(trial.participant.status, trial.participant.completed_at)
        if state != "active":
            # Nothing about the trial changes: its status and timing stay as the session left them.
            raise TrialUnavailable(*SESSION_CLOSED[state])
        now = time.time()
        restarted = resumed = False
        session = trial.participant.study.session
        if trial.status == Trial.Status.SKIPPED:
            skipped = True
        elif trial.stream_t0 is None:
            after_seq = None  # a browser cannot have messages of a stream that never started
            trial.stream_t0 = now + delivery.START_DELAY_S
            trial.started_at = timezone.now()
            trial.status = Trial.Status.STREAMING
            trial.delivery = trial_delivery(trial)
        elif trial.finished_at is not None or (after_seq is not None and trial.status != Trial.Status.INTERRUPTED):
            resumed = True
            trial.resumes += 1
            after_seq = after_seq or 0
        else:
            policy = session.interrupted_trial
            if policy == "resume" and trial.status == Trial.Status.INTERRUPTED:
                policy = "restart"
            if policy == "block":
                skip_trial(trial, "blocked")
                skipped = True
            elif policy == "resume":
                resumed = True
                trial.resumes += 1
            elif trial.restarts >= session.max_restarts:
                failure = (trial.server_timing or {}).get("interrupted")
                skip_trial(trial, f"restart_limit: {failure}" if failure else "restart_limit")
                skipped = True
            else:
                restarted = True
                trial.restarts += 1
                trial.stream_t0 = now + delivery.START_DELAY_S
                trial.status = Trial.Status.STREAMING
                after_seq = None
        if not skipped:
            trial.save(update_fields=["stream_t0", "started_at", "status", "delivery", "restarts", "resumes"])
        # An active stream is a participant who is still here (abandoned sessions expire).
        Participant.objects.filter(pk=participant_id).update(last_seen_at=timezone.now())
    if skipped:
        raise TrialUnavailable("trial_skipped", "This trial cannot be shown; the study goes on with the next one.")
    return {
        "trial": index,
        "trial_id": trial.pk,
        "panes": trial_pane_specs(trial),
        "arms": {"A": trial.arm_a_id, "B": trial.arm_b_id},
        "layout": trial_layout(trial),
        "delivery": trial.delivery,
        "t0": trial.stream_t0,
        "after_seq": after_seq or 0,
        "resumed": resumed,
        "restarted": restarted,
    }


def record_server_timing(participant_id, index, server_timing):
    """The server's send timing of a stream that ended early (the socket went away)."""
    Trial.objects.filter(participant_id=participant_id, index=index).update(server_timing=server_timing)


def interrupt_trial(participant_id, index, reason):
    """A stream that cannot be completed (a gap that cannot be filled); a fresh page restarts it."""
    Trial.objects.filter(participant_id=participant_id, index=index, finished_at__isnull=True).update(
        status=Trial.Status.INTERRUPTED, server_timing={"interrupted": reason}
    )


# A trial's stream was sent to the end: finished once (a second finish keeps the first's time and
# status); the send timing, when given, replaces the stored one.
FINISH_TRIAL_SQL = """
UPDATE {trial} SET
    finished_at = COALESCE(finished_at, %(now)s),
    status = CASE WHEN finished_at IS NULL THEN %(finished)s ELSE status END,
    server_timing = CASE WHEN %(has_timing)s THEN %(server_timing)s ELSE server_timing END
WHERE participant_id = %(participant)s AND "index" = %(index)s
""".format(trial=Trial._meta.db_table)


def finish_trial(participant_id, index, server_timing=None):
    """The whole stream was sent: mark the trial finished (once: a second finish keeps the first's
    time and status) and keep the server's send timing. One UPDATE, no read first, and no ORM
    expressions to compile (every trial of every socket ends here)."""
    params = {
        "now": timezone.now(),
        "finished": Trial.Status.FINISHED,
        "has_timing": server_timing is not None,
        "server_timing": json_parameter(Trial, "server_timing", server_timing),
        "participant": participant_id,
        "index": index,
    }
    with connection.cursor() as cursor:
        cursor.execute(FINISH_TRIAL_SQL, params)
