"""The schema of a measure definition file: one YAML file describes one questionnaire.

Validated on load, so that a measure a user drops into their folder is either complete and
consistent or rejected with the field that is wrong.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Text = dict[str, str]
"""Text by language code (BCP 47, e.g. ``en``, ``de``)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Direction(StrEnum):
    LOWER_IS_BETTER = "lower_is_better"
    HIGHER_IS_BETTER = "higher_is_better"

    @property
    def sign(self) -> int:
        """+1 when a rise is an improvement, -1 when a fall is."""
        return 1 if self is Direction.HIGHER_IS_BETTER else -1


class Kind(StrEnum):
    OUTCOME = "outcome"
    ALLIANCE = "alliance"
    GROUP_ALLIANCE = "group_alliance"
    """The alliance in a group at three levels (leader, other members, group): read level by
    level by `ally.feedback.group_checkin`, so the practice model's single series leaves it
    out."""
    GOALS = "goals"
    """The client's own goals: progress on each, agreement on them, their attainment (GAS)."""
    SUPPORT = "support"
    """A clinical-support check sent when a client goes off track (Ally's support check): not an
    outcome or alliance measure, so the practice model, its signals and the dashboard leave it
    out; its domain scores order the clinician's suggestions."""
    REVIEW = "review"
    """The client's end-of-therapy review (Ally's own): how they see the change overall, with
    their written answers kept apart; read by the clinician, never by the practice model."""

    SELF_CARE = "self_care"
    """A practitioner's check-in on their own wellbeing (Ally's self-care check-in, ProQOL):
    about the member, not a client; never planned for an episode, never in the practice
    model."""

    @property
    def feeds_practice_model(self) -> bool:
        """Whether the practice model reads this kind's scores (expected course, reliable
        change, signals, ruptures, dropout)."""
        return self not in (Kind.SUPPORT, Kind.REVIEW, Kind.GROUP_ALLIANCE, Kind.SELF_CARE)


class Licence(Strict):
    name: str
    text_may_ship: bool
    """Whether Ally may ship the item text verbatim; if not, licensees supply it (`TextFile`)."""
    source: str
    """Where the licence terms were read."""
    attribution: str = ""
    """A line the licence requires to be shown with the text, e.g. a copyright notice."""
    notes: str = ""


class Option(Strict):
    value: float
    label: Text = Field(default_factory=dict)
    codes: dict[str, str] = Field(default_factory=dict)


class Options(Strict):
    type: Literal["options"] = "options"
    options: tuple[Option, ...] = Field(min_length=2)

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(o.value for o in self.options)

    @property
    def minimum(self) -> float:
        return min(self.values)

    @property
    def maximum(self) -> float:
        return max(self.values)

    def accepts(self, value: float) -> bool:
        return value in self.values

    @model_validator(mode="after")
    def _distinct_values(self) -> Options:
        if len(set(self.values)) != len(self.values):
            raise ValueError("response option values must be distinct")
        return self


class Scale(Strict):
    """A continuous answer, e.g. a 10 cm visual-analogue line scored 0-10 to one decimal."""

    type: Literal["scale"] = "scale"
    min: float
    max: float
    step: float = Field(gt=0)
    anchors: dict[str, Text] = Field(default_factory=dict)
    """Labels at the ends, e.g. {"min": {"en": "..."}, "max": {...}}."""

    @property
    def minimum(self) -> float:
        return self.min

    @property
    def maximum(self) -> float:
        return self.max

    def accepts(self, value: float) -> bool:
        if not self.min <= value <= self.max:
            return False
        steps = (value - self.min) / self.step
        return abs(steps - round(steps)) < 1e-6

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.max <= self.min:
            raise ValueError("scale max must be greater than min")
        return self


Response = Annotated[Options | Scale, Field(discriminator="type")]


