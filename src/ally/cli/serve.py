"""`ally serve`: the web app on this machine, with a demo practice on first start; and
`ally manage`: Django's management commands (migrate, createsuperuser, send_due_links, ...)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

import click

DEFAULT_DATA_DIR = "ally-data"

PRIVATE_UMASK = 0o077
"""What Ally creates is its user's alone: folders 0700, files 0600. The data folder holds every
answer and alert note (the SQLite database), the keys that open clients' names, and the session
keys that let whoever reads them act as a signed-in member."""
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
SQLITE_FILES = ("", "-wal", "-shm", "-journal")
"""The database file and the journals SQLite keeps beside it."""
PRIVATE = f"private to this user (folder {PRIVATE_FOLDER:o}, files {PRIVATE_FILE:o})"


def _setup(data_dir: Path | None) -> Path:
    """Point Ally's settings at the data folder, make it private to this user, start Django."""
    # First, before anything is created: the folder, the secret key, the database and SQLite's
    # journals beside it are then private whatever umask the shell or the service manager set.
    os.umask(PRIVATE_UMASK)
    folder = (data_dir or Path(os.environ.get("ALLY_DATA_DIR", DEFAULT_DATA_DIR))).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["ALLY_DATA_DIR"] = str(folder)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ally.web.settings")
    import django

    django.setup()
    from django.conf import settings

    database = settings.DATABASES["default"]
    sqlite = Path(database["NAME"]) if database["ENGINE"].endswith("sqlite3") else None
    tightened = make_private(folder, sqlite)
    if tightened:
        names = [str(p.relative_to(folder)) if p.parent == folder else str(p) for p in tightened]
        more = f" and {len(names) - 8} more" if len(names) > 8 else ""
        click.echo(
            f"Other users of this machine could read Ally's data in {folder}: made "
            f"{', '.join(names[:8])}{more} {PRIVATE}.",
            err=True,
        )
    return folder


def make_private(folder: Path, database: Path | None = None) -> list[Path]:
    """Take group and other users' access away from the data folder, what is in it and the
    SQLite database with its journals (which may live elsewhere); the paths it changed.

    One level deep: a private folder keeps others out of everything below it. Symbolic links
    are left alone (chmod would change what they point to), as is what another user owns.
    """
    if os.name != "posix":
        return []
    paths = [folder, *sorted(folder.iterdir())]
    if database is not None:
        paths += [database.with_name(database.name + end) for end in SQLITE_FILES]
    changed: list[Path] = []
    for path in dict.fromkeys(paths):
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if info.st_uid != os.getuid() or not info.st_mode & 0o077:
            continue
        if stat.S_ISDIR(info.st_mode):
            path.chmod(PRIVATE_FOLDER)
        elif stat.S_ISREG(info.st_mode):
            path.chmod(PRIVATE_FILE)
        else:
            continue
        changed.append(path)
    return changed


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Folder for the database and keys (default: $ALLY_DATA_DIR or ./{DEFAULT_DATA_DIR}).",
)
"""The one --data-dir of the commands that run on Ally's database."""


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@data_dir_option
@click.option("--demo/--no-demo", default=True, show_default=True, help="Load a demo practice.")
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True)
def serve(port: int, host: str, data_dir: Path | None, demo: bool, workers: int) -> None:
    """Run the Ally web app: migrate the database, load a demo practice on first start, serve.

    Plain HTTP, for this machine or a trusted network; behind HTTPS in production
    (docs/deploy.md).
    """
    # Over plain HTTP on this machine, cookies cannot be marked secure.
    os.environ.setdefault("ALLY_LOCAL_HTTP", "1")
    network = network_addresses() if host in ALL_ADDRESSES else []
    os.environ.setdefault(
        "ALLY_ALLOWED_HOSTS", ",".join(["localhost", "127.0.0.1", host, *network])
    )
    os.environ.setdefault("ALLY_BASE_URL", f"http://{_shown(host)}:{port}")
    folder = _setup(data_dir)
    from django.core.management import call_command

    from ally.web.demo import SLUG, demo_summary, load_demo, write_logins
    from ally.web.practice.models import Organisation

    click.echo(f"Database and keys in {folder}, {PRIVATE}")
    call_command("migrate", verbosity=0)
    loaded = None
    if demo and not Organisation.objects.filter(slug=SLUG).exists():
        click.echo("Loading a demo practice simulated by `ally simulate` (about a minute) ...")
        loaded = load_demo()
        write_logins(folder, loaded)
    url = f"http://{_shown(host)}:{port}/"
    click.echo(f"\nAlly is running: open {url}")
    from ally.web.actions.members import practice_needs_setting_up

    if practice_needs_setting_up():
        from ally.web.accounts.joining import setup_url

        click.echo(f"No practice yet: set it up at\n  {setup_url(url)}")
    click.echo(on_your_phone(host, port, network))
    shown = demo_summary(loaded, folder) if demo else {}
    if shown:
        click.echo(f"Demo logins (password for all: {shown['password']}):")
        for role, email in shown["logins"]:
            click.echo(f"  {role:<11} {email}")
        from django.conf import settings

        click.echo(
            "Each login also needs a code from an authenticator app (FreeOTP, Aegis, Google or\n"
            "Microsoft Authenticator, ...): its first sign-in shows a QR code to scan, then ten\n"
            f"recovery codes. Locked out after {settings.AXES_FAILURE_LIMIT} wrong passwords or "
            f"codes? Wait {settings.AXES_COOLOFF_TIME.seconds // 60} minutes, or unlock at once "
            "with\n  ally manage unlock_account EMAIL"
        )
    click.echo("Stop with Ctrl+C.\n")
    from django.db import connections

    # The workers are forked from this process: a connection opened here (by migrate) would be
    # shared by all of them, one socket carrying every worker's queries and transactions.
    connections.close_all()
    _run(host, port, workers, folder)


