"""Agreement of two IPR reviews: matching, segments, Cohen's kappa, rating correlation."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from ally.cli.main import cli
from ally.ipr.agreement import (
    agreement,
    kappa,
    marked_segments,
    matched_pairs,
    segment_count,
)
from ally.ipr.elan import eaf_document
from ally.ipr.marks import Kind, Mark, MarkError, Rater, marks_from_rows

C, T = Rater.CLIENT, Rater.CLINICIAN


def mark(rater: Rater, start: float, end: float | None = None, rating: int | None = None) -> Mark:
    return Mark("r1", rater, start, start if end is None else end, Kind.HELPFUL, rating)


def test_kappa_matches_a_hand_computed_example() -> None:
    # Client marks segments 1 and 2 of 4, clinician only segment 1: observed agreement 3/4,
    # chance agreement (2/4)(1/4) + (2/4)(3/4) = 1/2, kappa = (3/4 - 1/2) / (1 - 1/2) = 0.5
    # (Cohen 1960: kappa = (p_o - p_e) / (1 - p_e)).
    assert kappa([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(0.5)


def test_kappa_is_undefined_when_both_raters_label_every_segment_alike() -> None:
    assert kappa([1, 1, 1], [1, 1, 1]) is None
    assert kappa([], []) is None


def test_segments_run_up_to_and_including_the_one_holding_the_last_end() -> None:
    assert segment_count([mark(C, 0, 25)], 10) == 3  # [0,10) [10,20) [20,30)
    assert segment_count([mark(C, 30)], 10) == 4  # a moment at 30 s lies in [30, 40)
    assert segment_count([], 10) == 0


def test_an_interval_marks_every_segment_it_overlaps_and_a_moment_the_one_it_falls_in() -> None:
    assert marked_segments([mark(C, 5, 12)], 3, 10) == [1, 1, 0]
    assert marked_segments([mark(C, 10)], 3, 10) == [0, 1, 0]
    # An interval ending exactly where a segment starts does not reach into it.
    assert marked_segments([mark(C, 2, 10)], 3, 10) == [1, 0, 0]


def test_marks_match_when_they_overlap_or_lie_within_the_tolerance_one_to_one() -> None:
    client = [mark(C, 10, 20), mark(C, 60)]
    clinician = [mark(T, 18, 25), mark(T, 64), mark(T, 200)]
    pairs = matched_pairs(client, clinician, tolerance=5)
    assert [(a.start, b.start) for a, b in pairs] == [(10, 18), (60, 64)]
    assert matched_pairs(client, clinician, tolerance=3) == [(client[0], clinician[0])]


def test_the_pairing_takes_as_many_pairs_as_it_can() -> None:
    # Greedy closest-first would pair 10 with 11 and leave 6 alone; two pairs are possible.
    client = [mark(C, 6), mark(C, 10)]
    clinician = [mark(T, 11), mark(T, 14)]
    pairs = matched_pairs(client, clinician, tolerance=5)
    assert [(a.start, b.start) for a, b in pairs] == [(6, 11), (10, 14)]


def test_the_rating_correlation_is_pearsons_r_of_matched_pairs() -> None:
    marks = [
        mark(C, 10, rating=2),
        mark(T, 11, rating=3),
        mark(C, 50, rating=5),
        mark(T, 52, rating=5),
        mark(C, 90, rating=8),
        mark(T, 90, rating=9),
    ]
    result = agreement("r1", marks, segment=10, tolerance=5)
    assert (result.client_marks, result.clinician_marks, result.matched) == (3, 3, 3)
    # x = 2, 5, 8; y = 3, 5, 9: r = 18 / sqrt(18 * 56 / 3) = 0.98198 (by hand).
    assert result.rating_r == pytest.approx(18 / math.sqrt(18 * 56 / 3))
    # Segments 0..9: client 1, 5, 9 marked; clinician 1, 5, 9 marked: kappa 1.
    assert result.kappa == pytest.approx(1.0)


def test_a_mark_that_ends_before_it_starts_or_rates_outside_1_to_9_is_refused() -> None:
    with pytest.raises(MarkError, match="neither before 0"):
        Mark("r", C, 10, 5, Kind.HELPFUL)
    with pytest.raises(MarkError, match="5 neutral"):
        Mark("r", C, 1, 1, Kind.HELPFUL, 10)


def test_a_bad_row_is_named_by_its_line() -> None:
    rows = [
        {"recording": "a", "rater": "client", "start": "1", "end": "1", "kind": "helpful"},
        {"recording": "a", "rater": "therapist", "start": "1", "end": "1", "kind": "helpful"},
    ]
    with pytest.raises(MarkError, match="marks, line 3: rater 'therapist'"):
        marks_from_rows(rows)


def test_the_command_writes_one_row_per_recording(tmp_path: Path) -> None:
    source = tmp_path / "marks.csv"
    source.write_text(
        "recording,rater,start,end,kind,rating\n"
        "a,client,0,5,helpful,8\n"
        "a,clinician,3,3,helpful,7\n"
        "a,client,31,31,hindering,2\n"
        "b,client,10,10,significant,\n"
    )
    out = tmp_path / "agreement.csv"
    result = CliRunner().invoke(
        cli, ["ipr", "agreement", str(source), "--segment", "10", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == [
        "recording",
        "client_marks",
        "clinician_marks",
        "matched",
        "kappa",
        "rating_r",
    ]
    # a: segments 0-3; client [1,0,0,1], clinician [1,0,0,0]: p_o 3/4, p_e 1/2, kappa 0.5.
    assert rows[0] == {
        "recording": "a",
        "client_marks": "2",
        "clinician_marks": "1",
        "matched": "1",
        "kappa": "0.5000",
        "rating_r": "",
    }
    # b: the clinician marked nothing; client [0, 1], clinician [0, 0]: p_o = p_e = 1/2.
    assert rows[1] == {
        "recording": "b",
        "client_marks": "1",
        "clinician_marks": "0",
        "matched": "0",
        "kappa": "0.0000",
        "rating_r": "",
    }


def test_the_command_says_which_line_is_wrong(tmp_path: Path) -> None:
    source = tmp_path / "marks.csv"
    source.write_text("recording,rater,start,end,kind,rating\na,client,x,1,helpful,5\n")
    result = CliRunner().invoke(cli, ["ipr", "agreement", str(source)])
    assert result.exit_code == 1
    assert "line 2: start 'x' is not a number" in result.output


def test_the_elan_document_has_the_eaf_structure_with_a_tier_per_rater() -> None:
    marks = [mark(C, 1.0, 4.0, 8), mark(T, 2.0, rating=7)]
    root = ET.fromstring(eaf_document(marks, created=dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)))
    assert root.tag == "ANNOTATION_DOCUMENT"
    assert [child.tag for child in root] == [
        "HEADER",
        "TIME_ORDER",
        "TIER",
        "TIER",
        "LINGUISTIC_TYPE",
    ]
    slots = {s.get("TIME_SLOT_ID"): s.get("TIME_VALUE") for s in root.iter("TIME_SLOT")}
    client = root.find("TIER[@TIER_ID='client']/ANNOTATION/ALIGNABLE_ANNOTATION")
    assert client is not None
    assert (slots[client.get("TIME_SLOT_REF1")], slots[client.get("TIME_SLOT_REF2")]) == (
        "1000",
        "4000",
    )
    assert client.findtext("ANNOTATION_VALUE") == "helpful 8"
    assert root.find("HEADER").get("TIME_UNITS") == "milliseconds"  # type: ignore[union-attr]
