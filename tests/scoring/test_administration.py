"""Scoring one administration: the rules of docs/measures.md, checked on the shipped measures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ally.measures import Measure, Options, load_library
from ally.scoring import ScoringError, score, validate
from ally.scoring.rules import band_of, score_range

LIBRARY = load_library()
SHIPPED = sorted(LIBRARY.measures)


def phq9() -> Measure:
    return LIBRARY.get("phq9")


def test_phq9_total_is_the_sum_of_its_items() -> None:
    result = score(phq9(), [3, 3, 2, 2, 1, 1, 0, 0, 0])
    assert result.total == 12
    assert result.band == "moderate"
    assert not result.prorated
    assert result.alerts == ()


def test_phq9_bands_follow_kroenke_2001() -> None:
    expected = {0: "minimal", 4: "minimal", 5: "mild", 10: "moderate", 15: "moderately severe"}
    for total, band in {**expected, 19: "moderately severe", 20: "severe", 27: "severe"}.items():
        assert band_of(total, phq9().bands) == band


def test_a_prorated_total_between_printed_bands_falls_in_the_lower_band() -> None:
    assert band_of(9.5, phq9().bands) == "mild"


def test_phq9_item_9_above_zero_raises_a_self_harm_alert() -> None:
    result = score(phq9(), [0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert result.critical
    (alert,) = result.alerts
    assert (alert.item, alert.raises, alert.answer) == (9, "self_harm", 1.0)


def test_phq9_item_9_at_zero_raises_no_alert() -> None:
    assert not score(phq9(), [3] * 8 + [0]).critical


def test_missing_answers_within_the_limit_are_prorated() -> None:
    # 7 answered items summing to 14: mean 2, prorated to 9 items = 18.
    result = score(phq9(), [2, 2, 2, 2, 2, 2, 2, None, None])
    assert result.total == pytest.approx(18.0)
    assert result.prorated
    assert result.answered == 7


def test_too_many_missing_answers_are_not_scored() -> None:
    with pytest.raises(ScoringError) as err:
        score(phq9(), [1, 1, 1, 1, 1, 1, None, None, None])
    (problem,) = err.value.problems
    assert problem.rule == "too_many_missing"
    assert "6 of 9 items answered; at least 7" in str(err.value)


def test_an_answer_out_of_range_names_the_item_and_the_allowed_answers() -> None:
    with pytest.raises(ScoringError) as err:
        score(phq9(), [0, 0, 4, 0, 0, 0, 0, 0, 0])
    (problem,) = err.value.problems
    assert (problem.item, problem.rule) == (3, "out_of_range")
    assert "give one of 0, 1, 2, 3" in problem.message


def test_an_unknown_item_is_rejected() -> None:
    answers = dict.fromkeys(range(1, 10), 0.0) | {10: 1.0}
    problems = validate(phq9(), answers)
    assert [p.rule for p in problems] == ["unknown_item"]
    assert "items 1 to 9" in problems[0].message


def test_a_wrong_measure_version_is_rejected() -> None:
    problems = validate(phq9(), [0] * 9, version="2.0")
    assert [p.rule for p in problems] == ["wrong_version"]


def test_a_non_number_is_rejected() -> None:
    problems = validate(phq9(), [0, 0, 0, "x", 0, 0, 0, 0, 0])  # type: ignore[list-item]
    assert [(p.item, p.rule) for p in problems] == [(4, "not_a_number")]


def test_every_problem_is_reported_at_once() -> None:
    problems = validate(phq9(), [9, 9, None, None, None, None, None, None, None])
    assert [p.rule for p in problems] == ["out_of_range", "out_of_range", "too_many_missing"]


def test_reverse_keyed_items_count_low_plus_high_minus_the_answer() -> None:
    measure = next(m for m in LIBRARY if any(i.reverse for i in m.items))
    reverse = next(i for i in measure.items if i.reverse)
    response = measure.response_of(reverse)
    answers: list[float | None] = [measure.response_of(i).minimum for i in measure.items]
    answers[reverse.number - 1] = response.minimum
    low_total = score(measure, answers).total
    answers[reverse.number - 1] = response.maximum
    high_total = score(measure, answers).total
    spread = response.maximum - response.minimum
    if measure.scoring.method == "mean":
        spread /= len(measure.items)
    assert low_total - high_total == pytest.approx(spread)


def _answers(measure: Measure, complete: bool = False) -> st.SearchStrategy[list[float | None]]:
    def one(number: int) -> st.SearchStrategy[float | None]:
        response = measure.response_of(measure.item(number))
        if isinstance(response, Options):
            values = st.sampled_from(list(response.values))
        else:
            steps = round((response.max - response.min) / response.step)
            values = st.integers(0, steps).map(lambda k: round(response.min + k * response.step, 6))
        return values if complete else st.one_of(st.none(), values)

    return st.tuples(*(one(i.number) for i in measure.items)).map(list)


@pytest.mark.parametrize("measure_id", SHIPPED)
@given(data=st.data())
def test_valid_answers_score_within_the_measure_range_or_fail_only_for_missing_answers(
    measure_id: str, data: st.DataObject
) -> None:
    measure = LIBRARY.get(measure_id)
    answers = data.draw(_answers(measure))
    # min_answered counts the items of the total (every item unless `total_items` says).
    answered = sum(answers[i.number - 1] is not None for i in measure.total_items)
    low, high = score_range(measure)
    if answered < measure.scoring.min_answered:
        assert [p.rule for p in validate(measure, answers)] == ["too_many_missing"]
        return
    result = score(measure, answers)
    assert low - 1e-9 <= result.total <= high + 1e-9
    for value in result.subscales.values():
        assert value is None or value >= 0
    critical = {
        c.item
        for c in measure.critical_items
        if answers[c.item - 1] is not None and answers[c.item - 1] >= c.min_value  # type: ignore[operator]
    }
    assert {a.item for a in result.alerts} == critical


@pytest.mark.parametrize("measure_id", SHIPPED)
@given(data=st.data())
def test_complete_answers_are_never_prorated_and_their_total_is_exact(
    measure_id: str, data: st.DataObject
) -> None:
    measure = LIBRARY.get(measure_id)
    answers = data.draw(_answers(measure, complete=True))
    result = score(measure, answers)
    assert not result.prorated
    keyed = []
    for item, answer in zip(measure.items, answers, strict=True):
        response = measure.response_of(item)
        assert answer is not None
        if item not in measure.total_items:
            continue
        keyed.append(response.minimum + response.maximum - answer if item.reverse else answer)
    n = len(keyed)
    if measure.scoring.method == "gas":
        # Kiresuk & Sherman (1968), equal weights, rho = 0.3.
        expected = 50 + 10 * sum(keyed) / (0.7 * n + 0.3 * n**2) ** 0.5
    else:
        # A sum times the measure's multiplier (WHO-5's percentage: raw × 4, Topp et al. 2015).
        times = measure.scoring.multiplier
        expected = sum(keyed) / n if measure.scoring.method == "mean" else sum(keyed) * times
    assert result.total == pytest.approx(expected)


@pytest.mark.parametrize("measure_id", SHIPPED)
@given(data=st.data())
def test_one_answer_out_of_range_is_never_scored(measure_id: str, data: st.DataObject) -> None:
    measure = LIBRARY.get(measure_id)
    answers = data.draw(_answers(measure, complete=True))
    number = data.draw(st.integers(1, len(measure.items)))
    answers[number - 1] = measure.response_of(measure.item(number)).maximum + 1
    with pytest.raises(ScoringError) as err:
        score(measure, answers)
    assert any(p.item == number and p.rule == "out_of_range" for p in err.value.problems)


def test_a_skipped_critical_item_leaves_the_critical_flag_unknown_not_false() -> None:
    # Prorating gives a total, but the risk question was not answered.
    result = score(phq9(), [1, 1, 1, 1, 1, 1, 1, 1, None])
    assert result.total == pytest.approx(9.0)
    assert result.critical is None
    assert result.unanswered_critical == (9,)
