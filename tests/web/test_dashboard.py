"""The practice dashboard: caseloads, alerts, outcomes and alliance per clinician and in total."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from html.parser import HTMLParser

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone
from web_practice import Practice, episode_for, member, sign_in

from ally.feedback.practice import MeasureBacktest, SignalBacktest
from ally.web.actions.monitoring import do_fit_practice_model
from ally.web.alerts.models import Alert, AlertKind
from ally.web.dashboard.tables import SMALL_CELL
from ally.web.monitoring import refresh
from ally.web.monitoring.models import EpisodeFeedback, PracticeModelFit, SessionFeedback
from ally.web.monitoring.refresh import published_model
from ally.web.practice.models import Episode, Membership
from ally.web.scoping import Role

FIRST_HALF = {"start": "2026-01-01", "end": "2026-06-30"}
NOW = timezone.make_aware(dt.datetime(2026, 11, 1, 12, 0))


# --- building the practice's history ---------------------------------------------------------


def ended(
    clinician: Membership,
    code: str,
    ended_on: dt.date,
    reason: str = "planned",
    opened_on: dt.date = dt.date(2026, 1, 10),
) -> Episode:
    episode = episode_for(clinician, code)
    episode.opened_on, episode.ended_on, episode.end_reason = opened_on, ended_on, reason
    episode.save()
    return episode


def outcome(episode: Episode, category: str, measure_id: str = "phq9") -> None:
    EpisodeFeedback.objects.create(
        episode=episode,
        measure_id=measure_id,
        rater="client",
        sessions=2,
        first_session=1,
        last_session=2,
        first_score=15,
        last_score=5,
        category=category,
        computed_at=NOW,
    )


def alliance(
    episode: Episode,
    scores: dict[int, tuple[float, dt.date]],
    measure_id: str = "srs",
    unrepaired: int = 0,
    rater: str = "client",
) -> None:
    for number, (score, date) in scores.items():
        SessionFeedback.objects.create(
            episode=episode,
            measure_id=measure_id,
            rater=rater,
            session_number=number,
            date=date,
            score=score,
            computed_at=NOW,
        )
    EpisodeFeedback.objects.create(
        episode=episode,
        measure_id=measure_id,
        rater=rater,
        sessions=len(scores),
        first_session=min(scores),
        last_session=max(scores),
        first_score=scores[min(scores)][0],
        last_score=scores[max(scores)][0],
        unrepaired=unrepaired,
        computed_at=NOW,
    )


def at(day: str, time: str = "10:00") -> dt.datetime:
    return timezone.make_aware(dt.datetime.fromisoformat(f"{day}T{time}"))


def alert(
    episode: Episode, kind: str, raised: dt.datetime, acted: dt.datetime | None = None
) -> None:
    fields = {}
    if acted is not None:
        by = episode.clinician
        fields = {"seen_at": acted, "seen_by": by, "acted_at": acted, "acted_by": by}
        fields["action_note"] = "Called the client."
    Alert.objects.create(episode=episode, kind=kind, message="m", raised_at=raised, **fields)


@pytest.fixture
def history(practice: Practice) -> Practice:
    """Five episodes of the clinician and four of the colleague touch the first half of 2026.

    clinician: `own` (open), e1 (ended 1 March, recovered), e2 (ended 1 April, dropout,
    improved), e3 (ended 1 May, unchanged on PHQ-9, recovered on GAD-7), e5 (ends 1 August);
    e4 ended in 2025. colleague: `shared` and `other` (open), f1 (ended 1 February, dropout,
    deteriorated), f2 (ended 15 February, not classified). The other practice's episode ended in
    the period too, recovered, with an open alert.
    """
    p, clin, coll = practice, practice.clinician, practice.colleague
    e1 = ended(clin, "N-011", dt.date(2026, 3, 1))
    e2 = ended(clin, "N-012", dt.date(2026, 4, 1), "dropout")
    e3 = ended(clin, "N-013", dt.date(2026, 5, 1))
    e4 = ended(clin, "N-014", dt.date(2025, 6, 1), opened_on=dt.date(2025, 2, 1))
    e5 = ended(clin, "N-015", dt.date(2026, 8, 1))
    f1 = ended(coll, "N-021", dt.date(2026, 2, 1), "dropout")
    f2 = ended(coll, "N-022", dt.date(2026, 2, 15))
    for episode, category in [(e1, "recovered"), (e2, "improved"), (e3, "unchanged")]:
        outcome(episode, category)
    outcome(e3, "recovered", "gad7")
    outcome(e4, "deteriorated")
    outcome(f1, "deteriorated")
    outcome(f2, "")
    p.elsewhere.ended_on, p.elsewhere.end_reason = dt.date(2026, 3, 1), "planned"
    p.elsewhere.save()
    outcome(p.elsewhere, "recovered")

    june, july = dt.date(2026, 6, 1), dt.date(2026, 7, 15)
    alliance(p.own, {1: (30, june), 2: (36, june)}, unrepaired=1)
    alliance(p.own, {1: (5, june)}, rater="clinician")
    alliance(e1, {1: (20, dt.date(2026, 2, 1)), 2: (26, dt.date(2026, 2, 20))})
    alliance(e5, {1: (30, june), 2: (10, july)})  # session 2 comes after the period
    alliance(e4, {1: (12, dt.date(2025, 5, 1))})
    alliance(p.shared, {1: (38, june)}, unrepaired=2)
    alliance(p.other, {1: (20, june)}, measure_id="ally-alliance")
    alliance(p.elsewhere, {1: (40, june)})

    alert(p.own, AlertKind.CRITICAL_ITEM, at("2026-02-01", "10:00"), at("2026-02-01", "12:00"))
    alert(p.own, AlertKind.SIGNAL_RED, at("2026-03-01", "10:00"), at("2026-03-02", "16:00"))
    alert(p.own, AlertKind.RUPTURE, at("2026-06-20"))
    alert(p.own, AlertKind.CRITICAL_ITEM, at("2025-12-01"))
    alert(p.own, AlertKind.DROPOUT_RISK, at("2026-06-25"), at("2026-07-05"))
    alert(p.own, AlertKind.SIGNAL_RED, at("2026-07-10"))
    alert(
        p.other, AlertKind.CRITICAL_UNANSWERED, at("2026-04-01", "09:00"), at("2026-04-01", "09:30")
    )
    alert(p.other, AlertKind.SIGNAL_RED, at("2026-05-01"))
    alert(p.elsewhere, AlertKind.SIGNAL_RED, at("2026-05-01"))
    return p


# --- reading the page ------------------------------------------------------------------------


class Tables(HTMLParser):
    """Each <table id=...> as {row header: {column header: cell text}}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self.columns: list[str] = []
        self.row: list[str] = []
        self.text: list[str] | None = None
        self.current = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.current = dict(attrs)["id"] or ""
            self.tables[self.current] = {}
            self.columns = []
        elif tag == "tr":
            self.row = []
        elif tag in ("th", "td"):
            self.text = []

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self.text is not None:
            self.row.append(" ".join("".join(self.text).split()))
            self.text = None
        elif tag == "tr" and self.current:
            if not self.columns:
                self.columns = self.row
            else:
                self.tables[self.current][self.row[0]] = dict(
                    zip(self.columns, self.row, strict=True)
                )


