"""The arm form's "fill from a preset" (web/builder/presets.py): an existing arm's latency settings
re-filled from another preset, shown to check, saved only by Save; not offered where it cannot apply."""

import re

import pytest
from django.urls import reverse

from tests.web.test_builder import create_from_template
from uxlab.streaming.presets import PRESETS

pytestmark = pytest.mark.django_db


def field_value(html, name):
    match = re.search(rf'<input id="f-{name}" name="{name}" type="text"[^>]*value="([^"]*)"', html)
    return match and match[1]


def test_it_refills_an_arm_from_another_preset_and_saves_only_on_save(client, team, alice):
    client.force_login(alice)
    study = create_from_template(client, team)  # arms wafer_scale_8b and loaded_gpu_cloud_70b
    url = reverse("web:builder_item", args=[study.code, "arms", 0])
    page = client.get(url).content.decode()
    assert 'id="refill"' in page and 'id="refilled"' not in page

    other = PRESETS["loaded_gpu_cloud_70b"]
    filled = client.get(url, {"preset": "loaded_gpu_cloud_70b"})
    html = filled.content.decode()
    assert filled.status_code == 200 and 'id="refilled"' in html
    assert field_value(html, "name") == "wafer_scale_8b"  # the arm keeps its name
    assert field_value(html, "label") == other.label.replace("'", "&#x27;")
    assert field_value(html, "tokens_per_second") == str(other.profile["tokens_per_second"]).removesuffix(".0")
    assert '<option value="loaded_gpu_cloud_70b" selected>' in html
    assert study.arms.get(position=0).preset == "wafer_scale_8b"  # nothing saved by looking

    form = {"name": "wafer_scale_8b", "label": other.label, "source": other.citation, "preset": "loaded_gpu_cloud_70b"}
    form |= {key: str(value) for key, value in other.profile.items()}
    assert client.post(url, form).status_code == 302
    arm = study.arms.get(position=0)
    assert (arm.name, arm.preset, arm.label) == ("wafer_scale_8b", "loaded_gpu_cloud_70b", other.label)
    assert arm.profile["tokens_per_second"] == other.profile["tokens_per_second"]
    assert arm.profile["ttft_s"] == other.profile["ttft_s"]
    assert [pair for pair in study.design["pairs"]] == [["wafer_scale_8b", "loaded_gpu_cloud_70b"]]


def test_an_unknown_preset_shows_the_saved_values(client, team, alice):
    client.force_login(alice)
    study = create_from_template(client, team)
    html = client.get(reverse("web:builder_item", args=[study.code, "arms", 0]), {"preset": "../nope"}).content.decode()
    assert 'id="refilled"' not in html and field_value(html, "tokens_per_second") == "1800"


def test_it_is_not_offered_once_the_arms_are_frozen(client, team, alice):
    client.force_login(alice)
    study = create_from_template(client, team)
    assert client.post(reverse("web:change_status", args=[study.code, "launch"])).status_code == 302
    html = client.get(reverse("web:builder_item", args=[study.code, "arms", 0]), {"preset": "loaded_gpu_cloud_70b"}).content.decode()
    assert 'id="refill"' not in html and 'id="refilled"' not in html
    assert 'name="tokens_per_second" type="text" inputmode="decimal" value="1800"' in html
