"""URLs of privacy, under /o/<org>/privacy/: a client's export and erasure, the erasure register
and the practice's erasure policy."""

from __future__ import annotations

from django.urls import URLPattern, path

from ally.web.privacy import views

app_name = "privacy"
urlpatterns: list[URLPattern] = [
    path("clients/<int:pk>/", views.client, name="client"),
    path("clients/<int:pk>/export/", views.export, name="export"),
    path("clients/<int:pk>/erase/", views.erase, name="erase"),
    path("clients/<int:pk>/refuse/", views.refuse, name="refuse"),
    path("erasures/", views.register, name="register"),
    path("policy/", views.policy, name="policy"),
]
