"""Participant tokens stay out of broker payloads, dead letters and log lines."""

import json
import logging
import uuid

import pytest
from django.utils import timezone

from uxlab.live.protocol import RatingSubmit
from uxlab.studies.actions.answers import check_rating, record_failed_task
from uxlab.studies.actions.trials import load_participant_context
from uxlab.studies.models import FailedTask
from uxlab.web.redact import RedactParticipantTokens, redact

pytestmark = pytest.mark.django_db


def test_the_rating_payload_and_its_dead_letter_carry_no_token(participant, trial):
    context = load_participant_context(participant.token)
    question = participant.study.questions.first()
    message = RatingSubmit(type="rating.submit", key=uuid.uuid4(), trial=0, question=question.name, value="A", response_ms=500)
    payload = check_rating(context, message, timezone.now())

    assert participant.token not in json.dumps(payload)
    assert payload["group_name"] == f"participant.{participant.pk}"
    record_failed_task("uxlab.studies.tasks.store_ratings", payload, RuntimeError("boom"), 8)
    failed = FailedTask.objects.get()
    assert participant.token not in json.dumps(failed.payload) + failed.error


def test_log_lines_name_no_participant_token(participant):
    token = participant.token
    assert redact(f"Not Found: /p/{token}/trial/") == "Not Found: /p/<token>/trial/"
    assert redact(f"GET /ws/p/{token}/ 403") == "GET /ws/p/<token>/ 403"
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/p/{token}/x/",), None)
    RedactParticipantTokens().filter(record)
    assert token not in record.getMessage() and "/p/<token>/x/" in record.getMessage()
