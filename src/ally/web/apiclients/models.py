"""An API client of one organisation: its name, scopes and reach, and its OAuth 2.0 credentials."""

from __future__ import annotations

from django.db import models
from oauth2_provider.models import Application

from ally.web.practice.models import Membership, Organisation
from ally.web.scoping import ApiScope, Capability, Reach, Scope, ScopedQuerySet, token_capabilities


class ApiClient(models.Model):
    """A program an administrator registered: it gets tokens for its scopes, within its reach.

    The OAuth 2.0 credentials are django-oauth-toolkit's `Application` (client secret hashed);
    revoking deletes them with every token, and keeps this row so that the audit log still names
    the client.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="api_clients"
    )
    name = models.CharField(max_length=100)
    scopes = models.CharField(max_length=200, help_text="OAuth 2.0 scopes, space-separated.")
    reach = models.CharField(max_length=20, choices=Reach.choices)
    clinician = models.ForeignKey(
        Membership,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="api_clients_on_caseload",
        help_text="Whose caseload the client reaches (reach: caseload).",
    )
    application = models.OneToOneField(
        Application, on_delete=models.SET_NULL, null=True, blank=True, related_name="api_client"
    )
    registered_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, related_name="+"
    )
    registered_at = models.DateTimeField()
    revoked_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", caseload=False)

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=models.Q(reach=Reach.PRACTICE, clinician__isnull=True)
                | models.Q(reach=Reach.CASELOAD, clinician__isnull=False),
                name="api_client_caseload_names_its_clinician",
            ),
        )

    def __str__(self) -> str:
        return self.name

    is_api_client = True
    """Marks the audit entries this client's calls write (`auditlog.chain`)."""

    @property
    def scope_list(self) -> list[ApiScope]:
        return [ApiScope(scope) for scope in self.scopes.split()]

    @property
    def granted_scopes(self) -> frozenset[str]:
        """The scopes of the token this request came with (all of the client's otherwise)."""
        granted = getattr(self, "_granted", None)
        return frozenset(self.scopes.split()) if granted is None else granted

    def grant(self, token_scopes: str) -> ApiClient:
        """Narrow this instance to a token's scopes (only those the client still has)."""
        self._granted = frozenset(token_scopes.split()) & frozenset(self.scopes.split())
        return self

    @property
    def capabilities(self) -> frozenset[Capability]:
        return token_capabilities(self.granted_scopes, self.reach)

    @property
    def is_active(self) -> bool:
        """Not revoked, and (for a caseload) its clinician still an active member."""
        if self.revoked_at is not None or self.application_id is None:
            return False
        if Reach(self.reach) == Reach(Reach.CASELOAD):
            clinician = self.clinician
            return clinician is not None and clinician.is_active and clinician.user.is_active
        return True
