"""django-oauth-toolkit's hooks: each client's own scopes, and no token for a revoked client.

Settings name these classes (`OAUTH2_PROVIDER` in settings.py): the toolkit's default scopes
backend would give every client every scope.
"""

from __future__ import annotations

from typing import Any

from oauth2_provider.models import Application
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes

from ally.web.apiclients.models import ApiClient
from ally.web.scoping import ApiScope


def client_of(application: Application | None) -> ApiClient | None:
    """The active API client behind `application`, or None (revoked, or none at all)."""
    if application is None:
        return None
    client = (
        ApiClient.objects.select_related("organisation", "clinician__user")
        .filter(application=application)
        .first()
    )
    return client if client is not None and client.is_active else None


class ClientScopes(BaseScopes):
    """Every scope Ally knows; a client may ask for its own, and gets them all by default."""

    def get_all_scopes(self) -> dict[str, str]:
        return {str(scope): str(label) for scope, label in ApiScope.choices}

    def get_available_scopes(
        self, application: Application | None = None, request: Any = None, *args: Any, **kw: Any
    ) -> list[str]:
        client = client_of(application)
        return client.scopes.split() if client is not None else []

    def get_default_scopes(
        self, application: Application | None = None, request: Any = None, *args: Any, **kw: Any
    ) -> list[str]:
        return self.get_available_scopes(application, request)


class ClientValidator(OAuth2Validator):
    """The toolkit's validator, refusing the credentials of a client that is no longer active
    (its clinician left the practice), as it refuses a revoked one's (deleted)."""

    def _load_application(self, client_id: str, request: Any) -> Application | None:
        application = super()._load_application(client_id, request)
        if application is not None and client_of(application) is None:
            request.client = None
            return None
        return application
