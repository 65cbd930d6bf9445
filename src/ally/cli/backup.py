"""`ally backup` and `ally restore`: Ally's whole database in one file, and back.

A backup file is a first line naming the format, a manifest (one line of JSON) and the database's
own dump: a copy made with SQLite's online backup (consistent while Ally runs), or
`pg_dump --format=custom`. The manifest says which engine, Ally version and migrations the dump
holds, how many rows each table had, and the dump's length and SHA-256. So a restore refuses a
file of the other engine, of a newer schema, or cut short or damaged, before it touches the
database; it then replaces the database in one step (SQLite's backup into the live file under
its own lock; on PostgreSQL one transaction that also checks every table's row count), so a
failed restore leaves the database as it was.

Since format 2 the dump is encrypted (AES-256-GCM in chunks, `backup_crypto.py`) under a backup
key the operator keeps apart from the backups; a restore without that key is refused before it
changes anything. The manifest stays readable (engine, version, migrations, row counts) and is
bound to the encrypted data, so it cannot be changed either. Format 1 files (unencrypted, made by
an older Ally) are still restored. The encryption master keys (ALLY_ENCRYPTION_KEYS, or the data
folder's `encryption_keys`) are never written to a backup, so a stolen backup alone opens no
client's name. Erasures made after a
backup was taken are applied again after it is restored (docs/backup.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import click

from ally.cli import backup_crypto
from ally.cli.serve import _setup, data_dir_option

MAGIC = b"ALLY-BACKUP\n"
"""The first line of every backup file."""
FORMAT = 2
"""The layout of the manifest and dump; a restore takes this version and older ones. 2: the dump
encrypted under the backup key."""
MANIFEST_LIMIT = 1_000_000
"""Longest manifest line read: a file whose second line is longer is not a backup."""
CHUNK = 1 << 20
NAME = re.compile(r"^[A-Za-z0-9_]+$")
"""Table and app names as Django makes them; anything else in a manifest means damage."""
PG_NOT_LIBPQ = ("password", "cursor_factory", "context", "prepare_threshold")
"""Django's connection parameters that are not libpq's (the password goes by PGPASSWORD)."""


class BackupError(click.ClickException):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    """What a backup file holds, written before the dump."""

    format: int
    engine: str
    """"sqlite" or "postgresql": Django's name for the database vendor."""
    ally_version: str
    created_at: str
    """ISO 8601, UTC."""
    migrations: dict[str, str]
    """The latest migration applied, by app."""
    rows: dict[str, int]
    """Rows by table, counted in the same snapshot as the dump."""
    dump_bytes: int
    dump_sha256: str
    """Length and SHA-256 of the dump itself (before encryption)."""
    encryption: dict[str, str] | None = None
    """{"algorithm": ..., "key_id": ...} for an encrypted dump; None in format 1."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


# The backup file ---------------------------------------------------------------------------------


def _damaged(path: Path, what: str) -> BackupError:
    return BackupError(
        f"{path} is not a usable Ally backup: {what}. Nothing was changed. "
        "Use another backup file (an earlier one, or a fresh copy from where backups are kept)."
    )


def _manifest_from(data: Any, path: Path) -> Manifest:
    try:
        manifest = Manifest(
            format=int(data["format"]),
            engine=str(data["engine"]),
            ally_version=str(data["ally_version"]),
            created_at=str(data["created_at"]),
            migrations={str(k): str(v) for k, v in data["migrations"].items()},
            rows={str(k): int(v) for k, v in data["rows"].items()},
            dump_bytes=int(data["dump_bytes"]),
            dump_sha256=str(data["dump_sha256"]),
            encryption=(
                {str(k): str(v) for k, v in data["encryption"].items()}
                if data.get("encryption") is not None
                else None
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _damaged(path, f"its manifest lacks or garbles {exc}") from None
    if not all(NAME.match(name) for name in [*manifest.rows, *manifest.migrations]):
        raise _damaged(path, "its manifest names a table or app Ally never makes")
    return manifest


def read_manifest(path: Path, stream: IO[bytes]) -> Manifest:
    """The manifest at the start of `stream`, which is left at the start of the dump."""
    if stream.read(len(MAGIC)) != MAGIC:
        raise BackupError(
            f"{path} is not an Ally backup (it does not start with {MAGIC.decode().strip()}). "
            "Nothing was changed. Give a file made by `ally backup`."
        )
    line = stream.readline(MANIFEST_LIMIT)
    if not line.endswith(b"\n"):
        raise _damaged(path, "its manifest is cut short")
    try:
        data = json.loads(line)
    except ValueError:
        raise _damaged(path, "its manifest is not readable JSON") from None
    if not isinstance(data, dict):
        raise _damaged(path, "its manifest is not readable JSON")
    if not isinstance(data.get("format"), int):
        raise _damaged(path, "its manifest names no format")
    if data["format"] > FORMAT:
        raise BackupError(
            f"{path} is a backup of format {data.get('format')!r}, made by a newer Ally "
            f"({data.get('ally_version', 'unknown version')}); this Ally reads format {FORMAT} "
            "and older. Nothing was changed. Upgrade Ally, then restore."
        )
    return _manifest_from(data, path)


def _copy_counted(source: IO[bytes], target: IO[bytes]) -> tuple[int, str]:
    """Copy to the end; the number of bytes and their SHA-256."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        target.write(chunk)
    return size, digest.hexdigest()


