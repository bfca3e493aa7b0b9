"""The researcher's study list and study page: counts without a query per study, the participant link."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from tests.web.conftest import run_participant

pytestmark = pytest.mark.django_db


def add_study(team, number):
    """A study with three participants: one completed, one who answered once, one who only started."""
    from django.utils import timezone

    from uxlab.studies import actions
    from uxlab.studies.models import Participant

    study = import_yaml(QUICK_STUDY_YAML.replace("code: quick", f"code: quick-{number}"), team)
    completed = run_participant(study, ["A"])
    Participant.objects.filter(pk=completed.pk).update(completed_at=timezone.now())
    run_participant(study, ["B"])
    actions.enroll_participant(study)
    assert actions.study_counts(study) | {"consented": 0} == {
        "participants": 3, "consented": 0, "completed": 1, "ratings": 2, "failed_tasks": 0,
        "other_device_attempts": 0, "failed_attention": 0, "pilot": 0, "preview": 0, "withdrawn": 0,
    }  # fmt: skip
    return study


def list_page(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("web:study_list"))
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def test_it_lists_studies_with_their_counts_in_the_same_number_of_queries_however_many(client, team, alice):
    client.force_login(alice)
    add_study(team, 1)
    page, queries_for_one = list_page(client)
    assert page.count('data-count="participants">3<') == 1
    assert page.count('data-count="completed">1<') == 1 and page.count('data-count="ratings">2<') == 1

    for number in range(2, 7):
        add_study(team, number)
    page, queries_for_six = list_page(client)

    assert queries_for_six == queries_for_one
    assert page.count('data-count="participants">3<') == 6
    assert page.count('data-count="ratings">2<') == 6
    assert page.count('data-count="completed">1<') == 6


def test_it_shows_the_participant_link_as_an_absolute_url(client, study, alice):
    client.force_login(alice)
    page = client.get(reverse("web:study_detail", args=[study.code])).content.decode()
    assert f'<code class="link" id="participant-link">http://testserver/s/{study.code}/</code>' in page


def test_it_shows_one_audit_log_of_changes_to_the_study_and_privacy_events(client, study, alice):
    import re

    from uxlab.studies import actions
    from uxlab.studies.models import AuditEntry, Participant

    actions.pause_study(study, alice)
    gone = actions.give_consent(actions.enroll_participant(study))
    actions.withdraw_participant(gone, Participant.WithdrawnBy.PARTICIPANT)
    client.force_login(alice)
    page = client.get(reverse("web:study_detail", args=[study.code])).content.decode()

    log = re.search(r'<section class="card" id="audit-log">(.*?)</section>', page, re.S)[1]
    rows = [[cell.strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)[1:]]
            for row in re.findall(r"<tr><td>.*?</tr>", log, re.S)]  # fmt: skip
    assert rows == [[f"Participant {gone.pk} withdrawn; 0 answers deleted", "the participant", ""],
                    ["pause: live → paused", "alice", "1"]]  # fmt: skip
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["participant_withdrawn", "pause"]
    assert not hasattr(study, "privacy_audit_entries")


def test_pilot_and_preview_sessions_are_counted_apart_on_the_study_page(client, study, alice):
    from uxlab.studies import actions
    from uxlab.studies.actions import lifecycle
    from uxlab.studies.models import Trial

    client.force_login(alice)
    assert 'id="uncounted-note"' not in client.get(reverse("web:study_detail", args=[study.code])).content.decode()
    pilot = actions.give_consent(lifecycle.enroll_uncounted(study, "pilot"))
    Trial.objects.filter(participant=pilot).update(attention_passed=False)  # a pilot failing a check
    lifecycle.enroll_uncounted(study, "preview")
    lifecycle.enroll_uncounted(study, "preview")
    counts = actions.study_counts(study)
    assert (counts["participants"], counts["failed_attention"], counts["pilot"], counts["preview"]) == (0, 0, 1, 2)
    page = client.get(reverse("web:study_detail", args=[study.code])).content.decode()
    assert "Not counted above: 1 pilot session and 2 previews" in page
    listed = client.get(reverse("web:study_list")).content.decode()
    assert 'data-count="participants">0<' in listed  # the list counts as the study page does
    assert reverse("web:pilot", args=[study.code]) in page.split('id="uncounted-note"')[1].split("</p>")[0]
