"""The results page: statistics and inline SVG plots (no CDN), and exclusion rules researchers toggle."""

import re

import pytest
from django.urls import reverse

from tests.web.conftest import run_participant
from uxlab.studies.models import Trial

pytestmark = pytest.mark.django_db


def test_it_shows_plots_inline_after_a_few_participants(client, study, alice):
    for values in (["A"], ["A"], ["B"], ["tie"], ["A"]):
        run_participant(study, values)
    page = client.get(reverse("web:results", args=[study.code]), {}, follow=False)
    client.force_login(alice)
    page = client.get(reverse("web:results", args=[study.code])).content.decode()
    assert page.count("<svg") >= 3  # speed ratio, TTFT difference, Bradley-Terry
    assert "fast_arm" in page and "Bradley" in page
    assert not re.search(r"<script[^>]+src=\"https?://", page) and "cdn" not in page.lower()


def test_it_shows_the_effect_of_toggling_an_exclusion_rule(client, study, alice):
    first = run_participant(study, ["A"])
    run_participant(study, ["B"])
    Trial.objects.filter(participant=first).update(status=Trial.Status.INTERRUPTED)
    client.force_login(alice)
    url = reverse("web:results", args=[study.code])
    applied = client.get(url).content.decode()
    assert "1 of 2 trials excluded; 1 answers analysed" in applied
    lifted = client.get(url, {"rules": "set", "rule": ["practice"]}).content.decode()
    assert "0 of 2 trials excluded; 2 answers analysed" in lifted
