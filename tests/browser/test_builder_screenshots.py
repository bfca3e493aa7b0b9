"""`manage.py screenshots`: the builder's pages photographed at both viewports, its data removed."""

import struct

import pytest
from django.core.management import call_command

from uxlab.studies.models import Study, Team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def png_size(path):
    with open(path, "rb") as file:
        header = file.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_builder_screenshots_command_writes_both_viewports_and_cleans_up(tmp_path, chromium_path, capsys):
    call_command("screenshots", "--out", str(tmp_path), "--chromium", chromium_path,
                 "--only", "01-create", "08-arm-inline-error")
    assert png_size(tmp_path / "08-arm-inline-error-desktop.png") == (1280, 800)
    assert png_size(tmp_path / "08-arm-inline-error-mobile.png") == (390, 844)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "01-create-desktop.png", "01-create-mobile.png", "08-arm-inline-error-desktop.png",
        "08-arm-inline-error-mobile.png",
    ]
    assert not Study.objects.exists() and not Team.objects.exists()
