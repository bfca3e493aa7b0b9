"""Preview and pilot: the whole flow outside quotas and analysis, and deleting it in one click."""

import pytest
from django.urls import reverse

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from tests.web.conftest import run_participant
from uxlab.analysis.results import study_results
from uxlab.studies import actions
from uxlab.studies.actions import lifecycle
from uxlab.studies.models import AuditEntry, Participant, Rating, Study
from uxlab.web.builder.views_run import pilot_key

pytestmark = pytest.mark.django_db

QUOTA_ONE = QUICK_STUDY_YAML.replace("  seed: quick", "  seed: quick\n  quota_per_cell: 1")


def test_a_preview_runs_a_draft_outside_quotas_and_counts(client, team, alice):
    study = import_yaml(QUOTA_ONE, team, status="draft")
    client.force_login(alice)
    response = client.post(reverse("web:preview", args=[study.code]))
    participant = Participant.objects.get(study=study)
    assert participant.mode == "preview"
    assert response.url == reverse("web:participant_home", args=[participant.token])
    participant = actions.give_consent(participant)
    assert participant.trials.filter(kind="trial").count() == 1
    assert actions.live_cell_counts(study) == {}  # fills no quota
    assert actions.study_counts(study)["participants"] == 0 and actions.study_counts(study)["preview"] == 1
    assert AuditEntry.objects.filter(study=study, action="preview").exists()


def test_a_preview_consents_in_a_draft_that_real_participants_cannot_enter(client, team, alice):
    study = import_yaml(QUICK_STUDY_YAML, team, status="draft")
    preview = lifecycle.enroll_uncounted(study, "preview")
    real = actions.enroll_participant(study)
    for participant in (preview, real):
        Participant.objects.filter(pk=participant.pk).update(checks={"passed": True}, checked_at=study.created_at)
    client.post(reverse("web:consent", args=[preview.token]), {"decision": "agree"})
    response = client.post(reverse("web:consent", args=[real.token]), {"decision": "agree"})
    assert Participant.objects.get(pk=preview.pk).has_consented
    assert not Participant.objects.get(pk=real.pk).has_consented
    assert 'data-reason="draft"' in response.content.decode()


def test_the_done_page_of_a_preview_does_not_send_the_researcher_to_the_panel(client, team, alice):
    study = import_yaml(QUICK_STUDY_YAML.replace("  code: QUICK123", "  code: QUICK123\n  url: https://app.prolific.com/x"), team)
    participant = lifecycle.enroll_uncounted(study, "preview")
    participant = actions.give_consent(participant)
    Participant.objects.filter(pk=participant.pk).update(completion_unconfirmed_at=study.created_at,
                                                         checks={"passed": True}, checked_at=study.created_at,
                                                         instructions_seen_at=study.created_at)
    html = client.get(reverse("web:done", args=[participant.token])).content.decode()
    assert 'id="preview-note"' in html and "prolific" not in html


def test_pilot_data_is_left_out_of_analysis_by_default_and_deleted_in_one_click(client, team, alice):
    study = import_yaml(QUICK_STUDY_YAML, team)
    run_participant(study, ["A"])
    pilot = lifecycle.enroll_uncounted(study, "pilot")
    pilot = actions.give_consent(pilot)
    from tests.web.conftest import answer

    for trial in pilot.trials.all():
        answer(trial, study.questions.first(), "B")
    results = study_results(study)
    assert results["answers_kept"] == 1
    assert {rule["name"]: rule["matches"] for rule in results["exclusions"]["rules"]}["pilot"] == 1
    everything = study_results(study, rules=[])
    assert everything["answers_kept"] == 2
    from uxlab.analysis.rows import ExportOptions, participants_table

    table = participants_table()
    rows = [dict(zip(table.column_names, row)) for row in table.rows(study, ExportOptions())]
    assert [(row["mode"], row["study_version"]) for row in rows] == [("", 1), ("pilot", 1)]

    client.force_login(alice)
    page = client.get(reverse("web:pilot", args=[study.code])).content.decode()
    assert pilot_key(study) in page and "1 pilot session" in page
    confirm = client.get(reverse("web:delete_pilot_data", args=[study.code]))
    assert 'id="confirm-delete"' in confirm.content.decode()
    assert client.post(reverse("web:delete_pilot_data", args=[study.code])).status_code == 400  # not confirmed
    assert Participant.objects.filter(mode="pilot").exists()
    client.post(reverse("web:delete_pilot_data", args=[study.code]), {"confirm": "yes"})
    assert not Participant.objects.filter(study=study).exclude(mode="").exists()
    assert Rating.objects.filter(participant__study=study).count() == 1  # the real participant's answer stays
    assert AuditEntry.objects.filter(study=study, action="delete_pilot_data").exists()


def test_the_pilot_link_enrols_pilot_participants_and_a_wrong_key_does_not(client, team):
    study = import_yaml(QUICK_STUDY_YAML, team, status="draft")
    assert client.get(reverse("web:pilot_entry", args=[study.code, "wrong"])).status_code == 404
    assert client.post(reverse("web:pilot_entry", args=[study.code, "wrong"])).status_code == 404
    url = reverse("web:pilot_entry", args=[study.code, pilot_key(study)])
    assert "Start" in client.get(url).content.decode()
    client.post(url)
    assert Participant.objects.get(study=study).mode == "pilot"
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    client.post(url)
    assert Participant.objects.filter(study=study).count() == 1


def test_a_draft_with_pilot_data_must_drop_it_before_its_arms_change(client, team, alice):
    client.force_login(alice)
    study = import_yaml(QUICK_STUDY_YAML, team, status="draft")
    lifecycle.enroll_uncounted(study, "pilot")
    response = client.post(reverse("web:builder_item", args=[study.code, "prompts", 0]),
                           {"name": "greeting", "text": "Say hello again.", "response": "Hello!"})
    assert response.status_code == 302
    assert study.prompts.get().text == "Say hello."  # the pilot's trials refer to the study as it was
    assert "Say hello again." in client.get(reverse("web:builder_yaml", args=[study.code])).content.decode()
    overview = client.get(reverse("web:builder", args=[study.code])).content.decode()
    assert 'id="unapplied-note"' in overview and 'id="valid-note"' not in overview
    response = client.post(reverse("web:change_status", args=[study.code, "launch"]), follow=True)
    assert "delete its pilot data first" in response.content.decode()
    assert Study.objects.get(pk=study.pk).status == Study.Status.DRAFT

    client.post(reverse("web:delete_pilot_data", args=[study.code]), {"confirm": "yes"})
    assert study.prompts.get().text == "Say hello again."
    client.post(reverse("web:change_status", args=[study.code, "launch"]))
    assert Study.objects.get(pk=study.pk).status == Study.Status.LIVE
