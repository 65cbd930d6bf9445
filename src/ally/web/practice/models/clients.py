"""Clients: a non-identifying code, with names and contact details kept apart.

ClientIdentity is the only model that identifies a person: its fields are stored sealed with the
client's own data key (ally.web.privacy), and de-identified roles never see them.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from ally.web.practice.models.organisations import Organisation
from ally.web.privacy.sealed import secret_frames
from ally.web.scoping import Scope, ScopedQuerySet


class Client(models.Model):
    """A person in care, known in Ally's screens and exports by a code that does not identify."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="clients")
    code = models.CharField(
        max_length=40, help_text="A code chosen by the practice; never a name or a date of birth."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", episodes=("episodes",))

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["organisation", "code"], name="client_code_unique"),
        )

    def __str__(self) -> str:
        return self.code


DETAILS = ("email", "name", "phone")
"""ClientIdentity's fields, sealed together in `sealed`."""
LONGEST = {"name": 200, "email": 254, "phone": 40}
"""The longest value of each detail (an email address: RFC 5321's 254 characters)."""


def _detail(name: str) -> property:
    def get(identity: ClientIdentity) -> str:
        return identity.details()[name]

    def set_(identity: ClientIdentity, value: str) -> None:
        identity.details()[name] = value
        identity._changed = True

    return property(get, set_, doc=f"The client's {name}, opened from `sealed` when first read.")


class ClientIdentityQuerySet(ScopedQuerySet):
    def update(self, **kwargs: Any) -> int:
        """Seal changed details row by row: each row has its own key, so no SQL can do it."""
        if not set(kwargs) & set(DETAILS):
            return super().update(**kwargs)
        with transaction.atomic():
            identities = list(self)
            for identity in identities:
                for name, value in kwargs.items():
                    setattr(identity, name, value)
                identity.save()
        return len(identities)

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[ClientIdentity]:
        """Seal each row first: a bulk insert skips `save`, where sealing happens."""
        from ally.web.privacy.keys import data_key_for

        identities = list(objs)
        for identity in identities:
            identity.seal_with(data_key_for(identity.client_id, create=True))
        return super().bulk_create(identities, *args, **kwargs)


class ClientIdentityManager(models.Manager.from_queryset(ClientIdentityQuerySet)):  # type: ignore[misc]
    def get_queryset(self) -> ClientIdentityQuerySet:
        # The wrapped data key comes in the same query: opening a list of names costs no more.
        return super().get_queryset().select_related("client__data_key")


class ClientIdentity(models.Model):
    """Who the client is and how to reach them: name, email and phone, sealed at rest.

    Read and set `name`, `email` and `phone` as attributes (also as keywords of `create`); they
    are sealed on save with AES-GCM under the client's data key, bound to this table, these
    columns, the client and the key's generation. The database cannot search them.
    """

    client = models.OneToOneField(Client, on_delete=models.CASCADE, related_name="identity")
    sealed = models.BinaryField(editable=False)

    objects = ClientIdentityManager()
    scope = Scope(
        organisation="client__organisation", episodes=("client__episodes",), identifying=True
    )

    name = _detail("name")
    email = _detail("email")
    phone = _detail("phone")

    _opened: dict[str, str] | None = None
    _changed = False

    @secret_frames
    def details(self) -> dict[str, str]:
        """The opened details (opened once per instance)."""
        if self._opened is None:
            if not self.sealed:
                self._opened = dict.fromkeys(DETAILS, "")
            else:
                from ally.web.privacy.sealed import open_fields

                self._opened = open_fields(
                    self.sealed,
                    self._data_key(),
                    table=self._meta.db_table,
                    columns=DETAILS,
                    row=self.client_id,
                )
        return self._opened

    def _data_key(self) -> Any:
        from ally.web.privacy.keys import data_key_for

        known = None
        if type(self).client.is_cached(self):
            # Loaded with the identity by the manager's select_related; None when it has none.
            known = getattr(self.client, "data_key", None)
        return data_key_for(self.client_id, known=known)

    @secret_frames
    def seal_with(self, key: Any) -> None:
        """Seal the details under `key` (a privacy.keys.DataKey); saving stores them."""
        from ally.web.privacy.sealed import seal_fields

        self.sealed = seal_fields(
            self.details(), key, table=self._meta.db_table, row=self.client_id
        )
        self._changed = False

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._changed or not self.sealed:
            from ally.web.privacy.keys import data_key_for

            self.seal_with(data_key_for(self.client_id, create=True))
        fields = kwargs.get("update_fields")
        if fields is not None and set(fields) & set(DETAILS):
            kwargs["update_fields"] = {f for f in fields if f not in DETAILS} | {"sealed"}
        super().save(*args, **kwargs)

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._opened, self._changed = None, False

    def __str__(self) -> str:
        # Never the name: objects end up in logs and error pages.
        return f"identity of client {self.client_id}"