ALL_ADDRESSES = ("0.0.0.0", "::")
"""Listening on these, Ally is reached at each of this machine's network addresses."""


def network_addresses() -> list[str]:
    """This machine's IPv4 addresses on its local networks (not loopback), best first: the one
    its default route leaves from (a UDP socket's connect sends no packet), then the others its
    host name resolves to."""
    import socket

    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never reached
        found.append(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        found += socket.gethostbyname_ex(socket.gethostname())[2]
    return [a for a in dict.fromkeys(found) if not a.startswith("127.") and a != "0.0.0.0"]


def on_your_phone(host: str, port: int, network: list[str]) -> str:
    """How to answer on a phone: the addresses a phone on the same network opens, or how to
    make Ally listen there."""
    if host in ALL_ADDRESSES:
        if not network:
            return "No network address of this machine was found: a phone cannot reach Ally."
        shown = "\n".join(f"  http://{address}:{port}/" for address in network)
        return (
            "On a phone or tablet on the same network, open\n"
            f"{shown}\n"
            "Clients' links and QR codes use the address you opened Ally at: open it at one of "
            "these\nto show a QR code a phone can scan. Plain HTTP: only on a network you trust."
        )
    if host.startswith("127.") or host == "localhost":
        return (
            "Only this machine reaches Ally. To answer on a phone on the same network, start it "
            f"with\n  ally serve --host 0.0.0.0 --port {port}\n(plain HTTP: only on a network "
            "you trust; in production, HTTPS as in docs/deploy.md)."
        )
    return f"On a phone on the same network, open http://{host}:{port}/"


def _shown(host: str) -> str:
    return "localhost" if host in ("127.0.0.1", "0.0.0.0") else host


CONTROL_SOCKET = "gunicorn.ctl"
"""Gunicorn's control socket, in the instance's own (private) data folder: two `ally serve` on
one host no longer share $HOME/.gunicorn/gunicorn.ctl."""
SOCKET_PATH_MAX = 107
"""The longest Unix socket path Linux takes (sun_path is 108 bytes with its terminating zero)."""


def _run(host: str, port: int, workers: int, folder: Path) -> None:
    from gunicorn.app.base import BaseApplication

    from ally.web.gunicorn_config import post_fork
    from ally.web.wsgi import application

    control = folder / CONTROL_SOCKET

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", None)  # request lines would carry paths and times only,
            self.cfg.set("errorlog", "-")  # but Ally keeps no access log by default.
            self.cfg.set("post_fork", post_fork)  # no worker outlives the master
            if len(str(control)) <= SOCKET_PATH_MAX:
                self.cfg.set("control_socket", str(control))
            else:
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return application

    Server().run()


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@data_dir_option
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def manage(data_dir: Path | None, args: tuple[str, ...]) -> None:
    """Run one of Django's management commands on Ally's database, e.g.
    `ally manage send_due_links` or `ally manage createsuperuser`."""
    _setup(data_dir)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["ally manage", *args])
