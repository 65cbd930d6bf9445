"""A practice's words: a coaching practice speaks of coaches, clients (or coachees), coaching
engagements, sessions and goals, never of patients, symptoms, therapy or clinicians.

One definition: `COACHING` maps each therapy-worded message of Ally (its English msgid) to the
coaching practice's message, and `COACHEE` maps the messages that name the client to their
"coachee" form. While a request is for a coaching practice (`speak_as`, called by the staff
side's door `member_view` and by the client's pages), every message Ally translates, in
templates, forms, emails and export headers alike, is looked up in its coaching form first and
then translated as usual; the German catalogue translates both forms. Templates stay as they
are: a new therapy-worded message needs one line here (and the test over a coaching practice's
pages finds the ones missing).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_noop as _

THERAPY = "therapy"
COACHING_CLIENT = "coaching"
COACHING_COACHEE = "coaching-coachee"

_words: contextvars.ContextVar[str] = contextvars.ContextVar("ally_practice_words", default=THERAPY)

COACHING: dict[str, str] = {
    # Roles and people
    "Clinician": _("Coach"),
    "clinician": _("coach"),
    "All clinicians": _("All coaches"),
    "Clinician (for one caseload)": _("Coach (for one caseload)"),
    "One clinician's caseload": _("One coach's caseload"),
    "co-therapist": _("co-coach"),
    "psychiatrist": _("specialist"),
    "Clinician's total": _("Coach's total"),
    "Clinician's ratings": _("Coach's ratings"),
    "clinician %(score)s": _("coach %(score)s"),
    "Discrepancy (client − clinician)": _("Discrepancy (client − coach)"),
    "Episodes per clinician": _("Engagements per coach"),
    "Alerts per clinician": _("Alerts per coach"),
    "Alliance per clinician": _("Alliance per coach"),
    "From %(start)s to %(end)s, for every clinician.": _(
        "From %(start)s to %(end)s, for every coach."
    ),
    "That clinician is not in this practice; choose one from the list.": _(
        "That coach is not in this practice; choose one from the list."
    ),
    "Choose the whole practice or one clinician's caseload.": _(
        "Choose the whole practice or one coach's caseload."
    ),
    "Only an active clinician or supervisor holds a caseload; choose one of them.": _(
        "Only an active coach or supervisor holds a caseload; choose one of them."
    ),
    "Choose an active clinician, supervisor or administrator of this practice.": _(
        "Choose an active coach, supervisor or administrator of this practice."
    ),
    "This member is the episode's assigned clinician already.": _(
        "This member is the engagement's coach already."
    ),
    "One clinician's caseload reaches only that clinician's episodes and those whose care team "
    "they are in.": _(
        "One coach's caseload reaches only that coach's engagements and those whose team they "
        "are in."
    ),
    "sees nothing: its clinician is no longer an active member": _(
        "sees nothing: its coach is no longer an active member"
    ),
    "The clinician responsible for this episode.": _("The coach responsible for this engagement."),
    "Clinician: your own rating of the session, e.g. of the alliance.": _(
        "Coach: your own rating of the session, e.g. of the alliance."
    ),
    "In their list of alerts and its count. The assigned clinician always does.": _(
        "In their list of alerts and its count. The engagement's coach always does."
    ),
    "%(name)s by session, rated by the client (solid line) and the clinician (dashed line).": _(
        "%(name)s by session, rated by the client (solid line) and the coach (dashed line)."
    ),
    "Care-team members see this episode as the assigned clinician does, including the client's "
    "name and answers.": _(
        "Team members see this engagement as its coach does, including the client's name and "
        "answers."
    ),
    "%(name)s by session: the total rated by the client (solid line) and by the clinician "
    "(dashed line), with a downward triangle where a rupture began and an upward triangle where "
    "it was repaired; below, the client's bond, goals and tasks scores.": _(
        "%(name)s by session: the total rated by the client (solid line) and by the coach "
        "(dashed line), with a downward triangle where a rupture began and an upward triangle "
        "where it was repaired; below, the client's scores."
    ),
    "A common start: an outcome measure such as the PHQ-9 by the client before every session, "
    "and an alliance check-in by the client after every session. Add the same alliance measure "
    "answered by the clinician to compare the two views.": _(
        "A common start for coaching: the WHO-5 by the client before every session, goal "
        "progress, and the coaching alliance check-in by the client after every session."
    ),
    "Alerts tell your clinician when an answer needs their attention soon, such as thoughts of "
    "harming yourself.": _("Alerts tell your coach when an answer needs their attention soon."),
    "Clients, episodes and clinicians appear under random pseudonyms, new in every export: two "
    "exports cannot be linked, and nothing leads back to Ally's records.": _(
        "Clients, engagements and coaches appear under random pseudonyms, new in every export: "
        "two exports cannot be linked, and nothing leads back to Ally's records."
    ),
    "Therapy or counselling": _("Counselling or psychological care"),
    "Choose whether this is a therapy or a coaching practice.": _(
        "Choose what kind of practice this is."
    ),
    # Episodes are coaching engagements
    "Episode": _("Engagement"),
    "episode": _("engagement"),
    "Episodes": _("Engagements"),
    "Care team": _("Team"),
    "Add to the care team": _("Add to the team"),
    "Care team of client %(code)s": _("Team of client %(code)s"),
    "%(member)s is off the care team.": _("%(member)s is off the team."),
    "This member is in the care team already.": _("This member is in the team already."),
    "They receive this episode's alerts": _("They receive this engagement's alerts"),
    "New episode": _("New engagement"),
    "End the episode": _("End the engagement"),
    "Open episodes": _("Open engagements"),
    "fewer than %(n)d episodes": _("fewer than %(n)d engagements"),
    # Endings: the end of an engagement and the client's review of it
    "This form is not an end-of-therapy review.": _(
        "This form is not an end-of-engagement review."
    ),
    "Overall, how have things changed for you since therapy began?": _(
        "Overall, how have things changed for you since the coaching began?"
    ),
    "What will you keep doing now that therapy has ended?": _(
        "What will you keep doing now that the coaching has ended?"
    ),
    "Sent once, some weeks after the ending, by the usual link. Shown on the client page as a "
    "follow-up, apart from the course of therapy.": _(
        "Sent once, some weeks after the ending, by the usual link. Shown on the client page as "
        "a follow-up, apart from the course of the engagement."
    ),
    "Ally's own end-of-therapy review, not a validated questionnaire.": _(
        "Ally's own end-of-engagement review, not a validated questionnaire."
    ),
    "The client has not answered the end-of-therapy review yet.": _(
        "The client has not answered the end-of-engagement review yet."
    ),
    "Follow-up scores are shown here, apart from the course of therapy: they do not change the "
    "episode's outcome.": _(
        "Follow-up scores are shown here, apart from the course of the engagement: they do not "
        "change its outcome."
    ),
    "Follow-up scores beside the end of therapy": _(
        "Follow-up scores beside the end of the engagement"
    ),
    "Looking back on your therapy": _("Looking back on your coaching"),
    "Your therapy at %(practice)s has come to its planned end. These few questions help your "
    "practitioner understand what made a difference for you. Answer in your own words; you can "
    "leave any written answer empty.": _(
        "Your coaching at %(practice)s has come to its planned end. These few questions help "
        "your coach understand what made a difference for you. Answer in your own words; you "
        "can leave any written answer empty."
    ),
    "Who sees your answers: your practitioner and the people who work with them on your care. "
    "Your written answers are kept locked under your own key and are never part of research "
    "data.": _(
        "Who sees your answers: your coach and the people who work with them on your coaching. "
        "Your written answers are kept locked under your own key and are never part of research "
        "data."
    ),
    "The client has been sent the final measures and the end-of-therapy review by the usual "
    "link; they can answer them until %(until)s, though the episode has ended.": _(
        "The client has been sent the final measures and the end-of-engagement review by the "
        "usual link; they can answer them until %(until)s, though the engagement has ended."
    ),
    "The client's end-of-therapy review": _("The client's end-of-engagement review"),
    # The review's own text (measures/definitions/ally-review.yaml), where a page shows it
    "Your therapy has come to its planned end. Looking back over the whole time, how do things "
    "stand for you now?": _(
        "Your coaching has come to its planned end. Looking back over the whole time, how do "
        "things stand for you now?"
    ),
    "Ally end-of-therapy review": _("Ally end-of-engagement review"),
    # Groups
    "Therapy groups: their leaders, members and sessions, and how members rate the leader, the "
    "other members and the group as a whole.": _(
        "Coaching groups: their leaders, members and sessions, and how members rate the leader, "
        "the other members and the group as a whole."
    ),
    # Recordings reviewed by the client and the coach (IPR)
    "Clinician's review": _("Coach's review"),
    "The clinician's marks": _("The coach's marks"),
    "The named event, as the clinician marked it": _("The named event, as the coach marked it"),
    "%(client)s by the client, %(clinician)s by the clinician": _(
        "%(client)s by the client, %(clinician)s by the coach"
    ),
    "Clinician's rating": _("Coach's rating"),
    "Only the episode's clinicians do this.": _("Only the engagement's coaches do this."),
    "The clinician's review is done in the staff pages.": _(
        "The coach's review is done in the staff pages."
    ),
    # A measure whose questions Ally may not ship
    "Clients cannot answer %(name)s: its questions are not installed, as its licence does not "
    "let Ally ship them. Choose a measure under “%(group)s”, or Clinician under "
    "“Who answers” for your own rating from the licensed paper form. A licensed "
    "practice can add the questions (docs/measures.md).": _(
        "Clients cannot answer %(name)s: its questions are not installed, as its licence does "
        "not let Ally ship them. Choose a measure under “%(group)s”, or Coach under "
        "“Who answers” for your own rating from the licensed paper form. A licensed "
        "practice can add the questions (docs/measures.md)."
    ),
}
"""Each therapy-worded message and its coaching form (English msgids, both translated)."""


def ngettext(singular: str, plural: str) -> tuple[str, str]:
    """Marks a coaching plural pair for `makemessages` (xgettext knows the name), untranslated."""
    return singular, plural


# Messages with a plural form, as (singular, plural) pairs: each therapy-worded pair maps to its
# coaching pair. Django looks a plural message up by its pair, so the catalogues carry each
# coaching pair as one plural entry.
_PLURALS: tuple[tuple[tuple[str, str], tuple[str, str]], ...] = (
    (
        ("%(counter)s episode", "%(counter)s episodes"),
        ngettext("%(counter)s engagement", "%(counter)s engagements"),
    ),
    (
        ("%(mean)s (%(n)d episode)", "%(mean)s (%(n)d episodes)"),
        ngettext("%(mean)s (%(n)d engagement)", "%(mean)s (%(n)d engagements)"),
    ),
    (
        (
            "Holds %(counter)s open episode: give it to a colleague.",
            "Holds %(counter)s open episodes: give them to a colleague.",
        ),
        ngettext(
            "Holds %(counter)s open engagement: give it to a colleague.",
            "Holds %(counter)s open engagements: give them to a colleague.",
        ),
    ),
    (
        (
            "Too few ended episodes to test the signals: %(n)s ended episode so far. The test "
            "needs enough later episodes that ended reliably worse, usually a few hundred ended "
            "episodes in all.",
            "Too few ended episodes to test the signals: %(n)s ended episodes so far. The test "
            "needs enough later episodes that ended reliably worse, usually a few hundred ended "
            "episodes in all.",
        ),
        ngettext(
            "Too few ended engagements to test the signals: %(n)s ended engagement so far. The "
            "test needs enough later engagements that ended reliably worse, usually a few "
            "hundred ended engagements in all.",
            "Too few ended engagements to test the signals: %(n)s ended engagements so far. The "
            "test needs enough later engagements that ended reliably worse, usually a few "
            "hundred ended engagements in all.",
        ),
    ),
)
for therapy, coaching in _PLURALS:
    COACHING.update(zip(therapy, coaching, strict=True))

COACHEE: dict[str, str] = {
    "Client": _("Coachee"),
    "client": _("coachee"),
    "Clients": _("Coachees"),
    "New client": _("New coachee"),
    "Back to client %(code)s": _("Back to coachee %(code)s"),
    "Team of client %(code)s": _("Team of coachee %(code)s"),
    "Discrepancy (client − coach)": _("Discrepancy (coachee − coach)"),
}
"""Messages naming the client, in a practice that says "coachee" (after `COACHING`)."""


SYMPTOM_MEASURES = frozenset({"phq9", "gad7", "core10", "oq45"})
"""Measures of symptoms and distress, which a coaching practice's plan does not offer."""


