"""The tables of a research export, read from the database and de-identified as they are read.

Each table is one function from an `Export` (the export's pseudonyms, dates and measures) to a
`Table` (its variables, as the codebook describes them, and its rows); `TABLES` lists them in
the order they are written. Goals or groups join the export as one more such function each.

What never leaves: names, email addresses and phone numbers (`ClientIdentity`), client codes,
members' names and emails, database keys, alert messages and notes, amendment reasons, and any
other free text. Rows carry pseudonyms, numbers, fixed categories and dates as the profile says.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import Min
from django.utils import timezone

from ally.change.categories import Category
from ally.feedback.results import RATERS, RELIABLE, TALKING_THERAPIES
from ally.feedback.signals import Signal
from ally.interop.research import (
    DateProfile,
    Pseudonyms,
    Variable,
    draw_offset,
    measure_variables,
    suppress_counts,
)
from ally.measures.schema import Kind, Measure
from ally.web.collect import measures
from ally.web.collect.models import (
    Administration,
    AdministrationStatus,
    Amendment,
    Respondent,
    Timing,
)
from ally.web.monitoring.models import EpisodeFeedback, SessionFeedback
from ally.web.practice.models import EndReason, Episode, Organisation, Session, SessionStatus
from ally.web.privacy.keys import KeyRing
from ally.web.vocabulary import THERAPY, words_of

Row = dict[str, Any]


@dataclass(frozen=True)
class Table:
    """One table of the export: its variables (the columns, in order) and its rows."""

    name: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: list[Row]


@dataclass
class Export:
    """What one export keeps while it reads: random pseudonyms and date offsets, drawn anew for
    every export and never written anywhere."""

    organisation: Organisation
    dates: DateProfile
    rng: random.Random = field(default_factory=random.SystemRandom)
    first: dict[int, dt.date] = field(default_factory=dict)
    """Each client's first contact: their first episode's opening or first session."""

    def __post_init__(self) -> None:
        self.clients = Pseudonyms("C", self.rng)
        self.episodes = Pseudonyms("E", self.rng)
        self.clinicians = Pseudonyms("T", self.rng)
        self.groups = Pseudonyms("G", self.rng)
        self._offsets: dict[int, int] = {}
        if not self.first:
            self.first = first_contacts(self.organisation)

    def when(self, client_id: int, day: dt.date | None, stem: str) -> Row:
        """A date as the profile gives it: `<stem>` shifted (or `<stem>_year`), and
        `<stem>_day`, the days since the client's first contact."""
        dated, days = date_names(self.dates, stem)
        if day is None:
            return {dated: None, days: None}
        since = (day - self.first[client_id]).days if client_id in self.first else None
        if self.dates is DateProfile.YEAR:
            return {dated: day.year, days: since}
        offset = self._offsets.get(client_id)
        if offset is None:
            offset = self._offsets[client_id] = draw_offset(self.rng)
        return {dated: day + dt.timedelta(days=offset), days: since}


def date_names(dates: DateProfile, stem: str) -> tuple[str, str]:
    """The columns of a date: the date or its year, and the days since first contact
    (`date`, `year`, `day` for the administration's own date; `opened`, `opened_day`, ...)."""
    if stem == "date":
        return ("year" if dates is DateProfile.YEAR else "date"), "day"
    return (f"{stem}_year" if dates is DateProfile.YEAR else stem), f"{stem}_day"


def first_contacts(organisation: Organisation) -> dict[int, dt.date]:
    """Each client's first contact with the practice: the earliest of their episodes' openings
    and their sessions' dates."""
    first: dict[int, dt.date] = {}
    for client_id, opened in Episode.objects.filter(organisation=organisation).values_list(
        "client_id", "opened_on"
    ):
        first[client_id] = min(opened, first.get(client_id, opened))
    sessions = (
        Session.objects.filter(organisation=organisation, episode__isnull=False)
        .values("episode__client_id")
        .annotate(first=Min("scheduled_at"))
    )
    for found in sessions:
        client_id, day = found["episode__client_id"], timezone.localdate(found["first"])
        first[client_id] = min(day, first.get(client_id, day))
    return first


# Variables ----------------------------------------------------------------------------------


