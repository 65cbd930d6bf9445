"""Ally's data folder is its user's alone: the folder 0700, every file in it 0600, whatever the
umask `ally` was started with, and a folder left open by an older Ally is closed at the next
start, which says so once (issue 19, finding 1)."""

from __future__ import annotations

import base64
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ALLY = Path(sys.executable).with_name("ally")
OPEN_UMASK = 0o022
"""The usual default umask, under which folders are made 0755 and files 0644."""
DB_VARIABLES = ("ALLY_DATABASE_URL", "ALLY_DB_ENGINE", "ALLY_DB_NAME", "ALLY_DB_USER")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def env_for(folder: Path) -> dict[str, str]:
    """A SQLite Ally in `folder`, whatever database the test run itself uses."""
    env = {k: v for k, v in os.environ.items() if k not in DB_VARIABLES}
    return env | {"ALLY_DATA_DIR": str(folder), "DJANGO_SETTINGS_MODULE": "ally.web.settings"}


def ally(*args: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """An `ally` command started under the open umask."""
    return subprocess.run(
        [str(ALLY), *args],
        env=env_for(folder),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        preexec_fn=lambda: os.umask(OPEN_UMASK),
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """`ally serve --no-demo` on a new data folder, until it says it is running; its folder and
    the lines it printed."""
    folder = tmp_path / "ally-data"
    server = subprocess.Popen(
        [str(ALLY), "serve", "--no-demo", "--port", str(free_port()), "--workers", "1"],
        env=env_for(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: os.umask(OPEN_UMASK),
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert server.stdout is not None
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("Stop with Ctrl+C"):
                break
        assert any(line.startswith("Stop with Ctrl+C") for line in lines), "\n".join(lines)
        yield folder, lines
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_ally_serve_makes_its_folder_and_database_private_and_says_so(
    serving: tuple[Path, list[str]],
) -> None:
    folder, lines = serving
    assert mode(folder) == 0o700
    files = [path for path in folder.iterdir() if path.is_file()]
    assert folder / "ally.sqlite3" in files
    assert folder / "secret_key" in files
    assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
    said = next(line for line in lines if line.startswith("Database and keys in"))
    assert "private to this user (folder 700, files 600)" in said


@pytest.mark.slow
def test_ally_restore_into_a_new_folder_makes_it_and_the_database_private(tmp_path: Path) -> None:
    made = ally("manage", "migrate", "--verbosity=0", folder=tmp_path / "old")
    assert made.returncode == 0, made.stderr
    backup = tmp_path / "practice.ally"
    assert ally("backup", str(backup), folder=tmp_path / "old").returncode == 0
    new = tmp_path / "new"
    key = str(tmp_path / "old" / "backup_key")  # kept apart from the backups
    restored = ally("restore", str(backup), "--yes", "--key-file", key, folder=new)
    assert restored.returncode == 0, restored.stderr
    assert mode(new) == 0o700
    assert mode(new / "ally.sqlite3") == 0o600
    assert mode(backup) == 0o600


@pytest.mark.slow
def test_a_data_folder_left_readable_by_others_is_closed_at_the_next_start_once(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "ally-data"
    assert ally("manage", "migrate", "--verbosity=0", folder=folder).returncode == 0
    # As an older Ally, or a copy made with cp -r under the usual umask, left them.
    (folder / "encryption_keys").write_text(f"1:{base64.b64encode(os.urandom(32)).decode()}\n")
    (folder / "old-backup.ally").write_bytes(b"ALLY-BACKUP\n")
    (folder / "ally.sqlite3-wal").write_bytes(b"")
    opened = [folder / "ally.sqlite3", folder / "secret_key", folder / "encryption_keys"]
    opened += [folder / "old-backup.ally", folder / "ally.sqlite3-wal"]
    for path in opened:
        path.chmod(0o644)
    folder.chmod(0o755)

    first = ally("manage", "check", folder=folder)
    assert first.returncode == 0, first.stderr
    assert mode(folder) == 0o700
    assert {path.name: mode(path) for path in opened} == {path.name: 0o600 for path in opened}
    assert "Other users of this machine could read Ally's data" in first.stderr
    assert f"in {folder}: made {folder}, ally.sqlite3, ally.sqlite3-wal" in first.stderr
    assert "private to this user" in first.stderr
    # Said once: the next start finds nothing to close.
    second = ally("manage", "check", folder=folder)
    assert "could read" not in second.stderr


def test_a_link_in_the_data_folder_is_not_followed(tmp_path: Path) -> None:
    from ally.cli.serve import make_private

    folder = tmp_path / "ally-data"
    folder.mkdir()
    folder.chmod(0o755)  # whatever umask an earlier test left in this process
    elsewhere = tmp_path / "shared.txt"
    elsewhere.write_text("not Ally's")
    elsewhere.chmod(0o644)
    (folder / "shared.txt").symlink_to(elsewhere)
    assert make_private(folder) == [folder]
    assert mode(folder) == 0o700
    assert mode(elsewhere) == 0o644
