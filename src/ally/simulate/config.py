"""Every parameter of the practice simulator, each with the figure it is calibrated to.

Tags as in SPECS.md: [V] verified from a primary source, [S] secondary source, [U] unverified or
an Ally choice. "Tuned" means the value was set so that the simulated practice reproduces the
figure named (see docs/simulation.md for the measured calibration).

Latent scales: symptom severity is on 0-1 (0 = no symptoms, 1 = every item at its maximum);
alliance is on the 0-4 answer scale of the `ally-alliance` items.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SimulationConfig:
    """One synthetic practice: its size, seed and every parameter of the generating model."""

    # --- Size, seed and calendar ------------------------------------------------------------
    episodes: int = 300
    """Episodes of care to simulate (one client each)."""
    clinicians: int | None = None
    """Clinicians in the practice; None gives one per 30 episodes (at least 3) [U]."""
    seed: int = 1
    """Seed of the numpy Generator; the same seed and parameters give identical files."""
    start_date: str = "2024-01-01"
    """The first day an episode can start (ISO 8601)."""
    ongoing_share: float = 0.10
    """Share of episodes still running at the data cut-off [U: brief]. The window over which
    episodes start is chosen so that this share of them is cut off mid-course."""
    chunk_episodes: int = 50_000
    """Episodes simulated at a time (memory bound). Part of the random stream: changing it
    changes the data."""

    # --- Measures ---------------------------------------------------------------------------
    core10_share: float = 0.20
    """Share of episodes measured with CORE-10 rather than PHQ-9 + GAD-7, the standard pair of
    NHS Talking Therapies [U: Ally choice]."""
    clinician_rating_share: float = 0.30
    """Share of episodes in which the clinician also rates the alliance [U: brief]."""
    missing_item_rate: float = 0.01
    """Share of items left unanswered (at most one per form, so every form scores) [U: brief]."""
    item_noise_sd: float = 0.55
    """SD of an outcome item's answer around its latent level, in answer points; gives
    Cronbach's alpha about .88 for PHQ-9 at intake (.89 in Kroenke et al. 2001's wider primary
    care sample [V via phq9.yaml]) and an SEM of about 2 PHQ-9 points [tuned]."""
    alliance_item_noise_sd: float = 0.45
    """SD of an alliance item's answer around its subscale's latent level [U]."""

    # --- Intake severity --------------------------------------------------------------------
    intake_phq9_mean: float = 16.3
    """Mean of 27 x latent severity at the first session. Observed PHQ-9 runs about one point
    lower, because item 9 is rarely endorsed, giving the 15-16 that NHS Talking Therapies
    referrals average [U: typical of NHS Digital annual reports, not verified]."""
    intake_phq9_sd: float = 5.8
    """SD of 27 x latent severity at the first session (observed SD about 5.5) [U: as above]."""
    gad7_offset_mean: float = 0.07
    """GAD-7 latent minus PHQ-9 latent (0-1 scale): about 13.5 of 21 at intake when PHQ-9 is
    15.5 of 27 [U]."""
    gad7_offset_sd: float = 0.10
    """Between-client SD of that offset; sets the PHQ-9/GAD-7 correlation near .7 [U]."""
    core10_offset_mean: float = -0.06
    """CORE-10 latent minus PHQ-9 latent: intake CORE-10 near 19.7 (SD 7.7), the primary care
    norm of Connell & Barkham 2007 [S via core10.yaml] (achieved about 19.3, SD 5.2)."""
    core10_offset_sd: float = 0.12
    """Between-client SD of that offset [U]."""
    phq9_item9_intake_rate: float = 0.12
    """Share of clients endorsing PHQ-9 item 9 (> 0) at average intake severity [U: outpatient
    samples commonly report 20-30%]."""
    core10_item6_intake_rate: float = 0.08
    """Share endorsing CORE-10 item 6 (plans to end one's life) at average intake severity; it
    asks about plans, not thoughts, so it is rarer than PHQ-9 item 9 [U]."""
    critical_severity_slope: float = 7.0
    """Log-odds of a critical endorsement per unit of latent severity (0-1 scale): rare when
    mild, common when severe [U]."""
    critical_client_sd: float = 1.2
    """Between-client SD (log-odds) of critical endorsement: it recurs in the same people [U]."""

    # --- Course of symptoms -----------------------------------------------------------------
    improvement_rate_mean: float = 0.28
    """Mean fall of latent severity per unit of ln(session), as a fraction of intake severity
    (the log-session curve of Finch, Lambert & Schaalje 2001 [V abstract]). Tuned to NHS Talking
    Therapies recovery about 50% and reliable improvement about 67% [S]."""
    improvement_rate_sd: float = 0.10
    """Between-client SD of that rate [tuned with the above]."""
    clinician_effect_sd: float = 0.04
    """Between-clinician SD of the improvement rate: therapist effects of about 5% of outcome
    variance [U: Baldwin & Imel 2013, not in SPECS]."""
    deteriorator_share: float = 0.085
    """Share of clients whose symptoms worsen over the episode. With measurement error it gives
    reliable deterioration of about 5-10%: Hannan et al. 2005, 40 of 550 (7.3%) [V]; NHS Talking
    Therapies about 5-7% [S]."""
    deterioration_rate_mean: float = 0.10
    """Rise of latent severity per unit of ln(session) for those who deteriorate [tuned]."""
    deterioration_rate_sd: float = 0.04
    """SD of that rise [U]."""
    symptom_state_sd: float = 0.045
    """SD of the session-to-session fluctuation of true severity around its course (AR(1)),
    0-1 scale (about 1.2 PHQ-9 points) [U]."""
    symptom_state_ar: float = 0.5
    """Autocorrelation of that fluctuation from one session to the next [U]."""
    alliance_trait_on_rate: float = 0.035
    """Rise of the improvement rate per between-client SD of trait alliance. Tuned so that
    early alliance and outcome correlate at r = .278 (Flückiger et al. 2018 [V])."""
    alliance_within_effect: float = 0.03
    """Fall of next session's latent severity per answer point the alliance lies above the
    client's own level (Falkenström et al. 2013: within-person alliance predicts next-session
    symptoms [V: direction]; size about -.1 within-person SD [U])."""
    symptom_change_on_alliance: float = 0.8
    """Rise of the next alliance (answer points) per unit of latent improvement since the last
    session: the reciprocal path (Falkenström 2013; Flückiger et al. 2020 [V: direction]) [U]."""

    # --- Alliance ---------------------------------------------------------------------------
    alliance_mean: float = 3.3
    """Mean latent alliance per item (0-4): most clients answer "mostly" or "completely", the
    ceiling seen on every client-rated alliance measure [U]."""
    alliance_trait_sd: float = 0.42
    """Between-client SD of the trait-like alliance (Zilcha-Mano 2017: trait-like and
    state-like components [U])."""
    alliance_state_sd: float = 0.22
    """SD of the state-like alliance (session-to-session, AR(1)) [U: Zilcha-Mano 2017]."""
    alliance_state_ar: float = 0.4
    """Autocorrelation of the state-like alliance [U]."""
    alliance_subscale_sd: float = 0.15
    """Between-client SD of a subscale's stable deviation from the client's alliance [U]."""
    alliance_growth: float = 0.08
    """Rise of the alliance per unit of ln(session): alliances strengthen over therapy [U]."""
    clinician_alliance_sd: float = 0.18
    """Between-clinician SD of alliance-building (answer points); therapists differ more than
    clients in their contribution to the alliance (Baldwin, Wampold & Imel 2007; Del Re et al.
    2012 [S]). It also raises repair chances and lowers rupture chances."""

    # --- Ruptures and repairs ---------------------------------------------------------------
    rupture_rate: float = 0.07
    """Chance per session (from session 2) that a rupture begins, for an average client and
    clinician. Gives ruptures in about 35-45% of episodes (McLaughlin et al. 2014: 46% of
    patients [V abstract]) [tuned]."""
    rupture_trait_effect: float = 0.5
    """Log-odds of a rupture per SD lower trait alliance [U]."""
    rupture_clinician_effect: float = 0.5
    """Log-odds of a rupture per SD weaker clinician alliance-building [U]."""
    rupture_drop_mean: float = 1.5
    """Fall of the ruptured subscale's items, answer points: about 3 points on the 2-item
    subscale and 4-5 on the total, several within-person SDs, enough for a 2-SD (Stiles et al.
    2004) or 15% (Strauss et al. 2006) detector [S: SPECS section 4]."""
    rupture_drop_sd: float = 0.3
    """SD of that fall [U]."""
    rupture_spill: float = 0.3
    """Share of the fall seen on the other subscales and the overall item [U]."""
    rupture_subscale_weights: tuple[float, float, float] = (0.3, 0.35, 0.35)
    """Chances that the rupture is mainly in bond, goals or tasks [U]."""
    repair_probability: float = 0.75
    """Chance that a rupture is repaired, for an average clinician [U]."""
    repair_clinician_effect: float = 0.7
    """Log-odds of repair per SD of clinician alliance-building [U]."""
    repair_max_lag: int = 3
    """A repaired rupture is repaired 1 to this many sessions after it began (brief)."""
    unrepaired_decay: float = 0.93
    """An unrepaired rupture's fall shrinks by this factor each session [U]."""
    rupture_progress: float = 0.3
    """Share of expected progress made while a rupture is unrepaired (McLaughlin et al. 2014:
    unrepaired ruptures predict worse outcome [V abstract])."""
    rupture_symptom_rise: float = 0.02
    """Rise of latent severity per session while a rupture is unrepaired [tuned]."""
    repair_symptom_gain: float = 0.09
    """Fall of latent severity when a rupture is repaired. Tuned with the above so that repair
    and outcome correlate at r = .29 (Eubanks, Muran & Safran 2018 [V])."""
    repair_alliance_gain: float = 0.1
    """Rise of the alliance after a repair (a repaired alliance is stronger) [U]."""

    # --- Clinician ratings of the alliance --------------------------------------------------
    clinician_rating_offset: float = 0.2
    """Clinicians' ratings minus clients', answer points (brief: clinicians more optimistic).
    [U: meta-analyses compare the two perspectives (Tryon et al. 2007; Igra et al. 2020,
    d = .46 in severe disorders [S abstract]); the direction should be checked.]"""
    clinician_rating_agreement: float = 0.3
    """Weight of the client's own alliance in the clinician's rating; client and clinician
    ratings correlate moderately (about .3-.4) [U]."""
    clinician_rater_sd: float = 0.2
    """Between-clinician SD of rating leniency [U]."""
    clinician_notices_rupture: float = 0.35
    """Chance that a clinician notices a rupture; therapists often miss them [U]."""

    # --- Dropout ----------------------------------------------------------------------------
    dropout_intercept: float = -4.75
    """Log-odds of dropout after a session for an average client. Tuned so that about 20% of
    finished episodes end in dropout (Swift & Greenberg 2012: 19.7% [V])."""
    dropout_early: tuple[float, float] = (0.9, 0.45)
    """Extra log-odds after sessions 1 and 2: dropout is most common early [U]."""
    dropout_alliance: float = -0.45
    """Log-odds per SD of alliance above its mean (Sharf et al. 2010: alliance and dropout
    d about .55 [U])."""
    dropout_rupture: float = 1.0
    """Log-odds while a rupture is unrepaired (scaled by how much of it remains) [U]."""
    dropout_no_progress: float = 0.25
    """Log-odds per 0.1 of latent severity (2.7 PHQ-9 points) above the expected course [U]."""
    dropout_gap: float = 0.35
    """Log-odds per week missed before this session [U]."""
    dropout_frailty_sd: float = 0.5
    """Between-client SD of the log-odds (age, diagnosis and so on; Swift & Greenberg 2012)."""

    # --- Schedule and endings ---------------------------------------------------------------
    missed_week_rate: float = 0.10
    """Chance that a weekly session is missed, for an average client [U: brief]."""
    missed_week_risk: float = 0.6
    """Rise of the log-odds of missing a week per unit of dropout log-odds above average: more
    missed weeks before dropout [U]."""
    session_limit_mean: float = 12.0
    """Mean planned number of sessions [U]."""
    session_limit_sd: float = 4.0
    """SD of the planned number [U]."""
    session_limit_range: tuple[int, int] = (6, 20)
    """Fewest and most planned sessions (brief)."""
    recovered_ending_rate: float = 0.5
    """Chance per session, from session 4, of a planned early ending once the last two scores
    are below caseness [U]."""

    # --- Groups -----------------------------------------------------------------------------
    group_share: float = 0.10
    """Share of episodes that are members of a therapy group [U: brief]."""
    group_size_range: tuple[int, int] = (6, 10)
    """Members per group (brief)."""
    group_weeks_range: tuple[int, int] = (8, 16)
    """Length of a closed group in weeks [U]."""
    group_alliance_sd: float = 0.2
    """Between-group SD of alliance shared by members (cohesion; Burlingame et al. 2018 [V]
    report ICCs that show group-level processes) [U]."""
    group_session_sd: float = 0.12
    """SD of a group meeting's shared alliance shock (everyone at a meeting feels it) [U]."""
    group_checkin: bool = False
    """Whether group members answer the group check-in (ally-group) after each session [U]."""
    group_checkin_mean: float = 7.0
    """Mean level (0-10) of the group check-in's items (ally-group) [U]."""
    group_checkin_sd: float = 1.0
    """Between-group SD (points) of each level of the group check-in, shared by the group's
    members: the known group effect the ICC should find (truth_episodes: group_*_true) [U]."""
    group_checkin_member_sd: float = 1.2
    """SD of a member's own lasting level at each level of the check-in [U]."""
    group_checkin_noise_sd: float = 1.0
    """SD of an item's session-to-session noise on the 0-10 line [U]."""
    group_checkin_harder_share: float = 0.1
    """Share of check-ins saying something made it harder to take part [U]."""

    def __post_init__(self) -> None:
        problems = []
        if self.episodes < 1:
            problems.append(f"episodes must be at least 1, not {self.episodes}")
        if self.clinicians is not None and self.clinicians < 1:
            problems.append(f"clinicians must be at least 1, not {self.clinicians}")
        if not 0 <= self.ongoing_share < 1:
            problems.append(f"ongoing_share must be in [0, 1), not {self.ongoing_share}")
        for name in ("core10_share", "clinician_rating_share", "group_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                problems.append(f"{name} must be in [0, 1], not {value}")
        if self.chunk_episodes < 100:
            problems.append(f"chunk_episodes must be at least 100, not {self.chunk_episodes}")
        try:
            dt.date.fromisoformat(self.start_date)
        except ValueError:
            problems.append(f"start_date {self.start_date!r} is not an ISO 8601 date")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def n_clinicians(self) -> int:
        if self.clinicians is not None:
            return self.clinicians
        return max(3, -(-self.episodes // 30))

    @property
    def max_sessions(self) -> int:
        return max(self.session_limit_range[1], self.group_weeks_range[1])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
