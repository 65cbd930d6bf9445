"""A measure's language is all or nothing: a client never reads a form in two languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ally.measures import MeasureFileError, load_library
from ally.measures.schema import Measure

DEFINITIONS = Path(__file__).parents[2] / "src/ally/measures/definitions"


def alliance() -> dict[str, Any]:
    """Ally's own check-in, complete in English and German, as plain data to break."""
    data: dict[str, Any] = yaml.safe_load((DEFINITIONS / "ally-alliance.yaml").read_text())
    return data


def test_a_measure_complete_in_two_languages_is_accepted() -> None:
    assert Measure.model_validate(alliance()).languages == ("de", "en")


def test_german_questions_with_an_english_only_answer_are_refused() -> None:
    data = alliance()
    del data["response"]["options"][1]["label"]["de"]
    with pytest.raises(ValidationError, match="answer 1 has no 'de' text"):
        Measure.model_validate(data)


def test_german_questions_without_german_instructions_are_refused() -> None:
    data = alliance()
    del data["instructions"]["de"]
    with pytest.raises(ValidationError, match="instructions has no 'de' text"):
        Measure.model_validate(data)


def test_one_item_left_in_english_is_refused(tmp_path: Path) -> None:
    data = alliance()
    data["id"] = "half-german"
    del data["items"][2]["text"]["de"]
    (tmp_path / "half-german.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(MeasureFileError, match="item 3 has no 'de' text"):
        load_library([tmp_path])
