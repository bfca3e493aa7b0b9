"""Every way an arm is written refuses a live backend inside the server, a key outside the
allowlist or sent to a host it is not bound to, and a tokenizer outside the operator's directory:
the study file (errors by path), the admin and the builder."""

import json

import pytest

from tests.studies.test_study_files_arm_kinds import errors_of, parse
from uxlab.streaming.backends import egress
from uxlab.studies.admin import ArmAdminForm
from uxlab.studies.models import Arm

LIVE = """
- name: fast
  preset: wafer_scale_8b
- name: slow
  kind: live
  base_url: {url}
  model: m
  api_key_env: {key}
"""


# Public addresses only; UXLAB_KEY_OPENAI may be sent to the two hosts the tests name.
STRICT = egress.EgressPolicy.from_lists(key_hosts=["UXLAB_KEY_OPENAI=api.example.org", "UXLAB_KEY_OPENAI=93.184.215.14"])


@pytest.fixture
def strict_policy():
    before = egress.current_policy()
    egress.configure(STRICT)
    yield
    egress.configure(before)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1", "http://[::1]/v1", "http://0.0.0.0/v1", "http://169.254.169.254/v1",
            "http://10.0.0.5/v1", "http://192.168.1.1/v1", "http://localhost:11434/v1"],
)  # fmt: skip
def test_a_study_file_pointing_inside_is_refused_by_path(strict_policy, url):
    errors = errors_of(LIVE.format(url=url, key="UXLAB_KEY_OPENAI"))
    assert len(errors) == 1 and errors[0].startswith("arms[1].base_url: ") and "non-public address" in errors[0]


@pytest.mark.parametrize("key", ["SECRET_KEY", "SQLITE_PATH", "DATABASE_URL"])
def test_a_study_file_naming_a_secret_as_its_key_is_refused_by_path(strict_policy, key):
    errors = errors_of(LIVE.format(url="https://api.example.org/v1", key=key))
    assert errors == [f"arms[1].api_key_env: must be a variable named UXLAB_KEY_* or listed in UXLAB_LIVE_KEY_NAMES (not {key})"]


def test_the_same_arm_with_a_public_url_and_an_allowed_key_imports(strict_policy):
    arm = parse(LIVE.format(url="https://93.184.215.14/v1", key="UXLAB_KEY_OPENAI")).arms[1]
    assert arm.profile["base_url"] == "https://93.184.215.14/v1"


def test_a_key_listed_in_the_setting_is_allowed():
    before = egress.current_policy()
    egress.configure(egress.EgressPolicy.from_lists(key_names=["OPENAI_API_KEY"], key_hosts=["OPENAI_API_KEY=api.example.org"]))
    try:
        parse(LIVE.format(url="https://api.example.org/v1", key="OPENAI_API_KEY"))
    finally:
        egress.configure(before)


def test_a_study_file_sending_a_key_to_a_host_it_is_not_bound_to_is_refused_by_path(strict_policy):
    errors = errors_of(LIVE.format(url="https://collector.example.net/v1", key="UXLAB_KEY_OPENAI"))
    assert errors == ["arms[1].api_key_env: UXLAB_KEY_OPENAI may be sent only to 93.184.215.14, api.example.org "
                      "(UXLAB_KEY_HOSTS), not to collector.example.net:443"]
    errors = errors_of(LIVE.format(url="https://api.example.org/v1", key="UXLAB_KEY_GROQ"))
    assert errors == ["arms[1].api_key_env: UXLAB_KEY_GROQ is bound to no host: the operator binds it in "
                      "UXLAB_KEY_HOSTS (e.g. UXLAB_KEY_GROQ=api.example.org:443)"]


def admin_form(study, **profile):
    data = {"study": study.pk, "name": "evil", "label": "", "source": "", "kind": "live", "preset": "",
            "position": 9, "profile": json.dumps({"model": "m", **profile})}  # fmt: skip
    return ArmAdminForm(data=data)


@pytest.mark.django_db
def test_the_admin_refuses_what_a_study_file_refuses(strict_policy, study):
    form = admin_form(study, base_url="http://169.254.169.254/v1", api_key_env="SQLITE_PATH")
    assert not form.is_valid()
    errors = " ".join(form.errors["profile"])
    assert "base_url: 169.254.169.254 is a non-public address" in errors
    assert "api_key_env: must be a variable named UXLAB_KEY_*" in errors

    elsewhere = admin_form(study, base_url="https://collector.example.net/v1", api_key_env="UXLAB_KEY_OPENAI")
    assert not elsewhere.is_valid()
    assert "api_key_env: UXLAB_KEY_OPENAI may be sent only to" in " ".join(elsewhere.errors["profile"])

    good = admin_form(study, base_url="https://api.example.org/v1", api_key_env="UXLAB_KEY_OPENAI")
    assert good.is_valid(), good.errors
    good.save()
    assert Arm.objects.filter(study=study, name="evil", kind="live").exists()


@pytest.mark.django_db
def test_the_admin_accepts_every_stored_arm_of_an_imported_study(study):
    for arm in study.arms.all():
        form = ArmAdminForm(instance=arm, data={
            "study": study.pk, "name": arm.name, "label": arm.label, "source": arm.source, "kind": arm.kind,
            "preset": arm.preset, "position": arm.position, "profile": json.dumps(arm.profile),
        })  # fmt: skip
        assert form.is_valid(), (arm.name, form.errors)


@pytest.mark.django_db
def test_the_admin_refuses_a_tokenizer_outside_the_operators_directory(study, tokenizer_dir):
    data = {"study": study.pk, "name": "tokenized", "label": "", "source": "", "kind": "synthetic", "preset": "",
            "position": 9, "profile": json.dumps({"tokenizer": "/etc/passwd"})}  # fmt: skip
    form = ArmAdminForm(data=data)
    assert not form.is_valid()
    assert "tokenizer: /etc/passwd is outside the tokenizer directory (UXLAB_TOKENIZER_DIR)" in " ".join(form.errors["profile"])


def test_a_malformed_key_binding_stops_the_process_at_start(settings):
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    settings.UXLAB_KEY_HOSTS = ["UXLAB_KEY_OPENAI"]
    with pytest.raises(ImproperlyConfigured, match="UXLAB_KEY_HOSTS: 'UXLAB_KEY_OPENAI' is not NAME=host or NAME=host:port"):
        apps.get_app_config("studies").ready()
