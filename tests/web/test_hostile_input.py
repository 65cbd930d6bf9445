"""Hostile input, on the staff forms, the client's pages and the API.

Every refusal says what was wrong and stores nothing (no row, no audit entry); text that is
stored is normalised by the one text rule (`ally.web.text`) and shown escaped on every page that
shows it. Runs on SQLite and on PostgreSQL, which refuses NUL in text where SQLite stores it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client as Browser
from django.urls import reverse
from django.utils.html import escape
from web_practice import PHQ9_ITEM9, PHQ9_MILD, Practice, member, sign_in

from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.alerts.models import Alert
from ally.web.api.errors import MAX_BODY_BYTES
from ally.web.auditlog.chain import verify
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.models import Administration, Response
from ally.web.practice.models import CareTeamMember, Client, ClientIdentity, Episode, Membership
from ally.web.respond.links import signed_token
from ally.web.scoping import Role
from ally.web.text import (
    CODE,
    LINE,
    NOTE,
    TextRefusedError,
    attachment,
    clean,
    file_name,
    submission_key,
)


def stored() -> dict[str, Any]:
    """Everything a form or the API writes, counted, with the audit chain's last link."""
    return {
        "clients": Client.objects.count(),
        "identities": ClientIdentity.objects.count(),
        "episodes": Episode.objects.count(),
        "care_team": CareTeamMember.objects.count(),
        "administrations": Administration.objects.count(),
        "responses": Response.objects.count(),
        "alerts_seen": Alert.objects.filter(seen_at__isnull=False).count(),
        "alerts_acted_on": Alert.objects.filter(acted_at__isnull=False).count(),
        "audit_entries": AuditEntry.objects.count(),
        "audit_head": AuditEntry.objects.order_by("-pk").values_list("digest", flat=True).first(),
    }


def browser_for(membership: Membership) -> Browser:
    browser = Browser()
    sign_in(browser, membership.user)
    return browser


def clinic(name: str, **kwargs: object) -> str:
    return reverse(f"clinic:{name}", kwargs={"org": "north", **kwargs})


def new_client(practice: Practice, **fields: str) -> dict[str, Any]:
    return {
        "code": "N-100",
        "name": "Alex Example",
        "email": "",
        "phone": "",
        "clinician": practice.clinician.pk,
        "opened_on": "2026-02-01",
        **fields,
    }


@pytest.fixture
def alert(practice: Practice) -> Alert:
    administration = do_create_administration(practice.own, "phq9")
    do_record_response(administration, PHQ9_ITEM9, idempotency_key="hostile-alert")
    return Alert.objects.get(episode=practice.own)


# --- The text rule ---------------------------------------------------------------------------

DIRECTION_CONTROLS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
INVISIBLE = ["\u200b", "\u2060", "\ufeff", "\u00ad", "\U000e0041"]
CONTROLS = ["\x00", "\x07", "\x1b", "\x7f", "\x85"]
REFUSED_EVERYWHERE = CONTROLS + DIRECTION_CONTROLS + INVISIBLE


def codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


@pytest.mark.parametrize("rule", [CODE, LINE, NOTE], ids=lambda rule: rule.name)
@pytest.mark.parametrize("char", REFUSED_EVERYWHERE, ids=codepoint)
def test_controls_direction_controls_and_invisible_characters_are_refused_by_position(
    rule: Any, char: str
) -> None:
    with pytest.raises(TextRefusedError) as refused:
        clean(f"ab{char}c", rule)
    assert "Character 3" in str(refused.value)
    assert codepoint(char) in str(refused.value)


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(TextRefusedError, match="Character 2 is broken"):
        clean("a\ud800b", NOTE)


@pytest.mark.parametrize("char", ["\u200c", "\u200d", "\u200e", "\u200f", "\u061c"])
def test_joiners_and_marks_stay_in_names_and_notes_but_not_in_codes(char: str) -> None:
    # The zero width non-joiner spells Persian words such as "mi\u200cravam".
    assert clean(f"mi{char}ravam", LINE) == f"mi{char}ravam"
    assert clean(f"mi{char}ravam", NOTE) == f"mi{char}ravam"
    with pytest.raises(TextRefusedError, match="invisible"):
        clean(f"C{char}-1", CODE)


