"""Fixtures of the web tests: a temporary data folder and a small practice."""

from __future__ import annotations

import pytest
from django.utils import translation
from web_practice import Practice, build_practice

from ally.web.actions.answers import do_create_administration
from ally.web.collect.models import Administration


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.ALLY_DATA_DIR = tmp_path
    # A fast hasher: Argon2 is exercised in test_web_settings.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The test client speaks plain HTTP; production's redirect is checked in test_web_settings.
    settings.SECURE_SSL_REDIRECT = False
    # "Fit now" fits in the request here; the background thread has its own test.
    settings.ALLY_FIT_IN_BACKGROUND = False
    # A German request leaves German active in this thread; each test starts in English.
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def practice(db: None) -> Practice:
    return build_practice()


@pytest.fixture
def phq9(practice: Practice) -> Administration:
    return do_create_administration(practice.own, "phq9")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the tests that drive Chromium `browser` (see pyproject.toml's markers)."""
    for item in items:
        module = getattr(item, "module", None)
        if "browser" in getattr(item, "fixturenames", ()) or (
            module is not None and module.__name__.endswith("_browser")
        ):
            item.add_marker(pytest.mark.browser)
