"""The generating model: clinicians, clients, groups and their episodes, session by session.

Vectorised over episodes: the loop runs over session numbers (at most `max_sessions`), never
over clients. One call simulates one chunk of episodes with its own random stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ally.simulate.config import SimulationConfig
from ally.simulate.items import ItemModel, answers, critical_answers, expected_answer

PLANNED, DROPOUT, ONGOING = 0, 1, 2
ENDINGS = ("planned", "dropout", "ongoing")
SUBSCALES = ("bond", "goals", "tasks")
ALLIANCE_ITEMS = (0, 0, 1, 1, 2, 2, 3)
"""The latent each alliance item answers: bond, bond, goals, goals, tasks, tasks, overall."""
NO_GROUP = -1


@dataclass(frozen=True)
class Clinicians:
    """The practice's clinicians: what each brings, drawn once for the whole practice."""

    effect: np.ndarray
    """Added to their clients' improvement rate."""
    alliance: np.ndarray
    """Added to their clients' alliance (answer points); also shapes ruptures and repairs."""
    leniency: np.ndarray
    """Added to their own alliance ratings."""
    weight: np.ndarray
    """Share of referrals (caseloads differ)."""


def draw_clinicians(rng: np.random.Generator, cfg: SimulationConfig) -> Clinicians:
    n = cfg.n_clinicians
    weight = rng.gamma(4.0, 1.0, n)
    return Clinicians(
        effect=rng.normal(0.0, cfg.clinician_effect_sd, n),
        alliance=rng.normal(0.0, cfg.clinician_alliance_sd, n),
        leniency=rng.normal(0.0, cfg.clinician_rater_sd, n),
        weight=weight / weight.sum(),
    )


