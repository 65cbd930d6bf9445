"""The codebook of a research export: each variable's name, label, type, value labels and the
licence of the measure it comes from, generated from the measure files. The data package's
schema, the .sav's variable and value labels, the Parquet field metadata and codebook.csv are
all written from these `Variable`s, so they cannot disagree.

Item wording is in a label only where the measure's licence lets Ally ship it
(`Licence.text_may_ship`); a licensed measure's items are named by number, even when the practice
supplied its licensed text, because the text may not leave the practice with the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ally.measures.schema import Measure, Options, Text

Type = Literal["string", "integer", "number", "boolean", "date", "year"]
"""Frictionless Table Schema field types (https://specs.frictionlessdata.io/table-schema/)."""
Level = Literal["nominal", "ordinal", "scale"]
"""SPSS's measurement levels."""

LABEL_MAX = 250
"""Longer variable labels are cut: SPSS shows about 256 bytes."""


@dataclass(frozen=True)
class Variable:
    """One column of an exported table, as the codebook describes it."""

    name: str
    label: str
    type: Type
    level: Level
    description: str = ""
    value_labels: tuple[tuple[float, str], ...] = ()
    """Numeric codes and what they mean (an item's answer options)."""
    categories: tuple[str, ...] = ()
    """The values a text column may take, where they are a fixed set."""
    minimum: float | None = None
    maximum: float | None = None
    measure: str = ""
    item: int | None = None
    subscale: str = ""
    licence: str = ""
    attribution: str = ""


def _english(text: Text) -> str:
    return text.get("en") or next(iter(text.values()), "")


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1].rstrip() + "…"


_NOT_NAME = re.compile(r"[^a-z0-9_]")


def measure_prefix(measure: Measure) -> str:
    """The start of a measure's column names: its id as an SPSS and R name (`wai-sr` → `wai_sr`;
    a letter first)."""
    prefix = _NOT_NAME.sub("_", measure.id.lower())
    return prefix if prefix[:1].isalpha() else f"m_{prefix}"


def _whole(values: tuple[float, ...]) -> bool:
    return all(float(v).is_integer() for v in values)


def item_variables(measure: Measure) -> tuple[Variable, ...]:
    """One variable per item: `<measure>_01`, ... with the answer options as value labels."""
    width = max(2, len(str(len(measure.items))))
    wording = measure.licence.text_may_ship
    found = []
    for item in measure.items:
        response = measure.response_of(item)
        label = f"{measure.name}, item {item.number}"
        if wording and _english(item.text):
            label += f": {_english(item.text)}"
        reverse = " Reverse-keyed: scored as (min + max) − answer." if item.reverse else ""
        options = isinstance(response, Options)
        labels = (
            tuple((o.value, _english(o.label)) for o in response.options if _english(o.label))
            if isinstance(response, Options) and wording
            else ()
        )
        whole = isinstance(response, Options) and _whole(response.values)
        found.append(
            Variable(
                name=f"{measure_prefix(measure)}_{item.number:0{width}d}",
                label=_short(label),
                type="integer" if whole else "number",
                level="ordinal" if options else "scale",
                description=f"The answer as given (before any reverse keying).{reverse}",
                value_labels=labels,
                minimum=response.minimum,
                maximum=response.maximum,
                measure=measure.id,
                item=item.number,
                licence=measure.licence.name,
                attribution=measure.licence.attribution,
            )
        )
    return tuple(found)


def subscale_variables(measure: Measure) -> tuple[Variable, ...]:
    """One variable per subscale: `<measure>_<subscale>`, its score as stored."""
    method = measure.scoring.method
    return tuple(
        Variable(
            name=f"{measure_prefix(measure)}_{sub.id}",
            label=_short(f"{measure.name}, subscale {_english(sub.name) or sub.id}"),
            type="number",
            level="scale",
            description=(
                f"The {method} of items {', '.join(map(str, sub.items))}, after reverse keying; "
                "empty where too few of them were answered."
            ),
            measure=measure.id,
            subscale=sub.id,
            licence=measure.licence.name,
            attribution=measure.licence.attribution,
        )
        for sub in measure.scoring.subscales
    )


def measure_variables(measure: Measure) -> tuple[Variable, ...]:
    """A measure's item and subscale columns in an export's long table."""
    return item_variables(measure) + subscale_variables(measure)