@pytest.mark.parametrize("rule", [CODE, LINE], ids=lambda rule: rule.name)
@pytest.mark.parametrize("text", ["a\nb", "a\r\nb", "a\tb", "a\u2028b", "a\u2029b"])
def test_one_line_fields_refuse_line_breaks_and_tabs(rule: Any, text: str) -> None:
    with pytest.raises(TextRefusedError, match="takes one line"):
        clean(text, rule)


def test_a_note_keeps_its_lines_with_one_kind_of_line_end() -> None:
    assert clean("  first\r\nsecond\rthird\u2028fourth\tend \n", NOTE) == (
        "first\nsecond\nthird\nfourth\tend"
    )


def test_names_and_notes_are_stored_in_nfc_and_codes_in_nfkc() -> None:
    decomposed = "Re\u0301my"  # "e" and a combining acute accent, as a Mac keyboard sends it
    assert clean(decomposed, LINE) == "R\u00e9my"
    assert clean(decomposed, NOTE) == "R\u00e9my"
    # Full-width letters and digits from an input method are the same code as plain ones;
    # a name's ligature is left as written.
    assert clean("\uff23-\uff10\uff11\uff14\uff12", CODE) == "C-0142"
    assert clean("\ufb01ona", LINE) == "\ufb01ona"


# --- The staff forms ---------------------------------------------------------------------------

CLIENT_FIELDS = ["code", "name", "phone"]


@pytest.mark.parametrize("char", REFUSED_EVERYWHERE, ids=codepoint)
@pytest.mark.parametrize("field", CLIENT_FIELDS)
def test_a_new_client_with_a_refused_character_is_refused_naming_it_and_stores_nothing(
    practice: Practice, field: str, char: str
) -> None:
    browser = browser_for(practice.clinician)
    before = stored()
    page = browser.post(clinic("client_new"), new_client(practice, **{field: f"N{char}-100"}))
    assert page.status_code == 400
    html = page.content.decode()
    assert "Character 2 " in html
    assert f"({codepoint(char)})" in html
    assert stored() == before


@pytest.mark.parametrize(
    ("field", "longest"), [("code", 40), ("name", 200), ("phone", 40), ("email", 254)]
)
def test_over_long_client_fields_are_refused_and_store_nothing(
    practice: Practice, field: str, longest: int
) -> None:
    def value(length: int) -> str:
        if field == "email":
            return "a" * (length - len("@example.org")) + "@example.org"
        return "N" * length

    browser = browser_for(practice.clinician)
    before = stored()
    page = browser.post(clinic("client_new"), new_client(practice, **{field: value(longest + 1)}))
    assert page.status_code == 400
    assert f"at most {longest} characters" in page.content.decode()
    assert stored() == before
    accepted = browser.post(clinic("client_new"), new_client(practice, **{field: value(longest)}))
    assert accepted.status_code == 302, "the longest allowed value is stored"


def test_a_code_typed_in_full_width_is_stored_as_plain_letters_and_digits(
    practice: Practice,
) -> None:
    browser = browser_for(practice.clinician)
    page = browser.post(
        clinic("client_new"), new_client(practice, code="\uff23-\uff10\uff11\uff14\uff12")
    )
    assert page.status_code == 302
    assert Client.objects.filter(organisation=practice.org, code="C-0142").exists()
    again = browser.post(clinic("client_new"), new_client(practice, code="C-0142", name="B"))
    assert again.status_code == 400, "the same code, however typed, is taken"


def test_a_decomposed_name_is_shown_as_composed(practice: Practice) -> None:
    browser = browser_for(practice.clinician)
    page = browser.post(clinic("client_new"), new_client(practice, name="Re\u0301my Example"))
    assert page.status_code == 302
    episode = Episode.objects.get(client__code="N-100")
    html = browser.get(clinic("episode", pk=episode.pk)).content.decode()
    assert "R\u00e9my Example" in html
    assert "Re\u0301my" not in html


