"""From the file's rows to scored administrations: naming, checking and scoring each row.

Every rule for a single row is an Ibis expression built from the core's scoring rules, so the
engine and the web app score alike and the same query runs on DuckDB or Spark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ibis
from ibis.expr.types import BooleanValue, FloatingValue, StringValue, Table, Value

from ally.engine import columns as col
from ally.engine.errors import AnalysisError
from ally.engine.options import Options
from ally.feedback.practice import MeasureParams
from ally.measures.schema import Measure
from ally.measures.schema import Options as ResponseOptions
from ally.scoring import rules


def cases_or_null(branches: list[tuple[Value, Value]], dtype: str) -> Value:
    """Per-measure rules as one column: the first branch whose condition holds, else null."""
    if not branches:
        return ibis.null(dtype)
    return ibis.cases(*branches, else_=ibis.null(dtype))


def item_numbers(table: Table) -> list[int]:
    """The item numbers that the table has answers for, as given (itemN) or typed (valueN)."""
    found = set()
    for name in table.columns:
        match = col.ITEM.match(name) or col.VALUE.match(name)
        if match:
            found.add(int(match.group(1)))
    return sorted(found)


def normalise(raw: Table, options: Options) -> Table:
    """The input with Ally's column names, one row per administration, all values still text."""
    renames = {
        col.CLIENT: options.client_column,
        col.EPISODE: options.episode_column,
        col.SESSION: options.session_column,
    }
    present = set(raw.columns)
    missing = [given for given in (options.client_column,) if given not in present]
    if missing:
        raise AnalysisError(
            f"the input has no {missing[0]!r} column, which names the client. Columns found: "
            f"{', '.join(c for c in raw.columns if c != col.LINE)}. "
            "Use --client-column NAME to name the column that identifies clients."
        )
    for ours, given in renames.items():
        if given != ours and ours in present and given in present:
            raise AnalysisError(
                f"the input has both {ours!r} and {given!r} columns; "
                f"rename {ours!r} or leave out --{ours}-column."
            )
    table = raw.rename({ours: given for ours, given in renames.items() if given in present})

    if options.wide_measures:
        absent = [m for m in options.wide_measures if m not in table.columns]
        if absent:
            raise AnalysisError(
                f"--measures names columns that the input does not have: {', '.join(absent)}. "
                f"Columns found: {', '.join(c for c in raw.columns if c != col.LINE)}."
            )
        if col.MEASURE in table.columns or col.SCORE in table.columns:
            raise AnalysisError(
                "with --measures the input is wide (one column per measure), but it also has "
                "'measure' or 'score' columns; leave out --measures for a long file."
            )
        keep = [c for c in table.columns if c not in options.wide_measures]
        table = table.select(*keep, *options.wide_measures).pivot_longer(
            list(options.wide_measures), names_to=col.MEASURE, values_to=col.SCORE
        )
    elif col.MEASURE not in table.columns:
        raise AnalysisError(
            "the input has no 'measure' column. A long file needs one (a measure id per row); "
            "a wide file with one column per measure needs --measures NAME[,NAME...]."
        )
    if col.SESSION not in table.columns and col.DATE not in table.columns:
        raise AnalysisError(
            "the input has neither a 'session' nor a 'date' column, so sessions cannot be "
            "ordered. Add one, or name yours with --session-column NAME."
        )
    if col.SCORE not in table.columns and not item_numbers(table):
        raise AnalysisError(
            "the input has neither a 'score' column nor item columns (item1, item2, ...)."
        )

    def text_or_null(name: str) -> StringValue:
        if name in table.columns:
            return table[name].cast("string").strip().nullif("")
        return ibis.null("string")

    def value_or_null(name: str, dtype: str = "string") -> Value:
        """Numbers and dates from Parquet keep their type; text is cast later, once."""
        if name not in table.columns:
            return ibis.null(dtype)
        if table[name].type().is_string():
            return table[name].strip().nullif("")
        return table[name]

    fixed = {
        col.LINE: table[col.LINE],
        col.CLIENT: text_or_null(col.CLIENT),
        col.EPISODE: text_or_null(col.EPISODE),
        col.CLINICIAN: text_or_null(col.CLINICIAN),
        col.GROUP: text_or_null(col.GROUP),
        col.SESSION: value_or_null(col.SESSION, "int64"),
        col.DATE: value_or_null(col.DATE, "date"),
        col.MEASURE: text_or_null(col.MEASURE),
        col.RATER: text_or_null(col.RATER).lower(),
        col.ENDING: text_or_null(col.ENDING).lower(),
        col.SCORE: value_or_null(col.SCORE, "float64"),
    }
    items = {col.item_column(n): value_or_null(col.item_column(n)) for n in item_numbers(table)}
    table = table.select(**fixed, **items)
    if options.wide_measures:
        # An empty cell in a wide file means the measure was not given at that occasion.
        table = table.filter(table[col.SCORE].notnull())
    return table


