"""Starting a study in the builder from a shipped example study file: every example becomes a
valid draft equal to its file (the code and title aside), taken codes are not reused."""

import pytest
from django.urls import reverse

from uxlab.studies import drafts
from uxlab.studies.example_studies import example_document, example_studies
from uxlab.studies.models import AuditEntry, Study

pytestmark = pytest.mark.django_db


def start_from_example(client, team, name, **form):
    response = client.post(reverse("web:study_create"), {"team": team.pk, "start": "example", "example": name} | form)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Study.objects.get(code=response["Location"].rstrip("/").split("/")[-2])


@pytest.mark.parametrize("name", [example.name for example in example_studies()])
def test_it_starts_a_valid_draft_from_each_example(client, team, alice, name):
    client.force_login(alice)
    study = start_from_example(client, team, name, code=f"ex-{name[:20]}".replace("_", "-"))
    assert study.status == Study.Status.DRAFT and study.arms.exists()  # valid, so written at once
    document = study.draft.document
    assert drafts.problems_of(document)[1] == []
    example = example_document(name)
    assert [arm["name"] for arm in document["arms"]] == [arm["name"] for arm in example["arms"]]
    assert document["title"] == example["title"] and document["prompts"][0]["text"] == example["prompts"][0]["text"]
    assert AuditEntry.objects.get(study=study, action="create").detail == f"example {name}"


def test_it_keeps_the_examples_code_while_it_is_free_and_the_researchers_title(client, team, alice):
    client.force_login(alice)
    first = start_from_example(client, team, "tan_2026_ttft", title="My TTFT study")
    assert (first.code, first.title) == ("tan2026", "My TTFT study")
    second = start_from_example(client, team, "tan_2026_ttft")
    assert second.code != "tan2026" and second.title.startswith("Time to first token")


def test_the_create_page_lists_the_examples_and_refuses_an_unknown_one(client, team, alice):
    client.force_login(alice)
    page = client.get(reverse("web:study_create")).content.decode()
    assert 'value="example"' in page and 'id="examples"' in page
    for example in example_studies():
        assert f'<option value="{example.name}"' in page and example.file_name in page
    refused = client.post(reverse("web:study_create"), {"team": team.pk, "start": "example", "example": "../settings"})
    assert refused.status_code == 400 and not Study.objects.exists()
    missing = client.post(reverse("web:study_create"), {"team": team.pk, "start": "example", "example": ""})
    assert missing.status_code == 400 and "Choose an example study." in missing.content.decode()
