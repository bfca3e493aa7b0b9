"""The study builder: creating, editing section by section with the schema's problems beside the
fields, YAML round trips, who may edit, and the lifecycle with its versions and audit trail."""

import re

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import make_user
from uxlab.studies import drafts
from uxlab.studies.actions import builder as build
from uxlab.studies.models import AuditEntry, Study, StudyVersion

pytestmark = pytest.mark.django_db


def create_from_template(client, team, code="built", first="wafer_scale_8b", second="loaded_gpu_cloud_70b"):
    response = client.post(reverse("web:study_create"), {
        "team": team.pk, "title": "Built in the browser", "code": code, "start": "template",
        "first_preset": first, "second_preset": second,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    return Study.objects.get(code=code)


def field_error(html, name):
    """The problem shown beside a field (its error paragraph follows its input), or None."""
    match = re.search(
        rf'data-field="{re.escape(name)}".*?(?:class="field-error"[^>]*>(?P<error>[^<]*)<|</div>)', html, re.S
    )
    return match and match["error"]


def test_it_creates_a_valid_draft_from_two_presets(client, team, alice):
    client.force_login(alice)
    study = create_from_template(client, team)
    assert study.status == Study.Status.DRAFT
    assert [arm.preset for arm in study.arms.all()] == ["wafer_scale_8b", "loaded_gpu_cloud_70b"]
    assert study.arms.get(position=0).source.startswith("Cerebras")
    assert drafts.problems_of(study.draft.document) == (drafts.problems_of(study.draft.document)[0], [])
    assert AuditEntry.objects.filter(study=study, action="create", user=alice).exists()


def test_it_shows_the_schemas_problem_beside_the_field_and_saves_once_fixed(client, team, alice):
    client.force_login(alice)
    study = create_from_template(client, team)
    url = reverse("web:builder_item", args=[study.code, "arms", 0])
    form = {"name": "wafer_scale_8b", "label": "Fast", "source": "Cerebras", "preset": "wafer_scale_8b",
            "ttft_s": "0.2", "tokens_per_second": "0", "jitter": "none", "chunk_tokens": "1.5"}
    response = client.post(url, form)
    html = response.content.decode()
    assert response.status_code == 400
    assert field_error(html, "tokens_per_second") == "must be &gt;= 0.1"
    assert field_error(html, "chunk_tokens") == "must be a whole number"
    assert field_error(html, "ttft_s") is None
    assert study.arms.get(position=0).profile["tokens_per_second"] == 1800  # nothing saved

    response = client.post(url, form | {"tokens_per_second": "900", "chunk_tokens": "2"})
    assert response.status_code == 302
    arm = study.arms.get(position=0)
    assert (arm.profile["tokens_per_second"], arm.profile["chunk_tokens"], arm.label) == (900, 2, "Fast")


def test_it_round_trips_builder_yaml_import_builder(client, team, alice):
    """builder → YAML → import → builder gives the same study file (the code aside)."""
    client.force_login(alice)
    study = create_from_template(client, team)
    client.post(reverse("web:builder_item_new", args=[study.code, "questions"]),
                {"name": "speed", "kind": "likert", "text": "How fast was it?", "scale": "5", "low_label": "slow"})
    client.post(reverse("web:builder_section", args=[study.code, "practice"]),
                {"practice_enabled": "on", "text": "Practice question", "response": "A practice answer."})
    client.post(reverse("web:builder_section", args=[study.code, "session"]), {"layout": "sequential", "time_limit_minutes": "45"})
    client.post(reverse("web:builder_section", args=[study.code, "completion"]),
                {"code": "DONE42", "timed_out.code": "LATE1"})
    built = Study.objects.get(pk=study.pk).draft.document
    assert built["questions"][1]["scale"] == 5 and built["practice"]["text"] == "Practice question"
    assert built["design"]["layout"] == "sequential" and built["completion"]["timed_out"] == {"code": "LATE1"}

    downloaded = client.get(reverse("web:builder_yaml", args=[study.code]))
    assert downloaded["Content-Disposition"] == f'attachment; filename="{study.code}.yaml"'
    text = downloaded.content.decode()
    response = client.post(reverse("web:study_create"), {
        "team": team.pk, "code": "imported", "start": "upload",
        "file": SimpleUploadedFile("study.yaml", text.encode(), content_type="application/yaml"),
        "first_preset": "wafer_scale_8b", "second_preset": "wafer_scale_8b",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    imported = Study.objects.get(code="imported")
    assert drafts.without_code(imported.draft.document) == drafts.without_code(built)
    study.refresh_from_db()
    assert drafts.without_code(drafts.study_document(imported)) == drafts.without_code(drafts.study_document(study))
    assert yaml.safe_load(text)["code"] == study.code


def test_its_question_form_offers_asking_once_to_the_kinds_that_take_it(client, team, alice):
    client.force_login(alice)
    study = create_from_template(client, team)
    page = client.get(reverse("web:builder_item_new", args=[study.code, "questions"])).content.decode()
    field = re.search(r'<div class="field[^"]*" data-field="ask" data-kinds="([^"]*)">', page)
    assert field and field.group(1).split() == ["likert", "slider", "wait_estimate", "free_text"]
    assert '<option value="once"' in page and '<option value="every_trial"' in page
    response = client.post(reverse("web:builder_item_new", args=[study.code, "questions"]),
                           {"name": "ai_use", "kind": "likert", "ask": "once", "scale": "3",
                            "text": "How often do you use AI chat assistants?"})
    assert response.status_code == 302
    question = Study.objects.get(pk=study.pk).draft.document["questions"][1]
    assert question["ask"] == "once" and "per_pane" not in question
    response = client.post(reverse("web:builder_item_new", args=[study.code, "questions"]),
                           {"name": "again", "kind": "likert", "ask": "once", "per_pane": "true", "text": "Again?"})
    assert response.status_code == 400 and "ask: once cannot be per_pane" in response.content.decode()


def test_it_refuses_an_invalid_upload_with_every_problem(client, team, alice):
    client.force_login(alice)
    response = client.post(reverse("web:study_create"), {
        "team": team.pk, "start": "upload", "first_preset": "groq_8b", "second_preset": "groq_8b",
        "file": SimpleUploadedFile("bad.yaml", b"version: 1\ntitle: x\narms: []\n"),
    })
    html = response.content.decode()
    assert response.status_code == 400
    assert "consent: required" in html and "arms: at least 2 items required" in html
    assert not Study.objects.exists()


def test_an_editor_edits_a_draft_and_a_viewer_cannot(client, team, alice, bob):
    client.force_login(alice)
    study = create_from_template(client, team)
    editor = make_user("erin", team, "editor")
    client.force_login(editor)
    response = client.post(reverse("web:builder_section", args=[study.code, "study"]),
                           {"title": "Renamed by the editor", "consent.version": "1", "consent.text": "Agree?"})
    assert response.status_code == 302
    assert Study.objects.get(pk=study.pk).title == "Renamed by the editor"

    client.force_login(bob)  # a viewer
    for url in (reverse("web:builder", args=[study.code]), reverse("web:builder_section", args=[study.code, "arms"]),
                reverse("web:builder_yaml", args=[study.code])):
        assert client.get(url).status_code == 404
    assert client.post(reverse("web:builder_section", args=[study.code, "study"]), {"title": "x"}).status_code == 404
    assert client.post(reverse("web:change_status", args=[study.code, "launch"])).status_code == 404
    page = client.get(reverse("web:study_detail", args=[study.code])).content.decode()
    assert 'id="read-only-note"' in page and 'id="edit-study"' not in page


def test_launch_freezes_the_arms_and_later_edits_make_versions(client, team, alice):
    client.force_login(alice)
    study = create_from_template(client, team)
    client.post(reverse("web:change_status", args=[study.code, "launch"]))
    study.refresh_from_db()
    assert study.status == Study.Status.LIVE and study.version == 1
    assert StudyVersion.objects.filter(study=study, number=1).exists()

    response = client.post(reverse("web:builder_item", args=[study.code, "arms", 0]), {"name": "x", "ttft_s": "1"})
    assert response.status_code == 400 and "cannot change once a study is live" in response.content.decode()
    assert study.arms.get(position=0).name == "wafer_scale_8b"

    client.post(reverse("web:builder_section", args=[study.code, "study"]),
                {"title": "Better title", "consent.version": "2", "consent.text": "New consent"})
    study.refresh_from_db()
    assert (study.title, study.consent_version, study.version) == ("Better title", "2", 2)
    assert StudyVersion.objects.get(study=study, number=2).document["title"] == "Better title"
    from uxlab.studies import actions

    assert actions.enroll_participant(study).study_version == 2
    actions_done = list(AuditEntry.objects.filter(study=study).order_by("created_at", "id").values_list("action", flat=True))
    assert actions_done[0] == "create" and "launch" in actions_done and actions_done[-1] == "new_version"

    client.post(reverse("web:change_status", args=[study.code, "pause"]))
    client.post(reverse("web:change_status", args=[study.code, "close"]))
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED
    response = client.post(reverse("web:change_status", args=[study.code, "resume"]), follow=True)
    assert "cannot be resumed" in response.content.decode()


def test_launch_is_refused_while_the_draft_has_problems(client, team, alice):
    client.force_login(alice)
    response = client.post(reverse("web:study_create"), {
        "team": team.pk, "title": "Blank", "code": "blank-one", "start": "blank",
        "first_preset": "groq_8b", "second_preset": "groq_8b",
    })
    assert response.status_code == 302
    study = Study.objects.get(code="blank-one")
    response = client.post(reverse("web:change_status", args=[study.code, "launch"]), follow=True)
    assert "problems to fix first" in response.content.decode()
    assert Study.objects.get(pk=study.pk).status == Study.Status.DRAFT
    overview = client.get(reverse("web:builder", args=[study.code])).content.decode()
    assert "<code>arms</code></a>: at least 2 items required" in overview


def test_a_first_arm_saves_although_a_study_needs_two(client, team, alice):
    client.force_login(alice)
    client.post(reverse("web:study_create"), {"team": team.pk, "title": "Blank", "code": "blank-two", "start": "blank",
                                              "first_preset": "groq_8b", "second_preset": "groq_8b"})
    study = Study.objects.get(code="blank-two")
    response = client.post(reverse("web:builder_item_new", args=[study.code, "arms"]),
                           {"preset_pick": "groq_8b", "name": ""})
    assert response.status_code == 302
    assert build.draft_of(study).document["arms"][0]["preset"] == "groq_8b"
    response = client.post(reverse("web:builder_item_new", args=[study.code, "arms"]),
                           {"preset_pick": "groq_70b", "name": "groq_8b"})
    assert response.status_code == 400
    assert field_error(response.content.decode(), "name") == "duplicate name &#x27;groq_8b&#x27;"


def test_a_renamed_arm_takes_its_pairs_along(client, team, alice):
    client.force_login(alice)
    study = create_from_template(client, team)
    arm = build.draft_of(study).document["arms"][0]
    form = {key: str(value) for key, value in arm.items() if key != "kind"} | {"name": "fast"}
    assert client.post(reverse("web:builder_item", args=[study.code, "arms", 0]), form).status_code == 302
    assert Study.objects.get(pk=study.pk).design["pairs"] == [["fast", "loaded_gpu_cloud_70b"]]


def test_the_study_list_and_a_study_page_lead_to_the_builder(client, team, alice):
    client.force_login(alice)
    assert reverse("web:study_create") == reverse("web:create") == "/studies/new/"
    assert 'href="/studies/new/"' in client.get(reverse("web:study_list")).content.decode()
    study = create_from_template(client, team)
    page = client.get(reverse("web:study_detail", args=[study.code])).content.decode()
    assert f'href="/studies/{study.code}/build/"' in page and 'id="launch-button"' in page
    assert re.search(r'id="audit-log".*<td>create: template</td>\s*<td>alice</td><td>1</td>', page, re.S)  # the one audit log
