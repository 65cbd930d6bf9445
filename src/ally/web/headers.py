"""Response headers that keep client data out of caches.

Every page and API answer of Ally may hold client data, so none may be stored by a browser or a
proxy (ASVS 14.3.2). Only the static files (served by WhiteNoise before this middleware runs)
are cacheable.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # no-cache, no-store, must-revalidate, private, max-age=0 (Django's own rule).
        add_never_cache_headers(response)
        return response
