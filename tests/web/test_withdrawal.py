"""Withdrawal over HTTP on Postgres: from every participant page (with a confirmation), and by the
study team (owners and editors, team-scoped); what is deleted, the tombstone and the audit entry;
a withdrawn session cannot go on, shows no completion code, and is left out of every download."""

import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.conftest import make_user, mark_trials_shown
from tests.web.conftest import run_participant
from tests.web.test_participant_pages import post_checks
from uxlab.analysis.rows import ExportOptions, export_tables
from uxlab.studies import actions
from uxlab.studies.models import (
    AuditEntry,
    ExternalIdentity,
    FailedTask,
    LiveResponse,
    Participant,
    Rating,
    RatingConflict,
    Trial,
    TrialTelemetry,
)

pytestmark = pytest.mark.django_db

STEP_PAGES = ("", "checks/", "consent/", "instructions/", "trial/", "done/")


def enter(client, study, pid="PID-W-1"):
    """A participant who started from the panel link in this client's browser (its owner cookie)."""
    client.post(f"/s/{study.code}/", {"PROLIFIC_PID": pid})
    return ExternalIdentity.objects.get(external_id=pid).participant


def withdraw_link(token):
    return f'id="withdraw-link" href="/p/{token}/withdraw/"'


def test_every_participant_page_carries_a_withdraw_link(client, study):
    participant = enter(client, study)
    token = participant.token
    seen = []
    assert withdraw_link(token) in client.get(f"/p/{token}/checks/").content.decode()
    seen.append("checks")
    post_checks(client, token)
    assert withdraw_link(token) in client.get(f"/p/{token}/consent/").content.decode()
    seen.append("consent")
    client.post(f"/p/{token}/consent/", {"decision": "agree"})
    assert withdraw_link(token) in client.get(f"/p/{token}/instructions/").content.decode()
    seen.append("instructions")
    client.post(f"/p/{token}/instructions/")
    assert withdraw_link(token) in client.get(f"/p/{token}/trial/").content.decode()
    seen.append("trial")
    participant.refresh_from_db()
    mark_trials_shown(participant)
    trial = participant.trials.get()
    Rating.objects.create(participant=participant, trial=trial, question=study.questions.get(), value="A",
                          response_ms=500, received_at=timezone.now())
    page = client.get(f"/p/{token}/done/").content.decode()
    assert "Saving your last answers" in page and withdraw_link(token) in page  # telemetry still on its way
    TrialTelemetry.objects.create(key=uuid.uuid4(), trial=trial, payload={}, received_at=timezone.now())
    page = client.get(f"/p/{token}/done/").content.decode()
    assert "QUICK123" in page and withdraw_link(token) in page
    seen.append("done")
    expired = actions.give_consent(actions.enroll_participant(study))
    Participant.objects.filter(pk=expired.pk).update(status=Participant.Status.EXPIRED)
    assert withdraw_link(expired.token) in client.get(f"/p/{expired.token}/").content.decode()
    assert seen == ["checks", "consent", "instructions", "trial", "done"]


