"""The participant's pages: entry, checks, consent, instructions, trials and completion.

Each page belongs to one step (actions.participant_step); a request for another step's page is
sent to the participant's current step, so a reload or an old link always lands where they are.
Nothing here names an arm: the trial page knows panes "A" and "B" only.
"""

import hashlib
import hmac
import logging
from typing import Annotated, Literal

import orjson
from django.conf import settings
from django.http import Http404, JsonResponse
from django.http.request import RawPostDataException
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from uxlab.studies import actions
from uxlab.studies.assignment import StudyFull
from uxlab.studies.models import Participant, Question, Study
from uxlab.web.throttle import client_address

log = logging.getLogger(__name__)

PROLIFIC_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
MAX_CHECKS_BYTES = 4096
# The done page goes back to the panel after this long unless the participant stays (WCAG 2.2.1
# asks for a way to stop it; 30 s leaves time to read and copy the code first).
COMPLETION_REDIRECT_S = 30


def get_participant(token):
    participant = actions.participant_by_token(token)
    if participant is None:
        raise Http404("This study link is not valid.")
    return participant


def closed_response(request, study, reason=None):
    return render(request, "participate/closed.html", {"study": study, "reason": reason or study.status})


# Longer panel ids are refused, not cut: two ids sharing their first 200 characters are not one person.
MAX_PANEL_ID = 200


def external_identity(study, params):
    """(panel, id) from Prolific's PROLIFIC_PID or the study's own participant parameter."""
    prolific_id = params.get("PROLIFIC_PID", "").strip()
    if prolific_id:
        return "prolific", prolific_id
    name = study.session.participant_param
    if name and params.get(name, "").strip():
        return "external", params[name].strip()
    return None, ""


def carried_params(study, params):
    names = PROLIFIC_PARAMS + ((study.session.participant_param,) if study.session.participant_param else ())
    return {name: params.get(name, "")[:200] for name in names if params.get(name)}


OWNER_COOKIE_SALT = "uxlab.participant-owner"


def owner_cookie_name(study):
    return f"uxlab_{study.code}"


def owns(request, study, participant):
    """Whether this browser started the participant: it holds the signed cookie set at enrolment."""
    token = request.get_signed_cookie(owner_cookie_name(study), default=None, salt=OWNER_COOKIE_SALT)
    return token is not None and hmac.compare_digest(token, participant.token)


