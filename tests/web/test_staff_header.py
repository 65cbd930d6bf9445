"""The staff header: the navigation, the same on every staff page, and the member's own things
(their account, members' sign-in, the language, signing out) in one account menu."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from web_practice import Practice, sign_in

from ally.web.alerts.models import Alert, AlertKind
from ally.web.practice.models import Membership


def page_of(member: Membership, url: str) -> str:
    browser = Browser()
    sign_in(browser, member.user)
    response = browser.get(url)
    assert response.status_code == 200
    return response.content.decode()


def part(html: str, pattern: str) -> str:
    found = re.search(pattern, html, re.S)
    assert found, pattern
    return found.group(0)


def navigation(html: str) -> str:
    return part(html, r'<nav class="staff-nav".*?</nav>')


def account_menu(html: str) -> str:
    return part(html, r'<details class="account-menu">.*?</details>')


@pytest.mark.parametrize(
    "url",
    [
        reverse("clinic:caseload", args=["north"]),
        reverse("dashboard:home", args=["north"]),
        reverse("monitoring:model", args=["north"]),
        reverse("members:list", args=["north"]),
    ],
)
def test_every_staff_page_counts_the_open_alerts_in_the_navigation(
    practice: Practice, url: str
) -> None:
    Alert.objects.create(
        episode=practice.own,
        kind=AlertKind.SIGNAL_RED,
        source_key="phq9:client:1",
        message="Off track.",
        raised_at=timezone.now() - dt.timedelta(hours=1),
    )
    nav = navigation(page_of(practice.admin, url))
    assert 'Alerts <span class="count">(1 open)</span>' in nav


def test_only_the_page_shown_is_marked_current(practice: Practice) -> None:
    nav = navigation(page_of(practice.supervisor, reverse("dashboard:home", args=["north"])))
    assert re.findall(r'aria-current="page">([^<]+)<', nav) == ["Dashboard"]


def test_the_account_menu_holds_the_members_own_things(practice: Practice) -> None:
    admin = page_of(practice.admin, reverse("clinic:caseload", args=["north"]))
    menu = account_menu(admin)
    assert ">Members</a>" in menu
    assert ">Your account</a>" in menu
    assert 'name="language"' in menu
    assert ">Sign out</button>" in menu
    assert "North Practice" in menu
    # The navigation holds pages only; nothing else in the header asks for the language.
    assert "Sign out" not in navigation(admin)
    assert admin.count('name="language"') == 1
    caseload = reverse("clinic:caseload", args=["north"])
    clinician = account_menu(page_of(practice.clinician, caseload))
    assert ">Members</a>" not in clinician
    assert ">Your account</a>" in clinician