@pytest.mark.parametrize(
    "char", CONTROLS[:3] + DIRECTION_CONTROLS[4:5] + INVISIBLE[:1], ids=codepoint
)
def test_a_care_team_role_with_a_refused_character_is_refused(
    practice: Practice, char: str
) -> None:
    """The role is chosen from a list now (co-therapist, psychiatrist, supervisor): anything
    else, typed into the request, is refused with the form's message and nothing is stored."""
    browser = browser_for(practice.clinician)
    before = stored()
    page = browser.post(
        clinic("care_team_add", pk=practice.own.pk),
        {"member": practice.colleague.pk, "role": f"co{char}therapist"},
    )
    assert page.status_code == 400
    assert "Select a valid choice." in page.content.decode()
    assert stored() == before


@pytest.mark.parametrize(
    "note",
    [
        pytest.param("Called\x00her", id="NUL"),
        pytest.param("Called \u202eher", id="override"),
        pytest.param("Called\u200bher", id="zero-width"),
        pytest.param("x" * 2001, id="too-long"),
    ],
)
def test_an_alert_note_with_refused_text_is_not_recorded(
    practice: Practice, alert: Alert, note: str
) -> None:
    browser = browser_for(practice.clinician)
    before = stored()
    reply = browser.post(clinic("alert_act", pk=alert.pk), {f"alert-{alert.pk}-note": note})
    assert stored() == before
    html = browser.get(reply["Location"]).content.decode()
    assert "Not recorded:" in html
    assert "U+" in html or "at most 2000 characters" in html


def test_an_alert_note_is_stored_in_nfc_with_plain_line_ends(
    practice: Practice, alert: Alert
) -> None:
    browser = browser_for(practice.clinician)
    browser.post(
        clinic("alert_act", pk=alert.pk), {f"alert-{alert.pk}-note": "Called Re\u0301my\r\nagain"}
    )
    assert Alert.objects.get(pk=alert.pk).note == "Called R\u00e9my\nagain"


# --- Oversized and malformed requests to the pages ----------------------------------------------


def test_a_form_post_over_djangos_size_limit_is_a_400_and_stores_nothing(
    practice: Practice,
) -> None:
    browser = browser_for(practice.clinician)
    before = stored()
    name = "N" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    page = browser.post(clinic("client_new"), new_client(practice, name=name))
    assert page.status_code == 400
    assert stored() == before


def test_a_form_post_with_too_many_fields_is_a_400_and_stores_nothing(
    practice: Practice,
) -> None:
    browser = browser_for(practice.clinician)
    before = stored()
    many = {f"extra{n}": "x" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    page = browser.post(clinic("client_new"), {**new_client(practice), **many})
    assert page.status_code == 400
    assert stored() == before


# --- The client's pages ------------------------------------------------------------------------


def answers(administration: Administration, **items: str) -> dict[str, str]:
    """A client's post of mild PHQ-9 answers, with `items` (item_1=...) in their place."""
    data = {"administration": str(administration.pk), "key": "k" * 20, "action": "submit"}
    data |= {f"item_{n}": str(value) for n, value in enumerate(PHQ9_MILD, start=1)}
    return data | items


@pytest.fixture
def visit(practice: Practice) -> tuple[Browser, Administration]:
    """A client who opened their link to a PHQ-9."""
    administration = do_create_administration(practice.own, "phq9")
    browser = Browser()
    browser.get(reverse("respond:open", kwargs={"signed": signed_token(administration)}))
    return browser, administration


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("key\x00with-nul", id="NUL"),
        pytest.param("key\u202ewith-override", id="override"),
        pytest.param("k" * 5000, id="long"),
    ],
)
def test_a_clients_hostile_submission_key_never_breaks_the_submission(
    visit: tuple[Browser, Administration], key: str
) -> None:
    browser, administration = visit
    page = browser.post(reverse("respond:answer"), answers(administration, key=key))
    assert page.status_code in (200, 302)
    assert Response.objects.filter(administration=administration).count() == 1
    assert verify().holds


