"""Client goals: set by the clinician or through the client's link, reworded with their history,
closed, rated 0-10 through the one write path, scaled for attainment, on the client page, in the
API and the export, sealed at rest and scoped like every row."""

from __future__ import annotations

import io
import json
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from web_practice import Practice, sign_in

from ally.web.actions.answers import do_create_administration, do_record_response
from ally.web.actions.goals import (
    GoalActionError,
    do_add_goal,
    do_close_goal,
    do_rate_goal_attainment,
    do_reword_goal,
    do_save_goal_exercise,
    do_set_goal_weight,
)
from ally.web.actions.privacy import do_erase_client
from ally.web.auditlog.models import AuditEntry
from ally.web.collect.errors import InvalidAnswersError
from ally.web.collect.models import Administration, Respondent, Response
from ally.web.goals.course import episode_goals
from ally.web.goals.models import Goal, GoalExercise, GoalWording
from ally.web.practice.models import Session
from ally.web.respond.links import signed_token

ANSWER = "/a/"
GOALS = "/a/goals/"


def goals_page(practice: Practice) -> str:
    return reverse("goals:episode", kwargs={"org": practice.org.slug, "pk": practice.own.pk})


def session(practice: Practice, number: int) -> Session:
    return Session.objects.create(
        organisation=practice.org,
        episode=practice.own,
        number=number,
        scheduled_at=timezone.now(),
    )


def progress(practice: Practice, number: int, ratings: dict[int, int]) -> Response:
    administration = do_create_administration(
        practice.own, "goal-progress", session=session(practice, number)
    )
    return do_record_response(administration, ratings, idempotency_key=f"p{number}")


# --- The write path ----------------------------------------------------------------------------


def test_goals_are_numbered_and_an_episode_has_at_most_five(practice: Practice) -> None:
    for k in range(5):
        goal = do_add_goal(practice.own, f"goal words {k}", actor=practice.clinician)
        assert goal.number == k + 1
    with pytest.raises(GoalActionError, match="at most 5 goals"):
        do_add_goal(practice.own, "a sixth", actor=practice.clinician)


def test_rewording_keeps_each_wording_with_its_time_and_author(practice: Practice) -> None:
    goal = do_add_goal(practice.own, "Sleep better", actor=None)
    do_reword_goal(goal, "Sleep through most nights", actor=practice.clinician)
    found = episode_goals(practice.clinician, practice.own).goals[0]
    assert [w.text for w in found.wordings] == ["Sleep better", "Sleep through most nights"]
    assert [w.by_client for w in found.wordings] == [True, False]
    assert found.text == "Sleep through most nights"
    with pytest.raises(GoalActionError, match="already"):
        do_reword_goal(goal, "Sleep through most nights", actor=None)
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert "goal.added" in actions
    assert "goal.reworded" in actions


