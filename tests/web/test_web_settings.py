"""Settings: the database chosen by environment, WAL mode, Argon2, the secret key, logging,
cookie names."""

from __future__ import annotations

import base64
import json
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
from django.test import Client
from django.utils.module_loading import import_string

from ally.web.accounts.models import User
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


def test_passwords_are_hashed_with_rfc_9106s_second_recommended_argon2id() -> None:
    from ally.web import settings as ally_settings

    hasher = import_string(ally_settings.PASSWORD_HASHERS[0])()
    encoded = hasher.encode("a long passphrase", hasher.salt())
    # RFC 9106, section 4: Argon2id, t=3, p=4, m=2^16 KiB, a 256-bit tag.
    assert encoded.startswith("argon2$argon2id$v=19$m=65536,t=3,p=4$")
    tag = encoded.rsplit("$", 1)[1]
    assert len(base64.b64decode(tag + "=" * (-len(tag) % 4))) == 32
    assert hasher.verify("a long passphrase", encoded)


@pytest.mark.django_db
def test_a_hash_with_djangos_default_parameters_is_upgraded_at_sign_in(
    settings: Any, tmp_path: Path
) -> None:
    from ally.web import settings as ally_settings

    settings.PASSWORD_HASHERS = ally_settings.PASSWORD_HASHERS
    user = User.objects.create_user("old@north.example")
    # Stored before Ally chose its parameters: Django's default Argon2 (m=102400, t=2, p=8).
    user.password = Argon2PasswordHasher().encode("a long passphrase", "somesalt12345678")
    user.save()
    assert "m=102400,t=2,p=8" in user.password
    answer = Client().post(
        "/accounts/login/", {"username": user.email, "password": "a long passphrase"}
    )
    assert answer["Location"] == "/accounts/two-factor/"
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$v=19$m=65536,t=3,p=4$")
    assert user.check_password("a long passphrase")


def _settings_as_served(tmp_path: Path, **env: str) -> dict[str, Any]:
    """Settings as a server process started with `env` reads them (they are read at import)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ALLY_", "DJANGO_"))}
    clean |= {"ALLY_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "ally.web.settings", **env}
    names = [
        "SESSION_COOKIE_NAME",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_NAME",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_PATH",
        "SESSION_COOKIE_DOMAIN",
        "CSRF_COOKIE_PATH",
        "CSRF_COOKIE_DOMAIN",
    ]
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout))


def test_production_cookies_have_host_prefixed_names(tmp_path: Path) -> None:
    served = _settings_as_served(tmp_path, ALLY_ALLOWED_HOSTS="ally.example.org")
    assert served["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert served["CSRF_COOKIE_NAME"] == "__Host-csrftoken"
    # What browsers require of a __Host- cookie: Secure, path /, no Domain.
    assert served["SESSION_COOKIE_SECURE"] is served["CSRF_COOKIE_SECURE"] is True
    assert served["SESSION_COOKIE_PATH"] == served["CSRF_COOKIE_PATH"] == "/"
    assert served["SESSION_COOKIE_DOMAIN"] is served["CSRF_COOKIE_DOMAIN"] is None


@pytest.mark.parametrize("flag", ["ALLY_LOCAL_HTTP", "ALLY_DEBUG"])
def test_plain_http_on_this_machine_keeps_plain_cookie_names(tmp_path: Path, flag: str) -> None:
    # Browsers refuse __Host- cookies over plain HTTP: `ally serve` would never sign anyone in.
    served = _settings_as_served(tmp_path, **{flag: "1"})
    assert served["SESSION_COOKIE_NAME"] == "sessionid"
    assert served["CSRF_COOKIE_NAME"] == "csrftoken"
    assert served["SESSION_COOKIE_SECURE"] is False


def test_the_cookies_are_sent_with_their_host_prefixed_names(db: None, settings: Any) -> None:
    settings.SESSION_COOKIE_NAME = "__Host-sessionid"
    settings.CSRF_COOKIE_NAME = "__Host-csrftoken"
    user = User.objects.create_user("someone@x.example", "a long passphrase")
    browser = Client()
    browser.get("/accounts/login/")
    browser.post("/accounts/login/", {"username": user.email, "password": "a long passphrase"})
    for name in ("__Host-csrftoken", "__Host-sessionid"):
        cookie = browser.cookies[name]
        assert cookie["secure"] is True, name
        assert cookie["path"] == "/", name
        assert not cookie["domain"], name
    assert "sessionid" not in browser.cookies


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
