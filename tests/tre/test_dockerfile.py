"""The image holds every app of the project: the stack test builds it only where Docker
runs (tests/test_stack.py), so a new app left out of the Dockerfile would otherwise be
found in production."""

import re

from django.conf import settings

from tests.conftest import ROOT


def test_the_image_copies_every_app_of_the_project():
    copied = set(re.findall(r"^COPY (\S+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M))
    ours = {app for app in settings.INSTALLED_APPS if (ROOT / app).is_dir()}
    assert ours <= copied, f"the Dockerfile does not copy: {sorted(ours - copied)}"
