"""What to explore next when a signal or an alert asks for it: decision support, not a colour.

One definition per situation, as data: the screens show the steps next to the alert and offer
them as ticks in the "acted on" form, so the record of what was done uses the same words.

Sources (SPECS = ../shared/science/SPECS.md):
- Not on track, red and yellow (SPECS 3 and 8): feedback helps most when not-on-track cases get
  clinical support tools (Barkham et al. 2023, Psychother Res 33:841-855; Lambert, Whipple &
  Kleinstäuber 2018, Psychotherapy 55:520-537). The OQ-Analyst's Assessment for Signal Clients
  asks about the alliance, motivation, social support and life events, and a decision tree
  follows a yellow or red signal (SPECS 8); reviewing goals and the fit of the tasks, a change of
  approach or intensity and a risk check complete the list. Therapists rarely see deterioration
  coming on their own (Hannan et al. 2005, J Clin Psychol 61:155-163; SPECS 3).
- Ruptures (SPECS 4): a drop of 15% or more from the previous session (Strauss et al. 2006,
  JCCP 74:337-345); repair goes with better outcome (Eubanks, Muran & Safran 2018,
  Psychotherapy 55:508-519, r = .29) and unrepaired ruptures with worse (McLaughlin et al. 2014,
  JCCP 82:112-121). Addressing it openly, metacommunication and validating the client's view
  follow Safran & Muran's rupture-resolution model (Negotiating the Therapeutic Alliance, 2000;
  recalled, not re-checked in SPECS). The bond, goals and tasks are Bordin's (1979) parts of the
  alliance that Ally's check-in and the WAI-SR score separately (docs/alliance.md).
- Dropout risk (SPECS 5; docs/dropout.md): a weak or falling alliance predicts dropout (Sharf,
  Primavera & Diener 2010); OpenFIT's rules flag a low or falling SRS (SPECS 8).
- Critical items: the measure's own rule (e.g. PHQ-9 item 9); Norse Feedback asks about
  suicidality at every administration (SPECS 8). The practice's own risk protocol comes first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import formats
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ally.web.alerts.models import AlertKind
from ally.web.clinic.labels import SUBSCALE_WORDS as SUBSCALE_NAMES


@dataclass(frozen=True)
class Step:
    """One thing to explore or do: the suggestion, and the short words that record it."""

    key: str
    text: Promise
    done: Promise
    """How the "acted on" record names it, e.g. "Reviewed the goals"."""


@dataclass(frozen=True)
class Guidance:
    key: str
    title: Promise
    summary: Promise
    steps: tuple[Step, ...]
    sources: Promise


# --- not on track (SPECS 3 and 8) -------------------------------------------------------------

GOALS = Step(
    "goals",
    _(
        "Review the goals together: are they still what the client wants, and do the tasks of "
        "your work fit them?"
    ),
    _("Reviewed the goals and the fit of the tasks"),
)
ALLIANCE = Step(
    "alliance",
    _(
        "Check the working relationship: ask how the sessions feel to the client, and look at "
        "the alliance ratings on this page."
    ),
    _("Checked the alliance"),
)
SOCIAL_SUPPORT = Step(
    "social_support",
    _(
        "Ask about the people around the client: who they can turn to, and who supports or "
        "hinders the changes they are making."
    ),
    _("Asked about social support"),
)
LIFE_EVENTS = Step(
    "life_events",
    _(
        "Ask about recent events and stresses outside the sessions: a loss, a conflict, money, "
        "work, health or family."
    ),
    _("Asked about life events and stresses"),
)
MOTIVATION = Step(
    "motivation",
    _(
        "Explore motivation and readiness for change: what the client wants now, and what gets "
        "in the way."
    ),
    _("Explored motivation and readiness"),
)
APPROACH = Step(
    "approach",
    _(
        "Consider a change of approach or intensity: more frequent sessions, another method, a "
        "consultation with a colleague or supervisor, or a referral."
    ),
    _("Considered a change of approach or intensity"),
)
RISK = Step(
    "risk",
    _("Check risk: ask about thoughts of self-harm or suicide, and review the safety plan."),
    _("Checked risk"),
)
# The Clinical Support Tools' decision tree looks at the alliance first, then motivation, then
# social support and life events, then the case formulation and a referral (Whipple et al. 2003,
# J Couns Psychol 50:59-68; Lambert 2015, Psychotherapy 52:381-390): the order when nothing is
# known about the client yet. `follow_the_client` reorders it by what the client reports.
NOT_ON_TRACK_STEPS = (ALLIANCE, GOALS, MOTIVATION, SOCIAL_SUPPORT, LIFE_EVENTS, APPROACH, RISK)
NOT_ON_TRACK_SOURCES = _(
    "Based on Lambert's signal system and its support tools (SPECS 3 and 8; Barkham et al. 2023)."
)

NOT_ON_TRACK = Guidance(
    "not_on_track",
    _("Not on track: what to explore next"),
    _(
        "The latest score is off the course expected for clients who started like this one. "
        "Clients who are not on track are the ones feedback helps most, when the signal is "
        "followed up. Talk about it with the client at the next session."
    ),
    NOT_ON_TRACK_STEPS,
    NOT_ON_TRACK_SOURCES,
)

LESS_PROGRESS = Guidance(
    "less_progress",
    _("Less progress than expected: worth a look"),
    _(
        "The latest score is behind the expected course, but still inside the band of similar "
        "clients. Nothing urgent; these questions help to catch a slowing course early."
    ),
    NOT_ON_TRACK_STEPS,
    NOT_ON_TRACK_SOURCES,
)


# --- alliance ruptures (SPECS 4) --------------------------------------------------------------

SUBSCALE_STEPS: dict[str, Promise] = {
    "bond": _(
        "The bond fell most: ask whether the client felt heard, understood and respected in the "
        "last session."
    ),
    "goals": _(
        "Agreement on goals fell most: check whether you are working on what the client wants "
        "to change."
    ),
    "tasks": _(
        "Agreement on tasks fell most: ask whether the way you work in the sessions makes sense "
        "to the client and helps."
    ),
}
ANY_SUBSCALE = _(
    "Ask which part felt least right: the relationship (bond), what you work on (goals) or how "
    "you work (tasks)."
)

RUPTURE = Guidance(
    "rupture",
    _("Alliance rupture: what to explore next"),
    _(
        "The client's alliance rating fell by 15% or more from the previous session. Ruptures "
        "are common; repaired ones go with better outcomes, and unrepaired ones with worse."
    ),
    (
        Step(
            "address",
            _(
                "Raise it openly at the next session: say you noticed the rating fell and that "
                "you would like to understand it, without defending yourself."
            ),
            _("Raised the rupture openly"),
        ),
        Step(
            "metacommunicate",
            _(
                "Talk about what happens between you: how the last session felt, and whether "
                "there was a moment when something did not fit."
            ),
            _("Talked about what happens between us"),
        ),
        Step("subscale", ANY_SUBSCALE, _("Explored the part of the alliance that fell")),
        Step(
            "repair",
            _(
                "Validate the client's view, take your share of what happened, and agree "
                "together what to change."
            ),
            _("Validated the client's view and agreed what to change"),
        ),
        Step(
            "follow_up",
            _(
                "Look at the next rating: back near its earlier level means the rupture was "
                "repaired."
            ),
            _("Planned to check the next rating"),
        ),
    ),
    _("Based on Strauss et al. 2006, Eubanks, Muran & Safran 2018 and Safran & Muran (SPECS 4)."),
)


# --- dropout risk (SPECS 5) and critical items ------------------------------------------------

DROPOUT = Guidance(
    "dropout",
    _("High dropout risk: what to explore next"),
    _(
        "Clients like this one more often stop coming without a planned ending. A short "
        "check-in about how the sessions fit often keeps the work going."
    ),
    (
        Step(
            "fit",
            _("Ask how the sessions fit: their pace, their content and their timing."),
            _("Asked how the sessions fit"),
        ),
        ALLIANCE,
        Step(
            "barriers",
            _("Ask about practical barriers: time, travel, money, childcare, work."),
            _("Asked about practical barriers"),
        ),
        Step(
            "ending",
            _(
                "Talk about how and when the work should end, so that an ending can be planned "
                "together rather than happen by default."
            ),
            _("Talked about planning the ending"),
        ),
        Step(
            "reach_out",
            _("After a missed session, reach out to the client soon."),
            _("Reached out after a missed session"),
        ),
    ),
    _("Based on Swift & Greenberg 2012 and Sharf et al. 2010 (SPECS 5 and 8)."),
)

CRITICAL = Guidance(
    "critical",
    _("Critical item: act today"),
    _(
        "The client endorsed a question about risk, or left it unanswered. Follow your "
        "practice's risk protocol first."
    ),
    (
        Step(
            "contact",
            _("If the answer was given outside a session, contact the client today."),
            _("Contacted the client"),
        ),
        Step(
            "assess",
            _("Ask about it directly and assess the risk."),
            _("Assessed the risk"),
        ),
        Step(
            "safety_plan",
            _("Review the safety plan and the crisis contacts with the client."),
            _("Reviewed the safety plan"),
        ),
        Step(
            "consult",
            _("Consult a colleague or supervisor and record what was decided."),
            _("Consulted a colleague or supervisor"),
        ),
    ),
    _("Critical items are set by each measure, such as PHQ-9 item 9 (SPECS 8)."),
)

BY_ALERT: dict[Any, Guidance] = {  # keys: AlertKind (see labels.Words)
    AlertKind.CRITICAL_ITEM: CRITICAL,
    AlertKind.CRITICAL_UNANSWERED: CRITICAL,
    AlertKind.SIGNAL_RED: NOT_ON_TRACK,
    AlertKind.RUPTURE: RUPTURE,
    AlertKind.DROPOUT_RISK: DROPOUT,
}

BY_SIGNAL: dict[str, Guidance] = {"red": NOT_ON_TRACK, "yellow": LESS_PROGRESS}


def by_key(key: str) -> Guidance | None:
    """The guidance with this key (as UsedSuggestion stores it)."""
    found = {g.key: g for g in (*BY_ALERT.values(), *BY_SIGNAL.values())}
    return found.get(key)


def step_done(guidance_key: str, step_key: str) -> str:
    """How a used suggestion is recorded, in the reader's language ("Asked about social
    support"), or its key when the guidance no longer has it."""
    found = by_key(guidance_key)
    for step in found.steps if found else ():
        if step.key == step_key:
            return str(step.done)
    return step_key


