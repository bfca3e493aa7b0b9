"""Download YAML from the builder: a valid, applied draft is exactly the study's export; any other
draft reads as a study file (sections in the file's order, names first), whatever order Postgres
keeps its keys in."""

import pytest
import yaml
from django.urls import reverse

from tests.web.test_builder import create_from_template
from uxlab.studies.study_files import export_study

pytestmark = pytest.mark.django_db


def downloaded(client, study):
    response = client.get(reverse("web:builder_yaml", args=[study.code]))
    assert response.status_code == 200 and response["Content-Disposition"] == f'attachment; filename="{study.code}.yaml"'
    return response.content.decode()


def test_a_valid_draft_downloads_as_the_studys_export(client, team, alice):
    client.force_login(alice)
    study = create_from_template(client, team)
    text = downloaded(client, study)
    assert text == export_study(study)
    assert list(yaml.safe_load(text))[:3] == ["version", "code", "title"]


def test_a_draft_with_problems_still_reads_as_a_study_file(client, team, alice):
    client.force_login(alice)
    study = create_from_template(client, team)
    client.post(reverse("web:builder_item_change", args=[study.code, "arms", 1, "delete"]))  # one arm: a problem
    text = downloaded(client, study)
    document = yaml.safe_load(text)
    assert list(document)[:3] == ["version", "code", "title"] and len(document["arms"]) == 1
    assert list(document["arms"][0])[:2] == ["name", "kind"] and list(document["consent"]) == ["version", "text"]
    assert text != export_study(study)  # the draft, not the study's rows