class Item(Strict):
    number: int = Field(ge=1)
    """Position in the measure, 1-based; answers are given in this order."""
    text: Text = Field(default_factory=dict)
    """Empty where the licence does not let Ally ship it."""
    clinician_text: Text = Field(default_factory=dict)
    """The item as the clinician rates it, where the measure has a clinician's version (the
    alliance check-in: "The client felt listened to."); empty: the clinician sees `text`."""
    response: Response | None = None
    """Overrides the measure's default response for this item."""
    reverse: bool = False
    """Reverse-keyed: scored as (min + max) - answer."""
    codes: dict[str, str] = Field(default_factory=dict)


class Subscale(Strict):
    id: str
    name: Text
    items: tuple[int, ...] = Field(min_length=1)
    """Item numbers."""
    concern_below: float | None = None
    """A score below this marks the subscale as a concern, an area worth exploring (a support
    check's domains); the measure file says where the threshold comes from."""


class Scoring(Strict):
    method: Literal["sum", "mean", "gas"]
    """`gas`: Goal Attainment Scaling's T-score of the answered items (`ally.scoring.gas`)."""
    min_answered: int = Field(ge=1)
    """The fewest answered items for a valid total; fewer and the administration is not scored."""
    prorate: bool
    """With missing answers (but at least min_answered): the sum is prorated to all items
    (mean of the answered items times the number of items). Ignored for mean scoring."""
    subscales: tuple[Subscale, ...] = ()
    subscale_min_answered: float = Field(default=1.0, gt=0, le=1)
    """Share of a subscale's items that must be answered for its score."""
    multiplier: float = Field(default=1.0, gt=0)
    """A sum's total (and its subscales) times this: 4 for WHO-5's percentage score, raw sum × 4
    (Topp et al. 2015, Psychother Psychosom 84:167). 1 for every other sum."""
    score_decimals: int | None = Field(default=None, ge=0)
    """The decimals a total is reported to, where it is not a whole sum (a GAS T-score: 1); a
    given score then agrees with the items when it equals their score rounded to these."""
    total_items: tuple[int, ...] = ()
    """The items the total is made of (and `min_answered` counts); empty: every item. A yes/no
    item beside a scale (the group check-in's "something made it harder") stays out of it."""


class Band(Strict):
    min: float
    max: float
    label: str
    """Short label in English, e.g. ``moderate``; translated in the interface."""


class Norm(Strict):
    mean: float
    sd: float = Field(gt=0)
    n: int | None = None
    source: str


class Norms(Strict):
    clinical: Norm | None = None
    functional: Norm | None = None


class Reliability(Strict):
    value: float = Field(gt=0, lt=1)
    kind: str
    """e.g. ``internal consistency (alpha)``, ``test-retest``."""
    source: str


class PublishedChange(Strict):
    value: float = Field(gt=0)
    """The smallest change in total score that counts as reliable."""
    source: str


class CriticalItem(Strict):
    item: int = Field(ge=1)
    min_value: float
    """Raised when the answer is at least this value."""
    raises: str
    """What it signals, e.g. ``self_harm``."""
    message: Text
    must_answer: bool = True
    """An unanswered critical item leaves the critical flag unknown, not false, so that a
    skipped risk question is never read as "no risk"."""


