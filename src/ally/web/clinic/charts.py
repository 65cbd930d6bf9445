"""The client page's charts: Vega-Lite v5 specs as plain dicts, drawn to SVG on the server.

One function per chart returns the spec, apart from the drawing, so a PDF report can reuse it.
Specs are drawn with vl-convert (offline; no script runs in the page), and a chart is drawn again
only when its numbers or words change: an episode's drawings are stored in the database
(`episode_drawings`, shared by every server process), other charts are cached in the process
(`svg`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess  # nosec B404 # runs this Python only, with a fixed argument list
import sys
from typing import Any

import vl_convert as vlc
from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ally.scoring.rules import score_range
from ally.web.clinic.course import AllianceCourse, OutcomeCourse
from ally.web.clinic.labels import NO_SIGNAL, SIGNAL_WORDS, SUBSCALE_WORDS, word
from ally.web.monitoring.models import ChartDrawing

log = logging.getLogger(__name__)

# vl-convert runs a JavaScript engine on threads of its own. A process forked after it started
# has the engine's memory without its threads, and its next drawing waits for ever (found by
# issue 19's reliability test). Such a child draws in a fresh Python process instead.
_drawn_in_this_process = False
_forked_after_drawing = False


def _after_fork_in_child() -> None:
    global _forked_after_drawing
    _forked_after_drawing = _forked_after_drawing or _drawn_in_this_process


os.register_at_fork(after_in_child=_after_fork_in_child)

_DRAW_ALONE = (
    "import json, sys, vl_convert; "
    "sys.stdout.write(vl_convert.vegalite_to_svg(json.load(sys.stdin)))"
)


def to_svg(spec: dict[str, Any]) -> str:
    """The spec drawn by vl-convert: here, or in a fresh process when this one was forked from
    a process that had drawn (a fork-safe fallback, slower by a start-up)."""
    global _drawn_in_this_process
    if _forked_after_drawing:
        log.warning("A chart is drawn in a separate process: this one was forked after drawing.")
        done = subprocess.run(  # nosec B603 # sys.executable and a constant script
            [sys.executable, "-c", _DRAW_ALONE],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return done.stdout
    _drawn_in_this_process = True
    return str(vlc.vegalite_to_svg(spec))


SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
WIDTH, HEIGHT = 320, 220
"""The plot's size in px. A drawing is shown at its own size, or shrunk to fit a narrower
screen; drawn this narrow, a phone (360 px and up) shrinks it little, and its words stay at
least MIN_TEXT_PX there."""
TEXT_PX = 14
MIN_TEXT_PX = 12
INK = "#1b1f24"
CACHE_SECONDS = 24 * 3600

TEXT_CONFIG: dict[str, Any] = {
    "axis": {
        "labelFontSize": TEXT_PX,
        "titleFontSize": TEXT_PX,
        "labelColor": INK,
        "titleColor": INK,
    },
    "legend": {
        "labelFontSize": TEXT_PX,
        "titleFontSize": TEXT_PX,
        "labelColor": INK,
        "titleColor": INK,
        "orient": "bottom",
        "direction": "vertical",
        "labelLimit": 0,
    },
    "header": {"labelFontSize": TEXT_PX, "titleFontSize": TEXT_PX},
    "title": {"fontSize": TEXT_PX + 1, "anchor": "start", "color": INK},
    "text": {"fontSize": TEXT_PX, "color": INK},
}
"""Every word of a chart (axes, legends, titles, labels) at TEXT_PX, dark on white, legends
under the plot so that they add height rather than width."""


def with_text(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """TEXT_CONFIG, with a chart's own additions merged in per part."""
    merged = {part: dict(values) for part, values in TEXT_CONFIG.items()}
    for part, values in (config or {}).items():
        merged[part] = {**merged.get(part, {}), **values}
    return merged


# Signal colours (the page's --red, --yellow, --green) with a shape each, so the colour is never
# the only carrier of the meaning (WCAG 1.4.1); every shape has a dark edge against the white.
SIGNAL_STYLE: dict[str, tuple[str, str]] = {
    "red": ("#a4161a", "triangle-down"),
    "yellow": ("#8a5a00", "diamond"),
    "green": ("#256b33", "circle"),
    "white": ("#ffffff", "square"),
    "": ("#6b7580", "cross"),
}