def _nominal(
    name: str, label: str, description: str = "", categories: Iterable[str] = ()
) -> Variable:
    return Variable(
        name, label, "string", "nominal", description, categories=tuple(str(c) for c in categories)
    )


def _number(name: str, label: str, description: str = "", type_: str = "number") -> Variable:
    return Variable(name, label, type_, "scale", description)  # type: ignore[arg-type]


def _flag(name: str, label: str, description: str = "") -> Variable:
    return Variable(name, label, "boolean", "nominal", description)


def time_variables(dates: DateProfile, stem: str, what: str) -> tuple[Variable, ...]:
    """The date columns of `what` under the profile."""
    dated_name, days_name = date_names(dates, stem)
    if dates is DateProfile.YEAR:
        dated = Variable(dated_name, f"Year of {what}", "year", "scale", "The calendar year only.")
    else:
        dated = Variable(
            dated_name,
            f"Date of {what} (shifted)",
            "date",
            "scale",
            "Moved by a random whole number of weeks (±1 to 26), the same for all of this "
            "client's dates: intervals and weekdays are true, the calendar date is not.",
        )
    since = _number(
        days_name,
        f"Days from the client's first contact to {what}",
        "The first contact is the client's first episode's opening or first session, "
        "whichever came first.",
        "integer",
    )
    return (dated, since)


IDS = (
    _nominal("client", "Client (pseudonym)", "Random, new in every export; not a key or code."),
    _nominal("episode", "Episode of care (pseudonym)", "Random, new in every export."),
    _nominal("clinician", "Clinician of the episode (pseudonym)", "Random, new in every export."),
)

ENDINGS = (*EndReason.values, "ongoing")


def administration_variables(dates: DateProfile) -> tuple[Variable, ...]:
    """The columns every row of `administrations` has, before the measures' own."""
    return (
        *IDS,
        _nominal("group", "Group (pseudonym)", "For a form given at a group session."),
        _number("session", "Session number within the episode", "", "integer"),
        *time_variables(dates, "date", "the session (or the answer, without a session)"),
        _nominal("measure", "Measure id", "See the measure's variables and licence below."),
        _nominal("measure_version", "Version of the measure's definition"),
        _nominal("rater", "Who answered", categories=Respondent.values),
        _nominal("timing", "Given before or after the session", categories=Timing.values),
        _nominal(
            "status",
            "State of the administration",
            "Only completed ones have answers and scores; the others show what was missed.",
            AdministrationStatus.values,
        ),
        _number("score", "Total score", "The measure's sum or mean of the answers in force."),
        _nominal("band", "Severity band of the total", "As the measure file defines its bands."),
        _number("answered", "Items answered", "", "integer"),
        _flag("prorated", "Total prorated for missing answers"),
        _flag(
            "amended", "Answers corrected after they were given", "The corrected ones are shown."
        ),
        _flag(
            "critical",
            "Critical item endorsed",
            "Empty where a critical item was left unanswered (never read as no risk).",
        ),
        _number("baseline", "The episode's first score on this measure and rater"),
        _number("change", "Score minus baseline"),
        _number("rci", "Reliable change index of baseline to this score"),
        _nominal("reliable_change", "Reliable change since baseline", categories=RELIABLE),
        _number("expected", "Expected score at this session (the practice's expected course)"),
        _number("expected_low", "Lower edge of the expected band"),
        _number("expected_high", "Upper edge of the expected band"),
        _nominal("signal", "Progress signal", categories=[str(s) for s in Signal]),
        _flag("rupture", "Alliance rupture begins at this session"),
        _flag("repair", "Alliance rupture repaired at this session"),
        _nominal("rupture_subscale", "Subscale that drove the rupture"),
        _number("discrepancy", "Client's minus clinician's rating of the same session"),
        _nominal(
            "risk_flags",
            "Dropout-risk indicators met",
            "Separated by ';' (docs/dropout.md).",
        ),
        _number("dropout_risk", "Probability of dropout (the practice's dropout model)"),
    )


FEEDBACK = (
    "baseline",
    "change",
    "rci",
    "reliable_change",
    "expected",
    "expected_low",
    "expected_high",
    "signal",
    "rupture",
    "repair",
    "rupture_subscale",
    "discrepancy",
    "risk_flags",
    "dropout_risk",
)
"""The stored feedback (`SessionFeedback`) of each scored administration, as `ally analyze`
names its columns (docs/formats.md)."""


