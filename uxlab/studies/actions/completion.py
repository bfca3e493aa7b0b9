"""How a session ends and which completion code it shows (per outcome, Prolific style).

No code is shown without streamed trials and stored answers: a participant completes only when
every trial that was not skipped was streamed and answered (participants.pending_trial), with at
least one answer stored, unless every trial was lost to failing backends; the last page's give-up
path is allowed only with everything but the last trial's answers stored.
"""

import time

from django.db import transaction
from django.utils import timezone

from uxlab.studies.actions.adaptive import end_runs
from uxlab.studies.actions.attention import score_attention_checks, score_attention_trials
from uxlab.studies.actions.participants import (
    is_last_trial,
    missing_telemetry,
    pending_trial,
    study_questions,
    trials_with_answers,
)
from uxlab.studies.actions.sessions import announce_session_closed
from uxlab.studies.actions.trials import trial_layout, trial_pane_specs
from uxlab.studies.models import Participant, Rating, Trial
from uxlab.streaming.trial import trial_frames

# Why the last page showed the code before its final answers were confirmed.
UNCONFIRMED_REASONS = ("save_timeout",)
# The page's clock and the server's may differ by this much (clock sync is far better).
GIVE_UP_SLACK_S = 2.0


# Why a trial skipped because of a backend was skipped (actions.live, actions.trials): its restarts
# used up by failures, or the arm refusing more streams. Not a participant's reloads
# ("restart_limit", "blocked") or gaps.
BACKEND_SKIP_REASON = "arm_busy"
BACKEND_RESTART_PREFIX = "restart_limit: "
GAP_SKIP_REASON = "restart_limit: gap"


def lost_to_a_backend(trial):
    """Whether the trial was skipped because a backend failed."""
    reason = trial.skip_reason
    return trial.status == Trial.Status.SKIPPED and (
        reason == BACKEND_SKIP_REASON or (reason.startswith(BACKEND_RESTART_PREFIX) and reason != GAP_SKIP_REASON)
    )


def completion_outcome(participant, trials=None):
    """incomplete when the participant's own reloads skipped a trial (an attention check included:
    skipping more must never pay better), else failed_attention when an attention check was failed,
    else backend_failure when a trial was lost to a failing backend, else completed. `trials`: the
    participant's trials, when the caller has read them."""
    if trials is None:
        trials = list(participant.trials.all())
    if any(trial.status == Trial.Status.SKIPPED and not lost_to_a_backend(trial) for trial in trials):
        return Participant.Outcome.INCOMPLETE
    if any(trial.kind == "attention" and trial.attention_passed is False for trial in trials):
        return Participant.Outcome.FAILED_ATTENTION
    if any(lost_to_a_backend(trial) for trial in trials):
        return Participant.Outcome.BACKEND_FAILURE
    return Participant.Outcome.COMPLETED


def complete_participant(participant):
    """Mark the participant completed if every trial was streamed and every answer and telemetry
    batch is stored; returns whether they are completed. Records the outcome and the code shown."""
    if participant.is_withdrawn:
        return False
    if participant.completed_at is not None:
        return True
    if not participant.has_consented or participant.is_expired or not participant.assignment:
        return False
    questions = study_questions(participant.study)
    trials = trials_with_answers(participant, questions)
    if pending_trial(participant, questions, trials) is not None or missing_telemetry(participant):
        return False
    # A safety net: an attention check is scored when its answer is stored (record_ratings).
    unscored = [trial.pk for trial in trials if trial.kind == "attention" and trial.attention_passed is None]
    if unscored:
        score_attention_trials(unscored)
        trials = trials_with_answers(participant, questions)
    outcome = completion_outcome(participant, trials)
    if outcome == Participant.Outcome.COMPLETED and not Rating.objects.filter(participant=participant).exists():
        return False  # nothing stored: not a completion (the other outcomes end the session without the code)
    code, _url = participant.study.completion_for(outcome)
    ended = {
        "completed_at": timezone.now(),
        "status": Participant.Status.COMPLETED,
        "outcome": outcome,
        "completion_code_shown": code,
    }
    with transaction.atomic():
        completed = Participant.objects.filter(pk=participant.pk, completed_at__isnull=True).update(**ended)
        if completed:
            end_runs([participant.pk])  # a run whose last trial was skipped
            announce_session_closed([participant.pk], "completed")
    if completed:
        for name, value in ended.items():
            setattr(participant, name, value)
    else:
        participant.refresh_from_db()  # another request completed them first, perhaps otherwise
    return True