def as_given(table: Table, raw: str, typed_name: str) -> Value:
    """A value as the file gave it, for messages: the text, or the typed value where the file
    was typed (Parquet), whose raw column `typed` drops."""
    return table[raw] if raw in table.columns else table[typed_name]


def typed(table: Table) -> Table:
    """The normalised table plus typed session, date, score and answers, cast once per run.

    Raw columns that were typed already (Parquet) are dropped: the typed copy says the same.
    """
    values = [table[col.item_column(n)].try_cast("float64") for n in item_numbers(table)]
    answered = sum((v.notnull().cast("int64") for v in values), ibis.literal(0, "int64"))
    raw = [col.SESSION, col.DATE, col.SCORE, *map(col.item_column, item_numbers(table))]
    typed_already = [name for name in raw if not table[name].type().is_string()]
    return table.mutate(
        **{
            col.SESSION_NUMBER: table[col.SESSION].try_cast("int64"),
            col.DATE_VALUE: table[col.DATE].try_cast("date"),
            col.GIVEN_SCORE: table[col.SCORE].try_cast("float64"),
            col.ANSWERED: answered,
        },
        **{
            col.value_column(n): table[col.item_column(n)].try_cast("float64")
            for n in item_numbers(table)
        },
    ).drop(*typed_already)


def check_measures(table: Table, known: Mapping[str, MeasureParams]) -> None:
    """Stop with one message when the file names measures that cannot be analysed."""
    seen = (
        table.filter(table[col.MEASURE].notnull())
        .group_by(col.MEASURE)
        .aggregate(first_line=table[col.LINE].min())
    )
    unknown = seen.filter(~seen[col.MEASURE].isin(list(known))).order_by("first_line").execute()
    if len(unknown):
        listed = ", ".join(
            f"{row[col.MEASURE]!r} (first on line {row['first_line']})"
            for _, row in unknown.head(10).iterrows()
        )
        raise AnalysisError(
            f"unknown measure {listed}. Ally knows: {', '.join(sorted(known))}. "
            "Check the spelling, add a definition file to a --measures-dir folder, or give "
            "--reliability R and --lower-is-better or --higher-is-better to analyse it from "
            "its totals."
        )


def _allowed(value: FloatingValue, measure: Measure, number: int) -> BooleanValue:
    response = measure.response_of(measure.item(number))
    if isinstance(response, ResponseOptions):
        return value.isin(list(response.values))
    steps = (value - response.min) / response.step
    return (
        (value >= response.min) & (value <= response.max) & ((steps - steps.round()).abs() < 1e-6)
    )


def _allowed_text(measure: Measure, number: int) -> str:
    response = measure.response_of(measure.item(number))
    if isinstance(response, ResponseOptions):
        return ", ".join(f"{v:g}" for v in response.values)
    return f"{response.min:g} to {response.max:g} in steps of {response.step:g}"


def band(score: Value, measure: Measure | None) -> Value | None:
    """The measure's severity band of a score column, by `rules.band_thresholds`."""
    if measure is None or not measure.bands:
        return None
    thresholds = rules.band_thresholds(measure.bands)
    return ibis.cases(*((score >= low, label) for low, label in thresholds))


