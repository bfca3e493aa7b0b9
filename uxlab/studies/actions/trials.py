"""Opening, resuming and finishing a trial's stream."""

import time
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from uxlab.streaming import delivery, kinds
from uxlab.studies.models import Participant, RecordedTrace, Trial


class TrialUnavailable(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ParticipantContext:
    """What a consumer needs to check this participant's answers without a query per frame."""

    participant_id: int
    token: str
    group_name: str
    consented: bool
    trial_ids: dict = field(default_factory=dict)  # index -> trial id
    questions: dict = field(default_factory=dict)  # name -> (id, Question: its clean_value checks answers)


def load_participant_context(token):
    participant = Participant.objects.select_related("study").filter(token=token).first()
    if participant is None:
        return None
    return ParticipantContext(
        participant_id=participant.pk,
        token=participant.token,
        group_name=participant.group_name,
        consented=participant.has_consented,
        trial_ids=dict(participant.trials.values_list("index", "id")),
        questions={question.name: (question.pk, question) for question in participant.study.questions.all()},
    )


def trial_pane_specs(trial):
    """What each pane streams (server-side only: it names the arm's parameters)."""
    return {
        pane: {
            "kind": arm.kind,
            "profile": arm.profile,
            "content": trial.prompt.response,
            "reasoning": trial.prompt.reasoning,
            "seed": f"{trial.seed}:{pane}",
            **arm_stimulus(arm, trial.prompt),
        }
        for pane, arm in (("A", trial.arm_a), ("B", trial.arm_b))
    }


def arm_stimulus(arm, prompt):
    """What the arm's kind adds to its pane spec for this prompt (streaming/kinds): a trace's
    recording or built-in offsets, a live backend's prompt text. The kind reads this study's
    recorded traces through ``recording``."""

    def recording(arm_name):
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


def skip_trial(trial, reason):
    """The trial cannot be shown: the participant moves on (actions.pending_trial passes it by)
    and the reason stays with it. Call with the trial's row locked."""
    trial.status = Trial.Status.SKIPPED
    trial.skip_reason = reason[:100]
    trial.save(update_fields=["status", "skip_reason"])


def start_trial(participant_id, index, after_seq=None):
    """Open (or reopen) a trial's stream and return its panes, delivery mode, t0 and resume point.

    A first start fixes t0 a moment ahead, stored so any web process can resume. A reconnect that
    says how far it got (`after_seq`) resumes with the same t0. A fresh page on a trial that was
    already streaming follows the study's policy (`design.interrupted_trial`): `restart` (default)
    runs it again with a new t0, `resume` replays it on the original t0 (an interrupted stream,
    which has nothing left to replay, is restarted), `block` skips it. A trial restarted
    `design.max_restarts` times is skipped instead of restarted again; a skipped trial raises
    TrialUnavailable("trial_skipped"), so the page moves on to the next one.
    """
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
        now = time.time()
        restarted = resumed = False
        session = trial.participant.study.session
        if trial.status == Trial.Status.SKIPPED:
            skipped = True
        elif trial.stream_t0 is None:
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


def finish_trial(participant_id, index, server_timing=None):
    """The whole stream was sent: mark the trial finished and keep the server's send timing."""
    trial = Trial.objects.filter(participant_id=participant_id, index=index).first()
    if trial is None:
        return
    if server_timing is not None:
        trial.server_timing = server_timing
    if trial.finished_at is None:
        trial.finished_at = timezone.now()
        trial.status = Trial.Status.FINISHED
    trial.save(update_fields=["server_timing", "finished_at", "status"])
