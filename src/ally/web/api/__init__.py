"""The JSON API under /api/, with its OpenAPI spec at /api/openapi.json."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(
    title="Ally API",
    version="1",
    description="Scoped by organisation and role, like every screen of Ally.",
    urls_namespace="api",
)
