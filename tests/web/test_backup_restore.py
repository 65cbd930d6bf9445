"""`ally backup` and `ally restore`: a round trip gives back every row, with the audit chain
holding; a backup of the other engine, of a newer schema, cut short or damaged is refused and
leaves the live database as it was; erasures made after a backup survive its restore; the
encryption keys are never in a backup.

The commands run as they do on a server, in processes of their own, on a data folder (and on
PostgreSQL a throw-away database) of each test's own: not on pytest-django's test database.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from ally_process import DB_VARIABLES, ENGINES, ally_environment, run_ally, run_python

pytestmark = pytest.mark.slow

MAGIC = b"ALLY-BACKUP\n"

# A small practice with answers, an amendment and alerts, so every kind of row is there.
PREPARE = """
from django.core.management import call_command
call_command("migrate", verbosity=0)
from web_practice import PHQ9_ITEM9, PHQ9_MILD, build_practice
from ally.web.actions.answers import (
    do_amend_response, do_create_administration, do_record_response,
)
from ally.web.auditlog.chain import verify
p = build_practice()
for n, episode in enumerate([p.own, p.shared, p.other, p.elsewhere]):
    administration = do_create_administration(episode, "phq9")
    answers = PHQ9_ITEM9 if episode == p.own else PHQ9_MILD
    response = do_record_response(administration, answers, idempotency_key=f"prepared-{n}")
    if episode == p.own:
        do_amend_response(response, PHQ9_MILD, "Item 9 was typed in the wrong row.", p.clinician)
assert verify().holds
"""

# What happens after the backup: more answers, a new client.
CHANGE = """
import datetime as dt
from web_practice import PHQ9_MILD
from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.practice.models import Client, Episode
episode = Episode.objects.order_by("pk").first()
client = Client.objects.create(organisation=episode.organisation, code="LATER-1")
Episode.objects.create(
    organisation=episode.organisation, client=client, clinician=episode.clinician,
    opened_on=dt.date(2026, 3, 1),
)
administration = do_create_administration(episode, "phq9")
do_record_response(administration, PHQ9_MILD, idempotency_key="after-the-backup")
"""

ERASE_OTHER = """
from ally.web.practice.models import Client
from ally.web.actions.privacy import do_erase_client
other = Client.objects.get(code="N-003")
do_erase_client(other, actor=None)
"""

NAMES_GIVEN = ["Name of N-001", "Name of N-002", "Name of N-003", "Name of S-001"]
"""The clients' names as web_practice gives them, sealed with their own data keys."""
NAMES = """
import json
from ally.web.practice.models import ClientIdentity
print(json.dumps(sorted(i.name for i in ClientIdentity.objects.all())))
"""


# Reading the database as it is on disk -----------------------------------------------------------


def _rows(env: dict[str, str]) -> dict[str, list[list[str]]]:
    """Every row of every table, as text, in key order: what "identical" is measured on."""
    if env.get("ALLY_DB_ENGINE") == "postgresql":
        import psycopg

        with psycopg.connect(
            host=env["ALLY_DB_HOST"], user=env["ALLY_DB_USER"], dbname=env["ALLY_DB_NAME"]
        ) as connection:
            names = [
                row[0]
                for row in connection.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            ]
            return {
                name: [[str(v) for v in row] for row in connection.execute(_all_of(name))]
                for name in sorted(names)
            }
    with sqlite3.connect(Path(env["ALLY_DATA_DIR"]) / "ally.sqlite3") as connection:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: [[str(v) for v in row] for row in connection.execute(_all_of(name))]
            for name in sorted(names)
        }


def _all_of(table: str) -> str:
    return f'SELECT * FROM "{table}" ORDER BY 1'


def _clients(env: dict[str, str]) -> set[str]:
    """The rows of the client table, by key."""
    return {row[0] for row in _rows(env)["practice_client"]}


