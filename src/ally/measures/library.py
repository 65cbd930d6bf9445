"""Loading measure definitions: the shipped ones and those a user drops into a folder."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ally.measures.schema import Item, Measure, Option, Options, TextFile

SHIPPED = "ally.measures.definitions"


class MeasureFileError(Exception):
    """A measure file that cannot be used; the message names the file, field and fix."""


def _read_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise MeasureFileError(
            f"{where}: not valid YAML ({problem}). Fix the syntax there."
        ) from exc


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def parse_measure(data: Any, origin: str) -> Measure:
    """Validate a decoded definition; `origin` names its file in error messages."""
    if not isinstance(data, Mapping):
        raise MeasureFileError(f"{origin}: a measure file must be a mapping of fields to values.")
    if "text_for" in data:
        raise MeasureFileError(
            f"{origin}: this is a licensed text file (it has 'text_for'), not a measure definition."
        )
    try:
        return Measure.model_validate(data)
    except ValidationError as exc:
        raise MeasureFileError(
            f"{origin}: the measure definition is not valid:\n{_describe(exc)}\n"
            "See docs/measures.md for the fields a measure file takes."
        ) from exc


def load_measure_file(path: Path) -> Measure:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MeasureFileError(f"{path}: cannot be read ({exc.strerror}).") from exc
    return parse_measure(_read_yaml(path, text), str(path))


def load_text_file(path: Path) -> TextFile:
    data = _read_yaml(path, path.read_text(encoding="utf-8"))
    try:
        return TextFile.model_validate(data)
    except ValidationError as exc:
        raise MeasureFileError(
            f"{path}: the licensed text file is not valid:\n{_describe(exc)}"
        ) from exc


def with_licensed_text(measure: Measure, text: TextFile, origin: str) -> Measure:
    """The measure with item text from a licensee's own copy merged in."""
    if text.version != measure.version:
        raise MeasureFileError(
            f"{origin}: text is for {measure.id} version {text.version}, "
            f"but the measure is version {measure.version}."
        )
    missing = [item.number for item in measure.items if item.number not in text.items]
    extra = sorted(set(text.items) - {item.number for item in measure.items})
    if missing or extra:
        raise MeasureFileError(
            f"{origin}: text for {measure.id} must give every item exactly once; "
            f"missing items {missing}, unknown items {extra}."
        )
    lang = text.language

    def merged_item(item: Item) -> Item:
        return item.model_copy(update={"text": {**item.text, lang: text.items[item.number]}})

    update: dict[str, Any] = {"items": tuple(merged_item(item) for item in measure.items)}
    if text.instructions:
        update["instructions"] = {**measure.instructions, lang: text.instructions}
    if text.options and isinstance(measure.response, Options):
        options = tuple(
            Option(
                value=o.value,
                label={**o.label, lang: text.options.get(o.value, "")},
                codes=o.codes,
            )
            for o in measure.response.options
        )
        update["response"] = Options(options=options)
    # model_copy skips validation, which is right: the licence check for shipped text does not
    # apply to text the licensee holds.
    return measure.model_copy(update=update)


@dataclass(frozen=True)
class Library:
    """The measures known to Ally, by id."""

    measures: Mapping[str, Measure]
    origins: Mapping[str, str] = field(default_factory=dict)

    def __contains__(self, measure_id: object) -> bool:
        return measure_id in self.measures

    def __iter__(self) -> Iterator[Measure]:
        return iter(sorted(self.measures.values(), key=lambda m: m.id))

    def __len__(self) -> int:
        return len(self.measures)

    def get(self, measure_id: str) -> Measure:
        try:
            return self.measures[measure_id]
        except KeyError:
            known = ", ".join(sorted(self.measures))
            raise KeyError(
                f"unknown measure {measure_id!r}; known measures: {known}. "
                "Add a definition file to your measures folder, or check the spelling."
            ) from None


def _shipped_files() -> Iterable[tuple[str, str]]:
    folder = resources.files(SHIPPED)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            yield f"(shipped) {entry.name}", entry.read_text(encoding="utf-8")


def load_library(folders: Iterable[Path] = ()) -> Library:
    """The shipped measures plus every ``*.yaml`` in `folders`; a user's file may not reuse an id.

    Files with ``text_for`` hold licensed item text and are merged into their measure.
    """
    measures: dict[str, Measure] = {}
    origins: dict[str, str] = {}

    def add(measure: Measure, origin: str) -> None:
        if measure.id in measures:
            raise MeasureFileError(
                f"{origin}: measure id {measure.id!r} is already defined by {origins[measure.id]}. "
                "Give your measure another id."
            )
        measures[measure.id] = measure
        origins[measure.id] = origin

    for origin, text in _shipped_files():
        add(parse_measure(_read_yaml(Path(origin), text), origin), origin)

    texts: list[tuple[Path, TextFile]] = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.yaml")):
            data = _read_yaml(path, path.read_text(encoding="utf-8"))
            if isinstance(data, Mapping) and "text_for" in data:
                texts.append((path, load_text_file(path)))
            else:
                add(parse_measure(data, str(path)), str(path))

    for path, licensed in texts:
        if licensed.text_for not in measures:
            raise MeasureFileError(f"{path}: text is for unknown measure {licensed.text_for!r}.")
        target = measures[licensed.text_for]
        measures[licensed.text_for] = with_licensed_text(target, licensed, str(path))
    return Library(measures=measures, origins=origins)
