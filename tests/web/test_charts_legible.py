"""Chart words stay legible on a phone: every label, title and legend is drawn at 14 px on a
chart narrow enough that a phone shrinks it little, so that no word reads below 12 px.

The charts are drawn on the server (vl-convert) and shown at their own size, or shrunk to the
screen's width; a 390 px phone leaves a chart 358 px (1 rem of margin each side), a 360 px
phone 328 px.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import vl_convert as vlc

from ally.web.clinic import charts
from ally.web.clinic.course import AllianceCourse, AlliancePoint, OutcomeCourse, OutcomePoint
from ally.web.collect import measures
from ally.web.dashboard.chart import outcome_spec as dashboard_spec

PHONE_CHART_PX = 328
"""The room for a chart on a 360 px phone, the narrowest common one."""
MIN_TEXT_PX = 12


def outcome_course(sessions: int) -> OutcomeCourse:
    signals = ["", "green", "yellow", "red", "white"]
    points = [
        OutcomePoint(
            session=n,
            date=None,
            score=18.0 - n / 2,
            band="moderate",
            change=-n / 2,
            rci=None,
            reliable_change="",
            expected=17.0 - n / 3,
            expected_low=12.0 - n / 3,
            expected_high=22.0 - n / 3,
            signal=signals[(n - 1) % len(signals)],
        )
        for n in range(1, sessions + 1)
    ]
    return OutcomeCourse("phq9", measures.measure("phq9"), points)


def alliance_course(sessions: int) -> AllianceCourse:
    points = [
        AlliancePoint(
            session=n,
            date=None,
            client=22.0 - (4 if n == 3 else 0),
            parts={"bond": 7.0, "goals": 7.0, "tasks": 8.0},
            clinician=24.0,
            discrepancy=-2.0,
            rupture=n == 3,
            repair=n == 4,
            rupture_subscale="bond" if n == 3 else "",
        )
        for n in range(1, sessions + 1)
    ]
    return AllianceCourse(
        "ally-alliance",
        measures.measure("ally-alliance"),
        points,
        parts=["bond", "goals", "tasks"],
    )


def drawn(spec: dict[str, Any]) -> tuple[float, list[float]]:
    """The drawing's width and the size of every word in it, in px."""
    svg = vlc.vegalite_to_svg(spec)
    width = re.search(r'<svg[^>]*\swidth="([\d.]+)"', svg)
    assert width is not None
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)(?:px)?"', svg)]
    sizes += [float(s) for s in re.findall(r"font-size:\s*([\d.]+)px", svg)]
    assert sizes, "no words found in the drawing"
    return float(width.group(1)), sizes


SPECS = {
    "outcome, 5 sessions": lambda: charts.outcome_spec(outcome_course(5)),
    "outcome, 30 sessions": lambda: charts.outcome_spec(outcome_course(30)),
    "alliance, 6 sessions": lambda: charts.alliance_spec(alliance_course(6)),
    "dashboard outcomes": lambda: dashboard_spec(
        [
            {"measure": m, "category": c, "order": i, "share": 0.2}
            for m in ("PHQ-9", "GAD-7", "CORE-10")
            for i, c in enumerate(["Recovered", "Improved", "Unchanged", "Deteriorated", "Harmed"])
        ]
    ),
}


@pytest.mark.parametrize("name", SPECS)
def test_every_word_of_a_chart_reads_at_12_px_or_more_on_a_phone(name: str) -> None:
    width, sizes = drawn(SPECS[name]())
    shrink = min(1.0, PHONE_CHART_PX / width)
    smallest = min(sizes) * shrink
    assert smallest >= MIN_TEXT_PX, (
        f"{name}: {width:.0f} px wide, words of {min(sizes)} px read at {smallest:.1f} px"
    )


@pytest.mark.parametrize("name", SPECS)
def test_legends_go_under_the_chart_so_that_they_do_not_widen_it(name: str) -> None:
    spec = SPECS[name]()
    assert spec["config"]["legend"]["orient"] == "bottom"
    for part in ("axis", "legend"):
        assert spec["config"][part]["labelFontSize"] >= 14
        assert spec["config"][part]["titleFontSize"] >= 14


def test_session_ticks_stay_apart_on_a_long_episode() -> None:
    axis = charts.outcome_spec(outcome_course(30))["layer"][0]["encoding"]["x"]
    ticks = axis["axis"]["values"]
    assert len(ticks) <= 13
    assert ticks[0] == 1