def tables_of(page: bytes) -> dict[str, dict[str, dict[str, str]]]:
    parser = Tables()
    parser.feed(page.decode())
    return parser.tables


def signed_in(member: Membership) -> Browser:
    browser = Browser()
    sign_in(browser, member.user)
    return browser


def dashboard(member: Membership, slug: str | None = None, **query: str):
    url = reverse("dashboard:home", args=[slug or member.organisation.slug])
    return signed_in(member).get(url, query)


def name(member: Membership) -> str:
    return str(member.user)


TOTAL = "Whole practice"


# --- the figures -----------------------------------------------------------------------------


def test_caseload_counts_episodes_open_in_the_period_and_those_that_ended(
    history: Practice,
) -> None:
    page = dashboard(history.supervisor, **FIRST_HALF)
    caseload = tables_of(page.content)["caseload"]
    clin, coll = caseload[name(history.clinician)], caseload[name(history.colleague)]
    assert clin == {
        "Clinician": name(history.clinician),
        "Episodes in the period": "5",
        "Open at the end": "2",
        "Ended in the period": "3",
        "Dropouts (share of ended)": "1 (33%)",
    }
    assert [coll[c] for c in list(coll)[1:]] == ["4", "2", "2", "1 (50%)"]
    total = caseload[TOTAL]
    assert [total[c] for c in list(total)[1:]] == ["9", "4", "5", "2 (40%)"]


