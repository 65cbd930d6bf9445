"""The practice model's criterion 1 of sudden gains: fitted once, stored, applied as stored."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ally.change.reliable import Z_975
from ally.feedback.fit import FitOptions, fit_practice
from ally.feedback.practice import PracticeModel, SuddenGain, params_of
from ally.feedback.results import ENDINGS, Administrations, results
from ally.measures import load_library
from ally.measures.schema import Direction

LIBRARY = load_library()
EMPTY = Administrations(
    episode=np.zeros(0, np.int64),
    measure=np.zeros(0, np.int64),
    measure_ids=(),
    rater=np.zeros(0, np.int64),
    session=np.zeros(0, np.int64),
    day=np.zeros(0),
    score=np.zeros(0),
    subscales={},
    ending=np.zeros(0, np.int64),
)


def published(**options: object) -> PracticeModel:
    """The model of a practice without history: every measure's published values."""
    params = {m.id: params_of(m) for m in LIBRARY}
    fit = FitOptions(fitted_at="2026-01-01", dropout=False, **options)  # type: ignore[arg-type]
    return fit_practice(EMPTY, params, fit)


def phq9_episode(scores: list[float]) -> Administrations:
    n = len(scores)
    return Administrations(
        episode=np.zeros(n, np.int64),
        measure=np.zeros(n, np.int64),
        measure_ids=("phq9",),
        rater=np.zeros(n, np.int64),
        session=np.arange(1, n + 1, dtype=np.int64),
        day=np.arange(n, dtype=np.float64) * 7,
        score=np.asarray(scores, dtype=np.float64),
        subscales={},
        ending=np.full(n, ENDINGS.index("ongoing"), np.int64),
    )


# A fall of 6 points between sessions 3 and 4, 30% of the pregain 20, three steady sessions
# either side: criteria 2 and 3 of Tang & DeRubeis (1999) hold, criterion 1 decides.
SIX_POINT_GAIN = [20, 20, 20, 14, 14, 14]


def test_criterion_1_is_the_published_reliable_change_where_a_measure_has_one() -> None:
    phq9 = published().measures["phq9"].change("client")
    assert phq9 is not None
    assert phq9.sudden_gain_criterion == 6
    assert phq9.sudden_gain is not None
    assert "published reliable change of 6 points" in phq9.sudden_gain.source
    assert list(results(published(), phq9_episode(SIX_POINT_GAIN)).series.sudden_gains) == [1]


def test_a_cutoff_given_for_a_measure_replaces_its_reliable_change() -> None:
    model = published(sudden_gain_cutoffs={"phq9": 7.0})
    phq9 = model.measures["phq9"].change("client")
    assert phq9 is not None
    assert phq9.sudden_gain == SuddenGain(7.0, "as given")
    # The other measures keep theirs (GAD-7: the published 4 points).
    gad7 = model.measures["gad7"].change("client")
    assert gad7 is not None
    assert gad7.sudden_gain_criterion == 4
    assert list(results(model, phq9_episode(SIX_POINT_GAIN)).series.sudden_gains) == [0]


def test_z_sets_a_criterion_derived_from_sd_and_reliability_not_a_published_one() -> None:
    # CORE-10's clinician rating has no published reliable change: Jacobson & Truax's value from
    # the published clinical SD and reliability (docs/feedback.md).
    core10 = LIBRARY.get("core10")
    assert core10.norms.clinical is not None
    assert core10.reliability is not None
    sd, r = core10.norms.clinical.sd, core10.reliability.value
    for z in (Z_975, 1.96, 2.576):
        model = published(sudden_gain_z=z)
        clinician = model.measures["core10"].change("clinician")
        assert clinician is not None
        assert clinician.sudden_gain_criterion == pytest.approx(z * sd * math.sqrt(2 * (1 - r)))
        phq9 = model.measures["phq9"].change("client")
        assert phq9 is not None
        assert phq9.sudden_gain_criterion == 6


def test_without_a_reliable_change_or_a_given_cutoff_there_is_no_criterion() -> None:
    params = {
        "bdi": params_of(None, measure_id="bdi", direction=Direction.LOWER_IS_BETTER),
    }
    options = FitOptions(fitted_at="2026-01-01", dropout=False)
    none = fit_practice(EMPTY, params, options).measures["bdi"].change("client")
    assert none is not None
    assert none.sudden_gain is None
    given = FitOptions(fitted_at="2026-01-01", dropout=False, sudden_gain_cutoffs={"bdi": 7.0})
    seven = fit_practice(EMPTY, params, given).measures["bdi"].change("client")
    assert seven is not None
    assert seven.sudden_gain_criterion == 7


def test_the_criterion_is_saved_in_the_model_and_read_back_unchanged() -> None:
    model = published(sudden_gain_cutoffs={"phq9": 7.0}, sudden_gain_z=2.576)
    text = model.to_json()
    assert json.loads(text)["measures"]["phq9"]["raters"]["client"]["sudden_gains"] == {
        "cutoff": 7.0,
        "source": "as given",
    }
    assert PracticeModel.from_json(text).to_json() == text


def test_a_model_file_from_before_the_criterion_was_stored_derives_it_as_then() -> None:
    data = json.loads(published().to_json())
    for m in data["measures"].values():
        for rater in m["raters"].values():
            del rater["sudden_gains"]
    old = PracticeModel.from_dict(data)
    new = published()
    for measure_id, m in new.measures.items():
        for rater, change in m.raters.items():
            was = old.measures[measure_id].change(rater)
            assert was is not None
            assert was.sudden_gain_criterion == change.sudden_gain_criterion, (measure_id, rater)