@pytest.mark.parametrize("answer", ["3\x00", "\u202e3", "\u200b3", "1" * 5000, "1e400", "nan"])
def test_a_clients_unreadable_answer_is_refused_with_a_message_and_stores_nothing(
    visit: tuple[Browser, Administration], answer: str
) -> None:
    browser, administration = visit
    before = stored()
    page = browser.post(reverse("respond:answer"), answers(administration, item_1=answer))
    assert page.status_code == 200
    assert "Question 1:" in page.content.decode()
    assert stored() == before


@pytest.mark.parametrize("answer", ["<b>1</b>", '"><b>1'])
def test_markup_in_a_clients_answer_is_shown_back_escaped(practice: Practice, answer: str) -> None:
    # The ORS is answered with numbers typed on a scale, which the page shows back when one
    # cannot be taken.
    administration = do_create_administration(practice.own, "ors")
    browser = Browser()
    browser.get(reverse("respond:open", kwargs={"signed": signed_token(administration)}))
    data = {"administration": str(administration.pk), "key": "k" * 20, "action": "submit"}
    data |= {"item_1": answer, "item_2": "5", "item_3": "5", "item_4": "5"}
    page = browser.post(reverse("respond:answer"), data)
    html = page.content.decode()
    assert f'value="{escape(answer)}"' in html
    assert "<b>1" not in html


# --- Script in every text field, escaped on every page ------------------------------------------

SCRIPT = "<script>alert('{}')</script>"
ATTRIBUTE = "\"><img src=x onerror=alert('{}')>"
URL = "javascript:alert('{}')"


def payloads(field: str) -> str:
    return SCRIPT.format(field) + ATTRIBUTE.format(field) + URL.format(field)