def manifest_line(manifest: Manifest) -> bytes:
    """The manifest as the file holds it (one line of JSON, keys sorted)."""
    return json.dumps(asdict(manifest), sort_keys=True).encode()


def _digest_of(manifest: Manifest) -> bytes:
    return hashlib.sha256(manifest_line(manifest)).digest()


def check_key(path: Path, manifest: Manifest, key: bytes | None) -> None:
    """Refuse, before anything changes, an encrypted backup without its key or with another."""
    if manifest.encryption is None:
        return
    needed = manifest.encryption.get("key_id", "")
    if manifest.encryption.get("algorithm") != backup_crypto.ALGORITHM:
        raise _damaged(path, "it is encrypted in a way this Ally does not know")
    if key is None:
        raise BackupError(
            f"{path} is encrypted with backup key {needed}, and no backup key is set here. "
            "Nothing was changed. Give the key kept apart from the backups: --key-file FILE, "
            "ALLY_BACKUP_KEY, or the file backup_key in the data folder."
        )
    if backup_crypto.key_id(key) != needed:
        raise BackupError(
            f"{path} is encrypted with backup key {needed}, and the key given is "
            f"{backup_crypto.key_id(key)}, another one. Nothing was changed. Give the key that "
            "was in use when the backup was made (--key-file FILE or ALLY_BACKUP_KEY)."
        )


def extract_dump(path: Path, target: Path, key: bytes | None = None) -> Manifest:
    """Check the backup file whole and write its dump to `target`: the manifest, the key, the
    encrypted chunks, then the dump's length and SHA-256 against it."""
    with path.open("rb") as stream:
        manifest = read_manifest(path, stream)
        check_key(path, manifest, key)
        with target.open("wb") as out:
            if manifest.encryption is None or key is None:
                size, sha = _copy_counted(stream, out)
            else:
                size, sha = _decrypt_counted(path, stream, out, key, _digest_of(manifest))
    if size != manifest.dump_bytes:
        raise _damaged(
            path,
            f"it holds {size} bytes of data where its manifest says {manifest.dump_bytes}"
            + (" (cut short)" if size < manifest.dump_bytes else ""),
        )
    if sha != manifest.dump_sha256:
        raise _damaged(path, "its data do not match their checksum (changed or damaged)")
    return manifest


def _decrypt_counted(
    path: Path, source: IO[bytes], target: IO[bytes], key: bytes, manifest_sha256: bytes
) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in backup_crypto.decrypt(source, key, manifest_sha256):
            digest.update(chunk)
            size += len(chunk)
            target.write(chunk)
    except backup_crypto.ChunkError as exc:
        if exc.reason == "cut short":
            raise _damaged(path, "its encrypted data are cut short") from None
        raise _damaged(path, "its data do not match their checksum (changed or damaged)") from None
    return size, digest.hexdigest()