def for_alert(kind: str) -> Guidance | None:
    return BY_ALERT.get(kind)


def for_signal(signal: str) -> Guidance | None:
    return BY_SIGNAL.get(signal)


def step_text(step: Step, rupture_subscale: str = "") -> str:
    """The step's suggestion; for a rupture, pointed at the subscale that fell most."""
    if step.key == "subscale" and rupture_subscale in SUBSCALE_STEPS:
        return str(SUBSCALE_STEPS[rupture_subscale])
    return str(step.text)


def record_of(guidance: Guidance | None, done: list[str], note: str) -> str:
    """The alert's action note: the steps ticked, in the guidance's words, then the note."""
    if guidance is None:
        return note.strip()
    ticked = [str(step.done) for step in guidance.steps if step.key in done]
    if not ticked:
        return note.strip()
    return f"{'; '.join(ticked)}.\n{note.strip()}"


# --- decision support that follows the client -------------------------------------------------

FOLLOWS_THE_CLIENT = frozenset({NOT_ON_TRACK.key, LESS_PROGRESS.key})
"""The guidance whose suggestions are ordered by the support check and the alliance parts."""

CHECK_DOMAINS: dict[str, str] = {
    "alliance": ALLIANCE.key,
    "motivation": MOTIVATION.key,
    "social_support": SOCIAL_SUPPORT.key,
    "life_events": LIFE_EVENTS.key,
}
"""The support check's domains (ally-support.yaml) and the suggestion each speaks to."""

