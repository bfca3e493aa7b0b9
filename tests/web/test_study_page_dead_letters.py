"""The study page tells researchers when answers could not be stored (dead letters), and links to them."""

import pytest
from django.db import IntegrityError
from django.urls import reverse

from uxlab.studies import actions

pytestmark = pytest.mark.django_db


def test_it_counts_dead_letters_on_the_study_page_and_links_operators_to_them(client, study, participant, alice):
    client.force_login(alice)
    url = reverse("web:study_detail", args=[study.code])
    assert 'data-count="failed_tasks"' not in client.get(url).content.decode()

    payload = {"key": "6f1c1a52-7d1e-4d8b-9d87-2f6f3b0f7b11", "participant_id": participant.pk, "value": "A"}
    actions.record_failed_task("uxlab.studies.tasks.store_ratings", payload, IntegrityError("fk"), 8)
    page = client.get(url).content.decode()

    assert 'data-count="failed_tasks">1<' in page
    # The admin is for operators: a researcher sees the count, an operator the link to the records.
    link = f"/admin/studies/failedtask/?study__id__exact={study.pk}"
    assert link not in page and "an operator can inspect them" in page
    alice.is_superuser = True
    alice.save()
    assert link in client.get(url).content.decode()


def test_a_dead_letter_keeps_a_payload_holding_nul_characters(study):
    payload = {"key": "not-a-uuid", "value": "a\x00b", "nested": [{"k\x00": "v"}]}
    failed = actions.record_failed_task("uxlab.studies.tasks.store_ratings", payload, ValueError("bad\x00"), 8)
    failed.refresh_from_db()
    assert failed.payload == {"key": "not-a-uuid", "value": "a\ufffdb", "nested": [{"k\ufffd": "v"}]}
    assert failed.error == "ValueError: bad\ufffd"
