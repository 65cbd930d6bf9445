"""Numbers and bands on the staff screens read as a German clinician writes them."""

from __future__ import annotations

from django.utils import translation

from ally.web.clinic.templatetags.clinic import percent, signed, words


def test_a_change_and_a_share_take_the_readers_decimal_mark_and_percent_sign() -> None:
    with translation.override("en"):
        english = (signed(2.6), signed(-2.5), signed(0.0), percent(0.127))
    assert english == (
        "+2.6",
        "\u22122.5",
        "0",
        "13%",
    )
    with translation.override("de"):
        assert (signed(2.6), signed(-2.5), percent(0.127)) == ("+2,6", "\u22122,5", "13 %")


def test_severity_bands_are_named_in_the_readers_language() -> None:
    with translation.override("en"):
        assert words("moderately severe", "band") == "moderately severe"
    with translation.override("de"):
        assert words("moderately severe", "band") == "mittelschwer"
        assert words("mild", "band") == "leicht"
        # A band a new measure file brings shows as its file names it.
        assert words("very high", "band") == "very high"
