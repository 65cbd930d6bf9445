"""CSRF protection for a client's pages, which send no referrer.

A client's pages carry `Referrer-Policy: no-referrer`, so that nothing about them reaches another
site. Under that policy a browser sends `Origin: null` with the page's own form posts, which
Django's check refuses as a foreign origin. Here, and only here, `null` passes the origin step;
the CSRF token (cookie and form field) is still required, and the session cookie is SameSite=Lax,
so another site's form still cannot post answers for a client.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import decorator_from_middleware
from django.views.decorators.csrf import csrf_exempt
from django.views.i18n import set_language


class ClientPageCsrf(CsrfViewMiddleware):
    def _origin_verified(self, request: HttpRequest) -> bool:
        if request.META.get("HTTP_ORIGIN") == "null":
            return True
        return super()._origin_verified(request)


client_page_csrf = decorator_from_middleware(ClientPageCsrf)
"""Wrap a client's view with this and with `csrf_exempt` (which stands the global check down)."""


language_for_client_pages = csrf_exempt(client_page_csrf(set_language))
"""Django's language switch, reachable from a client's pages (which post with `Origin: null`)."""