def _measures_in(measure_ids: Iterable[str]) -> list[Measure]:
    library = measures.library()
    known = []
    for measure_id in sorted(set(measure_ids)):
        try:
            known.append(library.get(measure_id))
        except KeyError:
            continue
    return known


def _day_of(a: Administration) -> dt.date | None:
    if a.session_id is not None:
        return timezone.localdate(a.session.scheduled_at)
    moment = a.completed_at or a.expired_at or a.created_at
    return timezone.localdate(moment) if moment is not None else None


def _blank(value: Any) -> Any:
    return None if value == "" else value


def administrations(export: Export) -> Table:
    """One row per administration: ids, session, date, measure, rater, the answers in force as
    item columns, the total, subscales and band, and the stored feedback."""
    org = export.organisation
    forms = list(
        Administration.objects.filter(episode__organisation=org)
        .select_related("session", "episode", "response")
        .order_by("pk")
    )
    # The clients' data keys, read in a few queries, open the answers.
    keys = KeyRing({a.episode.client_id for a in forms})
    latest: dict[int, Amendment] = {}
    for amendment in Amendment.objects.filter(
        response__administration__episode__organisation=org
    ).order_by("amended_at", "pk"):
        latest[amendment.response_id] = amendment
    feedback = {
        (f["episode_id"], f["measure_id"], f["rater"], f["session_number"]): f
        for f in SessionFeedback.objects.filter(episode__organisation=org).values()
    }
    known = _measures_in(a.measure_id for a in forms)
    by_id = {m.id: measure_variables(m) for m in known}
    rows = []
    for a in forms:
        episode = a.episode
        number = a.session.number if a.session_id is not None else None
        row: Row = {
            "client": export.clients(episode.client_id),
            "episode": export.episodes(episode.pk),
            "clinician": export.clinicians(episode.clinician_id),
            "group": export.groups(a.session.group_id)
            if a.session_id is not None and a.session.group_id is not None
            else None,
            "session": number,
            **export.when(episode.client_id, _day_of(a), "date"),
            "measure": a.measure_id,
            "measure_version": a.measure_version,
            "rater": a.respondent,
            "timing": _blank(a.timing),
            "status": a.status,
        }
        response = getattr(a, "response", None)
        if response is not None:
            amendment = latest.get(response.pk)
            scored = amendment or response
            row |= {
                "score": scored.total,
                "band": _blank(scored.band),
                "answered": scored.answered,
                "prorated": scored.prorated,
                "amended": amendment is not None,
                "critical": scored.critical,
            }
            answers = scored.open_answers(keys.key(episode.client_id))
            for variable in by_id.get(a.measure_id, ()):
                if variable.item is not None:
                    row[variable.name] = answers.get(str(variable.item))
                else:
                    row[variable.name] = scored.subscales.get(variable.subscale)
            found = feedback.get((episode.pk, a.measure_id, a.respondent, number))
            if found is not None:
                row |= {name: _blank(found[name]) for name in FEEDBACK}
        rows.append(row)
    rows.sort(
        key=lambda r: (r["client"], r["episode"], r["session"] or 0, r["measure"], r["rater"])
    )
    variables = administration_variables(export.dates) + tuple(
        v for m in known for v in by_id[m.id]
    )
    return Table(
        "administrations",
        "Administrations",
        "One row per measure given: who answered, when, the answers in force (item columns "
        "<measure>_<item>), the total, subscales and band, and the feedback Ally showed.",
        variables,
        rows,
    )