def write_backup(path: Path, manifest: Manifest, dump: Path, key: bytes | None = None) -> None:
    """Header, manifest and dump (encrypted when the manifest says so), into a file of the
    owner's only; appears whole or not at all."""
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(MAGIC)
            out.write(manifest_line(manifest) + b"\n")
            with dump.open("rb") as source:
                if manifest.encryption is not None and key is not None:
                    backup_crypto.encrypt(source, out, key, _digest_of(manifest))
                else:
                    shutil.copyfileobj(source, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _checksum(path: Path) -> tuple[int, str]:
    with path.open("rb") as source, open(os.devnull, "wb") as nowhere:
        return _copy_counted(source, nowhere)


def _latest(applied: list[tuple[str, str]]) -> dict[str, str]:
    """The latest migration by app; Django numbers them, so the greatest name is the latest."""
    latest: dict[str, str] = {}
    for app, name in applied:
        latest[app] = max(name, latest.get(app, name))
    return latest


# SQLite ------------------------------------------------------------------------------------------


def _sqlite_tables(db: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {name: db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def _sqlite_migrations(db: sqlite3.Connection) -> dict[str, str]:
    return _latest(db.execute("SELECT app, name FROM django_migrations").fetchall())


def _sqlite_live(settings_dict: Mapping[str, Any]) -> Path:
    return Path(str(settings_dict["NAME"])).resolve()


def sqlite_dump(live: Path, dump: Path) -> tuple[dict[str, str], dict[str, int]]:
    """A consistent copy of the live database (SQLite's online backup: one read snapshot, while
    the server goes on writing), with its migrations and row counts."""
    if not live.exists():
        raise BackupError(f"There is no database at {live} to back up. Check --data-dir.")
    source = sqlite3.connect(live, timeout=30)
    copy = sqlite3.connect(dump)
    try:
        source.backup(copy)
        # One self-contained file: no write-ahead log beside it.
        copy.execute("PRAGMA journal_mode=DELETE")
        tables = _sqlite_tables(copy)
        if "django_migrations" not in tables:
            raise BackupError(
                f"The database at {live} has no tables yet; run `ally manage migrate` first."
            )
        return _sqlite_migrations(copy), tables
    finally:
        copy.close()
        source.close()


def sqlite_restore(dump: Path, live: Path, manifest: Manifest) -> None:
    """Check the copy, then write it into the live database in one step of SQLite's backup,
    under SQLite's own locks: readers see the old database or the new one, never a mixture."""
    copy = sqlite3.connect(dump)
    try:
        verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(
                f"The database in the backup is damaged ({verdict}). Nothing was changed; "
                "use another backup file."
            )
        if _sqlite_tables(copy) != manifest.rows:
            raise BackupError(
                "The database in the backup does not hold the rows its manifest lists. "
                "Nothing was changed; use another backup file."
            )
        live.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(live, timeout=30)
        try:
            copy.backup(target, pages=-1)
        finally:
            target.close()
    finally:
        copy.close()


# PostgreSQL --------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed. It comes with PostgreSQL's client tools "
            "(Debian and Ubuntu: apt-get install postgresql-client), of the server's version or "
            "newer. Nothing was changed."
        )
    return found


def _libpq(connection: Any) -> tuple[str, dict[str, str]]:
    """The connection string of Django's database for the client tools, and their environment
    (the password goes by PGPASSWORD, never on a command line that `ps` shows)."""
    from psycopg.conninfo import make_conninfo

    params = connection.get_connection_params()
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    given = {
        key: str(value)
        for key, value in params.items()
        if key not in PG_NOT_LIBPQ and isinstance(value, str | int)
    }
    return make_conninfo(**given), env


def _run(command: list[str], env: Mapping[str, str], failed: str) -> None:
    """Run a client tool; on failure, `failed` and the tool's error lines."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # Error lines only: a DETAIL or CONTEXT line may quote a row, and rows hold answers.
        said = [
            line.strip()
            for line in done.stderr.splitlines()
            if "ERROR" in line or "FATAL" in line or "error:" in line
        ]
        raise BackupError(f"{failed}. {Path(command[0]).name} said: {' '.join(said[:3]) or '-'}")


def _pg_tables(cursor: Any, connection: Any) -> dict[str, int]:
    quote = connection.ops.quote_name
    rows = {}
    for name in connection.introspection.table_names(cursor):
        cursor.execute(f"SELECT count(*) FROM {quote(name)}")
        rows[name] = cursor.fetchone()[0]
    return rows


def postgres_dump(connection: Any, dump: Path) -> tuple[dict[str, str], dict[str, int]]:
    """pg_dump of one exported snapshot, whose migrations and row counts are read in it too."""
    from django.db import transaction

    pg_dump = _tool("pg_dump")
    conninfo, env = _libpq(connection)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        tables = _pg_tables(cursor, connection)
        if "django_migrations" not in tables:
            raise BackupError("The database has no tables yet; run `ally manage migrate` first.")
        cursor.execute("SELECT app, name FROM django_migrations")
        migrations = _latest(cursor.fetchall())
        # The snapshot lives as long as this transaction: pg_dump runs inside it.
        command = [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dump}"]
        _run([*command, f"--dbname={conninfo}"], env, "pg_dump failed; no backup was written")
    return migrations, tables


def _checks(manifest: Manifest, quote: Any) -> str:
    """SQL that fails the restore's transaction if any table lacks rows the backup counted."""
    lines = ["RESET search_path;", "DO $check$", "BEGIN"]
    for name, count in sorted(manifest.rows.items()):
        lines.append(
            f"  IF (SELECT count(*) FROM {quote(name)}) <> {int(count)} THEN "
            f"RAISE EXCEPTION 'table {name} does not hold the {int(count)} rows of the backup'; "
            "END IF;"
        )
    lines += ["END", "$check$;"]
    return "\n".join(lines) + "\n"


def postgres_restore(connection: Any, dump: Path, work: Path, manifest: Manifest) -> None:
    """One transaction (psql --single-transaction): drop Ally's tables the backup does not have,
    run pg_restore's script (--clean --if-exists --no-owner), check every table's rows. Any
    error rolls all of it back."""
    pg_restore, psql = _tool("pg_restore"), _tool("psql")
    conninfo, env = _libpq(connection)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        current = set(connection.introspection.table_names(cursor))
    ours = set(connection.introspection.django_table_names(only_existing=True))
    # Tables a later migration made: left standing, they would stop `migrate` after the restore.
    extra = sorted((current & (ours | {"django_migrations"})) - set(manifest.rows))
    connection.close()  # no lock of ours in the way of the restore's DROP TABLE
    prelude = work / "prelude.sql"
    prelude.write_text(
        f"DROP TABLE IF EXISTS {', '.join(quote(t) for t in extra)} CASCADE;\n" if extra else ""
    )
    script = work / "restore.sql"
    _run(
        [
            *(pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges"),
            *(f"--file={script}", str(dump)),
        ],
        env,
        "pg_restore could not read the backup's dump. Nothing was changed",
    )
    checks = work / "checks.sql"
    checks.write_text(_checks(manifest, quote))
    _run(
        [
            *(psql, "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1"),
            *(f"--file={prelude}", f"--file={script}", f"--file={checks}"),
            f"--dbname={conninfo}",
        ],
        env,
        "The restore failed and was rolled back: the database is as it was",
    )


# What both engines share -------------------------------------------------------------------------


def _engine(connection: Any) -> str:
    if connection.vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"Ally backs up SQLite and PostgreSQL, not {connection.vendor}.")
    return str(connection.vendor)


def _ally_version() -> str:
    try:
        return metadata.version("ally")
    except metadata.PackageNotFoundError:
        return "unknown"


def _check_fits(manifest: Manifest, engine: str, path: Path) -> None:
    """Refuse a backup of the other engine, or one whose schema this Ally does not know."""
    from django.db.migrations.loader import MigrationLoader

    if manifest.engine != engine:
        raise BackupError(
            f"{path} is a backup of a {manifest.engine} database, and this Ally uses {engine} "
            "(ALLY_DATABASE_URL or ALLY_DB_ENGINE). Nothing was changed. Restore it with the "
            "same engine's settings, then move the data over with Django's dumpdata and loaddata."
        )
    known = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    unknown = sorted(
        f"{app} {name}" for app, name in manifest.migrations.items() if (app, name) not in known
    )
    if unknown:
        raise BackupError(
            f"{path} was made by a newer Ally ({manifest.ally_version}; this is "
            f"{_ally_version()}): its database has migrations this Ally does not know "
            f"({', '.join(unknown)}). Nothing was changed. Install Ally {manifest.ally_version} "
            "or newer, then restore."
        )


def erasures_to_reapply(connection: Any) -> list[dict[str, Any]]:
    """Read before the database is replaced: the erasures in its register, and those in the data
    folder's erasures.jsonl (which outlives the database), each client once."""
    from ally.web.privacy.erasure import ErasureRegisterError, erasure_register, erasures_on_file
    from ally.web.privacy.models import ErasureRecord

    try:
        on_file = erasures_on_file()
    except ErasureRegisterError as exc:
        raise BackupError(f"{exc} Nothing was changed.") from None
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    registered = erasure_register() if ErasureRecord._meta.db_table in tables else []
    records: dict[tuple[Any, Any], dict[str, Any]] = {}
    for record in [*registered, *on_file]:
        records.setdefault((record.get("organisation"), record.get("client")), record)
    return list(records.values())


def _bring_up_to_date() -> bool:
    """Apply the migrations of this Ally that the restored database lacks; whether any were."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return False
    call_command("migrate", verbosity=0)
    return True


# The commands ------------------------------------------------------------------------------------


KEY_FILE_OPTION = click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The backup key (else ALLY_BACKUP_KEY, else the data folder's backup_key).",
)


def _key(folder: Path, key_file: Path | None, *, create: bool) -> tuple[bytes, bool] | None:
    try:
        return backup_crypto.backup_key(folder, key_file, create=create)
    except backup_crypto.BackupKeyError as exc:
        raise BackupError(f"{exc} Nothing was changed.") from None


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@data_dir_option
@KEY_FILE_OPTION
def backup(file: Path, data_dir: Path | None, key_file: Path | None) -> None:
    """Write Ally's whole database to FILE; safe while Ally runs.

    SQLite: a consistent copy by SQLite's online backup. PostgreSQL: pg_dump --format=custom of
    one snapshot (PostgreSQL's client tools must be installed). FILE starts with a manifest
    (engine, Ally version, migrations, rows of each table, checksum) that `ally restore` checks.

    FILE holds every answer, score and audit entry, but NOT the encryption master keys
    (ALLY_ENCRYPTION_KEYS or the data folder's encryption_keys): keep them in a safe place apart
    from the backups, for without them the client names in a restored database cannot be read.
    Nor does it hold the secret key that signs sessions and links. FILE is encrypted with
    AES-256-GCM under the backup key (--key-file, ALLY_BACKUP_KEY, or the data folder's
    backup_key, made at the first backup): keep a copy of that key apart from the backups, for no
    backup restores without it. FILE is readable by its owner only (docs/backup.md).
    """
    folder = _setup(data_dir)
    from django.db import connection

    engine = _engine(connection)
    file = file.resolve()
    if not file.parent.is_dir():
        raise BackupError(f"There is no folder {file.parent} to write the backup into.")
    found = _key(folder, key_file, create=True)
    if found is None:  # create=True makes one when there is none
        raise BackupError("No backup key could be made in the data folder.")
    key, made = found
    if made:
        click.echo(
            f"Made a backup key in {folder / backup_crypto.KEY_FILE}: keep a copy of it apart "
            "from the backups (a password manager, a safe); without it no backup restores."
        )
    with tempfile.TemporaryDirectory(dir=file.parent, prefix=".ally-backup-") as work:
        dump = Path(work) / "dump"
        if engine == "sqlite":
            live = _sqlite_live(connection.settings_dict)
            if file.resolve() == live:
                raise BackupError(f"{file} is the database itself; give another file name.")
            migrations, rows = sqlite_dump(live, dump)
        else:
            migrations, rows = postgres_dump(connection, dump)
        size, sha = _checksum(dump)
        manifest = Manifest(
            format=FORMAT,
            engine=engine,
            ally_version=_ally_version(),
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            migrations=migrations,
            rows=rows,
            dump_bytes=size,
            dump_sha256=sha,
            encryption={
                "algorithm": backup_crypto.ALGORITHM,
                "key_id": backup_crypto.key_id(key),
            },
        )
        write_backup(file, manifest, dump, key)
    click.echo(
        f"Backed up the {engine} database to {file}: {len(rows)} tables, "
        f"{manifest.total_rows} rows, encrypted with backup key {backup_crypto.key_id(key)}. "
        "The encryption keys are not in it: keep them, and the backup key, apart."
    )


def _read_header(path: Path) -> Manifest:
    with path.open("rb") as stream:
        return read_manifest(path, stream)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
@click.option("--yes", is_flag=True, help="Replace the database without asking first.")
@KEY_FILE_OPTION
def restore(file: Path, data_dir: Path | None, yes: bool, key_file: Path | None) -> None:
    """Replace Ally's database with the backup in FILE (made by `ally backup`).

    FILE is checked whole first: a backup of the other engine or of a newer Ally, or one cut
    short or damaged, is refused and the database is left as it is. The database is replaced at
    once (SQLite) or in one transaction (PostgreSQL); stop the server first. Then the audit log's
    hash chain is verified, and erasures are re-applied: those in the erasure register of the
    database being replaced, and those listed in the data folder's erasures.jsonl, so that a
    client erased after the backup stays erased.

    Backups hold no encryption keys: the keys in use (ALLY_ENCRYPTION_KEYS or the data folder's
    encryption_keys) must still include those of the backup's time. An encrypted backup needs its
    backup key (--key-file, ALLY_BACKUP_KEY or the data folder's backup_key); without it, it is
    refused before anything changes.
    """
    folder = _setup(data_dir)
    from django.db import connection

    from ally.web.auditlog.chain import verify
    from ally.web.privacy.erasure import reapply_erasures

    engine = _engine(connection)
    file = file.resolve()
    header = _read_header(file)
    _check_fits(header, engine, file)
    found = _key(folder, key_file, create=False)
    key = found[0] if found else None
    check_key(file, header, key)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".ally-restore-") as name:
        work = Path(name)
        dump = work / "dump"
        manifest = extract_dump(file, dump, key)
        if not yes:
            click.confirm(
                f"Replace the database with the backup of {manifest.created_at} "
                f"({manifest.total_rows} rows)? What was stored since then is lost; "
                "erasures are re-applied.",
                abort=True,
            )
        erasures = erasures_to_reapply(connection)
        if engine == "sqlite":
            connection.close()
            sqlite_restore(dump, _sqlite_live(connection.settings_dict), manifest)
        else:
            postgres_restore(connection, dump, work, manifest)
    click.echo(
        f"Restored the backup of {manifest.created_at} (Ally {manifest.ally_version}): "
        f"{len(manifest.rows)} tables, {manifest.total_rows} rows."
    )
    if _bring_up_to_date():
        click.echo("Applied this Ally's newer migrations to it.")
    verdict = verify()
    if verdict.holds:
        click.echo(f"Audit log: {verdict.entries} entries; the hash chain holds.")
    else:
        click.echo(f"Audit log: the hash chain is broken at entry {verdict.broken_at}.", err=True)
    erased = reapply_erasures(erasures)
    click.echo(
        f"Erasures: {len(erasures)} on record; {erased} clients were in the backup and are "
        "erased again."
    )
    if not verdict.holds:
        raise BackupError(
            "The database is restored, but its audit log's hash chain does not hold at entry "
            f"{verdict.broken_at}: the backup's audit log was changed. Keep this backup file as "
            "evidence and try an earlier backup."
        )