@dataclass
class Chunk:
    """One chunk of simulated episodes: per-episode vectors (n) and per-session arrays (n, n_max).

    Session arrays are indexed by attended session (column t is session t + 1); cells after an
    episode's last session are meaningless and masked by `attended`.
    """

    # Per episode.
    clinician: np.ndarray
    group: np.ndarray
    """Group number within the chunk, or NO_GROUP."""
    group_weeks: np.ndarray
    """Length of the episode's group in weeks (0 for individual episodes)."""
    core10: np.ndarray
    clinician_rates: np.ndarray
    deteriorator: np.ndarray
    alliance_trait: np.ndarray
    ending: np.ndarray
    """PLANNED or DROPOUT: how the simulated episode ended (before any cut-off)."""
    n_sessions: np.ndarray
    dropout_risk_s1: np.ndarray
    # Per session.
    attended: np.ndarray
    week: np.ndarray
    severity: np.ndarray
    true_scores: dict[str, np.ndarray]
    observed: dict[str, np.ndarray]
    """Observed (prorated) totals per form: phq9, gad7, core10, alliance, alliance_clinician."""
    items: dict[str, np.ndarray]
    """Answers (n, n_max, items), -1 where unanswered."""
    alliance_true: np.ndarray
    subscale_true: np.ndarray
    """(n, n_max, 3): bond, goals, tasks."""
    group_checkin_true: np.ndarray
    """(n, 3): the true level of the member's group at the check-in's levels (leader, other
    members, group as a whole); NaN for individual work."""
    alliance_state: np.ndarray
    rupture: np.ndarray
    rupture_subscale: np.ndarray
    repair: np.ndarray
    hazard: np.ndarray

    @property
    def n(self) -> int:
        return len(self.clinician)


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _groups(
    rng: np.random.Generator, cfg: SimulationConfig, n: int, clinicians: Clinicians
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group number per episode (NO_GROUP for individual work), each group's clinician and
    length in weeks."""
    group = np.full(n, NO_GROUP, dtype=np.int64)
    target = cfg.group_share * n
    low, high = cfg.group_size_range
    sizes: list[int] = []
    while sum(sizes) < target - low / 2 and sum(sizes) + low <= n:
        sizes.append(min(int(rng.integers(low, high + 1)), n - sum(sizes)))
    members = rng.permutation(n)[: sum(sizes)]
    group[members] = np.repeat(np.arange(len(sizes)), sizes)
    leader = rng.choice(len(clinicians.weight), size=len(sizes), p=clinicians.weight)
    wlow, whigh = cfg.group_weeks_range
    weeks = rng.integers(wlow, whigh + 1, len(sizes))
    return group, leader, weeks


def _fill(
    store: np.ndarray, idx: np.ndarray, t: int, keyed: np.ndarray, model: ItemModel
) -> np.ndarray:
    """Store raw answers (reverse-keyed items flipped) and return the keyed totals, prorated."""
    raw = keyed.copy()
    for number in model.reverse:
        col = raw[:, number - 1]
        raw[:, number - 1] = np.where(col >= 0, model.top - col, col)
    store[idx, t, :] = raw
    answered = keyed >= 0
    total = np.where(answered, keyed, 0).sum(axis=1)
    return np.asarray(total * model.n_items / answered.sum(axis=1), dtype=np.float64)


def _blank(rng: np.random.Generator, keyed: np.ndarray, rate: float) -> np.ndarray:
    """Leave at most one item per form unanswered, so that about `rate` of items are missing."""
    n, k = keyed.shape
    hit = rng.random(n) < rate * k
    which = np.asarray(rng.integers(0, k, n))
    keyed[hit, which[hit]] = -1
    return keyed


def simulate_chunk(
    rng: np.random.Generator,
    cfg: SimulationConfig,
    clinicians: Clinicians,
    models: dict[str, ItemModel],
    n: int,
) -> Chunk:
    """Simulate `n` episodes from start to their planned ending or dropout."""
    n_max = cfg.max_sessions
    phq, gad, core, ally = (models[m] for m in ("phq9", "gad7", "core10", "ally-alliance"))

    # --- Who: clinicians, groups, measures, clients ---------------------------------------
    group, leader, group_len = _groups(rng, cfg, n, clinicians)
    in_group = group != NO_GROUP
    clinician = rng.choice(len(clinicians.weight), size=n, p=clinicians.weight)
    clinician[in_group] = leader[group[in_group]]
    # A small practice may have no group at all.
    group_weeks = (
        np.where(in_group, group_len[np.maximum(group, 0)], 0)
        if group_len.size
        else np.zeros(n, dtype=group_len.dtype)
    )
    core10 = rng.random(n) < cfg.core10_share
    clinician_rates = rng.random(n) < cfg.clinician_rating_share

    s0 = np.clip(rng.normal(cfg.intake_phq9_mean, cfg.intake_phq9_sd, n) / phq.max_total, 0.08, 1.0)
    gad_offset = rng.normal(cfg.gad7_offset_mean, cfg.gad7_offset_sd, n)
    core_offset = rng.normal(cfg.core10_offset_mean, cfg.core10_offset_sd, n)
    crit_client = rng.normal(0.0, cfg.critical_client_sd, n)
    s_ref = cfg.intake_phq9_mean / phq.max_total

    # Alliance: trait-like parts (client, clinician, group) and each subscale's own level.
    trait_z = rng.standard_normal(n)
    n_groups = len(group_len)
    group_alliance = rng.normal(0.0, cfg.group_alliance_sd, n_groups)
    group_shock = rng.normal(0.0, cfg.group_session_sd, (max(n_groups, 1), n_max + 1))
    alliance_trait = (
        cfg.alliance_mean
        + cfg.alliance_trait_sd * trait_z
        + clinicians.alliance[clinician]
        + np.where(in_group, group_alliance[np.maximum(group, 0)] if n_groups else 0.0, 0.0)
    )
    subscale_dev = rng.normal(0.0, cfg.alliance_subscale_sd, (n, 3))
    alliance_between_sd = float(np.hypot(cfg.alliance_trait_sd, cfg.clinician_alliance_sd))
    clin_z = clinicians.alliance[clinician] / max(cfg.clinician_alliance_sd, 1e-9)

    # Course: improvement on ln(session), proportional to intake; a minority deteriorate.
    deteriorator = rng.random(n) < cfg.deteriorator_share
    rate = (
        rng.normal(cfg.improvement_rate_mean, cfg.improvement_rate_sd, n)
        + clinicians.effect[clinician]
        + cfg.alliance_trait_on_rate * trait_z
    )
    slope = np.where(
        deteriorator,
        -np.abs(rng.normal(cfg.deterioration_rate_mean, cfg.deterioration_rate_sd, n)),
        s0 * rate,
    )
    lo, hi = cfg.session_limit_range
    limit = np.clip(np.rint(rng.normal(cfg.session_limit_mean, cfg.session_limit_sd, n)), lo, hi)
    frailty = rng.normal(0.0, cfg.dropout_frailty_sd, n)
    p_rupture = _sigmoid(
        _logit(cfg.rupture_rate)
        - cfg.rupture_trait_effect * trait_z
        - cfg.rupture_clinician_effect * clin_z
    )
    p_repair = _sigmoid(_logit(cfg.repair_probability) + cfg.repair_clinician_effect * clin_z)

    # --- Per-session stores -----------------------------------------------------------------
    def grid(dtype: type, fill: float = 0) -> np.ndarray:
        return np.full((n, n_max), fill, dtype=dtype)

    attended = grid(np.bool_, False)
    week = grid(np.int32)
    severity = grid(np.float32, np.nan)
    true_scores = {m: grid(np.float32, np.nan) for m in ("phq9", "gad7", "core10")}
    observed = {
        m: grid(np.float32, np.nan)
        for m in ("phq9", "gad7", "core10", "alliance", "alliance_clinician")
    }
    items = {
        m.id: np.full((n, n_max, m.n_items), -1, dtype=np.int8) for m in (phq, gad, core, ally)
    }
    items["alliance_clinician"] = np.full((n, n_max, ally.n_items), -1, dtype=np.int8)
    alliance_true = grid(np.float32, np.nan)
    subscale_true = np.full((n, n_max, 3), np.nan, dtype=np.float32)
    alliance_state_rec = grid(np.float32, np.nan)
    rupture_rec = grid(np.bool_, False)
    rupture_sub_rec = grid(np.int8, -1)
    repair_rec = grid(np.bool_, False)
    hazard_rec = grid(np.float32, np.nan)

    # --- State -----------------------------------------------------------------------------
    active = np.ones(n, dtype=bool)
    ending = np.full(n, PLANNED, dtype=np.int8)
    n_sessions = np.zeros(n, dtype=np.int32)
    traj = s0.copy()
    fluct = rng.normal(0.0, cfg.symptom_state_sd, n)
    state = rng.normal(0.0, cfg.alliance_state_sd, n)
    prev_s = s0.copy()
    cur_week = np.zeros(n, dtype=np.int64)
    gap_before = np.zeros(n, dtype=np.int64)  # weeks missed before this session
    below_before = np.zeros(n, dtype=bool)  # below caseness at the previous session
    # Rupture: 0 none, 1 awaiting repair, 2 never to be repaired.
    r_state = np.zeros(n, dtype=np.int8)
    r_sub = np.zeros(n, dtype=np.int64)
    r_drop0 = np.zeros(n)
    r_drop = np.zeros((n, 3))
    r_repair_at = np.zeros(n, dtype=np.int64)
    r_noticed = np.zeros(n, dtype=bool)
    weights = np.asarray(cfg.rupture_subscale_weights) / sum(cfg.rupture_subscale_weights)
    dev_sd = np.sqrt(1 - cfg.alliance_state_ar**2) * cfg.alliance_state_sd
    fl_sd = np.sqrt(1 - cfg.symptom_state_ar**2) * cfg.symptom_state_sd

    for t in range(n_max):
        k = t + 1
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        m = idx.size
        s = np.clip(traj + fluct, 0.0, 1.0)
        attended[idx, t] = True
        week[idx, t] = cur_week[idx]
        severity[idx, t] = s[idx]
        n_sessions[idx] = k

        # Outcome forms, answered before the session.
        si = s[idx]
        is_core = core10[idx]
        below = np.zeros(m, dtype=bool)
        for model, latent, mask in (
            (phq, si, ~is_core),
            (gad, np.clip(si + gad_offset[idx], 0, 1), ~is_core),
            (core, np.clip(si + core_offset[idx], 0, 1), is_core),
        ):
            sub = np.flatnonzero(mask)
            if sub.size == 0:
                continue
            level = latent[sub] * model.top
            keyed = np.empty((sub.size, model.n_items), dtype=np.int8)
            expected = np.zeros(sub.size)
            for j in range(model.n_items):
                if model.critical == j + 1:
                    base = (
                        cfg.phq9_item9_intake_rate
                        if model.id == "phq9"
                        else (cfg.core10_item6_intake_rate)
                    )
                    logit = (
                        _logit(base)
                        + cfg.critical_severity_slope * (latent[sub] - s_ref)
                        + crit_client[idx[sub]]
                    )
                    keyed[:, j], e = critical_answers(rng, logit, model.top)
                else:
                    off = model.offsets[j]
                    keyed[:, j] = answers(rng, level, off, model.top, cfg.item_noise_sd)
                    e = expected_answer(level, off, model.top, cfg.item_noise_sd)
                expected += e
            keyed = _blank(rng, keyed, cfg.missing_item_rate)
            rows = idx[sub]
            total = _fill(items[model.id], rows, t, keyed, model)
            observed[model.id][rows, t] = total
            true_scores[model.id][rows, t] = expected
            cut = {"phq9": 10, "gad7": 8, "core10": 11}[model.id]
            if model.id == "gad7":
                below[sub] &= total < cut
            else:
                below[sub] = total < cut

        # Ruptures: repairs due now, decay of unrepaired ones, then new ruptures.
        repaired = np.zeros(n, dtype=bool)
        repaired[idx] = (r_state[idx] == 1) & (r_repair_at[idx] == k)
        r_state[repaired] = 0
        r_drop[repaired] = 0.0
        state[repaired] += cfg.repair_alliance_gain
        never = active & (r_state == 2)
        r_drop[never] *= cfg.unrepaired_decay
        onset = np.zeros(n, dtype=bool)
        if k >= 2:
            u = rng.random(n)
            onset = active & (r_state == 0) & ~repaired & (u < p_rupture)
        o = np.flatnonzero(onset)
        if o.size:
            sub_i = rng.choice(3, size=o.size, p=weights)
            size = np.maximum(0.8, rng.normal(cfg.rupture_drop_mean, cfg.rupture_drop_sd, o.size))
            r_sub[o] = sub_i
            r_drop0[o] = size
            r_drop[o] = (cfg.rupture_spill * size)[:, None]
            r_drop[o, sub_i] = size
            will_repair = rng.random(o.size) < p_repair[o]
            r_state[o] = np.where(will_repair, 1, 2)
            r_repair_at[o] = k + rng.integers(1, cfg.repair_max_lag + 1, o.size)
            r_noticed[o] = rng.random(o.size) < cfg.clinician_notices_rupture
        rupture_rec[o, t] = True
        rupture_sub_rec[o, t] = r_sub[o]
        repair_rec[repaired, t] = True
        in_rupture = r_state > 0
        remaining = np.where(in_rupture, r_drop[np.arange(n), r_sub] / np.maximum(r_drop0, 1e-9), 0)

        # Alliance, rated after the session.
        state = (
            cfg.alliance_state_ar * state
            + rng.normal(0.0, dev_sd, n)
            + cfg.symptom_change_on_alliance * (prev_s - s) * (k > 1)
        )
        shock = np.where(
            in_group, group_shock[np.maximum(group, 0), np.minimum(cur_week, n_max)], 0
        )
        varying = state + shock
        latent3 = (
            alliance_trait[:, None]
            + cfg.alliance_growth * np.log(k)
            + varying[:, None]
            + subscale_dev
            - r_drop
        )
        lat = np.concatenate([latent3, latent3.mean(axis=1, keepdims=True)], axis=1)[idx]
        keyed = np.empty((m, ally.n_items), dtype=np.int8)
        exp_items = np.empty((m, ally.n_items))
        for j, which in enumerate(ALLIANCE_ITEMS):
            off = ally.offsets[j]
            keyed[:, j] = answers(rng, lat[:, which], off, ally.top, cfg.alliance_item_noise_sd)
            exp_items[:, j] = expected_answer(
                lat[:, which], off, ally.top, cfg.alliance_item_noise_sd
            )
        keyed = _blank(rng, keyed, cfg.missing_item_rate)
        observed["alliance"][idx, t] = _fill(items[ally.id], idx, t, keyed, ally)
        alliance_true[idx, t] = exp_items.sum(axis=1)
        subscale_true[idx, t] = exp_items[:, [0, 2, 4]] + exp_items[:, [1, 3, 5]]
        alliance_state_rec[idx, t] = (latent3.mean(axis=1) - alliance_trait)[idx]

        # The clinician's rating: partly the client's alliance, more optimistic, and blind to
        # most of a rupture the clinician did not notice.
        rate_idx = idx[clinician_rates[idx]]
        if rate_idx.size:
            seen = np.where(r_noticed, 0.7, 0.15)[rate_idx, None]
            own = (
                cfg.alliance_mean
                + cfg.clinician_rating_offset
                + clinicians.leniency[clinician[rate_idx]]
                + rng.normal(0.0, 0.15, rate_idx.size)
            )[:, None]
            clat3 = (
                own
                + cfg.clinician_rating_agreement
                * (latent3[rate_idx] + r_drop[rate_idx] - cfg.alliance_mean)
                - seen * r_drop[rate_idx]
            )
            clat = np.concatenate([clat3, clat3.mean(axis=1, keepdims=True)], axis=1)
            ck = np.empty((rate_idx.size, ally.n_items), dtype=np.int8)
            for j, which in enumerate(ALLIANCE_ITEMS):
                ck[:, j] = answers(
                    rng, clat[:, which], ally.offsets[j], ally.top, cfg.alliance_item_noise_sd
                )
            ck = _blank(rng, ck, cfg.missing_item_rate)
            observed["alliance_clinician"][rate_idx, t] = _fill(
                items["alliance_clinician"], rate_idx, t, ck, ally
            )

        # Dropout hazard, planned endings and the next session's week.
        expected_s = np.maximum(s0 * (1 - cfg.improvement_rate_mean * np.log(k)), 0.0)
        alliance_z = (latent3.mean(axis=1) - cfg.alliance_mean) / alliance_between_sd
        risk = (
            cfg.dropout_alliance * alliance_z
            + cfg.dropout_rupture * remaining
            + cfg.dropout_no_progress * (s - expected_s) / 0.1
            + cfg.dropout_gap * gap_before
            + frailty
        )
        early = cfg.dropout_early[t] if t < len(cfg.dropout_early) else 0.0
        h = _sigmoid(cfg.dropout_intercept + early + risk)
        p_miss = _sigmoid(_logit(cfg.missed_week_rate) + cfg.missed_week_risk * risk)
        gap = np.minimum(rng.geometric(1 - p_miss), 8)

        below_now = np.zeros(n, dtype=bool)
        below_now[idx] = below
        recovered_end = (
            (k >= 4) & below_now & below_before & (rng.random(n) < cfg.recovered_ending_rate)
        )
        planned = np.where(
            in_group,
            cur_week + gap > group_weeks - 1,
            (k >= limit) | recovered_end,
        ) | (k == n_max)
        h = np.where(planned, 0.0, h)
        dropout = ~planned & (rng.random(n) < h)
        hazard_rec[idx, t] = h[idx]
        ends = active & (planned | dropout)
        ending[ends & dropout] = DROPOUT
        below_before = below_now

        # Symptoms at the next session: the course, the lagged alliance effect, ruptures.
        progress = np.where(in_rupture & (slope > 0), cfg.rupture_progress, 1.0)
        traj = np.clip(
            traj
            - slope * (np.log(k + 1) - np.log(k)) * progress
            + cfg.rupture_symptom_rise * remaining
            - cfg.repair_symptom_gain * repaired
            - cfg.alliance_within_effect * (varying - r_drop.mean(axis=1)),
            0.0,
            1.0,
        )
        fluct = cfg.symptom_state_ar * fluct + rng.normal(0.0, fl_sd, n)
        prev_s = s
        gap_before = gap - 1
        cur_week = cur_week + gap
        active = active & ~ends

    # The group check-in, drawn last so that the rest of the practice is the same without it.
    if cfg.group_checkin:
        items["ally-group"], group_checkin_true = _group_checkin(rng, cfg, group, n_max)
    else:
        items["ally-group"] = np.full((n, n_max, 7), -1, dtype=np.int8)
        group_checkin_true = np.full((n, 3), np.nan)

    return Chunk(
        clinician=clinician,
        group=group,
        group_weeks=group_weeks,
        core10=core10,
        clinician_rates=clinician_rates,
        deteriorator=deteriorator,
        alliance_trait=alliance_trait,
        ending=ending,
        n_sessions=n_sessions,
        dropout_risk_s1=_dropout_risk_s1(
            cfg, s0, slope, alliance_trait, frailty, limit, in_group, group_weeks
        ),
        attended=attended,
        week=week,
        severity=severity,
        true_scores=true_scores,
        observed=observed,
        items=items,
        alliance_true=alliance_true,
        subscale_true=subscale_true,
        group_checkin_true=group_checkin_true,
        alliance_state=alliance_state_rec,
        rupture=rupture_rec,
        rupture_subscale=rupture_sub_rec,
        repair=repair_rec,
        hazard=hazard_rec,
    )


def _group_checkin(
    rng: np.random.Generator, cfg: SimulationConfig, group: np.ndarray, n_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """Answers to the group check-in (n, n_max, 7) of group members, and each member's group's
    true level (n, 3). A member's level at each structural level is the group's (mean + a
    group effect of SD group_checkin_sd) plus their own (SD group_checkin_member_sd); each of
    its two items (bond, work) adds noise; item 7 says yes at random."""
    n = len(group)
    in_group = group != NO_GROUP
    n_groups = int(group.max()) + 1 if in_group.any() else 0
    effect = rng.normal(0.0, cfg.group_checkin_sd, (max(n_groups, 1), 3))
    own = rng.normal(0.0, cfg.group_checkin_member_sd, (n, 3))
    true = np.where(
        in_group[:, None], cfg.group_checkin_mean + effect[np.maximum(group, 0)], np.nan
    )
    level = np.nan_to_num(true + own)  # individual work: no check-in, cleared below
    items = np.full((n, n_max, 7), -1, dtype=np.int8)
    for j in range(6):
        noise = rng.normal(0.0, cfg.group_checkin_noise_sd, (n, n_max))
        items[:, :, j] = np.clip(np.rint(level[:, j // 2, None] + noise), 0, 10).astype(np.int8)
    items[:, :, 6] = rng.random((n, n_max)) < cfg.group_checkin_harder_share
    items[~in_group] = -1
    return items, true


def _dropout_risk_s1(
    cfg: SimulationConfig,
    s0: np.ndarray,
    slope: np.ndarray,
    alliance_trait: np.ndarray,
    frailty: np.ndarray,
    limit: np.ndarray,
    in_group: np.ndarray,
    group_weeks: np.ndarray,
) -> np.ndarray:
    """The chance of ending in dropout as foreseen at session 1 from the episode's traits: the
    hazards along its expected path (symptoms on its own course, alliance at its trait level
    plus growth, no ruptures, no missed weeks) up to its planned number of sessions."""
    n = len(s0)
    last = np.where(in_group, group_weeks, limit)
    survive = np.ones(n)
    between_sd = float(np.hypot(cfg.alliance_trait_sd, cfg.clinician_alliance_sd))
    for t in range(cfg.max_sessions):
        k = t + 1
        s = np.clip(s0 - slope * np.log(k), 0.0, 1.0)
        expected_s = np.maximum(s0 * (1 - cfg.improvement_rate_mean * np.log(k)), 0.0)
        z = (alliance_trait + cfg.alliance_growth * np.log(k) - cfg.alliance_mean) / between_sd
        early = cfg.dropout_early[t] if t < len(cfg.dropout_early) else 0.0
        h = _sigmoid(
            cfg.dropout_intercept
            + early
            + cfg.dropout_alliance * z
            + cfg.dropout_no_progress * (s - expected_s) / 0.1
            + frailty
        )
        survive = survive * np.where(k < last, 1 - h, 1.0)
    return 1 - survive