def assert_shown_escaped(html: str, *texts: str) -> None:
    """Each text is on the page, escaped; no markup of it is."""
    for text in texts:
        assert escape(text) in html, f"{text!r} is not shown"
        for markup in (SCRIPT, ATTRIBUTE):
            for part in re.findall(r"alert\('[^']*'\)", text):
                raw = markup.format(part[7:-2])
                assert raw not in html, f"{raw!r} reached the page unescaped"
    assert not re.search(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", html, re.I)


@pytest.fixture
def hostile(practice: Practice) -> dict[str, Any]:
    """A practice whose every typed text holds script, entered through the forms where there
    are forms (and directly where Ally has none: names of members and practices, contacts)."""
    browser = browser_for(practice.clinician)
    texts = {
        "code": SCRIPT.format("code"),
        "other_code": ATTRIBUTE.format("code"),
        "name": payloads("name"),
        "email": "\"<script>alert('email')</script>\"@example.org",
        "phone": URL.format("phone"),
        "role": payloads("role"),
        "note": payloads("note") + "\nsecond line",
        "practice": payloads("practice"),
        "member": payloads("member"),
        "contacts": payloads("contacts"),
    }
    for code, phone in ((texts["code"], texts["phone"]), (texts["other_code"], "")):
        reply = browser.post(
            clinic("client_new"),
            new_client(practice, code=code, name=texts["name"], email=texts["email"], phone=phone),
        )
        assert reply.status_code == 302, reply.content.decode()
    episode = Episode.objects.get(client__code=texts["code"])
    other = Episode.objects.get(client__code=texts["other_code"])
    added = browser.post(
        clinic("care_team_add", pk=episode.pk),
        {"member": practice.colleague.pk, "role": "co-therapist"},
    )
    assert added.status_code == 302
    for target in (episode, other):
        answered = do_create_administration(target, "phq9")
        do_record_response(answered, PHQ9_ITEM9, idempotency_key=f"hostile-{target.pk}")
    acted = Alert.objects.get(episode=other)
    reply = browser.post(
        clinic("alert_act", pk=acted.pk), {f"alert-{acted.pk}-note": texts["note"]}
    )
    assert reply.status_code == 302
    practice.org.name = texts["practice"][:200]
    practice.org.crisis_contacts = texts["contacts"]
    practice.org.save()
    user = practice.clinician.user
    user.display_name = texts["member"][:150]
    user.save()
    return {"episode": episode, "other": other, "texts": texts}


def test_script_in_every_staff_text_field_is_shown_escaped_on_every_staff_page(
    practice: Practice, hostile: dict[str, Any]
) -> None:
    texts, episode, other = hostile["texts"], hostile["episode"], hostile["other"]
    form = Administration.objects.filter(episode=episode, response__isnull=True).first() or (
        do_create_administration(episode, "phq9")
    )
    rating = do_create_administration(episode, "srs", respondent="clinician")
    browser = browser_for(practice.clinician)
    pages = {
        clinic("caseload"): ("code", "other_code", "name", "practice", "member"),
        clinic("episode", pk=episode.pk): ("code", "name", "email", "phone", "member"),
        clinic("episode", pk=other.pk): ("other_code", "note"),
        clinic("alerts"): ("code",),
        clinic("plan", pk=episode.pk): ("code",),
        clinic("care_team_add", pk=episode.pk): ("code",),
        clinic("session_new", pk=episode.pk): ("code", "member"),
        clinic("episode_end", pk=episode.pk): ("code",),
        clinic("form", pk=form.pk): ("code",),
        clinic("form_rate", pk=rating.pk): ("code",),
    }
    for url, fields in pages.items():
        page = browser.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        shown = [texts[field] for field in fields]
        if "note" in fields:
            shown = [texts["note"].split("\n")[0]]
        assert_shown_escaped(html, *shown)


def test_the_message_after_adding_a_client_shows_their_code_escaped(practice: Practice) -> None:
    browser = browser_for(practice.clinician)
    page = browser.post(
        clinic("client_new"), new_client(practice, code=SCRIPT.format("message")), follow=True
    )
    assert_shown_escaped(page.content.decode(), SCRIPT.format("message"))


def test_script_in_member_and_practice_names_is_escaped_on_the_dashboard(
    practice: Practice, hostile: dict[str, Any]
) -> None:
    page = browser_for(practice.supervisor).get(reverse("dashboard:home", kwargs={"org": "north"}))
    assert page.status_code == 200
    assert_shown_escaped(page.content.decode(), hostile["texts"]["member"][:150])


def test_script_in_a_dashboard_filter_is_shown_back_escaped(practice: Practice) -> None:
    payload = SCRIPT.format("filter")
    page = browser_for(practice.supervisor).get(
        reverse("dashboard:home", kwargs={"org": "north"}), {"start": payload}
    )
    assert page.status_code in (200, 400)
    assert_shown_escaped(page.content.decode(), payload)


def test_script_in_the_practice_and_its_crisis_contacts_is_escaped_on_the_clients_pages(
    practice: Practice, hostile: dict[str, Any]
) -> None:
    texts = hostile["texts"]
    administration = do_create_administration(hostile["episode"], "phq9")
    browser = Browser()
    browser.get(reverse("respond:open", kwargs={"signed": signed_token(administration)}))
    page = browser.get(reverse("respond:answer"))
    assert_shown_escaped(page.content.decode(), texts["practice"][:200])
    critical = answers(administration, item_9=str(PHQ9_ITEM9[8]))
    assert browser.post(reverse("respond:answer"), critical)["Location"] == reverse(
        "respond:safety"
    )
    safety = browser.get(reverse("respond:safety")).content.decode()
    assert_shown_escaped(safety, texts["contacts"])


def test_the_api_gives_typed_text_as_json_that_a_browser_will_not_run(
    practice: Practice, hostile: dict[str, Any]
) -> None:
    browser = browser_for(practice.clinician)
    reply = browser.get("/api/o/north/alerts?state=all")
    assert reply["Content-Type"] == "application/json; charset=utf-8"
    assert reply["X-Content-Type-Options"] == "nosniff"
    notes = [item["action_note"] for item in reply.json()["items"]]
    assert hostile["texts"]["note"] in notes, "stored as typed, escaped only where shown"


# --- The API ----------------------------------------------------------------------------------


def api_post(browser: Browser, path: str, body: Any, **kwargs: Any) -> Any:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    kwargs.setdefault("content_type", "application/json")
    return browser.post(f"/api/o/north/{path}", data=data, **kwargs)


def assert_refused(reply: Any, status: int, says: str) -> None:
    assert reply.status_code == status, reply.content
    body = reply.json()
    assert set(body) == {"detail", "errors"}
    assert says in json.dumps(body)


@pytest.mark.parametrize(
    "size", [MAX_BODY_BYTES + 1, settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1], ids=["api", "django"]
)
def test_an_oversized_api_body_is_a_413_in_the_error_shape_and_stores_nothing(
    practice: Practice, alert: Alert, size: int
) -> None:
    browser = browser_for(practice.clinician)
    before = stored()
    body = json.dumps({"note": "x" * size})
    assert_refused(api_post(browser, f"alerts/{alert.pk}/acted", body), 413, "larger than")
    assert stored() == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_an_api_body_not_sent_as_json_is_a_415(
    practice: Practice, alert: Alert, content_type: str
) -> None:
    browser = browser_for(practice.clinician)
    before = stored()
    reply = api_post(
        browser, f"alerts/{alert.pk}/acted", {"note": "Called"}, content_type=content_type
    )
    assert_refused(reply, 415, "Content-Type: application/json")
    assert stored() == before


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param('{"note": "Called', "not valid JSON", id="cut-off"),
        pytest.param("[" * 30_000 + "]" * 30_000, "not valid JSON", id="nested"),
        pytest.param(b'{"note": "\xff\xfe"}', "not valid JSON", id="not-utf8"),
        pytest.param('{"note": 1e400}', "too large", id="huge-number"),
        pytest.param('{"note": NaN}', "not valid JSON", id="nan"),
        pytest.param('"Called"', "JSON object", id="string"),
    ],
)
def test_malformed_json_is_a_422_in_the_error_shape(
    practice: Practice, alert: Alert, body: str | bytes, says: str
) -> None:
    browser = browser_for(practice.clinician)
    before = stored()
    assert_refused(api_post(browser, f"alerts/{alert.pk}/acted", body), 422, says)
    assert stored() == before


