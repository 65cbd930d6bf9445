"""`ally manage delete_expired_recordings`: delete the media (and transcripts) of recordings
whose retention date has passed; their marks stay. Run it daily, like send_due_links."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ally.web.actions.ipr import do_delete_expired_media


class Command(BaseCommand):
    help = "Delete session recordings kept past their retention date (their marks stay)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = do_delete_expired_media()
        self.stdout.write(f"{count} recordings past their retention date deleted.")