def test_a_participant_withdraws_after_confirming_and_their_data_is_deleted(client, study):
    participant = enter(client, study)
    token = participant.token
    participant = actions.give_consent(participant)
    mark_trials_shown(participant)
    trial = participant.trials.get()
    rating = Rating.objects.create(participant=participant, trial=trial, question=study.questions.get(), value="A",
                                   response_ms=500, received_at=timezone.now())
    RatingConflict.objects.create(key=rating.key, participant=participant, stored_rating=rating, payload={}, reason="x")
    TrialTelemetry.objects.create(key=uuid.uuid4(), trial=trial, payload={"frames": []}, received_at=timezone.now())
    LiveResponse.objects.create(trial=trial, pane="A", arm=trial.arm_a, text="a live answer")
    FailedTask.objects.create(task_name="store_ratings", payload={"participant_id": participant.pk}, error="x", attempts=8)
    FailedTask.objects.create(task_name="store_telemetry", payload={"group_name": participant.group_name}, error="x",
                              attempts=8)
    other = FailedTask.objects.create(task_name="store_ratings", payload={"participant_id": 0}, error="x", attempts=8)

    page = client.get(f"/p/{token}/withdraw/")
    assert page.status_code == 200 and 'name="confirm" value="withdraw"' in page.content.decode()
    assert client.post(f"/p/{token}/withdraw/", {}).url == f"/p/{token}/"  # no confirmation: nothing happens
    assert Rating.objects.filter(participant=participant).exists()

    response = client.post(f"/p/{token}/withdraw/", {"confirm": "withdraw"})
    assert response.url == f"/p/{token}/"
    page = client.get(f"/p/{token}/")
    assert page.status_code == 410 and "You have withdrawn from this study" in page.content.decode()

    for model in (Trial, Rating, RatingConflict, TrialTelemetry, LiveResponse, ExternalIdentity):
        assert not model.objects.exists(), model.__name__
    assert list(FailedTask.objects.all()) == [other]
    tombstone = Participant.objects.get(pk=participant.pk)
    assert (tombstone.status, tombstone.withdrawn_by) == ("withdrawn", "participant")
    assert tombstone.withdrawn_at and tombstone.panel_id_erased_at and tombstone.consented_at
    assert (tombstone.checks, tombstone.assignment, tombstone.assignment_seed, tombstone.completion_code_shown) == (
        {}, {}, "", "")  # fmt: skip
    entry = AuditEntry.objects.get()
    assert (entry.study, entry.user, entry.action, entry.participant_number) == (
        study, None, "participant_withdrawn", participant.pk)  # fmt: skip
    assert entry.data == {"by": "participant", "previous_status": "consented", "answers_deleted": 1,
                          "panel_id_erased": True}
    assert (entry.detail, entry.version, entry.actor) == (f"Participant {participant.pk} withdrawn; 1 answer deleted", None,
                                                          "the participant")  # fmt: skip
    assert actions.study_counts(study)["withdrawn"] == 1


def test_a_withdrawn_session_cannot_go_on_and_shows_no_completion_code(client, study):
    participant = enter(client, study)
    token = participant.token
    participant = actions.give_consent(participant)
    for trial in participant.trials.all():
        Trial.objects.filter(pk=trial.pk).update(status="finished", started_at=timezone.now(), finished_at=timezone.now())
        Rating.objects.create(participant=participant, trial=trial, question=study.questions.get(), value="A",
                              response_ms=500, received_at=timezone.now())
        TrialTelemetry.objects.create(key=uuid.uuid4(), trial=trial, payload={}, received_at=timezone.now())
    assert "QUICK123" in client.get(f"/p/{token}/done/").content.decode()  # completed, code shown

    client.post(f"/p/{token}/withdraw/", {"confirm": "withdraw"})

    for page in STEP_PAGES + ("withdraw/",):
        response = client.get(f"/p/{token}/{page}", follow=True)  # a step's page sends them to the first
        body = response.content.decode()
        assert response.status_code == 410, page
        assert "You have withdrawn from this study" in body and "QUICK123" not in body, page
    assert post_checks(client, token).json()["next_url"] == f"/p/{token}/"  # which says withdrawn
    response = client.post(f"/p/{token}/unconfirmed/", "{}", content_type="application/json")
    assert response.status_code == 410 and response.json()["error"] == "session_withdrawn"
    assert client.post(f"/p/{token}/consent/", {"decision": "agree"}).status_code == 302
    assert Participant.objects.get(pk=participant.pk).status == "withdrawn"
    # The panel link again, in the same browser: the withdrawal is said, no new session starts.
    response = client.post(f"/s/{study.code}/", {"PROLIFIC_PID": "PID-W-1"})
    assert response.status_code == 410 and Participant.objects.count() == 1


def test_withdrawn_participants_are_left_out_of_every_table_and_free_their_cells(client, rated_study, alice):
    kept, gone = rated_study.participants.order_by("pk")[:2]
    cells_before = actions.live_cell_counts(rated_study)
    actions.withdraw_participant(gone, Participant.WithdrawnBy.PARTICIPANT)

    options = ExportOptions(include_external_ids=True)
    for table in export_tables(include_external_ids=True).values():
        participants = {row[1] for row in table.rows(rated_study, options)}
        assert gone.pk not in participants, table.name
        if table.name in ("participants", "trials", "ratings", "events"):
            assert kept.pk in participants, table.name
    assert sum(actions.live_cell_counts(rated_study).values()) == sum(cells_before.values()) - 1

    client.force_login(alice)
    url = reverse("web:download_table", args=[rated_study.code, "ratings", "csv"])
    csv = b"".join(client.get(url).streaming_content).decode()
    assert f"\n{rated_study.code},{gone.pk}," not in csv and f"\n{rated_study.code},{kept.pk}," in csv
    page = client.get(reverse("web:study_detail", args=[rated_study.code])).content.decode()
    assert 'data-count="withdrawn">1<' in page and f"Participant {gone.pk} withdrawn" in page