@pytest.mark.parametrize(
    "note",
    [
        pytest.param("Called\x00her", id="NUL"),
        pytest.param("Called\u202eher", id="override"),
        pytest.param("Called\u2066her", id="isolate"),
        pytest.param("Called\u200bher", id="zero-width"),
    ],
)
def test_an_api_note_with_a_refused_character_is_a_422_naming_it(
    practice: Practice, alert: Alert, note: str
) -> None:
    browser = browser_for(practice.clinician)
    before = stored()
    reply = api_post(browser, f"alerts/{alert.pk}/acted", {"note": note})
    assert_refused(reply, 422, "Character 7")
    assert reply.json()["errors"][0]["loc"] == ["body", "note"]
    assert "Value error" not in reply.json()["errors"][0]["message"]
    assert stored() == before


def test_an_api_note_with_a_lone_surrogate_is_a_422(practice: Practice, alert: Alert) -> None:
    browser = browser_for(practice.clinician)
    before = stored()
    reply = api_post(browser, f"alerts/{alert.pk}/acted", '{"note": "Called \\ud800 her"}')
    assert_refused(reply, 422, "note")
    assert stored() == before


def test_an_api_note_is_stored_in_nfc(practice: Practice, alert: Alert) -> None:
    browser = browser_for(practice.clinician)
    reply = api_post(browser, f"alerts/{alert.pk}/acted", {"note": "Called Re\u0301my"})
    assert reply.status_code == 200
    assert reply.json()["action_note"] == "Called R\u00e9my"


@pytest.mark.parametrize("org", ["no%00rth", "north%0A", "%E2%80%AEhtron", "..", "n" * 61])
def test_an_organisation_that_is_not_a_slug_is_a_422_before_any_query(
    practice: Practice, org: str
) -> None:
    browser = browser_for(practice.clinician)
    reply = browser.get(f"/api/o/{org}/episodes")
    assert_refused(reply, 422, "org")
    assert reply.json()["errors"][0]["loc"] == ["path", "org"]