def remember_owner(response, request, study, participant):
    response.set_signed_cookie(
        owner_cookie_name(study),
        participant.token,
        salt=OWNER_COOKIE_SALT,
        max_age=settings.UXLAB_RESUME_COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return response


def withdrawn_response(request, participant):
    """What every page of a withdrawn participant shows instead of itself (410: the session is gone)."""
    context = {"study": participant.study, "by_researcher": participant.withdrawn_by == Participant.WithdrawnBy.RESEARCHER}
    return render(request, "participate/withdrawn.html", context, status=410)


def withdrawn_owner(request, study):
    """The withdrawn participant this browser started in this study (its signed cookie), if any."""
    token = request.get_signed_cookie(owner_cookie_name(study), default=None, salt=OWNER_COOKIE_SALT)
    if not token:
        return None
    return Participant.objects.select_related("study").filter(
        study=study, token=token, status=Participant.Status.WITHDRAWN
    ).first()


def resume_or_refuse(request, study, participant):
    """A known panel id: the browser that started it goes back to its step; any other browser is
    told the id has already started elsewhere, and the attempt is recorded for researchers."""
    if owns(request, study, participant):
        return redirect("web:participant_home", token=participant.token)
    actions.record_other_device_attempt(participant)
    return render(request, "participate/other_device.html", {"study": study}, status=409)


def client_key(request):
    """A keyed hash of the client's address (the rate limit's key); the address is never kept."""
    address = client_address(request)
    return hmac.new(settings.SECRET_KEY.encode(), f"enrolment:{address}".encode(), hashlib.sha256).hexdigest()[:32]


@require_http_methods(["GET", "POST"])
def study_entry(request, code):
    """The welcome page; a participant is allocated only when they press Start (not by link previews)."""
    study = get_object_or_404(Study, code=code)
    params = request.POST if request.method == "POST" else request.GET
    panel, external_id = external_identity(study, params)
    if len(external_id) > MAX_PANEL_ID:
        return render(request, "participate/missing_id.html", {"study": study, "too_long": True}, status=400)
    if external_id:
        known = actions.find_participant_by_external_id(study, panel, external_id)
        if known is not None:
            return resume_or_refuse(request, study, known)
    withdrawn = withdrawn_owner(request, study)
    if withdrawn is not None:
        return withdrawn_response(request, withdrawn)
    if not study.is_open:
        return closed_response(request, study)
    if study.session.require_participant_id and not external_id:
        return render(request, "participate/missing_id.html", {"study": study}, status=400)
    if actions.study_is_full(study):
        return closed_response(request, study, "full")
    if request.method == "POST":
        try:
            actions.throttle_enrolment(
                client_key(request), limit=settings.UXLAB_ENROL_LIMIT, window_s=settings.UXLAB_ENROL_WINDOW_S
            )
        except actions.EnrolmentThrottled as throttled:
            log.warning("study %s: enrolment rate limit reached by a client", study.code)
            response = render(request, "participate/too_many.html", {"study": study}, status=429)
            response["Retry-After"] = str(throttled.retry_after_s)
            return response
        try:
            participant = actions.enroll_participant(
                study,
                panel=panel,
                external_id=external_id,
                panel_study_id=params.get("STUDY_ID", "")[:200],
                panel_session_id=params.get("SESSION_ID", "")[:200],
            )
        except actions.AlreadyStarted as started:
            return resume_or_refuse(request, study, started.participant)
        return remember_owner(to_current_step(participant), request, study, participant)
    return render(request, "participate/welcome.html", {"study": study, "params": carried_params(study, params)})


STEP_URLS = {
    "checks": "web:checks",
    "consent": "web:consent",
    "instructions": "web:instructions",
    "trial": "web:trial",
    "done": "web:done",
}


def participant_home(request, token):
    """Send the participant to the step they are on."""
    participant = get_participant(token)
    step = actions.participant_step(participant)
    if step == "withdrawn":
        return withdrawn_response(request, participant)
    if step == "expired":
        code, url = actions.shown_completion(participant)
        context = {"participant": participant, "study": participant.study, "completion_code": code, "completion_url": url}
        return render(request, "participate/expired.html", context)
    actions.touch_participant(participant)
    return redirect(STEP_URLS[step], token=token)


def to_current_step(participant):
    """A redirect to the page of the step the participant is on now: where their own page
    (participant_home) would send them, without the extra request. Step pages that move the
    participant on end with it."""
    step = actions.participant_step(participant)
    if step in STEP_URLS:
        return redirect(STEP_URLS[step], token=participant.token)
    return redirect("web:participant_home", token=participant.token)


def at_step(participant, step):
    """None when the participant is on this step, else a redirect to where they are."""
    if actions.participant_step(participant) == step:
        return None
    return redirect("web:participant_home", token=participant.token)


# --- Checks --------------------------------------------------------------------------------------


def measure(low, high):
    """A finite number (an int or a float, never a string or a boolean) within [low, high], kept to 0.001."""
    return Annotated[
        float, Field(strict=True, ge=low, le=high, allow_inf_nan=False), AfterValidator(lambda value: round(value, 3))
    ]


class CheckResults(BaseModel):
    """What the checks page measured (checks.js); fields it does not know are ignored."""

    viewport_width: measure(0, 100_000)
    viewport_height: measure(0, 100_000)
    device_pixel_ratio: measure(0, 100)
    refresh_hz: measure(0, 1000)
    frame_ms_median: measure(0, 10_000)
    ws_rtt_ms_median: measure(0, 600_000)
    ws_rtt_ms_min: measure(0, 600_000)
    clock_offset_ms: measure(-1e13, 1e13)
    clock_offset_spread_ms: measure(0, 600_000)
    pings: measure(0, 1000)

    @property
    def clock_sync_quality(self):
        spread = self.clock_offset_spread_ms
        return "good" if spread <= 10 else "fair" if spread <= 50 else "poor"


def check_problem(error):
    """A sentence naming the first thing wrong with posted check results."""
    first = error.errors()[0]
    if first["type"] == "json_invalid":
        return "the check results are not valid JSON"
    if not first["loc"]:
        return "the check results must be an object"
    name = first["loc"][0]
    if first["type"] in ("greater_than_equal", "less_than_equal"):
        bounds = {type(rule).__name__: rule for rule in CheckResults.model_fields[name].metadata}
        return f"{name} must be between {bounds['Ge'].ge:g} and {bounds['Le'].le:g}"
    return f"{name} must be a number"


def json_body(request):
    """The request's body, for the endpoints that take JSON; ValueError for a multipart form (the
    NUL check read it as a form already, so it is not JSON, and Django cannot give it back)."""
    try:
        return request.body
    except RawPostDataException:
        raise ValueError("the request must be JSON, not a form") from None


def parse_checks(body):
    """The checks the page measured, validated; ValueError names the first bad field."""
    if len(body) > MAX_CHECKS_BYTES:
        raise ValueError("the check results are too large")
    try:
        checks = CheckResults.model_validate_json(body)
    except ValidationError as error:
        raise ValueError(check_problem(error)) from None
    return {**checks.model_dump(), "clock_sync_quality": checks.clock_sync_quality}


@require_http_methods(["GET", "POST"])
def checks(request, token):
    participant = get_participant(token)
    elsewhere = at_step(participant, "checks")
    if elsewhere is not None:
        return elsewhere if request.method == "GET" else JsonResponse({"next_url": elsewhere.url})
    session = participant.study.session
    if request.method == "POST":
        try:
            results = parse_checks(json_body(request))
        except ValueError as error:
            return JsonResponse({"error": "bad_checks", "message": str(error)}, status=400)
        viewport_ok = (
            results["viewport_width"] >= session.min_viewport_width
            and results["viewport_height"] >= session.min_viewport_height
        )
        passed = actions.record_checks(participant, results, viewport_ok=viewport_ok, stacked=not viewport_ok)
        return JsonResponse(
            {"passed": passed, "next_url": to_current_step(participant).url if passed else None}
        )
    context = {
        "participant": participant,
        "study": participant.study,
        "min_width": session.min_viewport_width,
        "min_height": session.min_viewport_height,
        "allow_stacked": session.allow_stacked,
    }
    return render(request, "participate/checks.html", context)


# --- Consent and instructions --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def consent(request, token):
    participant = get_participant(token)
    elsewhere = at_step(participant, "consent")
    if elsewhere is not None:
        return elsewhere
    study = participant.study
    if request.method == "POST":
        if request.POST.get("decision") != "agree":
            actions.decline_consent(participant)
            return render(request, "participate/declined.html", {"study": study})
        # Previews and pilots (Participant.mode) run in any status but closed, and fill no quota.
        if study.status == Study.Status.CLOSED or (not participant.mode and not study.is_open):
            return closed_response(request, study)
        if not participant.mode and actions.study_is_full(study):
            return closed_response(request, study, "full")
        actions.record_consent(participant)
        return to_current_step(participant)
    return render(request, "participate/consent.html", {"participant": participant, "study": study})


@require_http_methods(["GET", "POST"])
def instructions(request, token):
    participant = get_participant(token)
    elsewhere = at_step(participant, "instructions")
    if elsewhere is not None:
        return elsewhere
    session = participant.study.session
    if request.method == "POST":
        assistive = request.POST.get("assistive_technology") == "yes" if session.ask_assistive_technology else None
        actions.mark_instructions_seen(participant, assistive_technology=assistive)
        return to_current_step(participant)
    has_practice = participant.study.prompts.filter(role="practice").exists()
    context = {
        "participant": participant,
        "study": participant.study,
        "has_practice": has_practice,
        "ask_assistive_technology": session.ask_assistive_technology,
        **session_timer(participant),
    }
    return render(request, "participate/instructions.html", context)


# --- Time limits ---------------------------------------------------------------------------------


def deadline_ms(participant):
    deadline = actions.session_deadline(participant)
    return round(deadline.timestamp() * 1000) if deadline else None


def session_timer(participant):
    """What the pages of a running session need to warn before it ends (_session_timer.html)."""
    return {
        "session_deadline_ms": deadline_ms(participant),
        "extensions_left": actions.MAX_EXTENSIONS - participant.time_extensions,
        "extension_minutes": actions.EXTENSION_MINUTES,
    }


@require_POST
def extend(request, token):
    """"I need more time": the session gets more time (and counts as seen), up to a limit."""
    participant = get_participant(token)
    try:
        actions.extend_session(participant)
    except actions.CannotExtend:
        message = "This session cannot be extended: it has ended or was extended as often as allowed."
        return JsonResponse({"error": "cannot_extend", "message": message}, status=409)
    return JsonResponse(
        {"deadline_ms": deadline_ms(participant), "extensions_left": actions.MAX_EXTENSIONS - participant.time_extensions}
    )


# --- Trials --------------------------------------------------------------------------------------


def trial(request, token):
    participant = get_participant(token)
    questions = actions.study_questions(participant.study)
    # The trials are read once, with their answers counted, for the step, the pending trial and the counts.
    trials = actions.trials_with_answers(participant, questions) if participant.assignment else []
    step, current = actions.participant_position(participant, questions, trials)
    if step != "trial":
        # A finished trial's page comes here for the next one: straight on to the step it is
        # (the done page after the last), through the participant's page only when it has more to say.
        if step in STEP_URLS:
            return redirect(STEP_URLS[step], token=participant.token)
        return redirect("web:participant_home", token=participant.token)
    if not participant.assignment:
        # Reaching the first trial is what reserves the participant's cells (consent let them in,
        # so a study paused since may still be finished).
        try:
            participant = actions.reserve_trials(participant)
        except StudyFull:
            return closed_response(request, participant.study, "full")
        trials = actions.trials_with_answers(participant, questions)
        current = actions.pending_trial(participant, questions, trials)
    actions.touch_participant(participant)
    study = participant.study
    session = study.session
    indexes = [(each.index, each.kind) for each in trials]
    counted = sorted(index for index, kind in indexes if kind != "practice")
    trial_count = len(counted)
    adaptive = participant.assignment.get("design") == "adaptive"
    if adaptive:
        # An adaptive session makes each trial as the last is answered and may stop early: the
        # count shown is its most (nothing about the stimuli).
        trial_count = actions.adaptive_trial_limit(study)
    # A fixed design's last trial is its highest index (the trials are read above already).
    is_last = actions.is_last_trial(participant, current) if adaptive else current.index == max(i for i, _ in indexes)
    context = {
        "participant": participant,
        "study": study,
        "trial": current,
        "is_practice": current.kind == "practice",
        "trial_number": counted.index(current.index) + 1 if current.index in counted else 0,
        "trial_count": trial_count,
        "is_last": is_last,
        # A trial with another to come leaves once its answers are stored; its telemetry follows
        # from the next trial's page. The last one, and any adaptive one (the run may end at its
        # answer), waits for all telemetry: the completion code needs it (the done page can only
        # send what the browser's outbox still holds).
        "telemetry_follows": not is_last and not adaptive,
        # A question asked once (ask: once) is on the first trial's page only.
        "questions": [question_html(question) for question in questions if question.asked_on(current.index)],
        "session": session,
        "stacked": participant.layout == "stacked",
        "min_exposure_ms": round(session.min_exposure_s * 1000),
        "save_timeout_ms": round(session.save_timeout_s * 1000),
        **session_timer(participant),
    }
    return render(request, "participate/trial.html", context)


QUESTION_FIELDS = tuple(field.attname for field in Question._meta.concrete_fields)
MAX_RENDERED_QUESTIONS = 1024
_rendered_questions = {}


def question_html(question):
    """A question's form fields: the same on every trial of every participant of its study, so each
    is rendered once per process, kept by everything it is rendered from (every field's value)."""
    key = tuple(orjson.dumps(getattr(question, name), option=orjson.OPT_SORT_KEYS) for name in QUESTION_FIELDS)
    html = _rendered_questions.get(key)
    if html is None:
        if len(_rendered_questions) >= MAX_RENDERED_QUESTIONS:
            _rendered_questions.clear()
        html = _rendered_questions[key] = render_to_string("participate/_question.html", {"question": question})
    return html


# --- Completion ----------------------------------------------------------------------------------


def done(request, token):
    """The completion code, shown only once every trial was streamed and every answer is stored (or
    the last page gave up waiting for its final save, recorded)."""
    participant = get_participant(token)
    if participant.is_withdrawn:
        return withdrawn_response(request, participant)
    confirmed = actions.complete_participant(participant)
    if not confirmed and participant.completion_unconfirmed_at is None:
        if actions.participant_step(participant) != "done":
            return redirect("web:participant_home", token=token)
        # Everything is answered but a last telemetry batch is still being stored: send what the
        # browser's outbox holds, look again soon, and after the study's save timeout take the
        # give-up path (the batch may not be in this browser at all).
        context = {
            "participant": participant,
            "study": participant.study,
            "save_timeout_ms": round(participant.study.session.save_timeout_s * 1000),
        }
        return render(request, "participate/saving.html", context)
    code, url = actions.shown_completion(participant)
    preview = participant.mode == "preview"  # a researcher's run-through: no redirect to the panel
    context = {
        "participant": participant,
        "study": participant.study,
        "completion_code": code,
        "completion_url": "" if preview else url,
        "confirmed": confirmed,
        "preview": preview,
        "outcome": participant.outcome,
        "redirect_seconds": COMPLETION_REDIRECT_S,
    }
    return render(request, "participate/done.html", context)


class GiveUp(BaseModel):
    """What the last trial page posts when it stops waiting for its final answers' confirmation."""

    model_config = ConfigDict(extra="ignore")

    pending: Annotated[int, Field(strict=True, ge=0, le=10_000)] = 0
    reason: Literal[actions.UNCONFIRMED_REASONS] = "save_timeout"


@require_POST
def unconfirmed(request, token):
    """The last trial page could not get its final answers confirmed: record it, then show the code.

    Allowed only when every trial was streamed and only the last trial's answers may be missing
    (actions.may_give_up): never a code for a session with nothing stored.
    """
    participant = get_participant(token)
    try:
        body = json_body(request)
    except ValueError as error:
        return JsonResponse({"error": "bad_request", "message": str(error)}, status=400)
    if len(body) > 1024:
        return JsonResponse({"error": "bad_request", "message": "the request is too large"}, status=400)
    try:
        give_up = GiveUp.model_validate_json(body or b"{}")
    except ValidationError:
        message = "pending must be a whole number from 0 to 10000, reason one of " + ", ".join(actions.UNCONFIRMED_REASONS)
        return JsonResponse({"error": "bad_request", "message": message}, status=400)
    if participant.is_withdrawn:
        return JsonResponse({"error": "session_withdrawn", "message": actions.SESSION_CLOSED["withdrawn"][1]}, status=410)
    if participant.completed_at is not None:
        # Everything was stored before this page gave up (it missed the confirmation): the code is
        # shown as it is, and a confirmed session is not recorded as unconfirmed.
        return JsonResponse({"next_url": reverse("web:done", args=[token])})
    if not actions.may_give_up(participant):
        return JsonResponse({"error": "not_allowed"}, status=409)
    actions.record_unconfirmed_completion(participant, give_up.pending, give_up.reason)
    return JsonResponse({"next_url": reverse("web:done", args=[token])})


# --- Withdrawal ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def withdraw(request, token):
    """Withdraw from the study, from a link on every page: a confirmation first, then the data is
    deleted (actions.withdraw_participant) and every page of the session says so."""
    participant = get_participant(token)
    if participant.is_withdrawn:
        return withdrawn_response(request, participant)
    if request.method == "POST":
        if request.POST.get("confirm") != "withdraw":
            return redirect("web:participant_home", token=token)
        actions.withdraw_participant(participant, Participant.WithdrawnBy.PARTICIPANT)
        return redirect("web:participant_home", token=token)
    return render(request, "participate/withdraw.html", {"participant": participant, "study": participant.study})