def test_outcomes_are_shares_of_the_ended_episodes_with_a_category(history: Practice) -> None:
    tables = tables_of(dashboard(history.supervisor, **FIRST_HALF).content)
    phq9 = tables["outcome-phq9"]
    header = ["Ended with a category", "Recovered", "Improved", "Unchanged", "Deteriorated"]
    header += ["Harmed", "Not classified"]
    clin = [phq9[name(history.clinician)][c] for c in header]
    assert clin == ["3", "1 (33%)", "1 (33%)", "1 (33%)", "0 (0%)", "0 (0%)", "0"]
    coll = [phq9[name(history.colleague)][c] for c in header]
    assert coll == ["1", "0 (0%)", "0 (0%)", "0 (0%)", "1 (100%)", "0 (0%)", "1"]
    total = [phq9[TOTAL][c] for c in header]
    assert total == ["4", "1 (25%)", "1 (25%)", "1 (25%)", "1 (25%)", "0 (0%)", "1"]
    assert tables["outcome-gad7"][TOTAL]["Recovered"] == "1 (100%)"
    assert "outcome-core10" not in tables


def test_alerts_open_at_the_end_by_kind_acted_on_and_the_median_wait(history: Practice) -> None:
    alerts = tables_of(dashboard(history.supervisor, **FIRST_HALF).content)["alerts"]
    columns = ["Open: Critical item", "Open: Critical item unanswered", "Open: Red signal"]
    columns += ["Open: Rupture", "Open: Dropout risk", "Open: all kinds", "Raised in the period"]
    columns += ["Acted on (share of raised)", "Median time to act"]
    clin = [alerts[name(history.clinician)][c] for c in columns]
    # Waits of 2 hours, 30 hours and 10 days: the median is 30 hours.
    assert clin == ["1", "0", "0", "1", "1", "3", "4", "3 (75%)", "30.0 hours"]
    coll = [alerts[name(history.colleague)][c] for c in columns]
    assert coll == ["0", "0", "1", "0", "0", "1", "2", "1 (50%)", "30 minutes"]
    total = [alerts[TOTAL][c] for c in columns]
    # Waits of 30 minutes, 2, 30 and 240 hours: the median is (2 + 30) / 2 = 16 hours.
    assert total == ["1", "0", "1", "1", "1", "4", "6", "4 (67%)", "16.0 hours"]


def test_alliance_averages_each_episodes_latest_client_rating_by_the_end(
    history: Practice,
) -> None:
    table = tables_of(dashboard(history.supervisor, **FIRST_HALF).content)["alliance"]
    srs = "Average Session Rating Scale (SRS 3.0)"
    ally = "Average Ally alliance check-in"
    clin, coll, total = (
        table[name(history.clinician)],
        table[name(history.colleague)],
        table[TOTAL],
    )
    # Latest client ratings by 30 June: 36, 26 and 30 (the 10 of July comes later).
    assert (clin[srs], clin[ally]) == ("30.7 (3 episodes)", "no ratings")
    assert (coll[srs], coll[ally]) == ("38.0 (1 episode)", "20.0 (1 episode)")
    assert (total[srs], total[ally]) == ("32.5 (4 episodes)", "20.0 (1 episode)")
    rated, unrepaired = "Episodes with alliance ratings", "With an unrepaired rupture"
    assert (clin[rated], clin[unrepaired]) == ("3", "1 (33%)")
    assert (coll[rated], coll[unrepaired]) == ("2", "1 (50%)")
    assert (total[rated], total[unrepaired]) == ("5", "2 (40%)")


def test_the_page_names_no_client(history: Practice) -> None:
    page = dashboard(history.supervisor, **FIRST_HALF).content.decode()
    assert "N-0" not in page
    assert "Name of" not in page
    assert 'role="img"' in page  # the outcome chart, drawn on the server
    assert "<svg" in page


# --- filters ---------------------------------------------------------------------------------


def test_the_default_period_is_the_last_twelve_months(practice: Practice) -> None:
    today = timezone.localdate()
    opened = today - dt.timedelta(days=500)
    ended(practice.clinician, "N-031", today - dt.timedelta(days=300), opened_on=opened)
    ended(practice.clinician, "N-032", today - dt.timedelta(days=370), opened_on=opened)
    caseload = tables_of(dashboard(practice.supervisor).content)["caseload"]
    assert caseload[name(practice.clinician)]["Ended in the period"] == "1"