def _parts(file: Path) -> tuple[dict[str, Any], bytes]:
    content = file.read_bytes()
    assert content.startswith(MAGIC)
    manifest, _, dump = content[len(MAGIC) :].partition(b"\n")
    return json.loads(manifest), dump


def _written(path: Path, manifest: dict[str, Any], dump: bytes) -> Path:
    path.write_bytes(MAGIC + json.dumps(manifest).encode() + b"\n" + dump)
    return path


def _backup(env: dict[str, str], file: Path) -> None:
    done = run_ally(["backup", str(file)], env)
    assert done.returncode == 0, done.stderr
    assert file.read_bytes().startswith(MAGIC)


def _restore(env: dict[str, str], file: Path) -> str:
    done = run_ally(["restore", str(file), "--yes"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module", params=ENGINES)
def prepared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A practice's data folder and database, made once for the module and copied by each test
    (migrating takes longer than the rest of a test)."""
    folder = tmp_path_factory.mktemp("prepared") / "data"
    with ally_environment(request.param, folder, "ally_backup_prepared") as env:
        run_python(PREPARE, env)
        yield env


@pytest.fixture
def engine(prepared: dict[str, str]) -> str:
    return prepared.get("ALLY_DB_ENGINE", "sqlite")


@pytest.fixture
def live(prepared: dict[str, str], engine: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A copy of the prepared practice: the live database of one test."""
    with ally_environment(engine, tmp_path / "data", "ally_backup", copy_of=prepared) as env:
        yield env


# The round trip ----------------------------------------------------------------------------------


@contextmanager
def _writer_midway(env: dict[str, str]) -> Iterator[None]:
    """A writer in the middle of its transaction, rolled back at the end."""
    statement = "UPDATE practice_organisation SET name = 'not committed'"
    if env.get("ALLY_DB_ENGINE") == "postgresql":
        import psycopg

        with psycopg.connect(
            host=env["ALLY_DB_HOST"], user=env["ALLY_DB_USER"], dbname=env["ALLY_DB_NAME"]
        ) as connection:
            connection.execute(statement)
            yield
            connection.rollback()
        return
    connection = sqlite3.connect(Path(env["ALLY_DATA_DIR"]) / "ally.sqlite3", timeout=1)
    connection.isolation_level = None
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(statement)
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def test_a_restored_backup_holds_the_rows_committed_when_it_was_taken_and_the_chain_holds(
    live: dict[str, str], tmp_path: Path
) -> None:
    before = _rows(live)
    file = tmp_path / "practice.ally"
    with _writer_midway(live):
        _backup(live, file)  # neither waits for the writer nor takes its change
    run_python(CHANGE, live)
    assert _rows(live) != before

    said = _restore(live, file)

    assert _rows(live) == before
    assert "not committed" not in json.dumps(before)
    assert "the hash chain holds" in said


def test_a_backup_restores_on_a_new_server_given_the_keys_kept_apart(
    live: dict[str, str], engine: str, tmp_path: Path
) -> None:
    before = _rows(live)
    file = tmp_path / "practice.ally"
    _backup(live, file)
    new_folder = tmp_path / "new-server"
    new_folder.mkdir()
    # The master keys and the backup key are not in the backup: they come from where they were
    # kept.
    for name in ("encryption_keys", "backup_key"):
        shutil.copy(Path(live["ALLY_DATA_DIR"]) / name, new_folder / name)
    with ally_environment(engine, new_folder, "ally_backup_new") as env:
        if engine == "postgresql":
            assert env["ALLY_DB_NAME"] != live["ALLY_DB_NAME"]

        said = _restore(env, file)

        assert _rows(env) == before
        assert "the hash chain holds" in said
        assert run_python(NAMES, env) == NAMES_GIVEN


def test_a_restore_that_fails_midway_leaves_the_database_as_it_was(
    live: dict[str, str], tmp_path: Path
) -> None:
    file = tmp_path / "practice.ally"
    _backup(live, file)
    run_python(CHANGE, live)
    before = _rows(live)
    # The manifest promises a row the dump does not hold: the check after the load fails (on
    # PostgreSQL inside the restore's transaction, after every table was dropped and loaded).
    manifest, dump = _parts(file)
    manifest["rows"]["collect_response"] += 1
    short = _written(tmp_path / "short.ally", manifest, dump)

    done = run_ally(["restore", str(short), "--yes"], live)

    assert done.returncode != 0
    said = " ".join(done.stderr.split())
    assert "Nothing was changed" in said or "rolled back: the database is as it was" in said
    assert _rows(live) == before


def test_a_backup_of_an_older_schema_is_restored_and_brought_up_to_date(
    live: dict[str, str], tmp_path: Path
) -> None:
    # An Ally without the sign-in lockout's tables (django-axes) made the backup.
    older = run_ally(["manage", "migrate", "axes", "zero", "--verbosity=0"], live)
    assert older.returncode == 0, older.stderr
    file = tmp_path / "older.ally"
    _backup(live, file)
    assert "axes" not in _parts(file)[0]["migrations"]
    newer = run_ally(["manage", "migrate", "--verbosity=0"], live)
    assert newer.returncode == 0, newer.stderr
    assert "axes_accessattempt" in _rows(live)

    said = _restore(live, file)

    assert "Applied this Ally's newer migrations" in said
    assert "axes_accessattempt" in _rows(live)
    assert "the hash chain holds" in said


# Erasures survive a restore ---------------------------------------------------------------------


def test_a_client_erased_after_the_backup_is_erased_again_by_its_restore(
    live: dict[str, str], tmp_path: Path
) -> None:
    file = tmp_path / "practice.ally"
    _backup(live, file)
    in_backup = _clients(live)
    run_python(ERASE_OTHER, live)
    erased = in_backup - _clients(live)
    assert len(erased) == 1

    said = _restore(live, file)

    assert _clients(live) == in_backup - erased
    assert "1 clients were in the backup and are erased again" in said
    assert len(_rows(live)["privacy_erasurerecord"]) == 1


def test_an_erasure_listed_only_in_the_data_folder_is_applied_to_a_restored_backup(
    live: dict[str, str], engine: str, tmp_path: Path
) -> None:
    file = tmp_path / "practice.ally"
    _backup(live, file)
    in_backup = _clients(live)
    run_python(ERASE_OTHER, live)
    erased = in_backup - _clients(live)
    register = Path(live["ALLY_DATA_DIR"]) / "erasures.jsonl"
    assert len(register.read_text().splitlines()) == 1
    # A new server: an empty database, the keys and the erasure list from the old data folder.
    new_folder = tmp_path / "new-server"
    new_folder.mkdir()
    for name in ("encryption_keys", "backup_key", "erasures.jsonl"):
        shutil.copy(Path(live["ALLY_DATA_DIR"]) / name, new_folder / name)
    with ally_environment(engine, new_folder, "ally_backup_new") as env:
        said = _restore(env, file)

        assert _clients(env) == in_backup - erased
        assert "1 clients were in the backup and are erased again" in said


# Refusals leave the live database untouched ------------------------------------------------------


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A SQLite data folder and its backup; the database has changed since the backup, so a
    restore that went ahead would show."""
    root = tmp_path_factory.mktemp("made")
    with ally_environment("sqlite", root / "data", "unused") as env:
        run_python(PREPARE, env)
        _backup(env, root / "practice.ally")
        run_python(CHANGE, env)
        yield root / "data", root / "practice.ally"


@pytest.fixture
def live_copy(made: tuple[Path, Path], tmp_path: Path) -> Iterator[dict[str, str]]:
    """A copy of that data folder, for one refusal."""
    shutil.copytree(made[0], tmp_path / "data")
    with ally_environment("sqlite", tmp_path / "data", "unused") as env:
        yield env


def _refused(env: dict[str, str], file: Path) -> str:
    before = _rows(env)
    done = run_ally(["restore", str(file), "--yes"], env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert "Nothing was changed" in done.stderr
    assert _rows(env) == before
    return " ".join(done.stderr.split())


def test_the_backup_holds_no_encryption_key_nor_the_secret_key(made: tuple[Path, Path]) -> None:
    folder, file = made
    content = file.read_bytes()
    lines = (folder / "encryption_keys").read_text().split()
    assert lines
    for line in lines:
        encoded = line.split(":", 1)[1]
        assert encoded.encode() not in content
        assert base64.b64decode(encoded) not in content
    secret = (folder / "secret_key").read_text().strip()
    assert secret
    assert secret.encode() not in content


def test_a_backup_of_the_other_engine_is_refused(
    live_copy: dict[str, str], made: tuple[Path, Path], tmp_path: Path
) -> None:
    manifest, dump = _parts(made[1])
    manifest["engine"] = "postgresql"
    said = _refused(live_copy, _written(tmp_path / "other.ally", manifest, dump))
    assert "is a backup of a postgresql database, and this Ally uses sqlite" in said


def test_a_backup_of_a_newer_schema_is_refused(
    live_copy: dict[str, str], made: tuple[Path, Path], tmp_path: Path
) -> None:
    manifest, dump = _parts(made[1])
    manifest["migrations"]["collect"] = "9999_from_a_later_ally"
    manifest["ally_version"] = "99.0.0"
    said = _refused(live_copy, _written(tmp_path / "newer.ally", manifest, dump))
    assert "was made by a newer Ally (99.0.0" in said
    assert "collect 9999_from_a_later_ally" in said


def test_a_backup_of_a_newer_format_is_refused(
    live_copy: dict[str, str], made: tuple[Path, Path], tmp_path: Path
) -> None:
    manifest, dump = _parts(made[1])
    manifest["format"] = 3
    said = _refused(live_copy, _written(tmp_path / "format3.ally", manifest, dump))
    assert "format 3" in said


def test_a_backup_cut_short_is_refused(
    live_copy: dict[str, str], made: tuple[Path, Path], tmp_path: Path
) -> None:
    content = made[1].read_bytes()
    cut = tmp_path / "cut.ally"
    cut.write_bytes(content[: len(content) // 2])
    said = _refused(live_copy, cut)
    assert "is not a usable Ally backup" in said
    assert "cut short" in said


def test_a_backup_cut_inside_its_manifest_is_refused(
    live_copy: dict[str, str], made: tuple[Path, Path], tmp_path: Path
) -> None:
    cut = tmp_path / "cut.ally"
    cut.write_bytes(made[1].read_bytes()[: len(MAGIC) + 40])
    said = _refused(live_copy, cut)
    assert "its manifest is cut short" in said


def test_a_backup_with_a_changed_byte_is_refused(
    live_copy: dict[str, str], made: tuple[Path, Path], tmp_path: Path
) -> None:
    content = bytearray(made[1].read_bytes())
    middle = len(content) - len(content) // 3
    content[middle] ^= 0xFF
    damaged = tmp_path / "damaged.ally"
    damaged.write_bytes(bytes(content))
    said = _refused(live_copy, damaged)
    assert "do not match their checksum" in said


def test_a_file_that_is_no_backup_is_refused(live_copy: dict[str, str], tmp_path: Path) -> None:
    stranger = tmp_path / "ally.sqlite3"
    shutil.copy(Path(live_copy["ALLY_DATA_DIR"]) / "ally.sqlite3", stranger)
    said = _refused(live_copy, stranger)
    assert "is not an Ally backup" in said


def test_without_pg_dump_the_backup_says_what_to_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in DB_VARIABLES}
    env |= {
        "ALLY_DATA_DIR": str(tmp_path / "data"),
        "ALLY_DB_ENGINE": "postgresql",
        "ALLY_DB_NAME": "never_created",
        "PATH": str(tmp_path),  # no client tools here
    }
    done = run_ally(["backup", str(tmp_path / "practice.ally")], env)
    assert done.returncode != 0
    assert "pg_dump is not installed" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "practice.ally").exists()


# Encryption (issue 19: backup files were not encrypted by Ally) ----------------------------------


def test_a_backup_is_encrypted_under_a_key_kept_in_the_data_folder(
    made: tuple[Path, Path],
) -> None:
    folder, file = made
    manifest, encrypted = _parts(file)
    key = base64.urlsafe_b64decode((folder / "backup_key").read_text().strip())
    assert len(key) == 32
    assert (folder / "backup_key").stat().st_mode & 0o077 == 0
    assert manifest["encryption"]["algorithm"] == "AES-256-GCM-STREAM"
    assert b"SQLite format 3" not in encrypted
    assert b"collect_response" not in encrypted
    assert key not in file.read_bytes()
    assert (folder / "backup_key").read_text().strip().encode() not in file.read_bytes()


def test_an_encrypted_backup_without_its_key_is_refused_and_changes_nothing(
    live_copy: dict[str, str], made: tuple[Path, Path]
) -> None:
    (Path(live_copy["ALLY_DATA_DIR"]) / "backup_key").unlink()
    said = _refused(live_copy, made[1])
    assert "is encrypted with backup key" in said
    assert "no backup key is set here" in said


def test_an_encrypted_backup_with_another_key_is_refused(
    live_copy: dict[str, str], made: tuple[Path, Path], tmp_path: Path
) -> None:
    other = tmp_path / "other_key"
    other.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
    before = _rows(live_copy)
    done = run_ally(["restore", str(made[1]), "--yes", "--key-file", str(other)], live_copy)
    assert done.returncode != 0
    assert "the key given is" in " ".join(done.stderr.split())
    assert _rows(live_copy) == before


def test_the_key_given_on_the_command_line_restores_elsewhere(
    made: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, file = made
    kept = tmp_path / "kept-apart.key"
    shutil.copy(folder / "backup_key", kept)
    new_folder = tmp_path / "new-server"
    new_folder.mkdir()
    shutil.copy(folder / "encryption_keys", new_folder / "encryption_keys")
    with ally_environment("sqlite", new_folder, "unused") as env:
        done = run_ally(["restore", str(file), "--yes", "--key-file", str(kept)], env)
        assert done.returncode == 0, done.stderr
        assert run_python(NAMES, env) == NAMES_GIVEN


def test_an_encrypted_backup_with_its_manifest_changed_is_refused(
    live_copy: dict[str, str], made: tuple[Path, Path], tmp_path: Path
) -> None:
    manifest, encrypted = _parts(made[1])
    manifest["created_at"] = "2020-01-01T00:00:00+00:00"
    said = _refused(live_copy, _written(tmp_path / "redated.ally", manifest, encrypted))
    assert "do not match their checksum" in said


def test_a_format_1_backup_of_an_older_ally_still_restores(
    live_copy: dict[str, str], made: tuple[Path, Path], tmp_path: Path
) -> None:
    """Unencrypted files made before format 2 are read as they were written."""
    import hashlib
    import io

    from ally.cli import backup_crypto

    folder, file = made
    manifest, encrypted = _parts(file)
    line = json.dumps(manifest, sort_keys=True).encode()
    key = base64.urlsafe_b64decode((folder / "backup_key").read_text().strip())
    dump = b"".join(
        backup_crypto.decrypt(io.BytesIO(encrypted), key, hashlib.sha256(line).digest())
    )
    assert hashlib.sha256(dump).hexdigest() == manifest["dump_sha256"]
    del manifest["encryption"]
    manifest["format"] = 1
    old = _written(tmp_path / "old.ally", manifest, dump)
    (Path(live_copy["ALLY_DATA_DIR"]) / "backup_key").unlink()
    done = run_ally(["restore", str(old), "--yes"], live_copy)
    assert done.returncode == 0, done.stderr
