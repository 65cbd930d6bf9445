"""Rows that a module's tests share, such as a loaded demo, which takes seconds to make."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import transaction

from ally.web.privacy.keys import ENV


@contextmanager
def rows_for_the_module(django_db_blocker: Any) -> Iterator[None]:
    """A transaction around a module's tests, for the rows they share: each test's `db` runs in
    a savepoint inside it, so a test's own changes are rolled back to the shared rows, and the
    shared rows at the module's end. Only for tests without a live server, which would not see
    rows that were never committed. The master key comes from the environment, since each test
    gets a data folder of its own."""
    with pytest.MonkeyPatch.context() as patch, django_db_blocker.unblock():
        patch.setenv(ENV, "1:" + base64.b64encode(os.urandom(32)).decode())
        with transaction.atomic():
            yield
            transaction.set_rollback(True)
