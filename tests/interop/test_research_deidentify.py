"""The research export's codebook from the measure files, and its de-identification rules."""

from __future__ import annotations

import random
import re

from ally.interop.research import (
    Pseudonyms,
    draw_offset,
    item_variables,
    measure_variables,
    suppress_counts,
)
from ally.measures import load_library


def test_an_item_is_labelled_with_its_wording_only_where_the_licence_lets_it_ship() -> None:
    library = load_library()
    phq9 = item_variables(library.get("phq9"))
    assert phq9[0].name == "phq9_01"
    assert "interest" in phq9[0].label.lower()
    assert dict(phq9[0].value_labels)[3] == "Nearly every day"
    wai = item_variables(library.get("wai-sr"))
    assert wai[0].name == "wai_sr_01"
    assert ":" not in wai[0].label
    assert wai[0].value_labels == ()
    assert wai[0].licence
    assert wai[0].item == 1


def test_every_variable_name_is_a_valid_spss_and_r_name_and_unique() -> None:
    names = [v.name for m in load_library() for v in measure_variables(m)]
    assert len(names) == len({n.lower() for n in names})
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{0,63}", n) for n in names)


def test_pseudonyms_are_random_stable_within_an_export_and_new_in_the_next() -> None:
    first, second = Pseudonyms("C"), Pseudonyms("C")
    ids = [first(key) for key in range(500)]
    assert len(set(ids)) == 500
    assert first(7) == ids[7]
    assert not set(ids) & {second(key) for key in range(500)}
    assert all(re.fullmatch(r"C[0-9A-F]{8}", i) and i[1:] != f"{k:08X}" for k, i in enumerate(ids))


def test_a_date_offset_is_whole_weeks_within_26_and_never_zero() -> None:
    rng = random.Random(4)
    offsets = {draw_offset(rng) for _ in range(2000)}
    assert offsets <= {7 * w for w in range(-26, 27)} - {0}
    assert (min(offsets), max(offsets)) == (-182, 182)


def test_small_cells_are_suppressed_with_the_next_smallest_when_one_alone_would_be() -> None:
    # CMS cell size suppression: no count from 1 to 10; zero is shown; none derivable.
    assert suppress_counts({"a": 40, "b": 12, "c": 0}, 11) == {"a": 40, "b": 12, "c": 0}
    assert suppress_counts({"a": 40, "b": 12, "c": 3}, 11) == {"a": 40, "b": None, "c": None}
    assert suppress_counts({"a": 40, "b": 2, "c": 3}, 11) == {"a": 40, "b": None, "c": None}
    assert suppress_counts({"a": 5}, 11) == {"a": None}