def test_an_idempotency_key_with_a_nul_byte_is_a_422(practice: Practice) -> None:
    administration = do_create_administration(practice.own, "phq9")
    browser = browser_for(practice.clinician)
    before = stored()
    answers = dict(enumerate(PHQ9_MILD, start=1))
    reply = api_post(
        browser,
        f"administrations/{administration.pk}/responses",
        {"answers": answers},
        headers={"Idempotency-Key": "key\x00"},
    )
    assert_refused(reply, 422, "Idempotency-Key")
    assert stored() == before


@pytest.mark.parametrize(
    ("key", "kept"),
    [
        ("0b5f1c9e-6a4e-4a8e-9a57-1f0c2b7d9e11", True),
        ("k" * 100, True),
        ("k" * 101, False),
        ("key\x00", False),
        ("key with spaces", False),
        ("schl\u00fcssel", False),
        ("", False),
    ],
)
def test_a_submission_key_is_visible_ascii_or_none(key: str, kept: bool) -> None:
    assert submission_key(key) == (key if kept else "")


# --- Names of files and paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["../../etc/passwd", "..\\..\\boot.ini", 'C-1"; filename="evil.exe', "C-1\r\nSet-Cookie: x=1"],
)
def test_a_download_name_built_from_a_code_stays_one_plain_file_name(code: str) -> None:
    name = file_name("export", code, "2026-02-01", suffix="csv")
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.csv", name), name
    assert ".." not in name
    header = attachment("export", code, suffix="csv")
    assert header.count('"') == 2
    assert "\r" not in header
    assert "\n" not in header


def test_the_audit_export_is_named_by_the_organisations_slug_alone(practice: Practice) -> None:
    page = browser_for(practice.admin).get(reverse("auditlog:export", kwargs={"org": "north"}))
    assert page.status_code == 200
    disposition = page["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+\.csv"', disposition), disposition


@pytest.mark.parametrize(
    "path",
    [
        "/static/../settings.py",
        "/static/%2e%2e/%2e%2e/settings.py",
        "/static/..%2f..%2fsettings.py",
        "/o/..%2F..%2Fetc/caseload/",
        "/a/..%2F..%2Fetc%2Fpasswd/",
        "/api/o/..%2F..%2Fnorth/episodes",
    ],
)
def test_a_path_that_climbs_out_of_its_folder_finds_nothing(practice: Practice, path: str) -> None:
    page = browser_for(practice.clinician).get(path)
    assert page.status_code == 404
    assert b"SECRET_KEY" not in page.content


def test_a_login_with_a_nul_byte_is_refused_not_a_server_error(practice: Practice) -> None:
    browser = Browser()
    before = stored()
    page = browser.post(
        reverse("login"), {"username": "clin@north.example\x00", "password": "pw\x00"}
    )
    assert page.status_code in (200, 400)
    assert stored()["clients"] == before["clients"]


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("clinic:caseload", {"show": "open\x00"}),
        ("dashboard:home", {"clinician": "1\x00", "start": "2026-01-01\x00"}),
    ],
)
def test_a_staff_page_with_a_nul_in_its_query_is_refused_not_a_server_error(
    practice: Practice, name: str, query: dict[str, str]
) -> None:
    page = browser_for(practice.supervisor).get(reverse(name, kwargs={"org": "north"}), query)
    assert page.status_code in (200, 400)


@pytest.mark.parametrize("client", ["\u00b2", "\u2460"])
def test_a_digit_that_is_not_a_number_in_a_query_is_not_a_server_error(
    practice: Practice, client: str
) -> None:
    page = browser_for(practice.clinician).get(clinic("episode_new"), {"client": client})
    assert page.status_code == 200


def test_a_new_member_with_a_hostile_name_is_escaped_where_it_is_chosen(
    practice: Practice,
) -> None:
    colleague = member(practice.org, Role.CLINICIAN, "hostile")
    colleague.user.display_name = SCRIPT.format("colleague")
    colleague.user.save()
    page = browser_for(practice.clinician).get(clinic("care_team_add", pk=practice.own.pk))
    assert_shown_escaped(page.content.decode(), SCRIPT.format("colleague"))