def offers_measure(organisation: Any, measure_id: str) -> bool:
    """Whether the practice's plan page offers the measure (a coaching practice: no symptom
    measures)."""
    return words_of(organisation) == THERAPY or measure_id not in SYMPTOM_MEASURES


def pgettext(context: str, message: str) -> str:
    """Marks `message` for makemessages in `context` (xgettext knows this name); returns it as
    it is."""
    return message


COACHING_CONTEXT = "coaching"
IN_COACHING_CONTEXT: frozenset[str] = frozenset(
    {
        pgettext(
            "coaching",
            "Programs that call Ally's API without a browser: a health record, an "
            "integration, a research script. Each gets an id and a secret, and with them a "
            "token that expires after an hour. A client sees codes and numbers only, never "
            "clients' names or contact details; every call it makes is in the audit log under "
            "its name. Revoke a client the moment it is no longer needed or its secret may be "
            "known to others.",
        ),
        pgettext("coaching", "Added to the care team."),
        pgettext(
            "coaching",
            "The client's alliance rating fell by 15% or more from the previous session. "
            "Ruptures are common; repaired ones go with better outcomes, and unrepaired ones "
            "with worse.",
        ),
        pgettext("coaching", "The care team"),
        pgettext(
            "coaching",
            "This episode ended on %(ended)s: there is no next session. If the alert calls "
            "for it, contact the client directly; otherwise record why no action was taken.",
        ),
        pgettext("coaching", "Outcome"),
        pgettext(
            "coaching",
            "Adds the client and opens their first episode of care. The name and contact "
            "details are kept apart from the code and are never shown to researchers.",
        ),
        pgettext(
            "coaching",
            "Reliable change, cut-offs and the expected course come from the <a "
            'href="%(model_url)s">practice model</a> fitted %(when)s on %(episodes)s '
            "episodes, or from a measure's published values where the practice's history of "
            "it is too short.",
        ),
        pgettext(
            "coaching",
            "A new course of care for a client already known to you. For someone new, add a "
            "new client instead.",
        ),
        pgettext("coaching", "Alliance and outcome"),
        pgettext(
            "coaching",
            "The correlation, over episodes open in the period, of the early alliance (the "
            "mean of the client's alliance scores at sessions 1 to %(early)s) with the "
            "improvement of the outcome from session 1 to its last score after session "
            "%(early)s (a fall in distress counts as improvement). A positive r means that a "
            "better early alliance went with more improvement. The interval is the 95%% "
            "confidence interval (Fisher's z).",
        ),
        pgettext("coaching", "Outcome measure"),
        pgettext(
            "coaching",
            "No episode in this period has both an early alliance score and an outcome score "
            "after the early sessions.",
        ),
        pgettext(
            "coaching",
            "Fitted %(when)s on %(episodes)s episodes and %(administrations)s answered "
            "questionnaires.",
        ),
        pgettext(
            "coaching",
            "A model fitted on %(episodes)s completed episodes (%(dropouts)s dropouts); the "
            "%(chosen)s model had the lower held-out Brier score.",
        ),
        pgettext(
            "coaching",
            "No dropout model yet: the caseload shows risk indicators instead of a "
            "probability until the practice has at least 100 completed episodes with 20 "
            "dropouts.",
        ),
        pgettext(
            "coaching",
            "The practice model was fitted on %(episodes)s episodes and applied to every episode.",
        ),
        pgettext(
            "coaching",
            "What the practice keeps when a client asks for erasure, on which ground (GDPR "
            "Art. 17(3)) and for how long; e.g. clinical records kept for the period the law "
            "of your country requires. Administrators see it when they decide.",
        ),
        pgettext(
            "coaching",
            "A ZIP file with a page the client can read (their details, episodes, "
            "questionnaires with their answers and scores, and alerts) and the same data as "
            "JSON for another service (GDPR Art. 15 and 20). The download is recorded in the "
            "audit log. The file holds the client's name and answers: hand it over securely.",
        ),
        pgettext("coaching", "Episode of care from %(opened)s"),
        pgettext("coaching", "No episodes of care are recorded."),
        pgettext(
            "coaching",
            "A client may ask the practice to erase their data (GDPR Art. 17). The practice "
            "may keep what it must keep, for example clinical records the law requires it to "
            "retain (Art. 17(3)). Write down what the practice keeps, on which ground and for "
            "how long; administrators see it whenever they decide on a request.",
        ),
        pgettext(
            "coaching",
            "Your answers go to your practitioner at %(practice)s and to the people who work "
            "with them on your care. They use them to see how things are going for you and to "
            "adjust your sessions. People at the practice who study how well its care works "
            "may see them without your name. Your answers are not shown to anyone outside the "
            "practice.",
        ),
        pgettext(
            "coaching",
            "Your answers go to your practitioner. The link works until the "
            "questionnaire is answered.",
        ),
        pgettext(
            "coaching",
            "What do you want to get out of our work together? Write up to five goals "
            "in your own words. Your practitioner sees them, and you will be asked "
            "from time to time how far along you are with each.",
        ),
        pgettext(
            "coaching",
            "This questionnaire has changed since your link was made. Ask your "
            "practitioner for a new link.",
        ),
        pgettext(
            "coaching",
            "Your practitioner will see them. There is nothing more to do now, and "
            "you can close this page.",
        ),
        pgettext(
            "coaching",
            "Your practitioner will see them. There is nothing more to do, and you "
            "can close this page.",
        ),
        pgettext("coaching", "Please ask your practitioner for a new one."),
        pgettext("coaching", "If you want to change an answer, tell your practitioner."),
        pgettext(
            "coaching",
            "If you would still like to answer it, please ask your practitioner for a new link.",
        ),
        pgettext("coaching", "If that does not work, ask your practitioner for a new one."),
        pgettext(
            "coaching",
            "To answer a questionnaire, open the link your practitioner sent you, or "
            "scan the code they show you. The link takes you straight to your "
            "questions.",
        ),
        pgettext(
            "coaching",
            "If you have no link, or it does not work, ask your practitioner for a new one.",
        ),
        pgettext(
            "coaching",
            "Thank you for answering honestly. Your practitioner has been told about your answers.",
        ),
        pgettext("coaching", "Nothing has been sent to your practitioner yet."),
        # The client's review of a recording (IPR)
        pgettext(
            "coaching",
            "Choose %(day)s or earlier: your practitioner keeps it no longer than that.",
        ),
        pgettext("coaching", "Your practitioner has finished too; their marks are shown below."),
        pgettext(
            "coaching", "Your practitioner's marks are shown here once they have finished too."
        ),
        pgettext("coaching", "your practitioner"),
        pgettext("coaching", "Review only: my practitioner and I each replay it"),
        pgettext("coaching", "This page opens from the link your practitioner gave you."),
        pgettext(
            "coaching",
            "Your practitioner recorded a session with you. With your consent, you can replay "
            "it here on your own, stop where something mattered to you, and say what was going "
            "on for you at that moment. Your practitioner does the same, separately. Neither of "
            "you sees the other's marks until both of you have finished.",
        ),
        pgettext(
            "coaching",
            "Your marks are then fixed, and your practitioner's are shown once they have "
            "finished too.",
        ),
        pgettext("coaching", "What your practitioner marked"),
        pgettext("coaching", "Your practitioner's marks"),
    }
)
"""Messages whose English suits a coaching practice but whose translation speaks of therapy
(German "Behandlungsepisode" for episode): translated in the "coaching" context instead."""