# Colour-blind-safe (after Okabe & Ito 2008), dark enough for 3:1 against white (WCAG 1.4.11);
# each line also has its own dash pattern.
RATER_COLOURS = ["#0072B2", "#D55E00"]
RATER_DASHES = [[1, 0], [6, 3]]
PART_COLOURS = ["#228833", "#AA3377", "#6A3D9A"]
PART_DASHES = [[1, 0], [6, 3], [2, 2]]
LINE_LEGEND = {"symbolType": "stroke", "symbolStrokeWidth": 2.5, "symbolSize": 300}


def _signal_word(signal: str) -> str:
    return word(SIGNAL_WORDS, signal) if signal else str(NO_SIGNAL)


def _session_axis(sessions: list[int]) -> dict[str, Any]:
    """Sessions on x, one tick per session number (up to about 12, then every few: the
    labels stay apart on a phone-wide plot)."""
    numbers = sorted(set(sessions)) or [1]
    step = max(1, (numbers[-1] - numbers[0]) // 12 + 1)
    ticks = list(range(numbers[0], numbers[-1] + 1, step))
    return {
        "field": "session",
        "type": "quantitative",
        "title": _("Session"),
        "axis": {"values": ticks, "format": "d"},
        "scale": {"domain": [numbers[0], max(numbers[-1], numbers[0] + 1)], "padding": 12},
    }


def outcome_values(course: OutcomeCourse) -> list[dict[str, Any]]:
    return [
        {
            "session": p.session,
            "score": p.score,
            "expected": p.expected,
            "low": p.expected_low,
            "high": p.expected_high,
            "signal": _signal_word(p.signal),
        }
        for p in course.points
    ]


def score_axis(low: float, high: float) -> dict[str, Any]:
    """The measure's whole range on the axis, both ends labelled (GAD-7: 0 to 21, not 20), with
    round steps between that do not crowd the ends."""
    span = high - low
    step = next((s for s in (1, 2, 5, 10, 20, 50) if span / s <= 8), 100)
    inside = range(int(low // step) + 1, int(-(-high // step)))
    between = [k * step for k in inside if low + step / 2 <= k * step <= high - step / 2]
    ticks = [low, *between, high]
    return {
        "scale": {"domain": [low, high], "nice": False},
        "axis": {"values": ticks},
    }


def outcome_spec(course: OutcomeCourse) -> dict[str, Any]:
    """Scores as a line with points coloured and shaped by signal, over the expected band
    (area), the expected score (dashed) and the clinical cut-off (dotted rule)."""
    values = outcome_values(course)
    present = {p.signal for p in course.points}
    signals = [s for s in SIGNAL_STYLE if s in present]
    direction = _("lower is better") if course.lower_is_better else _("higher is better")
    y: dict[str, Any] = {
        "type": "quantitative",
        "title": _("Score (%(direction)s)") % {"direction": direction},
    }
    if course.measure is not None:
        y.update(score_axis(*score_range(course.measure)))
    x = _session_axis([p.session for p in course.points])
    layers: list[dict[str, Any]] = [
        {
            "transform": [{"filter": "isValid(datum.low) && isValid(datum.high)"}],
            # Clipped: a band edge beyond the measure's range stays inside the plot.
            "mark": {"type": "area", "color": "#c8ced6", "opacity": 0.6, "clip": True},
            "encoding": {"x": x, "y": {**y, "field": "low"}, "y2": {"field": "high"}},
        },
        {
            "transform": [{"filter": "isValid(datum.expected)"}],
            "mark": {
                "type": "line",
                "color": "#4a5560",
                "strokeDash": [6, 4],
                "strokeWidth": 1.5,
                "clip": True,
            },
            "encoding": {"x": x, "y": {**y, "field": "expected"}},
        },
    ]
    if course.cutoff is not None:
        layers.append(
            {
                "data": {"values": [{"cutoff": course.cutoff}]},
                "mark": {"type": "rule", "color": INK, "strokeDash": [2, 3], "strokeWidth": 1.5},
                "encoding": {"y": {**y, "field": "cutoff"}},
            }
        )
        layers.append(
            {
                "data": {"values": [{"cutoff": course.cutoff}]},
                "mark": {
                    "type": "text",
                    "align": "left",
                    "dx": 4,
                    "dy": -8,
                    "color": INK,
                    "fontSize": TEXT_PX,
                },
                "encoding": {
                    "y": {**y, "field": "cutoff"},
                    "x": {"value": 0},
                    "text": {"value": _("Clinical cut-off %(value)g") % {"value": course.cutoff}},
                },
            }
        )
    layers += [
        {
            "mark": {"type": "line", "color": INK, "strokeWidth": 2},
            "encoding": {"x": x, "y": {**y, "field": "score"}},
        },
        {
            "mark": {"type": "point", "filled": True, "size": 110, "stroke": INK, "strokeWidth": 1},
            "encoding": {
                "x": x,
                "y": {**y, "field": "score"},
                "color": {
                    "field": "signal",
                    "type": "nominal",
                    "title": _("Signal"),
                    "scale": {
                        "domain": [_signal_word(s) for s in signals],
                        "range": [SIGNAL_STYLE[s][0] for s in signals],
                    },
                },
                "shape": {
                    "field": "signal",
                    "type": "nominal",
                    "title": _("Signal"),
                    "scale": {
                        "domain": [_signal_word(s) for s in signals],
                        "range": [SIGNAL_STYLE[s][1] for s in signals],
                    },
                },
            },
        },
    ]
    return {
        "$schema": SCHEMA,
        "width": WIDTH,
        "height": HEIGHT,
        "data": {"values": values},
        "layer": layers,
        "config": with_text({"legend": {"symbolStrokeColor": INK}}),
    }


def alliance_values(course: AllianceCourse) -> dict[str, list[dict[str, Any]]]:
    """Long rows for the total panel, the parts panel and the rupture and repair markers."""
    client, clinician = _("Client"), _("Clinician")
    totals, parts, markers = [], [], []
    for p in course.points:
        if p.client is not None:
            totals.append({"session": p.session, "score": p.client, "rater": client})
        if p.clinician is not None:
            totals.append({"session": p.session, "score": p.clinician, "rater": clinician})
        for part, value in p.parts.items():
            if value is not None:
                parts.append(
                    {"session": p.session, "score": value, "part": word(SUBSCALE_WORDS, part)}
                )
        if p.client is not None and p.rupture:
            markers.append({"session": p.session, "score": p.client, "marker": _("Rupture")})
        if p.client is not None and p.repair:
            markers.append({"session": p.session, "score": p.client, "marker": _("Repair")})
    return {"totals": totals, "parts": parts, "markers": markers}


def alliance_spec(course: AllianceCourse) -> dict[str, Any]:
    """Two panels over the sessions: the client's and the clinician's totals with rupture and
    repair markers, and below them the client's bond, goals and tasks scores."""
    values = alliance_values(course)
    x = _session_axis([p.session for p in course.points])
    total_y: dict[str, Any] = {"field": "score", "type": "quantitative", "title": _("Total")}
    if course.measure is not None:
        total_y.update(score_axis(*score_range(course.measure)))
    present = [
        (name, colour, dash)
        for name, colour, dash, rated in zip(
            [_("Client"), _("Clinician")],
            RATER_COLOURS,
            RATER_DASHES,
            [course.has_client, course.has_clinician],
            strict=True,
        )
        if rated
    ]
    rater_encoding = {
        "color": {
            "field": "rater",
            "type": "nominal",
            "title": _("Rated by"),
            "scale": {"domain": [p[0] for p in present], "range": [p[1] for p in present]},
            "legend": LINE_LEGEND,
        },
        "strokeDash": {
            "field": "rater",
            "type": "nominal",
            "title": _("Rated by"),
            "scale": {"domain": [p[0] for p in present], "range": [p[2] for p in present]},
        },
    }
    markers = [_("Rupture"), _("Repair")]
    total_layers: list[dict[str, Any]] = [
        {
            "data": {"values": values["totals"]},
            "mark": {"type": "line", "point": {"filled": True, "size": 60}, "strokeWidth": 2},
            "encoding": {"x": x, "y": total_y, **rater_encoding},
        }
    ]
    if values["markers"]:
        total_layers.append(
            {
                "data": {"values": values["markers"]},
                "mark": {
                    "type": "point",
                    "size": 220,
                    "stroke": INK,
                    "strokeWidth": 1,
                    "opacity": 1,
                    "fillOpacity": 1,
                },
                "encoding": {
                    "x": x,
                    "y": total_y,
                    "shape": {
                        "field": "marker",
                        "type": "nominal",
                        "title": _("Marker"),
                        "scale": {"domain": markers, "range": ["triangle-down", "triangle-up"]},
                    },
                    "fill": {
                        "field": "marker",
                        "type": "nominal",
                        "title": _("Marker"),
                        "scale": {"domain": markers, "range": ["#a4161a", "#256b33"]},
                    },
                },
            }
        )
    panels: list[dict[str, Any]] = [
        {"width": WIDTH, "height": 170, "title": _("Total"), "layer": total_layers}
    ]
    if values["parts"]:
        names = [word(SUBSCALE_WORDS, part) for part in course.parts]
        panels.append(
            {
                "width": WIDTH,
                "height": 140,
                "title": _("Bond, goals and tasks (client)"),
                "data": {"values": values["parts"]},
                "mark": {"type": "line", "point": {"filled": True, "size": 40}, "strokeWidth": 2},
                "encoding": {
                    "x": x,
                    "y": {"field": "score", "type": "quantitative", "title": _("Score")},
                    "color": {
                        "field": "part",
                        "type": "nominal",
                        "title": _("Part"),
                        "scale": {"domain": names, "range": PART_COLOURS[: len(names)]},
                        "legend": LINE_LEGEND,
                    },
                    "strokeDash": {
                        "field": "part",
                        "type": "nominal",
                        "title": _("Part"),
                        "scale": {"domain": names, "range": PART_DASHES[: len(names)]},
                    },
                },
            }
        )
    return {
        "$schema": SCHEMA,
        "vconcat": panels,
        # Each panel its own legends, under it: the markers belong to the totals.
        "resolve": {
            "scale": {
                "color": "independent",
                "strokeDash": "independent",
                "shape": "independent",
                "fill": "independent",
            }
        },
        "config": with_text(),
    }


_SVG_TAG = re.compile(r"<svg\b")


def spec_digest(spec: dict[str, Any]) -> str:
    """SHA-256 of the spec's content: the same numbers and words give the same drawing."""
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def labelled(drawn: str, labelled_by: str) -> SafeString:
    """A drawing as inline SVG, named for assistive technology by the element with id
    `labelled_by` (a visible caption)."""
    # vl-convert writes the SVG from our own numbers and labels; nothing typed by a user.
    named = _SVG_TAG.sub(
        f'<svg role="img" aria-labelledby="{labelled_by}" focusable="false"', drawn, count=1
    )
    return mark_safe(named)


def svg(spec: dict[str, Any], labelled_by: str) -> SafeString:
    """The spec drawn as inline SVG (see `labelled`), cached in this process by its content: for
    charts of no one episode (the dashboard's)."""
    key = "ally:clinic:chart:" + spec_digest(spec)
    drawn = cache.get(key)
    if drawn is None:
        drawn = to_svg(spec)
        cache.set(key, drawn, CACHE_SECONDS)
    return labelled(drawn, labelled_by)


def episode_drawings(
    drawings: QuerySet[ChartDrawing], episode_id: int, specs: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Each of an episode's specs drawn to SVG, by name: the stored drawing while its spec is
    unchanged, else drawn now and stored for every later view (in this language).

    `drawings` is the caller's scoped queryset of ChartDrawing.
    """
    language = get_language() or settings.LANGUAGE_CODE
    stored = {d.name: d for d in drawings.filter(episode_id=episode_id, language=language)}
    now = timezone.now()
    drawn: dict[str, str] = {}
    fresh = []
    for name, spec in specs.items():
        digest = spec_digest(spec)
        kept = stored.get(name)
        if kept is not None and kept.spec_sha256 == digest:
            drawn[name] = kept.svg
            continue
        drawn[name] = to_svg(spec)
        fresh.append(
            ChartDrawing(
                episode_id=episode_id,
                name=name,
                language=language,
                spec_sha256=digest,
                svg=drawn[name],
                drawn_at=now,
            )
        )
    if fresh:
        # One upsert: two views drawing the same chart at once both succeed.
        ChartDrawing.objects.bulk_create(
            fresh,
            update_conflicts=True,
            unique_fields=["episode", "name", "language"],
            update_fields=["spec_sha256", "svg", "drawn_at"],
        )
    return drawn
