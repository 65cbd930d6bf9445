"""`ally manage rotate_keys`: re-wrap every client's data key with the newest master key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ally.web.privacy.keys import ENV, KeySettingError, KeyUnavailableError, add_master_key
from ally.web.privacy.rotation import BATCH, rotate_keys


class Command(BaseCommand):
    help = (
        "Re-wrap every client's data key with the newest master key, so that older master keys "
        f"can be removed from {ENV} (or the data folder's encryption_keys file) afterwards. "
        "Works in batches, each in its own transaction: if interrupted, run it again. A master "
        "key is 32 random bytes, base64-encoded, given as 'version:key', newest first; "
        "--new-master-key generates one into the data folder's file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data-keys",
            action="store_true",
            help="Also give every client a new data key and seal their details again with it.",
        )
        parser.add_argument(
            "--new-master-key",
            action="store_true",
            help="First put a newly generated master key first in the data folder's key file "
            f"(not possible when the keys come from {ENV}).",
        )
        parser.add_argument(
            "--batch-size", type=int, default=BATCH, help="Clients per transaction."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more.")
        try:
            if options["new_master_key"]:
                key = add_master_key()
                self.stdout.write(f"Added master key version {key.version} to the key file.")
            rotation = rotate_keys(data_keys=options["data_keys"], batch=options["batch_size"])
        except (KeySettingError, KeyUnavailableError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Master key version {rotation.master_version}: {rotation.rewrapped} data keys "
            f"re-wrapped, {rotation.renewed} clients given a new data key (wrapped by it too)."
        )
        self.stdout.write(
            "Every data key is now wrapped by this master key; older master keys may be removed "
            "once no backup you may restore still needs them."
        )