def episode_variables(dates: DateProfile) -> tuple[Variable, ...]:
    return (
        *IDS,
        *time_variables(dates, "opened", "the episode's opening"),
        *time_variables(dates, "ended", "the episode's ending"),
        _number("length_days", "Days from opening to ending", "", "integer"),
        _nominal("ending", "How the episode ended", categories=ENDINGS),
        _number("sessions_attended", "Sessions attended", "", "integer"),
        _number("sessions_missed", "Sessions missed", "", "integer"),
        _number("sessions_cancelled", "Sessions cancelled", "", "integer"),
        _nominal("measure", "Measure id", "Empty on the one row of an episode with no scores."),
        _nominal("rater", "Who answered", categories=RATERS),
        _number("administrations", "Scored administrations of this measure", "", "integer"),
        _number("first_session", "Session of the first score (pre)", "", "integer"),
        _number("last_session", "Session of the last score (post)", "", "integer"),
        _number("first_score", "First score (pre)"),
        _number("last_score", "Last score (post)"),
        _number("mean_score", "Mean of the episode's scores"),
        _number("change", "Last minus first score"),
        _number("rci", "Reliable change index, pre to post"),
        _nominal("reliable_change", "Reliable change, pre to post", categories=RELIABLE),
        _nominal(
            "category",
            "Outcome category (Jacobson & Truax 1991)",
            "Empty where the measure has no cut-off or pre or post is missing.",
            [str(c) for c in Category],
        ),
        _number("sudden_gains", "Sudden gains", "", "integer"),
        _number("sudden_losses", "Sudden losses", "", "integer"),
        _number("ruptures", "Alliance ruptures", "Alliance measures only.", "integer"),
        _number("repairs", "Alliance ruptures repaired", "Alliance measures only.", "integer"),
        _number(
            "unrepaired", "Alliance ruptures not repaired", "Alliance measures only.", "integer"
        ),
        _nominal(
            "talking_therapies",
            "NHS Talking Therapies outcome (PHQ-9 and GAD-7)",
            categories=TALKING_THERAPIES,
        ),
    )


ALLIANCE_KINDS = frozenset({Kind.ALLIANCE, Kind.GROUP_ALLIANCE})


def episodes(export: Export) -> Table:
    """One row per episode, measure and rater (as `ally analyze`'s episodes output), with the
    episode's dates, length, ending and attendance on each."""
    org = export.organisation
    attendance: Counter[tuple[int, str]] = Counter(
        Session.objects.filter(organisation=org, episode__isnull=False).values_list(
            "episode_id", "status"
        )
    )
    means: dict[tuple[int, str, str], list[float]] = {}
    for episode_id, measure_id, rater, score in SessionFeedback.objects.filter(
        episode__organisation=org
    ).values_list("episode_id", "measure_id", "rater", "score"):
        means.setdefault((episode_id, measure_id, rater), []).append(score)
    by_episode: dict[int, list[EpisodeFeedback]] = {}
    for found in EpisodeFeedback.objects.filter(episode__organisation=org):
        by_episode.setdefault(found.episode_id, []).append(found)
    kinds = {m.id: m.kind for m in measures.library()}
    rows = []
    for episode in Episode.objects.filter(organisation=org).order_by("pk"):
        ended = episode.ended_on
        base: Row = {
            "client": export.clients(episode.client_id),
            "episode": export.episodes(episode.pk),
            "clinician": export.clinicians(episode.clinician_id),
            **export.when(episode.client_id, episode.opened_on, "opened"),
            **export.when(episode.client_id, ended, "ended"),
            "length_days": (ended - episode.opened_on).days if ended is not None else None,
            "ending": episode.end_reason if ended is not None else "ongoing",
            "sessions_attended": attendance[(episode.pk, str(SessionStatus.ATTENDED))],
            "sessions_missed": attendance[(episode.pk, str(SessionStatus.MISSED))],
            "sessions_cancelled": attendance[(episode.pk, str(SessionStatus.CANCELLED))],
        }
        found_rows = by_episode.get(episode.pk, [])
        if not found_rows:
            rows.append(base)
        for f in found_rows:
            scores = means.get((episode.pk, f.measure_id, f.rater), [])
            alliance = kinds.get(f.measure_id) in ALLIANCE_KINDS
            rows.append(
                base
                | {
                    "measure": f.measure_id,
                    "rater": f.rater,
                    "administrations": f.sessions,
                    "first_session": f.first_session,
                    "last_session": f.last_session,
                    "first_score": f.first_score,
                    "last_score": f.last_score,
                    "mean_score": sum(scores) / len(scores) if scores else None,
                    "change": f.change,
                    "rci": f.rci,
                    "reliable_change": _blank(f.reliable_change),
                    "category": _blank(f.category),
                    "sudden_gains": f.sudden_gains,
                    "sudden_losses": f.sudden_losses,
                    "ruptures": f.ruptures if alliance else None,
                    "repairs": f.repairs if alliance else None,
                    "unrepaired": f.unrepaired if alliance else None,
                    "talking_therapies": _blank(f.talking_therapies),
                }
            )
    rows.sort(
        key=lambda r: (r["client"], r["episode"], r.get("measure") or "", r.get("rater") or "")
    )
    return Table(
        "episodes",
        "Episodes",
        "One row per episode, measure and rater: pre and post scores, reliable change, outcome "
        "category, sudden gains, alliance ruptures, with the episode's ending and attendance.",
        episode_variables(export.dates),
        rows,
    )


