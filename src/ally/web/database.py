"""The database Ally uses, chosen by environment variables: SQLite by default, PostgreSQL by one
setting."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# WAL lets the screens read while a response is being written; IMMEDIATE takes the write lock
# at the start of a transaction, so two writers wait for each other instead of failing midway.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}

POSTGRES = "django.db.backends.postgresql"
SQLITE = "django.db.backends.sqlite3"


class DatabaseSettingError(ValueError):
    """An ALLY_DATABASE_URL or ALLY_DB_* value that cannot be used."""


def _sqlite(path: Path) -> dict[str, Any]:
    return {"ENGINE": SQLITE, "NAME": str(path), "OPTIONS": dict(SQLITE_OPTIONS)}


def _postgres(
    name: str, user: str, password: str, host: str, port: str, options: Mapping[str, str]
) -> dict[str, Any]:
    if not name:
        raise DatabaseSettingError(
            "PostgreSQL needs a database name: set ALLY_DB_NAME or put it in ALLY_DATABASE_URL."
        )
    return {
        "ENGINE": POSTGRES,
        "NAME": name,
        "USER": user,
        "PASSWORD": password,
        "HOST": host,
        "PORT": port,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": dict(options),
    }


def _from_url(url: str, data_dir: Path) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme in {"postgres", "postgresql"}:
        options = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
        return _postgres(
            unquote(parts.path.lstrip("/")),
            unquote(parts.username or ""),
            unquote(parts.password or ""),
            parts.hostname or "",
            str(parts.port or ""),
            options,
        )
    if parts.scheme == "sqlite":
        # sqlite:///relative.db is relative to the data directory; sqlite:////abs.db is absolute.
        path = Path(unquote(parts.path[1:] if parts.path.startswith("/") else parts.path))
        return _sqlite(path if path.is_absolute() else data_dir / path)
    raise DatabaseSettingError(
        f"ALLY_DATABASE_URL has scheme {parts.scheme!r}; use postgresql://user:password@host/name "
        "or sqlite:///file.db."
    )


def database_from_env(env: Mapping[str, str], data_dir: Path) -> dict[str, Any]:
    """Django's DATABASES["default"] from ALLY_DATABASE_URL, else ALLY_DB_*, else SQLite."""
    url = env.get("ALLY_DATABASE_URL", "").strip()
    if url:
        return _from_url(url, data_dir)
    engine = env.get("ALLY_DB_ENGINE", "sqlite").strip().lower()
    if engine in {"postgres", "postgresql"}:
        return _postgres(
            env.get("ALLY_DB_NAME", "ally"),
            env.get("ALLY_DB_USER", ""),
            env.get("ALLY_DB_PASSWORD", ""),
            env.get("ALLY_DB_HOST", ""),
            env.get("ALLY_DB_PORT", ""),
            {},
        )
    if engine in {"sqlite", "sqlite3"}:
        return _sqlite(Path(env.get("ALLY_DB_NAME", "") or data_dir / "ally.sqlite3"))
    raise DatabaseSettingError(
        f"ALLY_DB_ENGINE is {engine!r}; use 'sqlite' (the default) or 'postgresql'."
    )
