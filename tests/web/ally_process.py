"""Ally in processes of its own, for tests that kill a server or replace its database: the
environment of a data folder (and on PostgreSQL a throw-away database), Python run in a child
process with Ally's settings, and `ally` commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ALLY = Path(sys.executable).with_name("ally")
TESTS = Path(__file__).resolve().parent
"""On the child's path too, for web_practice."""
POSTGRES = {"host": "127.0.0.1", "user": "postgres"}


def _engine_of_this_run() -> str:
    """The database the suite runs on: `make test` runs the web tests once on SQLite and once
    on PostgreSQL, so each pass puts its own engine through these tests, not both."""
    url = os.environ.get("ALLY_DATABASE_URL", "")
    if os.environ.get("ALLY_DB_ENGINE") == "postgresql" or url.startswith("postgres"):
        return "postgresql"
    return "sqlite"


ENGINES = (_engine_of_this_run(),)
DB_VARIABLES = (
    "ALLY_DATABASE_URL",
    "ALLY_DB_ENGINE",
    "ALLY_DB_NAME",
    "ALLY_DB_USER",
    "ALLY_DB_PASSWORD",
    "ALLY_DB_HOST",
    "ALLY_DB_PORT",
)


def postgres_answers() -> bool:
    try:
        import psycopg

        with psycopg.connect(**POSTGRES, dbname="postgres", connect_timeout=3):
            return True
    except Exception:
        return False


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(**POSTGRES, dbname="postgres", autocommit=True) as connection:
        connection.execute(statement)


@contextmanager
def ally_environment(
    engine: str, data_dir: Path, prefix: str, copy_of: dict[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """The environment of an Ally with its own data folder; on PostgreSQL with a new database
    named `prefix` and a random suffix, dropped afterwards (skips when PostgreSQL is not there).
    `copy_of` is another such environment whose data folder and database are copied (it must
    be idle: PostgreSQL copies a database by using it as a template). The ALLY_DB_* variables
    of the test run itself are left out."""
    if copy_of is not None:
        shutil.copytree(copy_of["ALLY_DATA_DIR"], data_dir)
    env = {k: v for k, v in os.environ.items() if k not in DB_VARIABLES}
    env |= {"ALLY_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "ally.web.settings"}
    if engine == "sqlite":
        yield env
        return
    if not postgres_answers():
        pytest.skip("PostgreSQL does not answer on 127.0.0.1 as user postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{copy_of["ALLY_DB_NAME"]}"' if copy_of else ""
    _admin(f'CREATE DATABASE "{name}"{template}')
    env |= {
        "ALLY_DB_ENGINE": "postgresql",
        "ALLY_DB_NAME": name,
        "ALLY_DB_USER": POSTGRES["user"],
        "ALLY_DB_HOST": POSTGRES["host"],
    }
    try:
        yield env
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_python(script: str, env: dict[str, str]) -> Any:
    """Run `script` after django.setup() in a child process; what its last line printed, as
    JSON."""
    prelude = f"import sys; sys.path.insert(0, {str(TESTS)!r})\nimport django\ndjango.setup()\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def run_ally(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """An `ally` command; its exit status, output and errors."""
    return subprocess.run(
        [str(ALLY), *args], env=env, capture_output=True, text=True, check=False, timeout=300
    )
