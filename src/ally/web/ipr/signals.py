"""A recording's encrypted file goes when its row goes, however the row is deleted (erasure
finds recordings through the client's episodes and sessions)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete

from ally.web.ipr import media
from ally.web.ipr.models import Recording


def delete_media_file(sender: Any, instance: Recording, **kwargs: Any) -> None:
    file_id = instance.file_id
    transaction.on_commit(lambda: media.delete(file_id))


post_delete.connect(delete_media_file, sender=Recording)
