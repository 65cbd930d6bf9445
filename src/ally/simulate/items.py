"""Item answers from latent levels: every answer an allowed option, true scores as expectations.

An item's answer is its latent level plus normal noise, rounded and clipped to the options
(a discretised normal, close to a graded-response model). The true score of a form is the
expected value of its observed total, so `observed = true + error` as in classical test theory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from ally.measures import Measure, load_library
from ally.measures.schema import Options


@dataclass(frozen=True)
class ItemModel:
    """What the simulator needs to know about one measure, taken from its definition file."""

    id: str
    n_items: int
    top: int
    """The highest answer; answers run 0..top."""
    reverse: tuple[int, ...]
    """Reverse-keyed item numbers (their raw answer is top minus the keyed value)."""
    critical: int | None
    """The critical item's number, whose endorsement is modelled separately."""
    offsets: tuple[float, ...]
    """Each item's difficulty: its keyed answer's shift from the form's latent level."""

    @property
    def max_total(self) -> int:
        return self.n_items * self.top


def _model(measure: Measure, offsets: tuple[float, ...]) -> ItemModel:
    response = measure.response
    if not isinstance(response, Options) or response.values != tuple(
        float(v) for v in range(int(response.maximum) + 1)
    ):
        raise ValueError(f"{measure.id}: the simulator needs options 0, 1, ..., n")
    if len(offsets) != len(measure.items):
        raise ValueError(f"{measure.id}: {len(offsets)} offsets for {len(measure.items)} items")
    return ItemModel(
        id=measure.id,
        n_items=len(measure.items),
        top=int(response.maximum),
        reverse=tuple(i.number for i in measure.items if i.reverse),
        critical=measure.critical_items[0].item if measure.critical_items else None,
        offsets=offsets,
    )


def item_models() -> dict[str, ItemModel]:
    """PHQ-9, GAD-7, CORE-10 and the Ally alliance check-in, from the shipped definitions."""
    library = load_library()
    # Difficulties [U]: somatic items (sleep, tiredness) run higher than psychomotor ones, as
    # in most PHQ-9 samples; the critical items are modelled apart, so their offset is unused.
    return {
        "phq9": _model(library.get("phq9"), (0.1, 0.2, 0.35, 0.45, 0.1, 0.1, 0.0, -0.4, 0.0)),
        "gad7": _model(library.get("gad7"), (0.25, 0.1, 0.2, 0.15, -0.35, 0.05, -0.4)),
        "core10": _model(
            library.get("core10"), (0.5, -0.3, 0.2, -0.1, -0.5, 0.0, 0.4, 0.0, 0.5, -0.3)
        ),
        "ally-alliance": _model(
            library.get("ally-alliance"), (0.1, -0.1, 0.0, 0.0, 0.05, -0.05, 0.0)
        ),
    }


def answers(
    rng: np.random.Generator, level: np.ndarray, offset: float, top: int, noise_sd: float
) -> np.ndarray:
    """Keyed answers 0..top (int8) around `level + offset`."""
    raw = level + offset + rng.normal(0.0, noise_sd, level.shape)
    return np.clip(np.rint(raw), 0, top).astype(np.int8)


def expected_answer(level: np.ndarray, offset: float, top: int, noise_sd: float) -> np.ndarray:
    """E[answer]: the sum over thresholds k - 0.5 of P(level + offset + noise > k - 0.5)."""
    x = level + offset
    return sum((ndtr((x - (k - 0.5)) / noise_sd) for k in range(1, top + 1)), np.zeros_like(x))


def critical_answers(
    rng: np.random.Generator, logit: np.ndarray, top: int
) -> tuple[np.ndarray, np.ndarray]:
    """Answers to a critical item and their expectation: endorsed with probability
    sigmoid(logit); when endorsed, 1 in 65%, 2 in 22% and 3 or more in 13% [U]."""
    p = 1.0 / (1.0 + np.exp(-logit))
    endorsed = rng.random(logit.shape) < p
    levels = np.array([1, 2, top] if top >= 3 else [1, top], dtype=np.int8)
    weights = np.array([0.65, 0.22, 0.13] if top >= 3 else [0.75, 0.25])
    level = levels[rng.choice(len(levels), size=logit.shape, p=weights)]
    answer = np.where(endorsed, level, 0).astype(np.int8)
    return answer, p * float(levels @ weights)