def test_the_clients_words_are_sealed_and_never_in_the_audit_log(practice: Practice) -> None:
    do_add_goal(practice.own, "Ring my sister Maria", actor=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed FROM goals_goalwording")
        (raw,) = cursor.fetchone()
    assert b"Maria" not in bytes(raw)
    entries = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert "Maria" not in entries


def test_a_closed_goal_is_no_longer_rated_but_keeps_its_ratings(practice: Practice) -> None:
    first = do_add_goal(practice.own, "Go back to work", actor=practice.clinician)
    do_add_goal(practice.own, "Walk daily", actor=practice.clinician)
    progress(practice, 1, {1: 2, 2: 3})
    do_close_goal(first, actor=practice.clinician)
    later = do_create_administration(practice.own, "goal-progress", session=session(practice, 2))
    with pytest.raises(InvalidAnswersError, match="not an open goal"):
        do_record_response(later, {1: 5, 2: 4}, idempotency_key="late")
    do_record_response(later, {2: 6}, idempotency_key="late2")
    goals = episode_goals(practice.clinician, practice.own).goals
    assert [r.value for r in goals[0].ratings] == [2.0]
    assert (goals[1].first, goals[1].last, goals[1].reliable) == (3.0, 6.0, "progress")


def test_progress_for_a_goal_not_set_is_refused_naming_the_goals(practice: Practice) -> None:
    do_add_goal(practice.own, "One goal", actor=practice.clinician)
    administration = do_create_administration(practice.own, "goal-progress")
    with pytest.raises(InvalidAnswersError) as refused:
        do_record_response(administration, {3: 5}, idempotency_key="k")
    assert refused.value.items == (3,)
    assert "(1)" in str(refused.value)


def test_gas_of_three_goals_at_minus_one_is_36_3_and_weights_count(practice: Practice) -> None:
    # Kiresuk & Sherman (1968), rho = 0.3: three goals all at -1 give T = 36.3.
    for words in ("a", "b", "c"):
        do_add_goal(practice.own, f"goal {words}", actor=practice.clinician)
    at = session(practice, 1)
    do_rate_goal_attainment(
        at, {1: -1, 2: -1, 3: -1}, actor=practice.clinician, idempotency_key="g"
    )
    gas = Administration.objects.get(measure_id="gas")
    assert gas.respondent == Respondent.CLINICIAN
    assert round(Response.objects.get(administration=gas).total, 1) == 36.3
    (row,) = episode_goals(practice.clinician, practice.own).attainment
    assert round(row.t_score, 1) == 36.3
    goal = Goal.objects.get(episode=practice.own, number=1)
    do_set_goal_weight(goal, 3.0, actor=practice.clinician)
    # With goal 1 weighing 3, T follows the weighted formula (Kiresuk & Sherman 1968).
    (row,) = episode_goals(practice.clinician, practice.own).attainment
    weights, levels = [3, 1, 1], [-1, -1, -1]
    numerator = sum(w * x for w, x in zip(weights, levels, strict=True))
    spread = 0.7 * sum(w * w for w in weights) + 0.3 * sum(weights) ** 2
    assert row.t_score == pytest.approx(50 + 10 * numerator / spread**0.5)


def test_the_exercise_is_kept_sealed_and_its_answers_can_become_goals(practice: Practice) -> None:
    do_save_goal_exercise(
        practice.own,
        {"different": "I would enjoy mornings", "good_enough": "Three good days a week"},
        3,
        actor=None,
    )
    exercise = GoalExercise.objects.get()
    assert exercise.now == 3
    assert b"mornings" not in bytes(exercise.sealed)
    found = episode_goals(practice.clinician, practice.own)
    assert found.exercise_words is not None
    assert found.exercise_words["good_enough"] == "Three good days a week"


def test_an_ended_episodes_goals_no_longer_change(practice: Practice) -> None:
    practice.own.ended_on = practice.own.opened_on
    practice.own.end_reason = "planned"
    practice.own.save()
    with pytest.raises(GoalActionError, match="ended"):
        do_add_goal(practice.own, "Too late", actor=practice.clinician)


def test_the_researcher_sees_goals_by_number_without_the_clients_words(
    practice: Practice,
) -> None:
    do_add_goal(practice.own, "Private words", actor=practice.clinician)
    (goal,) = episode_goals(practice.researcher, practice.own).goals
    assert goal.number == 1
    assert goal.text is None


# --- The client's link -------------------------------------------------------------------------


def open_link(client: Client, administration: Administration) -> None:
    client.get(reverse("respond:open", kwargs={"signed": signed_token(administration)}))


def test_the_client_sets_goals_through_their_link_then_rates_them(
    client: Client, practice: Practice
) -> None:
    administration = do_create_administration(
        practice.own, "goal-progress", session=session(practice, 1)
    )
    open_link(client, administration)
    # No goal yet: the form of goal progress sends the client to set their goals first.
    page = client.get(ANSWER)
    assert page.status_code == 302
    assert page["Location"] == GOALS
    page = client.get(GOALS)
    assert page.status_code == 200
    assert "in your own words" in page.content.decode()
    page = client.post(GOALS, {"action": "add", "new-text": "Feel calmer at work"})
    assert page.status_code == 302
    client.post(GOALS, {"action": "add", "new-text": "See friends again"})
    client.post(GOALS, {"action": "reword", "goal": "2", "goal2-text": "See two friends a month"})
    (first, second) = Goal.objects.filter(episode=practice.own).order_by("number")
    assert GoalWording.objects.get(goal=first, version=1).written_by is None
    assert GoalWording.objects.filter(goal=second).count() == 2

    page = client.get(ANSWER)
    html = page.content.decode()
    assert "Feel calmer at work" in html
    assert "See two friends a month" in html
    assert "item_3" not in html
    key = page.context["key"]
    page = client.post(
        ANSWER,
        {"administration": administration.pk, "key": key, "action": "submit", "item_1": "4"},
    )
    # Every goal shown must be rated.
    assert page.status_code == 200
    page = client.post(
        ANSWER,
        {
            "administration": administration.pk,
            "key": key,
            "action": "submit",
            "item_1": "4",
            "item_2": "6",
        },
    )
    assert page.status_code == 302
    response = Response.objects.get(administration=administration)
    assert response.answers == {"1": 4, "2": 6, "3": None, "4": None, "5": None}
    assert response.total == 5


def test_the_client_answers_the_exercise_and_makes_a_goal_of_an_answer(
    client: Client, practice: Practice
) -> None:
    administration = do_create_administration(practice.own, "goal-progress")
    open_link(client, administration)
    page = client.post(
        GOALS + "exercise/",
        {"exercise-different": "Mornings without dread", "exercise-now": "11"},
    )
    assert page.status_code == 400
    page = client.post(
        GOALS + "exercise/",
        {"exercise-different": "Mornings without dread", "exercise-now": "4"},
    )
    assert page.status_code == 302
    assert "Mornings without dread" in client.get(GOALS).content.decode()
    client.post(GOALS, {"action": "adopt", "question": "different"})
    assert episode_goals(None, practice.own).goals[0].text == "Mornings without dread"


def test_without_a_goals_form_in_the_visit_the_goals_page_is_not_open(
    client: Client, practice: Practice
) -> None:
    phq9 = do_create_administration(practice.own, "phq9")
    open_link(client, phq9)
    page = client.post(GOALS, {"action": "add", "new-text": "Sneaked in"})
    assert page.status_code == 302
    assert not Goal.objects.exists()


# --- The clinician's screens -------------------------------------------------------------------


def test_the_clinician_adds_rewords_weighs_and_closes_goals_on_screen(
    client: Client, practice: Practice
) -> None:
    sign_in(client, practice.clinician.user)
    url = goals_page(practice)
    assert client.post(url, {"action": "add", "add-text": "Drive to the coast"}).status_code == 302
    page = client.post(url, {"action": "add", "add-text": "   "})
    assert page.status_code == 400
    client.post(url, {"action": "reword", "goal": "1", "goal1-text": "Drive to the coast alone"})
    client.post(url, {"action": "weight", "goal": "1", "weight1-weight": "2"})
    goal = Goal.objects.get(episode=practice.own)
    assert goal.weight == 2
    client.post(
        url, {"action": "exercise", "exercise-who_notices": "My partner", "exercise-now": "5"}
    )
    page = client.get(url)
    html = page.content.decode()
    assert "Drive to the coast alone" in html
    assert "Drive to the coast</q>" in html  # the earlier wording, kept
    client.post(url, {"action": "close", "goal": "1"})
    goal.refresh_from_db()
    assert goal.closed_by == practice.clinician


def test_the_client_page_shows_the_goals_chart_and_table(
    client: Client, practice: Practice
) -> None:
    do_add_goal(practice.own, "Cook for myself", actor=practice.clinician)
    progress(practice, 1, {1: 2})
    progress(practice, 2, {1: 6})
    sign_in(client, practice.clinician.user)
    page = client.get(
        reverse("clinic:episode", kwargs={"org": practice.org.slug, "pk": practice.own.pk})
    )
    html = page.content.decode()
    assert 'id="goals"' in html
    assert "Cook for myself" in html
    assert "Reliable progress" in html
    assert 'aria-labelledby="goals-chart-caption"' in html
    # The drawing names goals by number only: it is stored unsealed.
    assert (
        "Cook for myself"
        not in html.split('aria-labelledby="goals-chart-caption"')[1].split("</svg>")[0]
    )


def test_gas_is_rated_on_the_goals_page(client: Client, practice: Practice) -> None:
    do_add_goal(practice.own, "Goal one", actor=practice.clinician)
    session(practice, 1)
    sign_in(client, practice.clinician.user)
    page = client.post(
        goals_page(practice),
        {"action": "gas", "gas-session": "1", "gas-goal_1": "1", "key": "gas-key-1"},
    )
    assert page.status_code == 302
    assert round(Response.objects.get(administration__measure_id="gas").total, 1) == 60.0


@pytest.mark.parametrize(
    ("who", "status"),
    [("colleague", 404), ("outsider", 404), ("researcher", 403)],
)
def test_another_caseload_or_organisation_cannot_change_goals(
    client: Client, practice: Practice, who: str, status: int
) -> None:
    sign_in(client, getattr(practice, who).user)
    page = client.post(goals_page(practice), {"action": "add", "add-text": "Not theirs"})
    assert page.status_code == status
    assert not Goal.objects.exists()


def test_another_caseload_cannot_read_the_goals_page(client: Client, practice: Practice) -> None:
    sign_in(client, practice.colleague.user)
    assert client.get(goals_page(practice)).status_code == 404


# --- API and export ----------------------------------------------------------------------------


def test_the_api_gives_goals_progress_and_attainment_scoped(
    client: Client, practice: Practice
) -> None:
    do_add_goal(practice.own, "Sleep", actor=practice.clinician)
    progress(practice, 1, {1: 1})
    progress(practice, 2, {1: 5})
    url = f"/api/o/{practice.org.slug}/episodes/{practice.own.pk}/goals"
    sign_in(client, practice.clinician.user)
    body = client.get(url).json()
    (goal,) = body["goals"]
    assert goal["text"] == "Sleep"
    assert [r["value"] for r in goal["progress"]] == [1, 5]
    assert (goal["first"], goal["last"], goal["reliable"]) == (1, 5, "progress")
    sign_in(client, practice.researcher.user)
    assert client.get(url).json()["goals"][0]["text"] is None
    sign_in(client, practice.colleague.user)
    assert client.get(url).status_code == 404


def test_progress_is_written_through_the_api_answer_path(
    client: Client, practice: Practice
) -> None:
    do_add_goal(practice.own, "Sleep", actor=practice.clinician)
    administration = do_create_administration(practice.own, "goal-progress")
    sign_in(client, practice.clinician.user)
    url = f"/api/o/{practice.org.slug}/administrations/{administration.pk}/responses"
    refused = client.post(
        url,
        data=json.dumps({"answers": {"2": 4}}),
        content_type="application/json",
        headers={"Idempotency-Key": "api-1"},
    )
    assert refused.status_code == 422
    stored = client.post(
        url,
        data=json.dumps({"answers": {"1": 4}}),
        content_type="application/json",
        headers={"Idempotency-Key": "api-2"},
    )
    assert stored.status_code == 201
    assert Response.objects.get(administration=administration).answers["1"] == 4


def test_the_clients_export_holds_their_goals_and_exercise(
    client: Client, practice: Practice
) -> None:
    do_add_goal(practice.own, "Play the piano", actor=None)
    do_save_goal_exercise(practice.own, {"first_signs": "Humming"}, 2, actor=None)
    sign_in(client, practice.clinician.user)
    page = client.get(
        reverse("privacy:export", kwargs={"org": practice.org.slug, "pk": practice.own.client_id})
    )
    archive = zipfile.ZipFile(io.BytesIO(page.content))
    data = json.loads(archive.read("client.json"))
    (episode,) = data["episodes"]
    assert episode["goals"][0]["wordings"][0]["text"] == "Play the piano"
    assert episode["ideal_life_exercise"]["first_signs"] == "Humming"
    assert "Play the piano" in archive.read("client.html").decode()


# --- Keys and erasure ---------------------------------------------------------------------------


def test_new_data_keys_seal_the_goals_again_and_they_still_open(practice: Practice) -> None:
    goal = do_add_goal(practice.own, "Swim once a week", actor=None)
    do_save_goal_exercise(practice.own, {"different": "Calmer evenings"}, 5, actor=None)
    before = bytes(GoalWording.objects.get(goal=goal).sealed)
    call_command("rotate_keys", "--data-keys", stdout=StringIO())
    wording = GoalWording.objects.get(goal=goal)
    assert bytes(wording.sealed) != before
    assert wording.text == "Swim once a week"
    assert GoalExercise.objects.get().words()["different"] == "Calmer evenings"


def test_erasing_the_client_erases_their_goals_and_exercise(practice: Practice) -> None:
    do_add_goal(practice.own, "Private goal", actor=None)
    do_save_goal_exercise(practice.own, {"different": "Private"}, 1, actor=None)
    progress(practice, 1, {1: 4})
    do_erase_client(practice.own.client, actor=practice.admin)
    assert not Goal.objects.exists()
    assert not GoalWording.objects.exists()
    assert not GoalExercise.objects.exists()
