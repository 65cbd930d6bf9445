"""Settings: the database chosen by environment, WAL mode, Argon2, the secret key, logging."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db.backends.sqlite3.base import DatabaseWrapper

from ally.web.database import POSTGRES, SQLITE, DatabaseSettingError, database_from_env
from ally.web.logs import DropRequest
from ally.web.settings import _secret_key


def test_sqlite_in_the_data_dir_is_the_default(tmp_path: Path) -> None:
    db = database_from_env({}, tmp_path)
    assert db["ENGINE"] == SQLITE
    assert db["NAME"] == str(tmp_path / "ally.sqlite3")


def test_sqlite_connections_use_wal_mode(tmp_path: Path, django_db_blocker: Any) -> None:
    settings_dict = {
        **database_from_env({}, tmp_path),
        "TIME_ZONE": None,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
    }
    connection = DatabaseWrapper(settings_dict, alias="wal-check")
    with django_db_blocker.unblock():
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                assert cursor.fetchone()[0] == "wal"
        finally:
            connection.close()


def test_postgresql_from_ally_db_variables(tmp_path: Path) -> None:
    env = {
        "ALLY_DB_ENGINE": "postgresql",
        "ALLY_DB_NAME": "ally",
        "ALLY_DB_USER": "ally",
        "ALLY_DB_PASSWORD": "secret",
        "ALLY_DB_HOST": "db.internal",
        "ALLY_DB_PORT": "5433",
    }
    db = database_from_env(env, tmp_path)
    assert (db["ENGINE"], db["NAME"], db["USER"], db["HOST"], db["PORT"]) == (
        POSTGRES,
        "ally",
        "ally",
        "db.internal",
        "5433",
    )


def test_postgresql_from_a_database_url(tmp_path: Path) -> None:
    url = "postgresql://ally:p%40ss@db.internal:5433/ally?sslmode=require"
    db = database_from_env({"ALLY_DATABASE_URL": url}, tmp_path)
    assert (db["ENGINE"], db["NAME"], db["USER"], db["PASSWORD"], db["PORT"]) == (
        POSTGRES,
        "ally",
        "ally",
        "p@ss",
        "5433",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_sqlite_url_is_relative_to_the_data_dir(tmp_path: Path) -> None:
    db = database_from_env({"ALLY_DATABASE_URL": "sqlite:///practice.db"}, tmp_path)
    assert db["NAME"] == str(tmp_path / "practice.db")


@pytest.mark.parametrize(
    "env",
    [{"ALLY_DATABASE_URL": "mysql://x/y"}, {"ALLY_DB_ENGINE": "oracle"}],
)
def test_an_unknown_database_is_refused_with_the_fix(env: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(DatabaseSettingError, match="use"):
        database_from_env(env, tmp_path)


def test_argon2_is_the_first_password_hasher() -> None:
    from ally.web import settings as ally_settings

    assert ally_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    assert (
        Argon2PasswordHasher().encode("a long passphrase", "somesalt12345678").startswith("argon2$")
    )


def test_debug_is_off_by_default() -> None:
    assert settings.DEBUG is False


def test_secret_key_is_generated_once_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALLY_SECRET_KEY", raising=False)
    first = _secret_key(tmp_path / "data")
    assert len(first) >= 50
    assert _secret_key(tmp_path / "data") == first
    assert stat.S_IMODE((tmp_path / "data" / "secret_key").stat().st_mode) == 0o600


def test_log_records_lose_the_request() -> None:
    record = logging.LogRecord("django.request", logging.ERROR, "", 0, "Bad request", (), None)
    record.request = object()
    assert DropRequest().filter(record)
    assert record.request is None


def test_a_link_token_never_reaches_the_log() -> None:
    token = "dGhpcy1pcy1hLXRva2Vu:1vXyZa:abcdefSIGNATURE"
    # How Django's handler logs a 4xx answer: log_response("%s: %s", reason, path).
    record = logging.LogRecord(
        "django.request", logging.WARNING, "", 0, "%s: %s", ("Gone", f"/a/{token}/"), None
    )
    assert DropRequest().filter(record)
    assert record.getMessage() == "Gone: /a/<link>/"
    for path in (f"/a/{token}", f"/a/{token}?x=1", f"/a/{token} HTTP/1.1"):
        cut = logging.LogRecord("django.server", logging.INFO, "", 0, "%s", (path,), None)
        DropRequest().filter(cut)
        assert token not in cut.getMessage()
    # The settings put the filter on the one handler every Django record goes through.
    assert any(isinstance(f, DropRequest) for f in logging.getLogger("django").handlers[0].filters)


def test_the_production_settings_pass_djangos_deployment_checks(tmp_path: Path) -> None:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("ALLY_", "DJANGO_"))
    }
    env |= {
        "ALLY_DATA_DIR": str(tmp_path),
        "ALLY_SECRET_KEY": "k" * 20 + "-production-key-with-enough-variety-0123456789",
        "ALLY_ALLOWED_HOSTS": "ally.example.org",
    }
    ally = Path(sys.executable).with_name("ally")
    result = subprocess.run(
        [str(ally), "manage", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