ALLIANCE_PARTS: dict[str, str] = {"bond": ALLIANCE.key, "goals": GOALS.key, "tasks": GOALS.key}
"""Bordin's parts of the alliance and the suggestion each speaks to."""


@dataclass(frozen=True)
class CheckResult:
    """An answered support check as the guidance reads it: each domain's score (0-4, higher
    means fewer difficulties), its name, and whether it is a concern by the measure's rule."""

    answered_on: dt.date
    scores: Mapping[str, float]
    names: Mapping[str, str]
    concerns: frozenset[str]


@dataclass(frozen=True)
class CheckState:
    """Where the episode's latest support check stands: not sent, sent and open, or answered."""

    sent_on: dt.date | None = None
    answered: CheckResult | None = None
    expired: bool = False


@dataclass(frozen=True)
class PartsNow:
    """The client's latest and previous ratings of bond, goals and tasks on one alliance
    measure, and the part the practice model's rupture rule names at the latest (or "")."""

    measure: str
    session: int
    latest: Mapping[str, float]
    previous: Mapping[str, float]
    ruptured: str = ""


@dataclass(frozen=True)
class Suggestion:
    """A step in the place the client's answers give it, with why it is there."""

    step: Step
    text: str
    reasons: tuple[str, ...]
    position: int