TableFunction = Callable[[Export], Table]

TABLES: tuple[TableFunction, ...] = (administrations, episodes)
"""The data tables of every export, in order. Goals and groups add one function each."""

COACHING_LABELS = {
    "Episode of care (pseudonym)": "Coaching engagement (pseudonym)",
    "Clinician of the episode (pseudonym)": "Coach of the engagement (pseudonym)",
    "Client's minus clinician's rating of the same session": (
        "Client's minus coach's rating of the same session"
    ),
    "NHS Talking Therapies outcome (PHQ-9 and GAD-7)": (
        "NHS recovery classification of the PHQ-9 and GAD-7 (empty without them)"
    ),
}
"""The labels a coaching practice's export gives its columns (issue 14). Column names and
category codes stay as they are (`clinician`, `episode`, `talking_therapies`, the rater
`clinician`): they are the export format's, the same for every practice."""


def in_practice_labels(table: Table, organisation: Organisation) -> Table:
    """The table with its columns' labels in the practice's words."""
    if words_of(organisation) == THERAPY:
        return table
    variables = tuple(
        replace(v, label=COACHING_LABELS.get(v.label, v.label)) for v in table.variables
    )
    return replace(table, variables=variables)


# The summary: counts with small cells suppressed --------------------------------------------


SUMMARY_VARIABLES = (
    _nominal("table", "Table the count is taken from"),
    _nominal("variable", "Variable counted"),
    _nominal("value", "Value counted", "Empty for the count of all rows."),
    _nominal("label", "What the value means"),
    _number("count", "Number of rows", "Empty where suppressed.", "integer"),
    _number(
        "clients", "Number of distinct clients among them", "Empty where suppressed.", "integer"
    ),
    _flag(
        "suppressed",
        "Suppressed: a count below the minimum cell size, or one that would give it away",
    ),
)

COUNTED = frozenset(
    {
        "measure",
        "rater",
        "status",
        "band",
        "reliable_change",
        "signal",
        "category",
        "ending",
        "talking_therapies",
    }
)
"""The categorical variables counted in the summary, besides answer options of items."""


def summary(tables: Sequence[Table], min_cell: int) -> Table:
    """Frequencies of the categorical variables and answer options of every data table, each
    with its count of rows and of clients, suppressed below `min_cell` (`suppress_counts`)."""
    rows: list[Row] = []
    for table in tables:
        for variable in table.variables:
            if variable.name not in COUNTED and not variable.value_labels:
                continue
            rows_by: Counter[Any] = Counter()
            clients_by: dict[Any, set[str]] = {}
            for row in table.rows:
                value = row.get(variable.name)
                if value is None:
                    continue
                rows_by[value] += 1
                clients_by.setdefault(value, set()).add(row["client"])
            labels = dict(variable.value_labels)
            shown = suppress_counts(dict(rows_by), min_cell)
            people = suppress_counts({k: len(v) for k, v in clients_by.items()}, min_cell)
            for value in sorted(rows_by, key=str):
                hidden = shown[value] is None or people[value] is None
                rows.append(
                    {
                        "table": table.name,
                        "variable": variable.name,
                        "value": _plain(value),
                        "label": labels.get(value),
                        "count": None if hidden else shown[value],
                        "clients": None if hidden else people[value],
                        "suppressed": hidden,
                    }
                )
    return Table(
        "summary",
        "Summary counts",
        f"Counts of each value of the categorical variables; counts from 1 to {min_cell - 1} "
        "are suppressed, and where one count alone would be, the next smallest with it.",
        SUMMARY_VARIABLES,
        rows,
    )


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