def test_an_earlier_period_counts_only_what_happened_then(history: Practice) -> None:
    tables = tables_of(dashboard(history.supervisor, start="2025-01-01", end="2025-12-31").content)
    clin = tables["caseload"][name(history.clinician)]
    assert (clin["Episodes in the period"], clin["Ended in the period"]) == ("1", "1")
    assert tables["outcome-phq9"][TOTAL]["Deteriorated"] == "1 (100%)"
    assert tables["alerts"][TOTAL]["Open: Critical item"] == "1"
    assert tables["alerts"][TOTAL]["Raised in the period"] == "1"


def test_one_clinician_shows_only_their_figures(history: Practice) -> None:
    page = dashboard(history.supervisor, clinician=str(history.colleague.pk), **FIRST_HALF)
    tables = tables_of(page.content)
    assert list(tables["caseload"]) == [name(history.colleague)]
    assert tables["outcome-phq9"][name(history.colleague)]["Deteriorated"] == "1 (100%)"
    assert "outcome-gad7" not in tables
    assert name(history.clinician) not in tables["alerts"]


def test_a_first_day_after_the_last_is_refused_with_a_message(history: Practice) -> None:
    page = dashboard(history.supervisor, start="2026-07-01", end="2026-06-30")
    assert page.status_code == 400
    assert "The first day is after the last day" in page.content.decode()
    assert "caseload" not in tables_of(page.content)


def test_a_clinician_of_another_practice_is_not_a_choice(history: Practice) -> None:
    page = dashboard(history.supervisor, clinician=str(history.outsider.pk), **FIRST_HALF)
    assert page.status_code == 400
    assert "not in this practice" in page.content.decode()


def test_a_malformed_date_says_to_choose_the_day_in_the_date_field(history: Practice) -> None:
    page = dashboard(history.supervisor, start="1 March")
    assert page.status_code == 400
    assert "choose the first day in the date field" in page.content.decode()


def test_a_day_beyond_any_calendar_in_use_is_refused(history: Practice) -> None:
    page = dashboard(history.supervisor, end="9999-12-31")
    assert page.status_code == 400
    assert "between the years 1900 and 2999" in page.content.decode()


# --- who sees it -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "supervisor", "researcher"])
def test_roles_that_oversee_the_practice_see_the_dashboard(practice: Practice, role: str) -> None:
    assert dashboard(getattr(practice, role)).status_code == 200


def test_a_clinician_is_refused(practice: Practice) -> None:
    assert dashboard(practice.clinician).status_code == 403


def test_someone_signed_out_is_sent_to_sign_in(practice: Practice) -> None:
    page = Browser().get(reverse("dashboard:home", args=["north"]))
    assert page.status_code == 302
    assert "/accounts/" in page["Location"]


def test_another_practices_supervisor_sees_only_their_own(history: Practice) -> None:
    assert dashboard(history.outsider, slug="north").status_code == 404
    page = dashboard(history.outsider, **FIRST_HALF)
    tables = tables_of(page.content)
    assert tables["caseload"][TOTAL]["Episodes in the period"] == "1"
    assert tables["outcome-phq9"][TOTAL]["Recovered"] == "1 (100%)"
    assert tables["alerts"][TOTAL]["Open: all kinds"] == "1"
    assert name(history.clinician) not in page.content.decode()


def test_a_researcher_sees_fewer_than_5_for_small_counts(history: Practice) -> None:
    assert SMALL_CELL == 5
    tables = tables_of(dashboard(history.researcher, **FIRST_HALF).content)
    clin = tables["caseload"][name(history.clinician)]
    assert clin["Episodes in the period"] == "5"
    assert clin["Ended in the period"] == "fewer than 5"
    assert clin["Dropouts (share of ended)"] == "fewer than 5"  # and no share
    assert tables["caseload"][TOTAL]["Dropouts (share of ended)"] == "fewer than 5"
    assert tables["caseload"][TOTAL]["Ended in the period"] == "5"
    assert tables["alerts"][TOTAL]["Raised in the period"] == "6"
    assert tables["alerts"][TOTAL]["Median time to act"] == "fewer than 5 alerts"
    assert tables["alliance"][TOTAL]["Average Session Rating Scale (SRS 3.0)"] == (
        "fewer than 5 episodes"
    )
    assert tables["outcome-phq9"][TOTAL]["Recovered"] == "fewer than 5"


# --- cost ------------------------------------------------------------------------------------


