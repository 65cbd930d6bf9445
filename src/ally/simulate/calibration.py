"""The calibration summary: published figures against what the simulated practice shows.

Everything here is computed from the generated administrations (observed scores, as a practice
would see them), except the rupture counts, which come from the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ally.change.reliable import Method, is_deteriorated, is_improved, reliable_change, sample_stats
from ally.change.talking_therapies import paired_outcome
from ally.simulate.output import Placed
from ally.simulate.practice import DROPOUT, ONGOING

# name: (published figure, source, acceptable range for the simulator)
TARGETS: dict[str, tuple[str, str, tuple[float, float]]] = {
    "dropout_share": ("19.7%", "Swift & Greenberg 2012 [V]", (0.15, 0.25)),
    "ongoing_share": ("10%", "--ongoing-share", (0.05, 0.15)),
    "nhs_recovery": ("about 50%", "NHS Talking Therapies [S]", (0.40, 0.55)),
    "nhs_reliable_improvement": ("about 67%", "NHS Talking Therapies [S]", (0.58, 0.76)),
    "nhs_reliable_deterioration": ("about 5-7%", "NHS Talking Therapies [S]", (0.03, 0.10)),
    "jt_phq9_deteriorated": ("7.3%", "Hannan et al. 2005, 40 of 550 [V]", (0.04, 0.12)),
    "alliance_outcome_r": (".278", "Flückiger et al. 2018 [V]", (0.15, 0.40)),
    "rupture_episode_share": ("46%", "McLaughlin et al. 2014 [V abstract]", (0.25, 0.55)),
    "repair_outcome_r": (".29", "Eubanks, Muran & Safran 2018 [V]", (0.10, 0.45)),
}


@dataclass
class Calibration:
    """Accumulates per-episode and per-session statistics over chunks."""

    episodes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)

    def _add(self, name: str, values: np.ndarray) -> None:
        self.episodes.setdefault(name, []).append(np.asarray(values))

    def _sum(self, name: str, value: float) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(value)

    def add(self, p: Placed) -> None:
        c = p.chunk
        rows = np.arange(c.n)
        last = np.maximum(p.n_seen - 1, 0)
        for name in ("phq9", "gad7", "core10"):
            obs = c.observed[name]
            self._add(f"{name}_pre", obs[:, 0])
            self._add(f"{name}_post", obs[rows, last])
        early = np.where(p.seen[:, :3], c.observed["alliance"][:, :3], np.nan)
        counted = np.isfinite(early).sum(axis=1)
        self._add("early_alliance", np.nansum(early, axis=1) / np.maximum(counted, 1))
        self._add("core10", c.core10)
        self._add("ending", p.ending)
        self._add("sessions", p.n_seen)
        ruptures = (c.rupture & p.seen).sum(axis=1)
        repairs = (c.repair & p.seen).sum(axis=1)
        self._add("ruptures", ruptures)
        self._add("repairs", repairs)
        self._add("group", c.group >= 0)

        phq_seen = p.seen & ~c.core10[:, None]
        item9 = c.items["phq9"][:, :, 8]
        self._add("item9_intake", np.where(c.core10, np.nan, item9[:, 0] >= 1))
        self._sum("phq9_forms", phq_seen.sum())
        self._sum("item9_endorsed", ((item9 >= 1) & phq_seen).sum())

        # Client and clinician ratings of the same session.
        both = p.seen & c.clinician_rates[:, None]
        x = c.observed["alliance"][both].astype(np.float64)
        y = c.observed["alliance_clinician"][both].astype(np.float64)
        for name, v in (
            ("n", len(x)),
            ("x", x.sum()),
            ("y", y.sum()),
            ("xx", x @ x),
            ("yy", y @ y),
            ("xy", x @ y),
        ):
            self._sum(f"pair_{name}", v)

        # Within-person lagged effect: next session's PHQ-9 change on this session's alliance
        # minus the client's own mean (Falkenström et al. 2013).
        alliance = np.where(phq_seen, c.observed["alliance"], np.nan)
        phq = np.where(phq_seen, c.observed["phq9"], np.nan)
        counted_all = np.isfinite(alliance).sum(axis=1)
        centre = np.nansum(alliance, axis=1) / np.maximum(counted_all, 1)
        dev = (alliance - centre[:, None])[:, :-1]
        change = phq[:, 1:] - phq[:, :-1]
        ok = np.isfinite(dev) & np.isfinite(change)
        x, y = dev[ok].astype(np.float64), change[ok].astype(np.float64)
        for name, v in (
            ("n", len(x)),
            ("x", x.sum()),
            ("y", y.sum()),
            ("xx", x @ x),
            ("xy", x @ y),
        ):
            self._sum(f"lag_{name}", v)
        self._sum("attended", p.seen.sum())

    def summary(self) -> dict[str, Any]:
        e = {name: np.concatenate(parts) for name, parts in self.episodes.items()}
        s = self.sums
        ending = e["ending"]
        finished = ending != ONGOING
        paired = ~e["core10"].astype(bool) & finished & (e["sessions"] >= 2)
        pre, post = e["phq9_pre"][paired], e["phq9_post"][paired]
        out = paired_outcome(pre, post, e["gad7_pre"][paired], e["gad7_post"][paired])
        result: dict[str, Any] = {
            "episodes": len(ending),
            "attended_sessions": int(s["attended"]),
            "group_share": _share(e["group"]),
            "ongoing_share": _share(ending == ONGOING),
            "dropout_share": _share(ending[finished] == DROPOUT),
            "mean_sessions_finished": _round(e["sessions"][finished].mean()),
            "nhs_episodes": int(paired.sum()),
            "nhs_recovery": _share(out.recovered[out.caseness_start]),
            "nhs_reliable_improvement": _share(out.reliable_improvement),
            "nhs_reliable_deterioration": _share(out.reliable_deterioration),
        }
        if len(pre) >= 3:
            reliability = 0.89  # PHQ-9, Kroenke et al. 2001 (phq9.yaml)
            model = reliable_change(Method.JT, sample_stats(list(pre), list(post)), reliability)
            index = model.index(pre, post)
            improved = np.asarray(is_improved(index, -1, model.critical))
            worse = np.asarray(is_deteriorated(index, -1, model.critical))
            result["jt_phq9_improved"] = _share(improved)
            result["jt_phq9_recovered"] = _share(improved & (pre >= 10) & (post < 10))
            result["jt_phq9_deteriorated"] = _share(worse)
        gain = pre - post
        result["alliance_outcome_r"] = _corr(e["early_alliance"][paired], gain)
        ruptured = e["ruptures"][paired] > 0
        repaired = e["repairs"][paired] >= e["ruptures"][paired]
        result["repair_outcome_r"] = _corr(repaired[ruptured].astype(float), gain[ruptured])
        result["rupture_episode_share"] = _share(e["ruptures"] > 0)
        result["ruptures_per_100_sessions"] = _round(100 * e["ruptures"].sum() / s["attended"])
        result["ruptures_repaired_share"] = _round(e["repairs"].sum() / max(e["ruptures"].sum(), 1))
        intake9 = e["item9_intake"][np.isfinite(e["item9_intake"])]
        result["phq9_item9_intake_share"] = _share(intake9)
        result["phq9_item9_all_forms_share"] = _round(s["item9_endorsed"] / max(s["phq9_forms"], 1))
        n = s["pair_n"]
        if n > 2:
            mx, my = s["pair_x"] / n, s["pair_y"] / n
            vx, vy = s["pair_xx"] / n - mx**2, s["pair_yy"] / n - my**2
            result["clinician_minus_client_alliance"] = _round(my - mx)
            result["clinician_client_alliance_r"] = _round(
                (s["pair_xy"] / n - mx * my) / np.sqrt(vx * vy)
            )
        n = s["lag_n"]
        if n > 2:
            mx, my = s["lag_x"] / n, s["lag_y"] / n
            slope = (s["lag_xy"] / n - mx * my) / (s["lag_xx"] / n - mx**2)
            result["within_person_lag_phq9_per_alliance_point"] = _round(slope)
        return result


def _round(value: float) -> float:
    return round(float(value), 3)


def _share(flags: np.ndarray) -> float:
    flags = np.asarray(flags)
    return _round(flags.mean()) if flags.size else float("nan")


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return float("nan")
    return _round(np.corrcoef(x[ok], y[ok])[0, 1])


def report(summary: dict[str, Any]) -> str:
    """The summary as a table: achieved value, published figure and the accepted range."""
    lines = [f"{'figure':<44}{'achieved':>10}  published (source)"]
    for name, value in summary.items():
        target = TARGETS.get(name)
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        note = ""
        if target:
            figure, source, (low, high) = target
            flag = "" if low <= value <= high else "  << outside " + f"{low}-{high}"
            note = f"  {figure} ({source}){flag}"
        lines.append(f"{name:<44}{text:>10}{note}")
    return "\n".join(lines)
