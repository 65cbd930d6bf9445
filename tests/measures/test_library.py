"""Loading the library: users' folders and licensed item text."""

from __future__ import annotations

from pathlib import Path

import pytest

from ally.measures import MeasureFileError, load_library


def write_text_file(folder: Path, **overrides: object) -> Path:
    items = "\n".join(f"  {n}: Licensed wording of item {n}" for n in range(1, 13))
    fields = {"text_for": "wai-sr", "version": "1.0", "language": "en"} | overrides
    head = "\n".join(
        f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}" for k, v in fields.items()
    )
    path = folder / "wai-sr-text.yaml"
    path.write_text(f"{head}\nitems:\n{items}\n")
    return path


def test_a_licensee_supplies_the_item_text_of_a_scoring_only_measure(tmp_path: Path) -> None:
    version = load_library().get("wai-sr").version
    write_text_file(tmp_path, version=version)
    measure = load_library([tmp_path]).get("wai-sr")
    assert measure.has_text
    assert measure.item(12).text["en"] == "Licensed wording of item 12"
    assert not load_library().get("wai-sr").has_text


def test_licensed_text_for_another_version_is_refused(tmp_path: Path) -> None:
    write_text_file(tmp_path, version="9.9")
    with pytest.raises(MeasureFileError, match=r"version 9\.9"):
        load_library([tmp_path])


def test_licensed_text_must_cover_every_item(tmp_path: Path) -> None:
    version = load_library().get("wai-sr").version
    path = write_text_file(tmp_path, version=version)
    path.write_text(path.read_text().replace("  12: Licensed wording of item 12\n", ""))
    with pytest.raises(MeasureFileError, match=r"missing items \[12\]"):
        load_library([tmp_path])


def test_shipped_text_is_refused_when_the_licence_forbids_it(tmp_path: Path) -> None:
    source = Path(__file__).parents[2] / "src/ally/measures/definitions/srs.yaml"
    text = source.read_text().replace("id: srs", "id: my-srs")
    text = text.replace("- {number: 1", "- {text: {en: copied}, number: 1", 1)
    (tmp_path / "my-srs.yaml").write_text(text)
    with pytest.raises(MeasureFileError, match="licence says the text may not ship"):
        load_library([tmp_path])