def test_owners_and_editors_withdraw_a_participant_of_their_team_with_an_audit_entry(client, study, alice, bob, charlie):
    participant = enter(client, study, "PID-ASKED")
    participant = actions.give_consent(participant)
    url = reverse("web:withdraw_participant", args=[study.code])

    for outsider in (bob, charlie):  # a viewer of the team, an owner of another team
        client.force_login(outsider)
        assert client.get(url, {"number": participant.pk}).status_code == 404
        assert client.post(url, {"participant": participant.pk}).status_code == 404
    assert Participant.objects.get(pk=participant.pk).status == "consented"

    client.force_login(alice)
    assert client.get(url, {"number": "twelve"}).status_code == 400
    assert client.get(url, {"number": 999_999}).status_code == 404
    page = client.get(url, {"panel_id": "PID-ASKED"})  # owners may look a panel id up
    assert page.status_code == 200 and f'name="participant" value="{participant.pk}"' in page.content.decode()
    response = client.post(url, {"participant": participant.pk})
    assert response.url == reverse("web:study_detail", args=[study.code])
    page = client.get(response.url).content.decode()
    assert f"Participant {participant.pk} is withdrawn and their data deleted." in page
    assert f"Participant {participant.pk} withdrawn" in page and "alice" in page  # the audit log
    entry = AuditEntry.objects.get()
    assert (entry.user, entry.participant_number, entry.data["by"]) == (alice, participant.pk, "researcher")
    assert client.post(url, {"participant": participant.pk}).status_code == 302  # again: said, not repeated
    assert AuditEntry.objects.count() == 1
    tombstone = Participant.objects.get(pk=participant.pk)
    assert (tombstone.status, tombstone.withdrawn_by) == ("withdrawn", "researcher")
    page = client.get(f"/p/{participant.token}/")
    assert page.status_code == 410 and "You have been withdrawn from this study" in page.content.decode()


def test_editors_withdraw_by_number_but_cannot_look_up_panel_ids(client, study, team):
    editor = make_user("erin", team, "editor")
    participant = enter(client, study, "PID-EDIT")
    client.force_login(editor)
    url = reverse("web:withdraw_participant", args=[study.code])
    page = client.get(url, {"panel_id": "PID-EDIT"}).content.decode()
    assert 'name="participant"' not in page and "Only the team's owners" in page
    assert client.get(url, {"number": participant.pk}).status_code == 200
    assert client.post(url, {"participant": participant.pk}).status_code == 302
    assert AuditEntry.objects.get().user == editor


def test_a_team_cannot_withdraw_another_teams_participant_by_number(client, study, alice, charlie, other_team):
    from tests.conftest import QUICK_STUDY_YAML, import_yaml

    theirs = import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: theirs"), other_team)
    stranger = actions.enroll_participant(theirs)
    client.force_login(alice)
    url = reverse("web:withdraw_participant", args=[study.code])
    assert client.get(url, {"number": stranger.pk}).status_code == 404
    assert client.post(url, {"participant": stranger.pk}).status_code == 404
    assert Participant.objects.get(pk=stranger.pk).status == "started" and not AuditEntry.objects.exists()


def test_a_completed_participant_withdrawn_keeps_the_study_counts_honest(study):
    done = run_participant(study, ["A"])
    Participant.objects.filter(pk=done.pk).update(completed_at=timezone.now(), status="completed",
                                                  completion_code_shown="QUICK123")
    done.refresh_from_db()
    assert actions.shown_completion(done)[0] == "QUICK123"
    assert actions.study_counts(study)["completed"] == 1
    actions.withdraw_participant(done, Participant.WithdrawnBy.RESEARCHER)
    counts = actions.study_counts(study)
    assert (counts["participants"], counts["completed"], counts["ratings"], counts["withdrawn"]) == (1, 0, 0, 1)
    assert actions.shown_completion(Participant.objects.get(pk=done.pk)) == ("", "")
