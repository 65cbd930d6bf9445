"""Routine outcome monitoring: the practice model, and what it says of each episode.

The rows mirror `ally analyze`'s `sessions` and `episodes` outputs (docs/formats.md): the same
function (`ally.feedback.results.results`) under the same practice model gives them, so the app
and a batch run on the same answers give the same numbers. They are derived: every answer,
rating, amendment and ending replaces its episode's rows in its own transaction.
"""

from __future__ import annotations

from django.db import models

from ally.web.practice.models import Episode, Membership, Organisation
from ally.web.scoping import Scope, ScopedQuerySet


class SessionFeedback(models.Model):
    """One scored administration with its change, expected course, signal and alliance marks."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="session_feedback")
    measure_id = models.CharField(max_length=60)
    rater = models.CharField(max_length=20)
    session_number = models.PositiveIntegerField()
    date = models.DateField(null=True, blank=True)
    score = models.FloatField()
    subscales = models.JSONField(default=dict)
    band = models.CharField(max_length=60, blank=True)
    baseline = models.FloatField(null=True)
    change = models.FloatField(null=True)
    rci = models.FloatField(null=True)
    reliable_change = models.CharField(max_length=20, blank=True)
    critical = models.BooleanField(null=True)
    expected = models.FloatField(null=True)
    expected_low = models.FloatField(null=True)
    expected_high = models.FloatField(null=True)
    signal = models.CharField(max_length=10, blank=True)
    rupture = models.BooleanField(default=False)
    repair = models.BooleanField(default=False)
    rupture_subscale = models.CharField(max_length=60, blank=True)
    discrepancy = models.FloatField(null=True, help_text="Client's alliance minus clinician's.")
    risk_flags = models.CharField(max_length=200, blank=True)
    dropout_risk = models.FloatField(null=True)
    computed_at = models.DateTimeField()

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="episode__organisation", episodes=("episode",))

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=["episode", "measure_id", "rater", "session_number"],
                name="session_feedback_once",
            ),
        )
        ordering = ("episode", "measure_id", "rater", "session_number")


class EpisodeFeedback(models.Model):
    """One measure over one episode: first and last score, reliable change, category, ruptures."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="feedback")
    measure_id = models.CharField(max_length=60)
    rater = models.CharField(max_length=20)
    sessions = models.PositiveIntegerField()
    first_session = models.PositiveIntegerField()
    last_session = models.PositiveIntegerField()
    first_score = models.FloatField()
    last_score = models.FloatField()
    change = models.FloatField(null=True)
    rci = models.FloatField(null=True)
    reliable_change = models.CharField(max_length=20, blank=True)
    category = models.CharField(max_length=20, blank=True)
    sudden_gains = models.PositiveIntegerField(default=0)
    sudden_losses = models.PositiveIntegerField(default=0)
    ruptures = models.PositiveIntegerField(default=0)
    repairs = models.PositiveIntegerField(default=0)
    unrepaired = models.PositiveIntegerField(default=0)
    talking_therapies = models.CharField(
        max_length=40,
        blank=True,
        help_text="The NHS Talking Therapies outcome of the paired PHQ-9 and GAD-7, if any.",
    )
    computed_at = models.DateTimeField()

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="episode__organisation", episodes=("episode",))

    @property
    def not_repaired(self) -> int:
        """Ruptures not (yet) repaired: still open, or past the repair window, or open when the
        episode ended. The caseload's "Rupture not repaired" and the client page both count
        these."""
        return self.ruptures - self.repairs

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=["episode", "measure_id", "rater"], name="episode_feedback_once"
            ),
        )
        ordering = ("episode", "measure_id", "rater")


class PracticeModelFit(models.Model):
    """A practice model fitted on the organisation's answers (`ally.feedback.fit`); the latest
    is applied to every episode after each answer. Kept as the exact JSON `ally fit` writes, so
    `ally analyze --model` on an export gives the same numbers."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="practice_models"
    )
    model_json = models.TextField()
    fitted_at = models.DateTimeField()
    episodes = models.PositiveIntegerField(help_text="Episodes the model was fitted on.")
    administrations = models.PositiveIntegerField()
    fitted_by = models.ForeignKey(
        Membership,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="practice_models_fitted",
        help_text="The administrator who asked for the fit; empty for the scheduled command.",
    )

    objects = ScopedQuerySet.as_manager()
    # Every member may see when the model was fitted and on how many episodes: no client data.
    scope = Scope(organisation="organisation", caseload=False)

    class Meta:
        ordering = ("-fitted_at", "-pk")
        indexes = (models.Index(fields=["organisation", "-fitted_at"]),)

    def __str__(self) -> str:
        return f"practice model of {self.fitted_at:%Y-%m-%d %H:%M} ({self.episodes} episodes)"


class FitRequest(models.Model):
    """An administrator's "Fit now": a fit of a large practice takes minutes, longer than a
    request may, so it runs in the background and the practice model page shows how it went.
    One runs at a time per organisation."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        FITTED = "fitted", "Fitted"
        FAILED = "failed", "Failed"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="fit_requests"
    )
    requested_by = models.ForeignKey(
        Membership, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RUNNING)
    fit = models.ForeignKey(
        PracticeModelFit, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", caseload=False)

    class Meta:
        ordering = ("-requested_at", "-pk")


class ChartDrawing(models.Model):
    """An episode's chart as last drawn (SVG), so that a page view draws only what changed.

    Drawing a chart takes about 80 ms of CPU; a clinician's client page has two or three. The
    drawing is kept with the spec's SHA-256 and used while the spec (numbers and words) is the
    same, by every server process. One row per chart and language, deleted with the episode
    (erasure included).
    """

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="chart_drawings")
    name = models.CharField(max_length=80, help_text='Which chart, e.g. "outcome-phq9".')
    language = models.CharField(max_length=20)
    spec_sha256 = models.CharField(max_length=64)
    svg = models.TextField()
    drawn_at = models.DateTimeField()

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="episode__organisation", episodes=("episode",))

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=["episode", "name", "language"], name="chart_drawing_once"
            ),
        )