def stream_over_at(trial):
    """When (epoch seconds) the trial's stream was over at the earliest: its finish, or t0 plus its
    last token's due time; None for a live stream that has not finished (its end is not known)."""
    if trial.finished_at is not None:
        return trial.finished_at.timestamp()
    if trial.stream_t0 is None or trial.delivery == "live":
        return None
    frames = trial_frames(trial_pane_specs(trial), **trial_layout(trial))
    if not frames:
        return None
    return trial.stream_t0 + max(frame.due_s for frame in frames)


def may_give_up(participant, now=None):
    """Whether the last trial page may show the code without its final answers confirmed: every
    trial was streamed, only the last one's answers may be missing, some answer is stored, and the
    page has waited the study's save timeout since the last stream could have ended (the page
    starts waiting when the answers are sent, never before the stream is over). In an adaptive
    session the last trial is one whose answer ends the run whichever it is (is_last_trial)."""
    if not participant.has_consented or participant.is_expired or participant.is_withdrawn or not participant.assignment:
        return False
    trials = list(participant.trials.exclude(status=Trial.Status.SKIPPED).order_by("index"))
    if not trials or any(trial.started_at is None for trial in trials):
        return False
    pending = pending_trial(participant)
    if pending is not None and (pending.index != trials[-1].index or not is_last_trial(participant, pending)):
        return False  # an earlier trial unanswered, or an adaptive trial that a next one may follow
    if pending is not None and pending.kind == "attention":
        # An attention check left unanswered would be dodged (outcome completed where a wrong answer
        # is failed_attention): the page waits for its answer, which its outbox resends, as for any
        # trial before the last; a participant who never answers it has abandoned the session.
        return False
    over = stream_over_at(trials[-1])
    now = time.time() if now is None else now
    if over is None or now < over + participant.study.session.save_timeout_s - GIVE_UP_SLACK_S:
        return False
    return Rating.objects.filter(participant=participant).exists()


def record_unconfirmed_completion(participant, pending_count, reason="save_timeout"):
    """The page gave up waiting for the final save and shows the code anyway: keep that fact, why,
    and the outcome and code it showed. An adaptive run ends here: an answer stored later is
    scored but makes no trial."""
    with transaction.atomic():
        end_runs([participant.pk])
        score_attention_checks(participant)
        outcome = completion_outcome(participant)
        code, _url = participant.study.completion_for(outcome)
        Participant.objects.filter(pk=participant.pk, completion_unconfirmed_at__isnull=True).update(
            completion_unconfirmed_at=timezone.now(),
            unconfirmed_count=max(0, min(pending_count, 10_000)),
            unconfirmed_reason=reason,
            outcome=outcome,
            completion_code_shown=code,
        )
    participant.refresh_from_db()


def shown_completion(participant):
    """(code, url) the participant was given for their outcome; ("", "") when none (or withdrawn)."""
    if participant.is_withdrawn:
        return "", ""
    if not participant.completion_code_shown:
        if participant.completed_at is None and participant.completion_unconfirmed_at is None:
            return "", ""
        # Completed before outcomes were recorded: the code completing gave then.
        return participant.study.completion_for(participant.outcome or Participant.Outcome.COMPLETED)
    _code, url = participant.study.completion_for(participant.outcome)
    return participant.completion_code_shown, url