def test_the_number_of_queries_does_not_grow_with_clinicians(
    practice: Practice, django_assert_max_num_queries
) -> None:
    for i in range(12):
        clinician = member(practice.org, Role.CLINICIAN, f"extra{i}")
        episode = ended(clinician, f"X-{i}", dt.date(2026, 3, 1), "dropout")
        outcome(episode, "improved")
        alliance(episode, {1: (30, dt.date(2026, 2, 1))}, unrepaired=1)
        alert(episode, AlertKind.RUPTURE, at("2026-02-01"), at("2026-02-02"))
    # Session, user and membership, then the members, episodes, alerts, waits, outcomes and
    # alliance: the same for 3 clinicians or 300.
    browser = signed_in(practice.supervisor)
    url = reverse("dashboard:home", args=["north"])
    # 12 for the page, 1 for the second factor, 3 for every staff request (the signed-in
    # device, the practice's sign-outs, the header's self-care reminder), up to 5 for the read's
    # audit entry (savepoint, PostgreSQL's advisory lock, the last digest, the insert, release).
    with django_assert_max_num_queries(12 + 1 + 3 + 5):
        page = browser.get(url, FIRST_HALF)
    assert tables_of(page.content)["caseload"][TOTAL]["Dropouts (share of ended)"] == "12 (100%)"


# --- the practice's own backtest of its signals -------------------------------------------------


@pytest.fixture(autouse=True)
def no_cached_models() -> None:
    # The models in force are cached by organisation and fit; a rolled-back test database
    # gives the next test's organisation and fit the same keys.
    refresh._models.clear()


def stored_model(practice: Practice, backtest: SignalBacktest | None) -> None:
    """A fitted practice model with this backtest, as `do_fit_practice_model` stores it."""
    model = replace(published_model(), signal_backtest=backtest)
    PracticeModelFit.objects.create(
        organisation=practice.org,
        model_json=model.to_json(),
        fitted_at=NOW,
        episodes=400,
        administrations=3000,
    )


BACKTEST = SignalBacktest(
    split=0.5,
    by_session=3,
    train_episodes=200,
    test_episodes=200,
    train_period=("2025-01-06", "2026-03-30"),
    test_period=("2025-09-01", "2026-10-26"),
    min_deteriorators=10,
    measures=(
        MeasureBacktest("phq9", 180, 14, 12 / 14, 25 / 166),
        MeasureBacktest("gad7", 180, 6, None, None),
    ),
)


def test_the_practice_sees_its_own_backtested_catch_and_false_alarm_rates(
    practice: Practice,
) -> None:
    stored_model(practice, BACKTEST)
    page = dashboard(practice.supervisor)
    text = page.content.decode()
    rows = tables_of(page.content)["signals-backtest"]
    assert rows["PHQ-9"]["Later episodes"] == "180"
    assert rows["PHQ-9"]["Ended reliably worse"] == "14"
    assert rows["PHQ-9"]["Caught"] == "86%"  # 12 of 14
    assert rows["PHQ-9"]["False alarms"] == "15%"  # 25 of 166
    assert rows["GAD-7"]["Caught"] == "too few to say (fewer than 10 reliably worse)"
    assert "the earlier 200 ended episodes (sessions from 6 Jan 2025 to 30 Mar 2026)" in text
    assert "the later 200 (sessions from 1 Sep 2025 to 26 Oct 2026)" in text
    assert "Practice model fitted on 1 Nov 2026." in text
    assert "flagged yellow or red by their third session" in text


def test_the_backtest_is_explained_in_german(practice: Practice) -> None:
    stored_model(practice, BACKTEST)
    browser = signed_in(practice.supervisor)
    url = reverse("dashboard:home", args=[practice.org.slug])
    page = browser.get(url, headers={"accept-language": "de"})
    rows = tables_of(page.content)["signals-backtest"]
    assert rows["PHQ-9"]["Erkannt"] == "86 %"
    assert rows["PHQ-9"]["Fehlalarme"] == "15 %"
    assert "dritten Sitzung" in page.content.decode()


def test_a_practice_with_too_few_ended_episodes_is_told_so(practice: Practice) -> None:
    # A real fit of the practice's few answers: too few ended episodes for a backtest.
    do_fit_practice_model(practice.org, now=NOW)
    text = dashboard(practice.supervisor).content.decode()
    assert "Too few ended episodes to test the signals" in text
    assert "signals-backtest" not in text


def test_before_the_first_fit_the_dashboard_says_the_signals_are_untested(
    practice: Practice,
) -> None:
    text = dashboard(practice.supervisor).content.decode()
    assert "The practice model has not been fitted yet" in text
