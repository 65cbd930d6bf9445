"""The demo practice of `ally serve`: simulated, loaded through the write path, analysed."""

from __future__ import annotations

import datetime as dt

import pytest
from batch_results import assert_stored_equals_batch
from django.contrib.auth import authenticate
from django.test import RequestFactory
from django.utils import timezone

from ally.web.alerts.models import Alert
from ally.web.collect.models import Administration, AdministrationStatus, Response
from ally.web.demo import demo_summary, load_demo, write_logins
from ally.web.endings.models import ClosingSummary, Ending, EndingForm, FollowUp, ReviewWords
from ally.web.goals.course import episode_goals
from ally.web.monitoring.models import EpisodeFeedback, PracticeModelFit, SessionFeedback
from ally.web.practice.models import Episode, Group, Organisation


@pytest.mark.django_db
def test_the_demo_practice_is_loaded_analysed_and_its_logins_work(tmp_path) -> None:
    demo = load_demo(episodes=40, seed=3, today=dt.date(2026, 11, 29))
    episodes = Episode.objects.filter(organisation=demo.organisation)
    assert episodes.count() == 40
    # Its practice model was fitted on its history, and every stored number is the one
    # `ally analyze --model` gives on an export of the same answers under that model.
    assert PracticeModelFit.objects.filter(organisation=demo.organisation).count() == 1
    assert assert_stored_equals_batch(demo.organisation, tmp_path / "batch") > 5000
    assert episodes.filter(ended_on__isnull=True).exists()
    assert Response.objects.filter(administration__episode__in=episodes).count() > 100
    # Every answered administration the practice model reads has its feedback row (the group
    # check-in is read level by level, on the group page; the end-of-therapy review and a
    # follow-up, after the course, are not part of it).
    assert SessionFeedback.objects.filter(episode__in=episodes).count() == (
        Response.objects.filter(administration__episode__in=episodes)
        .exclude(administration__measure_id__in=["ally-group", "ally-review"])
        .exclude(administration__ending_form__purpose="follow_up")
        .count()
    )
    # Groups with rolling membership: members join at different meetings.
    groups = Group.objects.filter(organisation=demo.organisation)
    assert groups.count() >= 1
    for group in groups:
        assert group.sessions.count() >= 2
        assert group.members.values("joined_on").distinct().count() >= 2
    assert EpisodeFeedback.objects.filter(episode__in=episodes).exists()
    # The latest session was yesterday; running episodes have forms sent for the next one.
    latest = max(e.opened_on for e in episodes)
    assert latest <= dt.date(2026, 11, 28)
    assert Administration.objects.filter(
        episode__in=episodes, status=AdministrationStatus.SENT
    ).exists()
    # Alerts of ended episodes were dealt with; open ones belong to running episodes only.
    assert not Alert.objects.filter(
        episode__in=episodes, acted_at__isnull=True, episode__ended_on__isnull=False
    ).exists()
    # A few running episodes have goals, rated at their sessions, and goal attainment.
    with_goals = episodes.filter(goals__isnull=False).distinct()
    assert with_goals.filter(ended_on__isnull=True).exists()
    for episode in with_goals:
        found = episode_goals(None, episode)
        assert all(len(goal.ratings) >= 2 for goal in found.goals)
        assert found.attainment
        assert found.latest_agreement is not None
    # Endings were recorded as a clinician records them: planned ones sent the final measure,
    # the goals and the review, which most clients answered; every planned ending and some
    # unplanned ones have a closing summary; one follow-up was answered, one is still to come.
    now = timezone.make_aware(dt.datetime(2026, 11, 29, 9))
    ended = episodes.filter(ended_on__isnull=False, group_places__isnull=True)
    assert Ending.objects.filter(episode__in=ended).count() == ended.count()
    planned = ended.filter(end_reason="planned")
    stopped = ended.exclude(end_reason="planned")
    assert planned.exists()
    assert stopped.exists()
    assert not EndingForm.objects.filter(ending__episode__in=stopped).exists()
    answered = Response.objects.filter(administration__ending_form__ending__episode__in=planned)
    assert answered.filter(administration__measure_id="ally-review").count() >= 2
    assert ReviewWords.objects.filter(administration__episode__in=planned).exists()
    # A client whose every outcome score fell by half or more reports their change as better.
    for review in answered.filter(administration__measure_id="ally-review"):
        courses = [
            list(
                Response.objects.filter(
                    administration__episode=review.administration.episode,
                    administration__measure_id=measure_id,
                )
                .order_by("administration__session__number", "recorded_at")
                .values_list("total", flat=True)
            )
            for measure_id in ("phq9", "gad7", "core10")
        ]
        courses = [totals for totals in courses if len(totals) >= 2]
        if courses and all(totals[-1] <= totals[0] / 2 for totals in courses):
            assert review.total > 0, (courses, review.total)
    assert answered.filter(administration__measure_id="goal-progress").exists()
    assert answered.filter(administration__ending_form__purpose="final").exists()
    assert all(r.recorded_at > r.administration.episode.ending.recorded_at for r in answered)
    assert all(r.recorded_at < now for r in answered)
    summarised = ClosingSummary.objects.filter(episode__in=ended).values("episode").distinct()
    assert summarised.filter(episode__in=planned).count() == planned.count()
    assert summarised.filter(episode__in=stopped).exists()
    follow_ups = FollowUp.objects.filter(ending__episode__in=planned)
    assert follow_ups.filter(sent_at__isnull=True, due_at__gt=now).count() == 1
    assert Response.objects.filter(
        administration__ending_form__purpose="follow_up", recorded_at__lt=now
    ).exists()
    # Beside it, a coaching practice with a sponsor (one client agreed to share, one did not)
    # and its members' self-care check-ins.
    from ally.web.selfcare.models import CheckIn
    from ally.web.sponsors.models import Sponsorship

    coaching = Organisation.objects.get(slug="coaching")
    assert coaching.kind == "coaching"
    sponsored = Sponsorship.objects.filter(episode__organisation=coaching)
    assert sorted(s.consented for s in sponsored) == [False, True]
    assert CheckIn.objects.filter(member__organisation=coaching).count() >= 3 * 6
    assert Response.objects.filter(
        administration__episode__organisation=coaching, administration__measure_id="who5"
    ).exists()
    # Its answers have their results, as every page shows them: WHO-5 and the check-in.
    for engagement in Episode.objects.filter(organisation=coaching):
        shown = set(
            SessionFeedback.objects.filter(episode=engagement).values_list("measure_id", flat=True)
        )
        assert {"who5", "ally-coaching-alliance"} <= shown, (engagement.pk, shown)
    for login in demo.logins:
        # The lockout backend needs the request a sign-in comes with.
        request = RequestFactory().post("/accounts/login/")
        assert authenticate(request, username=login.email, password=demo.password) is not None
    write_logins(tmp_path, demo)
    assert (tmp_path / "demo-logins.txt").stat().st_mode & 0o777 == 0o600
    assert demo_summary(None, tmp_path)["password"] == demo.password
    with pytest.raises(ValueError, match="already"):
        load_demo(episodes=12)
