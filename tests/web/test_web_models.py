"""The data model's rules: stored answers never change, rows never link across organisations."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice

from ally.web.actions.answers import do_amend_response, do_record_response
from ally.web.collect.models import (
    Administration,
    AdministrationStatus,
    Amendment,
    ImmutableRecordError,
    PlannedMeasure,
    Response,
)
from ally.web.practice.models import (
    CareTeamMember,
    Client,
    CrossOrganisationError,
    Episode,
    Session,
)


def test_a_stored_response_cannot_be_saved_again(practice: Practice, phq9: Administration) -> None:
    response = do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    response.total = 0
    with pytest.raises(ImmutableRecordError, match="amendment"):
        response.save()
    assert Response.objects.get(pk=response.pk).total == 7


def test_responses_cannot_be_updated_or_deleted_in_bulk(
    practice: Practice, phq9: Administration
) -> None:
    response = do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    with pytest.raises(ImmutableRecordError):
        Response.objects.filter(pk=response.pk).update(total=0)
    with pytest.raises(ImmutableRecordError):
        Response.objects.filter(pk=response.pk).delete()
    with pytest.raises(ImmutableRecordError):
        response.delete()


def test_an_amendment_keeps_the_original_and_is_itself_immutable(
    practice: Practice, phq9: Administration
) -> None:
    response = do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    amendment = do_amend_response(
        response, PHQ9_ITEM9, "Item 9 misread on paper", practice.clinician
    )
    response.refresh_from_db()
    assert response.answers["9"] == 0
    assert response.current() == amendment
    with pytest.raises(ImmutableRecordError):
        amendment.save()


def test_an_amendment_is_not_stored_without_a_reason(
    practice: Practice, phq9: Administration
) -> None:
    # Sealed, the reason is out of the database's sight: the model refuses an empty one.
    response = do_record_response(phq9, PHQ9_MILD, idempotency_key="k1")
    fields = {f: getattr(response, f) for f in ("answers", "measure_id", "measure_version")}
    with pytest.raises(ValueError, match="reason"), transaction.atomic():
        Amendment.objects.create(
            response=response,
            reason="",
            amended_by=practice.clinician,
            amended_at=timezone.now(),
            total=1,
            answered=9,
            **fields,
        )


def test_a_completed_administration_must_have_its_timestamp(practice: Practice) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Administration.objects.create(
            episode=practice.own,
            measure_id="phq9",
            measure_version="1",
            status=AdministrationStatus.COMPLETED,
        )


def test_an_episode_cannot_link_a_client_of_another_organisation(practice: Practice) -> None:
    with pytest.raises(CrossOrganisationError):
        Episode.objects.create(
            organisation=practice.org,
            client=practice.elsewhere.client,
            clinician=practice.clinician,
            opened_on=dt.date(2026, 1, 1),
        )


def test_a_care_team_holds_members_of_the_same_organisation_only(practice: Practice) -> None:
    with pytest.raises(CrossOrganisationError):
        CareTeamMember.objects.create(episode=practice.own, member=practice.outsider)


def test_a_session_is_individual_or_group_not_both_nor_neither(practice: Practice) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Session.objects.create(organisation=practice.org, scheduled_at=timezone.now())


def test_client_codes_are_unique_within_an_organisation(practice: Practice) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Client.objects.create(organisation=practice.org, code="N-001")
    Client.objects.create(organisation=practice.elsewhere.organisation, code="N-001")


@pytest.mark.parametrize(
    ("first", "every", "last", "given"),
    [(1, 1, None, [1, 2, 3, 4]), (1, 2, None, [1, 3]), (2, 1, 3, [2, 3])],
)
def test_a_planned_measure_applies_to_its_sessions(
    first: int, every: int, last: int | None, given: list[int]
) -> None:
    planned = PlannedMeasure(first_session=first, every=every, last_session=last)
    assert [n for n in range(1, 5) if planned.applies_to(n)] == given
