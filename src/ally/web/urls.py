"""URLs. The Django admin stays out: it bypasses the scoping rules.

/setup/      the first-run set-up of a fresh install (gone once a practice exists)
/accounts/   sign in and out, and accepting an invitation
/a/          the client's side: a link per administration, then the questionnaire
/a/sponsor/  the client's consent to what the sponsor of their coaching sees
/sponsor/<signed>/  a sponsor's page of one coaching engagement
/a/goals/    the client's goals and the ideal-life exercise, in a visit with a goals form
/a/recall/   the client's consent to a session recording and their review of it (IPR)
/a/review/   the client's end-of-therapy review, in a visit its link opened
/p/<slug>/   a practice's public page: what it offers, its members' profiles, how it uses data
/o/<org>/self-care/  a member's own self-care check-ins, seen by them alone
/o/<org>/profile/  editing the public page (administrators) and one's own profile
/o/<org>/    the staff side of one organisation (caseload, client pages, alerts)
/o/<org>/recall/     session recordings and their two reviews (IPR)
/o/<org>/dashboard/  the supervisor's and the practice's view over clinicians
/o/<org>/audit/      the audit log, for administrators
/o/<org>/members/    members' sign-in security (locked accounts, second factors), for administrators
/o/<org>/privacy/    a client's data export and erasure
/o/<org>/model/      the practice model the numbers rest on, and fitting it again
/o/<org>/api-clients/  the programs that may call the API with a token, for administrators
/o/<org>/research/   a de-identified research export of the practice
/o/<org>/groups/     therapy groups: schedule, members, sessions and the group page
/api/        the JSON API, with its OpenAPI spec at /api/openapi.json
/oauth/token/  where an API client gets a token (OAuth 2.0 client credentials)
/fhir/       FHIR R4: Questionnaires, QuestionnaireResponses, Observations, episodes
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path
from oauth2_provider.views import TokenView

from ally.web.accounts.joining import set_up
from ally.web.accounts.profiles import public_page
from ally.web.accounts.views import home
from ally.web.api import api
from ally.web.respond.csrf import language_for_client_pages
from ally.web.sponsors.views import report as sponsor_report

urlpatterns: list[URLPattern | URLResolver] = [
    path("", home, name="home"),
    path("setup/", set_up, name="set_up"),
    path("accounts/", include("ally.web.accounts.urls")),
    path("a/goals/", include("ally.web.goals.client_urls")),
    path("a/recall/", include("ally.web.ipr.client_urls")),
    path("a/review/", include("ally.web.endings.client_urls")),
    path("a/sponsor/", include("ally.web.sponsors.client_urls")),
    path("sponsor/<str:token>/", sponsor_report, name="sponsor_report"),
    path("a/", include("ally.web.respond.urls")),
    path("o/<slug:org>/dashboard/", include("ally.web.dashboard.urls")),
    path("o/<slug:org>/audit/", include("ally.web.auditlog.urls")),
    path("o/<slug:org>/members/", include("ally.web.accounts.member_urls")),
    path("o/<slug:org>/profile/", include("ally.web.accounts.profile_urls")),
    path("o/<slug:org>/self-care/", include("ally.web.selfcare.urls")),
    path("p/<slug:slug>/", public_page, name="public_page"),
    path("o/<slug:org>/privacy/", include("ally.web.privacy.urls")),
    path("o/<slug:org>/model/", include("ally.web.monitoring.urls")),
    path("o/<slug:org>/api-clients/", include("ally.web.apiclients.urls")),
    path("o/<slug:org>/episodes/<int:pk>/goals/", include("ally.web.goals.urls")),
    path("o/<slug:org>/episodes/<int:pk>/ending/", include("ally.web.endings.urls")),
    path("o/<slug:org>/research/", include("ally.web.research.urls")),
    path("o/<slug:org>/recall/", include("ally.web.ipr.urls")),
    path("o/<slug:org>/groups/", include("ally.web.groups.urls")),
    path("o/<slug:org>/episodes/<int:pk>/sponsor/", include("ally.web.sponsors.urls")),
    path("o/<slug:org>/", include("ally.web.clinic.urls")),
    path("api/", api.urls),
    path("oauth/token/", TokenView.as_view(), name="oauth_token"),
    path("fhir/", include("ally.web.fhir.urls")),
    path("i18n/setlang/", language_for_client_pages, name="set_language"),
]
