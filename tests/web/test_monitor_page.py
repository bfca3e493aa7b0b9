"""The live monitor page: its script is a module, and owners and editors get Pause and Resume buttons
that post (with the CSRF token) to the pause and resume views."""

import re

import pytest
from django.templatetags.static import static
from django.test import Client
from django.urls import reverse

from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def monitor_page(client, study):
    response = client.get(reverse("web:monitor", args=[study.code]))
    assert response.status_code == 200
    return response.content.decode()


def form_token(page, action):
    """The CSRF token of the form posting to `action`."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', page, re.S)
    assert form, f"no form posting to {action}"
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(1)).group(1)


def test_it_gives_owners_and_editors_the_buttons_and_viewers_none(client, study, alice, bob, team):
    editor = make_user("edith", team, "editor")
    for user in (alice, editor):
        client.force_login(user)
        page = monitor_page(client, study)
        assert 'id="pause"' in page and 'id="resume"' in page
        form_token(page, reverse("web:pause", args=[study.code]))
        form_token(page, reverse("web:resume", args=[study.code]))
    client.force_login(bob)  # a viewer
    page = monitor_page(client, study)
    assert 'id="pause"' not in page and reverse("web:pause", args=[study.code]) not in page


def test_it_pauses_and_resumes_from_the_buttons_and_refuses_a_post_without_the_token(study, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    pause_url = reverse("web:pause", args=[study.code])
    resume_url = reverse("web:resume", args=[study.code])

    assert client.post(pause_url).status_code == 403
    study.refresh_from_db()
    assert study.status == "live"

    response = client.post(pause_url, {"csrfmiddlewaretoken": form_token(monitor_page(client, study), pause_url)})
    assert response.status_code == 302 and response.url == reverse("web:monitor", args=[study.code])
    study.refresh_from_db()
    assert study.status == "paused"
    assert "Paused" in monitor_page(client, study)

    client.post(resume_url, {"csrfmiddlewaretoken": form_token(monitor_page(client, study), resume_url)})
    study.refresh_from_db()
    assert study.status == "live"


def test_it_loads_the_monitor_script_as_a_module_with_the_socket_path(client, study, alice):
    client.force_login(alice)
    page = monitor_page(client, study)
    assert f'<script type="module" src="{static("uxlab/monitor.js")}"></script>' in page
    assert f'data-socket-path="/ws/studies/{study.code}/monitor/"' in page
