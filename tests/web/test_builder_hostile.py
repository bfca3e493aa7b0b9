"""The builder's pages answer hostile or broken input with a 4xx or a page of problems, never a 500."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from uxlab.studies.models import Study

pytestmark = pytest.mark.django_db

GARBAGE = {
    "name": "x" * 500, "kind": "nope", "text": "", "ttft_s": "nan", "tokens_per_second": "1e999", "scale": "three",
    "per_pane": "maybe", "pairs": ["fast_arm|fast_arm", "nobody|", "|", "a|b|c"], "order": "sideways",
    "trials_per_participant": "-1", "time_limit_minutes": "0.5", "code": "not a code!", "url": "javascript:alert(1)",
    "practice_enabled": "on", "consent.version": "", "failed_attention.code": "", "preset": "../../etc",
    "quota_per_cell": "1.5", "expected": "", "after_trial": "x",
}


@pytest.fixture
def draft(client, team, alice):
    client.force_login(alice)
    return import_yaml(QUICK_STUDY_YAML, team, status="draft")


@pytest.mark.parametrize("section", ["study", "design", "session", "practice", "completion"])
def test_a_section_with_garbage_is_a_page_of_problems(client, draft, section):
    response = client.post(reverse("web:builder_section", args=[draft.code, section]), GARBAGE)
    assert response.status_code == 400, section
    assert 'class="field-error"' in response.content.decode()
    assert Study.objects.get(pk=draft.pk).arms.count() == 2


@pytest.mark.parametrize("section, index", [("arms", 0), ("prompts", 0), ("questions", 0), ("attention_checks", None)])
def test_an_item_with_garbage_is_a_page_of_problems(client, draft, section, index):
    url = (reverse("web:builder_item", args=[draft.code, section, index]) if index is not None
           else reverse("web:builder_item_new", args=[draft.code, section]))
    response = client.post(url, GARBAGE)
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()


@pytest.mark.parametrize("path", [
    "build/nope/", "build/arms/99/", "build/arms/-1/", "build/arms/new/?kind=quantum", "build/design/0/",
    "build/study/new/",
])
def test_unknown_sections_items_and_kinds_are_404(client, draft, path):
    assert client.get(f"/studies/{draft.code}/{path}").status_code == 404


def test_unknown_changes_and_statuses_are_refused_cleanly(client, draft):
    assert client.post(reverse("web:builder_item_change", args=[draft.code, "arms", 0, "explode"])).status_code == 404
    assert client.post(reverse("web:builder_item_change", args=[draft.code, "arms", 5, "delete"])).status_code == 404
    response = client.post(reverse("web:change_status", args=[draft.code, "explode"]), follow=True)
    assert response.status_code == 200 and "unknown action" in response.content.decode()
    assert client.get(reverse("web:change_status", args=[draft.code, "launch"])).status_code == 405
    assert client.post(reverse("web:builder_item_new", args=[draft.code, "arms"]),
                       {"preset_pick": "../../etc", "name": "x"}).status_code == 400


@pytest.mark.parametrize("content", [
    b"\xff\xfe not utf-8", b"- a list\n- of things\n", b"version: 1\ntitle: [unclosed\n", b"", b"a: &a [*a]\n",
    b"version: 1\nversion: 1\n",
])
def test_broken_uploads_are_listed_problems(client, team, alice, content):
    client.force_login(alice)
    response = client.post(reverse("web:study_create"), {
        "team": team.pk, "start": "upload", "first_preset": "groq_8b", "second_preset": "groq_8b",
        "file": SimpleUploadedFile("study.yaml", content),
    })
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()
    assert not Study.objects.exists()


def test_creating_needs_a_team_the_user_may_write_to(client, team, other_team, alice, bob):
    client.force_login(bob)  # a viewer
    response = client.post(reverse("web:study_create"), {"team": team.pk, "title": "x", "start": "blank",
                                                          "first_preset": "groq_8b", "second_preset": "groq_8b"})
    assert response.status_code == 400 and 'id="no-team"' in response.content.decode()
    client.force_login(alice)
    response = client.post(reverse("web:study_create"), {"team": other_team.pk, "title": "x", "start": "blank",
                                                          "first_preset": "groq_8b", "second_preset": "groq_8b"})
    assert response.status_code == 400 and not Study.objects.exists()


def test_the_builder_refuses_a_tokenizer_outside_the_directory_and_a_key_sent_elsewhere(client, draft, tokenizer_dir):
    from tests.web.test_builder import field_error

    form = {"name": "fast_arm", "label": "Fast", "source": "x", "ttft_s": "0.05", "tokens_per_second": "400",
            "tokenizer": "/etc/passwd"}  # fmt: skip
    response = client.post(reverse("web:builder_item", args=[draft.code, "arms", 0]), form)
    assert response.status_code == 400
    assert field_error(response.content.decode(), "tokenizer").startswith(
        "/etc/passwd is outside the tokenizer directory (UXLAB_TOKENIZER_DIR)")

    live = {"kind": "live", "name": "gpt", "base_url": "https://collector.example.net/v1", "model": "m",
            "api_key_env": "UXLAB_KEY_EXAMPLE"}  # fmt: skip
    response = client.post(reverse("web:builder_item_new", args=[draft.code, "arms"]), live)
    assert response.status_code == 400
    assert field_error(response.content.decode(), "api_key_env") == (
        "UXLAB_KEY_EXAMPLE may be sent only to api.example.org (UXLAB_KEY_HOSTS), not to collector.example.net:443")
    assert [arm.name for arm in Study.objects.get(pk=draft.pk).arms.all()] == ["fast_arm", "slow_arm"]
    assert "tokenizer" not in Study.objects.get(pk=draft.pk).arms.get(name="fast_arm").profile