def words_of(organisation: Any) -> str:
    if getattr(organisation, "kind", THERAPY) != "coaching":
        return THERAPY
    return COACHING_COACHEE if organisation.client_word == "coachee" else COACHING_CLIENT


def speak_as(organisation: Any) -> None:
    """Speak the practice's words for the rest of this request (or command)."""
    _words.set(words_of(organisation))


@contextlib.contextmanager
def in_words_of(organisation: Any) -> Iterator[None]:
    """Speak the practice's words inside the block, then the words spoken before: an email
    composed outside the practice's request (a scheduled job, a command) speaks them too."""
    token = _words.set(words_of(organisation))
    try:
        yield
    finally:
        _words.reset(token)


def in_practice_words(message: str) -> str:
    """The msgid to translate for `message` in the current practice's words."""
    words = _words.get()
    if words == THERAPY:
        return message
    message = COACHING.get(message, message)
    if words == COACHING_COACHEE:
        message = COACHEE.get(message, message)
    return message


def install() -> None:
    """Route Django's translations through `in_practice_words` (once, at start-up)."""
    from django.utils.translation import trans_real

    cls: Any = trans_real.DjangoTranslation
    if getattr(cls, "_ally_words", False):
        return
    gettext, ngettext = cls.gettext, cls.ngettext

    def practice_gettext(self: Any, message: str) -> str:
        message = in_practice_words(message)
        if _words.get() != THERAPY and message in IN_COACHING_CONTEXT:
            # As Django's pgettext: a context the catalogue lacks falls back to the message.
            found = str(gettext(self, f"{COACHING_CONTEXT}\x04{message}"))
            if "\x04" not in found:
                return found
        return str(gettext(self, message))

    def practice_ngettext(self: Any, singular: str, plural: str, number: int) -> str:
        return str(ngettext(self, in_practice_words(singular), in_practice_words(plural), number))

    cls.gettext, cls.ngettext, cls._ally_words = practice_gettext, practice_ngettext, True


class PracticeWordsMiddleware:
    """Each request starts in the therapy words; `speak_as` changes them for one practice."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _words.set(THERAPY)
        try:
            return self.get_response(request)
        finally:
            _words.reset(token)
