"""The shipped measure definitions encode the published facts of each instrument.

Each reference value cites its source; the sources are also given in the YAML files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ally.measures import Direction, Kind, Measure, load_library
from ally.measures.library import with_licensed_text
from ally.measures.schema import TextFile
from ally.scoring import rules
from ally.scoring.administration import ScoringError, score

SHIPPED_IDS = {
    "phq9",
    "gad7",
    "core10",
    "wai-sr",
    "srs",
    "ors",
    "oq45",
    "ally-alliance",
    "ally-support",
    "ally-group",
    "gcq-s",
    "gsrs",
    "who5",
    "ally-coaching-alliance",
    "ally-self-care",
    "proqol5",
}
NO_TEXT = {"wai-sr", "srs", "ors", "oq45", "gcq-s", "gsrs", "proqol5"}
LANGUAGES = {
    "ally-alliance": ("de", "en"),
    "ally-support": ("de", "en"),
    "ally-group": ("de", "en"),
    "phq9": ("de", "en"),
    "gad7": ("de", "en"),
    "who5": ("de", "en"),
    "ally-coaching-alliance": ("de", "en"),
    "ally-self-care": ("de", "en"),
}


@pytest.fixture(scope="module")
def library():
    return load_library()


def measure(library, measure_id: str) -> Measure:
    return library.get(measure_id)


def score_range(m: Measure) -> tuple[float, float]:
    """The lowest and highest possible total of a sum-scored measure."""
    low = sum(m.response_of(item).minimum for item in m.items)
    high = sum(m.response_of(item).maximum for item in m.items)
    return low, high


def reverse_items(m: Measure) -> list[int]:
    return [item.number for item in m.items if item.reverse]


def subscales(m: Measure) -> dict[str, tuple[int, ...]]:
    return {s.id: s.items for s in m.scoring.subscales}


def test_library_loads_every_shipped_measure(library):
    assert {m.id for m in library} >= SHIPPED_IDS


@pytest.mark.parametrize("measure_id", sorted(NO_TEXT))
def test_licensed_measures_ship_no_item_text_or_option_labels(library, measure_id):
    m = measure(library, measure_id)
    assert m.licence.text_may_ship is False
    assert all(not item.text for item in m.items)
    assert not m.instructions
    options = getattr(m.response, "options", ())
    assert all(not option.label for option in options)


@pytest.mark.parametrize("measure_id", sorted(SHIPPED_IDS - NO_TEXT))
def test_measures_whose_licence_allows_it_ship_full_english_text(library, measure_id):
    m = measure(library, measure_id)
    assert m.licence.text_may_ship is True
    assert m.has_text
    assert "en" in m.languages
    # Translations ship where Ally may make them (its own check-in) or where a published
    # translation may be copied (PHQ-9 and GAD-7: the PHQ-D); every other measure is English only.
    assert m.languages == LANGUAGES.get(measure_id, ("en",))


# PHQ-9 in German: the PHQ-D (Löwe, Spitzer, Zipfel & Herzog 2002), verbatim from the German
# Medical Informatics Initiative's PRO module (kerndatensatzmodul-proms,
# input/fsh/definitions/phq-9/mii-qst-pro-phq-9.fsh).
def test_phq9_in_german_reads_as_the_phq_d(library):
    m = measure(library, "phq9")
    assert m.instructions["de"] == (
        "Wie oft fühlten Sie sich im Verlauf der letzten 2 Wochen durch die folgenden "
        "Beschwerden beeinträchtigt?"
    )
    assert m.item(9).text["de"] == (
        "Gedanken, dass Sie lieber tot wären oder sich Leid zufügen möchten"
    )
    assert [o.label["de"] for o in m.response.options] == [
        "Überhaupt nicht", "An einzelnen Tagen", "An mehr als der Hälfte der Tage",
        "Beinahe jeden Tag",
    ]  # fmt: skip


def test_phq9_german_text_leaves_scoring_and_the_risk_item_as_they_were(library):
    m = measure(library, "phq9")
    assert [o.value for o in m.response.options] == [0, 1, 2, 3]
    assert score_range(m) == (0, 27)
    [critical] = m.critical_items
    assert (critical.item, critical.min_value, critical.raises) == (9, 1, "self_harm")


def test_phq9_records_the_source_and_licence_of_its_german_text(library):
    licence = measure(library, "phq9").licence
    assert "translations" in licence.source  # the PHQ notice covers published translations
    assert "PHQ-D" in licence.notes
    assert "kerndatensatzmodul-proms" in licence.notes


# GAD-7: Spitzer et al. 2006; LOINC panel 69737-5, total 70274-6.
def test_gad7_has_seven_items_scored_0_to_3_for_a_total_of_0_to_21(library):
    m = measure(library, "gad7")
    assert len(m.items) == 7
    assert score_range(m) == (0, 21)
    assert reverse_items(m) == []
    assert m.direction is Direction.LOWER_IS_BETTER


def test_gad7_lowest_option_reads_not_at_all_not_the_zorowitz_error(library):
    labels = [o.label["en"] for o in measure(library, "gad7").response.options]
    assert labels == ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def test_gad7_bands_cut_off_and_reliable_change(library):
    m = measure(library, "gad7")
    assert [(b.min, b.max) for b in m.bands] == [(0, 4), (5, 9), (10, 14), (15, 21)]
    assert m.clinical_cutoff == 10
    assert m.reliability.value == 0.92
    assert m.reliable_change.value == 4  # NHS Talking Therapies
    assert m.critical_items == ()


def test_gad7_loinc_codes(library):
    m = measure(library, "gad7")
    assert m.codes == {"loinc_panel": "69737-5", "loinc_total": "70274-6"}
    assert [item.codes["loinc"] for item in m.items] == [
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
    ]  # fmt: skip


# GAD-7 in German: the PHQ-D's anxiety block (Löwe et al. 2008, Med Care 46:266), verbatim from
# the MII PRO implementation guide (kerndatensatzmodul-proms, Questionnaire-mii-qst-pro-gad-7).
def test_gad7_in_german_reads_as_the_published_german_gad7(library):
    m = measure(library, "gad7")
    assert [item.text["de"] for item in m.items] == [
        "Nervosität, Ängstlichkeit oder Anspannung",
        "Nicht in der Lage sein, Sorgen zu stoppen oder zu kontrollieren",
        "Übermäßige Sorgen bezüglich verschiedener Angelegenheiten",
        "Schwierigkeiten zu entspannen",
        "Rastlosigkeit, so dass Stillsitzen schwer fällt",
        "Schnelle Verärgerung oder Gereiztheit",
        "Gefühl der Angst, so als würde etwas Schlimmes passieren",
    ]
    # The same answer wording as the German PHQ-9, whose answer list it shares (LOINC LL358-3).
    phq9 = measure(library, "phq9")
    assert [o.label for o in m.response.options] == [o.label for o in phq9.response.options]
    assert m.instructions == phq9.instructions


def test_gad7_records_the_source_and_licence_of_its_german_text(library):
    licence = measure(library, "gad7").licence
    assert "translations" in licence.source
    assert "Questionnaire-mii-qst-pro-gad-7" in licence.notes


# CORE-10: Barkham et al. 2013; CST scoring guidance; CamCOPS core10.py.
def test_core10_has_ten_items_scored_0_to_4_for_a_total_of_0_to_40(library):
    m = measure(library, "core10")
    assert len(m.items) == 10
    assert score_range(m) == (0, 40)
    assert m.direction is Direction.LOWER_IS_BETTER


def test_core10_reverses_the_two_positively_worded_items_support_and_coping(library):
    m = measure(library, "core10")
    assert reverse_items(m) == [2, 3]
    assert "support" in m.item(2).text["en"]
    assert "cope" in m.item(3).text["en"]


def test_core10_prorates_with_one_item_missing(library):
    scoring = measure(library, "core10").scoring
    assert (scoring.min_answered, scoring.prorate) == (9, True)


def test_core10_cut_off_norms_and_reliability(library):
    m = measure(library, "core10")
    assert m.clinical_cutoff == 11
    assert (m.norms.clinical.mean, m.norms.clinical.sd) == (19.7, 7.7)
    assert (m.norms.functional.mean, m.norms.functional.sd) == (4.7, 4.8)
    assert m.reliability.value == 0.90
    assert m.bands[0].min == 0
    assert m.bands[-1].max == 40


def test_core10_plans_to_end_life_item_raises_self_harm_at_any_answer_above_zero(library):
    m = measure(library, "core10")
    [critical] = m.critical_items
    assert (critical.item, critical.min_value, critical.raises) == (6, 1, "self_harm")
    assert "end my life" in m.item(6).text["en"]


def test_core10_licence_requires_the_cst_copyright_line(library):
    licence = measure(library, "core10").licence
    assert "NC-ND" in licence.name
    assert (
        licence.attribution
        == "© CORE System Trust: https://www.coresystemtrust.org.uk/copyright.pdf"
    )


# WAI-SR: Hatcher & Gillaspy 2006; subscales as given by getrivet.ca [S].
def test_wai_sr_has_twelve_items_scored_1_to_5_for_a_total_of_12_to_60(library):
    m = measure(library, "wai-sr")
    assert len(m.items) == 12
    assert score_range(m) == (12, 60)
    assert m.kind is Kind.ALLIANCE
    assert m.direction is Direction.HIGHER_IS_BETTER
    assert m.clinical_cutoff is None


def test_wai_sr_subscales_task_bond_goal(library):
    assert subscales(measure(library, "wai-sr")) == {
        "tasks": (1, 2, 10, 12),
        "bond": (3, 5, 7, 9),
        "goals": (4, 6, 8, 11),
    }


# SRS: Duncan et al. 2003; ORS: Miller et al. 2003.
@pytest.mark.parametrize("measure_id", ["srs", "ors"])
def test_visual_analogue_measures_have_four_lines_scored_0_to_10_by_tenths(library, measure_id):
    m = measure(library, measure_id)
    assert len(m.items) == 4
    assert score_range(m) == (0, 40)
    assert m.response.accepts(7.3)
    assert not m.response.accepts(7.35)
    assert m.direction is Direction.HIGHER_IS_BETTER


def test_srs_names_each_alliance_dimension_and_flags_36_or_below(library):
    m = measure(library, "srs")
    assert m.kind is Kind.ALLIANCE
    assert subscales(m) == {"bond": (1,), "goals": (2,), "tasks": (3,), "overall": (4,)}
    assert m.clinical_cutoff == 36


def test_ors_adult_cut_off_25_and_reliable_change_5(library):
    m = measure(library, "ors")
    assert m.kind is Kind.OUTCOME
    assert m.clinical_cutoff == 25
    assert m.reliable_change.value == 5


# OQ-45.2: OQ scoring sheet; oqmeasures.com FAQ.
def test_oq45_has_45_items_scored_0_to_4_for_a_total_of_0_to_180(library):
    m = measure(library, "oq45")
    assert len(m.items) == 45
    assert score_range(m) == (0, 180)


def test_oq45_reverse_keyed_items(library):
    assert reverse_items(measure(library, "oq45")) == [1, 12, 13, 20, 21, 24, 31, 37, 43]


def test_oq45_subscales_have_25_11_and_9_items_and_cover_every_item_once(library):
    groups = subscales(measure(library, "oq45"))
    sizes = {name: len(items) for name, items in groups.items()}
    assert sizes == {"symptom_distress": 25, "interpersonal_relations": 11, "social_role": 9}
    assert sorted(n for items in groups.values() for n in items) == list(range(1, 46))


def test_oq45_cut_off_reliable_change_and_suicide_item(library):
    m = measure(library, "oq45")
    assert m.clinical_cutoff == 64
    assert m.reliable_change.value == 14
    [critical] = m.critical_items
    assert (critical.item, critical.min_value, critical.raises) == (8, 1, "self_harm")


# Ally's own alliance check-in: original wording, Apache-2.0, not validated.
def test_ally_alliance_is_marked_not_validated_and_licensed_apache(library):
    m = measure(library, "ally-alliance")
    assert m.validated is False
    assert m.licence.name.startswith("Apache-2.0")
    assert m.clinical_cutoff is None
    assert m.reliability is None


def test_ally_alliance_covers_bond_goals_tasks_and_overall(library):
    m = measure(library, "ally-alliance")
    groups = subscales(m)
    assert set(groups) == {"bond", "goals", "tasks", "overall"}
    assert sorted(n for items in groups.values() for n in items) == list(range(1, 8))
    assert m.kind is Kind.ALLIANCE


def test_licensee_text_fills_a_scoring_only_measure(library, tmp_path: Path):
    m = measure(library, "srs")
    lines = {n: f"line {n}" for n in range(1, 5)}
    text = TextFile(text_for="srs", version=m.version, language="en", items=lines)
    merged = with_licensed_text(m, text, str(tmp_path / "srs-text.yaml"))
    assert merged.has_text
    assert not m.has_text


# The support check is Ally's own (docs/feedback.md): the Clinical Support Tools' four domains
# (Whipple et al. 2003; Lambert 2015) in its own words, not validated, not an outcome measure.
def test_the_support_check_is_allys_own_unvalidated_and_outside_the_practice_model(library):
    m = measure(library, "ally-support")
    assert (m.kind, m.validated, m.licence.name) == (Kind.SUPPORT, False, "Apache-2.0 (Ally)")
    assert not m.kind.feeds_practice_model
    assert all(
        k.feeds_practice_model
        for k in Kind
        if k not in (Kind.SUPPORT, Kind.REVIEW, Kind.GROUP_ALLIANCE, Kind.SELF_CARE)
    )
    assert (m.reliability, m.reliable_change, m.clinical_cutoff) == (None, None, None)
    assert subscales(m) == {
        "alliance": (1, 2, 3),
        "motivation": (4, 5, 6),
        "social_support": (7, 8, 9),
        "life_events": (10, 11),
    }
    # Burdens are reverse-keyed, so every domain reads "higher means fewer difficulties".
    assert reverse_items(m) == [9, 10, 11]
    assert {s.id: s.concern_below for s in m.scoring.subscales} == dict.fromkeys(subscales(m), 2)
    assert 8 <= len(m.items) <= 12


def test_the_end_of_therapy_review_is_allys_own_unvalidated_and_outside_the_practice_model(
    library,
):
    """Ally's own wording (the Helpful Aspects of Therapy form, © Elliott, may not ship its
    text: ../shared/research/specs-goals-groups-fhir.md §4.1); only the overall change, -3..+3,
    is scored, and the practice model never reads it."""
    m = measure(library, "ally-review")
    assert (m.kind, m.validated, m.licence.name) == (Kind.REVIEW, False, "Apache-2.0 (Ally)")
    assert not m.kind.feeds_practice_model
    assert [item.number for item in m.items] == [1]
    assert (m.response.min, m.response.max) == (-3, 3)
    assert (m.reliability, m.reliable_change, m.clinical_cutoff) == (None, None, None)


# The group check-in is Ally's own (research/specs-goals-groups-fhir.md section 3): no published
# group measure (GQ, GCQ-S, TFI, GSRS) may ship its text. Levels x qualities after the GQ's
# structure (SPECS section 6), each 0-10; the yes/no item stays out of the total.
def test_the_group_check_in_crosses_three_levels_with_bond_and_work_and_is_not_validated(library):
    m = measure(library, "ally-group")
    assert (m.kind, m.validated) == (Kind.GROUP_ALLIANCE, False)
    assert m.licence.name == "Apache-2.0 (Ally)"
    assert not m.kind.feeds_practice_model
    assert subscales(m) == {
        "leader": (1, 2),
        "members": (3, 4),
        "group": (5, 6),
        "bond": (1, 3, 5),
        "work": (2, 4, 6),
        "harder": (7,),
    }
    assert set(m.languages) == {"en", "de"}


def test_the_group_check_in_total_is_the_mean_of_the_six_scale_items_without_the_yes_no_item(
    library,
):
    m = measure(library, "ally-group")
    yes = score(m, [8, 7, 5, 6, 9, 8, 1])
    assert yes.total == pytest.approx(43 / 6)
    assert yes.subscales["leader"] == 7.5
    assert yes.subscales["bond"] == pytest.approx(22 / 3)
    assert yes.subscales["harder"] == 1
    assert score(m, [8, 7, 5, 6, 9, 8, 0]).total == yes.total
    # One scale item may be missing; its level and quality then have no score.
    gap = score(m, [8, None, 5, 6, 9, 8, None])
    assert gap.total == pytest.approx(36 / 5)
    assert (gap.subscales["leader"], gap.subscales["work"]) == (None, None)


# GCQ-S and GSRS: scoring only (research/specs-goals-groups-fhir.md section 3: no licence lets
# their text ship). GCQ-S scales as documented [S]: Engaged 1, 2, 4, 8, 11; Avoiding 3, 5, 9;
# Conflict 6, 7, 10, 12; 0-6; a scale is the mean of its answered items; invalid if more than 4
# of the 12 items are missing.
def test_gcq_s_scores_its_three_scales_and_refuses_more_than_four_missing(library):
    m = measure(library, "gcq-s")
    assert not m.has_text
    assert not m.licence.text_may_ship
    assert subscales(m) == {
        "engaged": (1, 2, 4, 8, 11),
        "avoiding": (3, 5, 9),
        "conflict": (6, 7, 10, 12),
    }
    answers: list[float | None] = [5, 4, 1, 6, 0, 2, 3, 5, 2, 1, 4, 0]
    result = score(m, answers)
    assert result.subscales["engaged"] == pytest.approx((5 + 4 + 6 + 5 + 4) / 5)
    assert result.subscales["avoiding"] == pytest.approx((1 + 0 + 2) / 3)
    assert result.subscales["conflict"] == pytest.approx((2 + 3 + 1 + 0) / 4)
    gaps = [5, None, 1, 6, None, 2, 3, 5, 2, None, 4, None]
    assert score(m, gaps).subscales["engaged"] == pytest.approx((5 + 6 + 5 + 4) / 4)
    with pytest.raises(ScoringError):
        score(m, [5, None, None, 6, None, 2, 3, 5, None, None, 4, 0])


def test_gsrs_is_four_lines_scored_0_to_10_for_a_total_of_0_to_40(library):
    m = measure(library, "gsrs")
    assert not m.has_text
    assert (len(m.items), m.kind) == (4, Kind.GROUP_ALLIANCE)
    assert score(m, [9.5, 8.0, 7.2, 9.9]).total == pytest.approx(34.6)


# Coaching ----------------------------------------------------------------------------------------


def test_who5_is_scored_as_a_percentage_raw_sum_times_4(library):
    """Topp et al. 2015: raw 0-25, percentage = raw × 4 (0-100)."""
    m = measure(library, "who5")
    assert [item.number for item in m.items] == [1, 2, 3, 4, 5]
    assert m.response.values == (5, 4, 3, 2, 1, 0)
    assert score(m, [5, 4, 3, 2, 1]).total == 60
    assert score(m, [5] * 5).total == 100
    assert score(m, [0] * 5).total == 0
    assert rules.score_range(m) == (0, 100)


def test_who5_bands_at_the_published_cut_offs_28_and_50(library):
    m = measure(library, "who5")
    assert score(m, [2, 1, 1, 2, 1]).band == "very low wellbeing"  # 7 × 4 = 28
    assert score(m, [3, 2, 2, 2, 3]).band == "low wellbeing"  # 12 × 4 = 48
    assert score(m, [3, 3, 2, 2, 3]).band == "good wellbeing"  # 13 × 4 = 52
    assert m.reliable_change is not None
    assert m.reliable_change.value == 10


def test_who5_ships_its_text_with_the_who_attribution_and_no_proration(library):
    m = measure(library, "who5")
    assert m.licence.text_may_ship is True
    assert "World Health Organization" in m.licence.attribution
    assert m.item(1).text["en"] == "I have felt cheerful and in good spirits."
    assert m.item(1).text["de"] == "In den letzten zwei Wochen war ich froh und guter Laune."
    with pytest.raises(ScoringError):
        score(m, [5, 4, 3, 2, None])


def test_the_coaching_check_in_is_allys_own_unvalidated_on_goals_approach_relationship(library):
    m = measure(library, "ally-coaching-alliance")
    assert m.validated is False
    assert m.licence.name == "Apache-2.0 (Ally)"
    assert m.kind == "alliance"
    assert subscales(m) == {"goals": (1,), "approach": (2,), "relationship": (3,)}
    result = score(m, [8, 7, 9])
    assert result.total == 8.0
    assert result.subscales == {"goals": 8.0, "approach": 7.0, "relationship": 9.0}


def test_self_care_check_ins_are_about_the_member_and_outside_the_practice_model(library):
    for measure_id in ("ally-self-care", "proqol5"):
        m = measure(library, measure_id)
        assert m.kind == Kind.SELF_CARE
        assert not m.kind.feeds_practice_model
    assert measure(library, "ally-self-care").validated is False
    assert "Stamm" in measure(library, "proqol5").licence.attribution