class MeasureRows:
    """The row rules and scoring expressions of one measure, over the normalised table."""

    def __init__(self, table: Table, params: MeasureParams, items_in_file: Sequence[int]) -> None:
        self.t = table
        self.params = params
        self.measure = params.measure
        n = len(self.measure.items) if self.measure else 0
        self.own_items = [i for i in items_in_file if i <= n]
        self.extra_items = [i for i in items_in_file if i > n]
        self.values = {i: table[col.value_column(i)] for i in self.own_items}
        # Answers beyond the measure's items reject the row, so all answers are its own.
        self.answered = table[col.ANSWERED]
        self.has_items = self.answered > 0

    def _keyed_sum(self, numbers: Sequence[int]) -> tuple[Value, Value]:
        assert self.measure is not None
        total: Value = ibis.literal(0.0)
        answered: Value = ibis.literal(0, "int64")
        for number in numbers:
            if number not in self.values:
                continue
            response = self.measure.response_of(self.measure.item(number))
            value = rules.keyed(
                self.values[number],
                response.minimum,
                response.maximum,
                self.measure.item(number).reverse,
            )
            total = total + value.fill_null(0.0)
            answered = answered + self.values[number].notnull().cast("int64")
        return total, answered

    def _combined(self, numbers: Sequence[int]) -> Value:
        """The score over `numbers`, as administration.score computes it for one row."""
        assert self.measure is not None
        total, answered = self._keyed_sum(numbers)
        if self.measure.scoring.method == "mean":
            return rules.mean_score(total, answered)
        if self.measure.scoring.prorate:
            return ibis.ifelse(
                answered < len(numbers), rules.prorated_sum(total, answered, len(numbers)), total
            )
        return total

    def item_score(self) -> Value:
        if self.measure is None or not self.own_items:
            return ibis.null("float64")
        if col.ITEMS_TOTAL in self.t.columns:
            return self.t[col.ITEMS_TOTAL]
        return self._combined([item.number for item in self.measure.items])

    def score(self) -> Value:
        return ibis.ifelse(self.has_items, self.item_score(), self.t[col.GIVEN_SCORE])

    def subscales(self) -> dict[str, Value]:
        if self.measure is None:
            return {}
        out = {}
        for sub in self.measure.scoring.subscales:
            _, answered = self._keyed_sum(sub.items)
            enough = answered >= rules.required_answers(self.measure, sub)
            if self.measure.scoring.method == "sum" and not self.measure.scoring.prorate:
                enough = answered == len(sub.items)
            out[col.subscale_column(sub.id)] = ibis.ifelse(
                self.has_items & enough, self._combined(sub.items), ibis.null("float64")
            )
        return out

    def critical(self) -> Value:
        """As `Score.critical`: true if endorsed, unknown if a must-answer item was skipped."""
        if self.measure is None or not self.own_items:
            return ibis.null("boolean")
        raised: Value = ibis.literal(False)
        skipped: Value = ibis.literal(False)
        for crit in self.measure.critical_items:
            if crit.item not in self.values:
                skipped = ibis.literal(crit.must_answer)
                continue
            value = self.values[crit.item]
            raised = raised | rules.is_critical(value, crit.min_value).fill_null(False)
            if crit.must_answer:
                skipped = skipped | value.isnull()
        flag = ibis.cases((raised, True), (skipped, ibis.null("boolean")), else_=False)
        return ibis.ifelse(self.has_items, flag, ibis.null("boolean"))

    def problems(self) -> list[tuple[BooleanValue, StringValue]]:
        """(condition, message) for each rule a row of this measure can break, in order."""
        t, m, out = self.t, self.measure, []
        mid = self.params.id
        given = t[col.GIVEN_SCORE]
        given_text = as_given(t, col.SCORE, col.GIVEN_SCORE)
        for number in self.extra_items:
            name = col.item_column(number)
            has = f"has {len(m.items)} items" if m else "has no item definitions; give 'score'"
            given_item = as_given(t, name, col.value_column(number))
            out.append((given_item.notnull(), ibis.literal(f"{name} is given, but {mid} {has}")))
        if m is not None:
            for number in self.own_items:
                name = col.item_column(number)
                value = self.values[number]
                given_item = as_given(t, name, col.value_column(number))
                out.append(
                    (
                        given_item.notnull() & value.isnull(),
                        ibis.literal(f"{name} ") + given_item.cast("string") + " is not a number",
                    )
                )
                out.append(
                    (
                        value.notnull() & ~_allowed(value, m, number),
                        ibis.literal(f"{name} = ")
                        + given_item.cast("string")
                        + f" is not an answer {mid} allows ({_allowed_text(m, number)})",
                    )
                )
            need = m.scoring.min_answered
            out.append(
                (
                    self.has_items & (self.answered < need),
                    ibis.literal("only ")
                    + self.answered.cast("string")
                    + f" of {len(m.items)} items answered; {mid} needs at least {need}",
                )
            )
        out.append(
            (
                given_text.notnull() & given.isnull(),
                ibis.literal("score ") + given_text.cast("string") + " is not a number",
            )
        )
        if self.params.minimum is not None and self.params.maximum is not None:
            low, high = self.params.minimum, self.params.maximum
            out.append(
                (
                    ~self.has_items & ((given < low) | (given > high)),
                    ibis.literal("score ")
                    + given_text.cast("string")
                    + f" is outside {mid}'s range {low:g} to {high:g}",
                )
            )
        if m is not None and self.own_items:
            computed = self.item_score()
            out.append(
                (
                    self.has_items & given.notnull() & ((given - computed).abs() > 1e-6),
                    ibis.literal("score ")
                    + given_text.cast("string")
                    + " does not match the total of the items, "
                    + computed.round(2).cast("string"),
                )
            )
        out.append(
            (
                ~self.has_items & given.isnull(),
                ibis.literal("no score and no item answers"),
            )
        )
        return out