class Measure(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    version: str
    kind: Kind
    citation: str
    licence: Licence
    direction: Direction
    response: Response | None = None
    """The response format shared by all items unless an item overrides it."""
    instructions: Text = Field(default_factory=dict)
    clinician_instructions: Text = Field(default_factory=dict)
    """Instructions for a clinician's rating, where the measure has a clinician's version."""
    items: tuple[Item, ...] = Field(min_length=1)
    scoring: Scoring
    bands: tuple[Band, ...] = ()
    clinical_cutoff: float | None = None
    """Caseness: scores at or beyond this (in the worse direction) are in the clinical range."""
    clinical_cutoff_source: str = ""
    norms: Norms = Field(default_factory=Norms)
    reliability: Reliability | None = None
    reliable_change: PublishedChange | None = None
    critical_items: tuple[CriticalItem, ...] = ()
    codes: dict[str, str] = Field(default_factory=dict)
    """Codes of the measure and its total, e.g. {"loinc_panel": ..., "loinc_total": ...}."""
    validated: bool = True
    """False for a measure that has not been externally validated; shown to users."""
    notes: str = ""

    @property
    def total_items(self) -> tuple[Item, ...]:
        """The items the total is made of (`Scoring.total_items`; every item by default)."""
        chosen = self.scoring.total_items
        return tuple(i for i in self.items if not chosen or i.number in chosen)

    def item(self, number: int) -> Item:
        return self.items[number - 1]

    def response_of(self, item: Item) -> Options | Scale:
        response = item.response or self.response
        assert response is not None  # guaranteed by _consistent
        return response

    @property
    def languages(self) -> tuple[str, ...]:
        found = {lang for item in self.items for lang in item.text}
        return tuple(sorted(found))

    @property
    def has_text(self) -> bool:
        return all(item.text for item in self.items)

    @model_validator(mode="after")
    def _consistent(self) -> Measure:
        numbers = [item.number for item in self.items]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"items must be numbered 1..{len(numbers)} in order; found {numbers}")
        for item in self.items:
            if item.response is None and self.response is None:
                raise ValueError(
                    f"item {item.number} has no response format and the measure gives no default"
                )
            if item.text and not self.licence.text_may_ship:
                raise ValueError(
                    f"item {item.number} has text, but the licence says the text may not ship; "
                    "supply it from a licensed text file instead"
                )
        if self.scoring.min_answered > len(self.items):
            raise ValueError(
                f"scoring.min_answered is {self.scoring.min_answered} "
                f"but the measure has {len(self.items)} items"
            )
        for sub in self.scoring.subscales:
            unknown = [n for n in sub.items if not 1 <= n <= len(self.items)]
            if unknown:
                raise ValueError(f"subscale {sub.id!r} names items that do not exist: {unknown}")
        unknown_total = [n for n in self.scoring.total_items if not 1 <= n <= len(self.items)]
        if unknown_total:
            raise ValueError(f"scoring.total_items names items that do not exist: {unknown_total}")
        if self.scoring.min_answered > len(self.scoring.total_items or self.items):
            raise ValueError(
                f"scoring.min_answered is {self.scoring.min_answered} but the total is made of "
                f"{len(self.scoring.total_items)} items"
            )
        for crit in self.critical_items:
            if crit.item > len(self.items):
                raise ValueError(f"critical item {crit.item} does not exist")
        return self

    def _client_texts(self) -> list[tuple[str, Text]]:
        """Every piece of text a client reads on the form, named as a person would find it."""
        found: list[tuple[str, Text]] = [("instructions", self.instructions)]
        if self.response is not None:
            found += _response_texts(self.response, "")
        for item in self.items:
            found.append((f"item {item.number}", item.text))
            if item.response is not None:
                found += _response_texts(item.response, f"item {item.number}'s ")
        return found

    @model_validator(mode="after")
    def _languages_complete(self) -> Measure:
        # A half-translated validated questionnaire is not the validated instrument: a client
        # must never get German questions with English answers, so a language is all or nothing.
        for lang in self.languages:
            for where, text in self._client_texts():
                if text and not text.get(lang):
                    raise ValueError(
                        f"the items are in {lang!r} but {where} has no {lang!r} text; "
                        f"give it in {lang!r} too, or take {lang!r} out of the items"
                    )
        return self


def _response_texts(response: Options | Scale, owner: str) -> list[tuple[str, Text]]:
    if isinstance(response, Options):
        return [(f"{owner}answer {o.value:g}", o.label) for o in response.options]
    return [(f"{owner}{end} anchor", text) for end, text in response.anchors.items()]


class TextFile(Strict):
    """Item text that a licensed user supplies from their own copy of a measure."""

    text_for: str
    """The id of the measure."""
    version: str
    language: str
    instructions: str = ""
    items: dict[int, str]
    """Item number -> text."""
    options: dict[float, str] = Field(default_factory=dict)
    """Option value -> label, for the measure's default response options."""
