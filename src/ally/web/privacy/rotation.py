"""Key rotation: every client's data key re-wrapped by the newest master key, and on request a new
data key for every client with their details sealed again under it. Members' authenticator
secrets and self-care check-ins, sealed under a master key too, are sealed again under the
newest.

Work goes in batches, each in its own transaction that changes a client's key and their sealed
details together: an interruption leaves every row readable, either as before or as after, and
running the command again finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from ally.web import audit
from ally.web.collect.models.responses import answer_rows_of, reseal_answers
from ally.web.endings.models import sealed_rows_of as ending_rows_of
from ally.web.goals.models import sealed_rows_of
from ally.web.groups.models import sealed_rows_of as check_in_rows_of
from ally.web.ipr.models import sealed_rows_of as recall_rows_of
from ally.web.practice.models import ClientIdentity
from ally.web.privacy.keys import fresh_key_fields, master_keys, unwrap, wrap
from ally.web.privacy.models import ClientKey, KeyRotation

BATCH = 200


def _rewrap(row: ClientKey, master_version: int) -> bool:
    if row.master_version == master_version:
        return False
    key = unwrap(row)
    row.wrapped = wrap(key.material, row.client_id, row.generation, master_keys().newest)
    row.master_version = master_version
    row.save(update_fields=["wrapped", "master_version", "changed_at"])
    return True


def _renew(row: ClientKey) -> None:
    """A new data key for the client; their details are opened with the old one and sealed
    with the new one in the same transaction."""
    from ally.web.alerts.models import Alert, seal_note

    identity = ClientIdentity.objects.filter(client_id=row.client_id).first()
    if identity is not None:
        identity.details()  # opened with the key in force, before it is replaced
    goal_words = [
        *sealed_rows_of(row.client_id),
        *recall_rows_of(row.client_id),
        *ending_rows_of(row.client_id),
        *check_in_rows_of(row.client_id),
    ]
    for sealed in goal_words:
        sealed.words()
    noted = Alert.objects.filter(episode__client_id=row.client_id).exclude(action_note="")
    notes = [(alert, alert.note) for alert in noted.select_related("episode")]
    old = unwrap(row)
    answered = answer_rows_of(row.client_id)
    for scored in answered:
        scored.open_answers(old)
    key, fields = fresh_key_fields(row.client_id, row.generation + 1)
    for name, value in fields.items():
        setattr(row, name, value)
    row.save(update_fields=[*fields, "changed_at"])
    if identity is not None:
        identity.seal_with(key)
        identity.save(update_fields=["sealed"])
    for sealed in goal_words:
        sealed.seal_words(sealed.words(), key)
        sealed.save(update_fields=["sealed"])
    for alert, text in notes:
        alert.action_note = seal_note(alert, text)
        alert.save(update_fields=["action_note"])
    for scored in answered:
        reseal_answers(scored, old, key)


def _reseal_authenticators(newest: int) -> int:
    """Every authenticator secret sealed under an older master key, sealed under the newest."""
    from ally.web.accounts.models import (
        SealedTOTPDevice,
        open_totp_secret,
        seal_totp_secret,
        totp_master_version,
    )

    done = 0
    for pk in SealedTOTPDevice.objects.values_list("pk", flat=True):
        with transaction.atomic():
            device = SealedTOTPDevice.objects.select_for_update().get(pk=pk)
            if totp_master_version(device.key) == newest:
                continue
            secret = open_totp_secret(device.key, device.user_id)
            device.key = seal_totp_secret(secret, device.user_id)
            device.save(update_fields=["key"])
            done += 1
    return done


def _reseal_self_care(newest: int) -> int:
    """Every member's self-care check-in sealed under an older master key, sealed under the
    newest."""
    from ally.web.selfcare.models import CheckIn

    done = 0
    for pk in CheckIn.objects.exclude(master_version=newest).values_list("pk", flat=True):
        with transaction.atomic():
            check_in = CheckIn.objects.select_for_update().get(pk=pk)
            if check_in.master_version == newest:
                continue
            check_in.seal_again()
            check_in.save(update_fields=["sealed", "master_version"])
            done += 1
    return done


def rotate_keys(
    *, data_keys: bool = False, batch: int = BATCH, progress: Callable[[int], None] | None = None
) -> KeyRotation:
    """Re-wrap (and with `data_keys`, renew) every client's data key; audited once per run."""
    newest = master_keys().newest.version
    with transaction.atomic():
        rotation = KeyRotation.objects.create(
            started_at=timezone.now(), master_version=newest, data_keys=data_keys
        )
        # An interrupted run stays visible in the log: started, never finished.
        audit.record("keys.rotation_started", actor=None, target=rotation)
    last = 0
    while True:
        with transaction.atomic():
            # Keys, then rows locked by key: a batch's clients take turns with other writers.
            keys = list(
                ClientKey.objects.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not keys:
                break
            for row in ClientKey.objects.select_for_update().filter(pk__in=keys).order_by("pk"):
                if data_keys:
                    _renew(row)
                    rotation.renewed += 1
                elif _rewrap(row, newest):
                    rotation.rewrapped += 1
            last = keys[-1]
            rotation.save(update_fields=["rewrapped", "renewed"])
        if progress is not None:
            progress(last)
    _reseal_authenticators(newest)
    _reseal_self_care(newest)
    with transaction.atomic():
        rotation.finished_at = timezone.now()
        rotation.save(update_fields=["finished_at"])
        audit.record("keys.rotated", actor=None, target=rotation)
    return rotation