# Groups, most pressing first; within a group the lower score or the larger fall comes first.
_CONCERN, _RUPTURE, _FELL, _UNKNOWN, _FINE = range(5)


def _day(day: dt.date) -> str:
    return formats.date_format(day, "DATE_FORMAT")


def _evidence(check: CheckState, parts: PartsNow | None) -> dict[str, list[tuple[int, float, str]]]:
    """For each step: (group, rank within the group, reason) of everything that speaks to it."""
    found: dict[str, list[tuple[int, float, str]]] = {}
    result = check.answered
    if result is not None:
        for domain, step in CHECK_DOMAINS.items():
            value = result.scores.get(domain)
            if value is None:
                continue
            said = {
                "domain": result.names.get(domain, domain),
                "date": _day(result.answered_on),
                "score": formats.number_format(round(value, 1), decimal_pos=1),
            }
            if domain in result.concerns:
                reason = gettext(
                    "%(domain)s was low in the support check on %(date)s (%(score)s of 4)."
                )
                found.setdefault(step, []).append((_CONCERN, value, reason % said))
            else:
                reason = gettext("%(domain)s was no concern in the support check on %(date)s.")
                found.setdefault(step, []).append((_FINE, 0.0, reason % said))
    if parts is not None:
        for part, step in ALLIANCE_PARTS.items():
            now, before = parts.latest.get(part), parts.previous.get(part)
            if now is None or before is None or now >= before:
                continue
            said = {
                "part": str(SUBSCALE_NAMES.get(part, part)),
                "before": formats.number_format(f"{before:g}"),
                "now": formats.number_format(f"{now:g}"),
                "session": parts.session,
                "measure": parts.measure,
            }
            if part == parts.ruptured:
                reason = gettext(
                    "%(part)s fell from %(before)s to %(now)s at session %(session)s "
                    "(%(measure)s): a rupture."
                )
                found.setdefault(step, []).append((_RUPTURE, now - before, reason % said))
            else:
                reason = gettext(
                    "%(part)s fell from %(before)s to %(now)s at session %(session)s (%(measure)s)."
                )
                fall = (now - before) / before if before else now - before
                found.setdefault(step, []).append((_FELL, fall, reason % said))
    return found


def follow_the_client(
    guidance: Guidance, check: CheckState, parts: PartsNow | None
) -> list[Suggestion]:
    """The guidance's steps ordered by what the client reported: a domain the support check
    found low first (the lowest first), then a part of the alliance that ruptured or fell, then
    the steps nothing speaks to in the decision tree's order, and last the domains the check
    found no concern in. Each says why it is where it is."""
    if guidance.key not in FOLLOWS_THE_CLIENT:
        return [
            Suggestion(step, step_text(step), (), i) for i, step in enumerate(guidance.steps, 1)
        ]
    found = _evidence(check, parts)

    def place(item: tuple[int, Step]) -> tuple[int, float, int]:
        order, step = item
        said = found.get(step.key)
        if not said:
            return (_UNKNOWN, 0.0, order)
        group, rank, _reason = min(said)
        return (group, rank, order)

    ordered = sorted(enumerate(guidance.steps), key=place)
    suggestions = []
    for position, (_order, step) in enumerate(ordered, 1):
        reasons = tuple(reason for _g, _r, reason in sorted(found.get(step.key, [])))
        suggestions.append(Suggestion(step, step_text(step), reasons, position))
    return suggestions


def check_note(check: CheckState, parts: PartsNow | None) -> str:
    """One line on what the order rests on: the support check's state and the alliance."""
    if check.answered is not None:
        return gettext(
            "Ordered by the support check the client answered on %(date)s and by the alliance "
            "ratings."
        ) % {"date": _day(check.answered.answered_on)}
    alliance = (
        gettext("ordered by the alliance ratings")
        if parts is not None
        else gettext("in the usual order, as there are no alliance ratings yet")
    )
    if check.sent_on is not None and not check.expired:
        return gettext(
            "The support check was sent on %(date)s and is not answered yet: suggestions %(how)s."
        ) % {"date": _day(check.sent_on), "how": alliance}
    if check.expired:
        return gettext(
            "The support check sent on %(date)s expired unanswered: suggestions %(how)s."
        ) % {"date": _day(check.sent_on) if check.sent_on else "", "how": alliance}
    return gettext("No support check has been sent: suggestions %(how)s.") % {"how": alliance}
