"""From the file's rows to typed values: naming the columns, reading the text, checking it.

Reading is SQL (Ibis over DuckDB); scoring the numbers is the core's (`ally.engine.scores`
calls `ally.scoring.columns`), the same function the web app scores one answer set with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ibis
from ibis.expr.types import BooleanValue, StringValue, Table, Value

from ally.engine import columns as col
from ally.engine.errors import AnalysisError
from ally.engine.options import Options
from ally.engine.read import fold
from ally.feedback.practice import MeasureParams


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


def column_names(raw: Table, options: Options) -> dict[str, str]:
    """Ally's name of each column the run reads -> its name in the file, matched ignoring case
    and surrounding spaces (`Client`, `CLIENT`), under the names the options give."""
    in_file: dict[str, list[str]] = {}
    for name in raw.columns:
        if name != col.LINE:
            in_file.setdefault(fold(name), []).append(name)

    def find(name: str) -> str | None:
        found = in_file.get(fold(name), [])
        if len(found) > 1:
            raise AnalysisError(
                f"the input has {len(found)} columns named {name!r} when case is ignored "
                f"({', '.join(found)}); give each column its own name."
            )
        return found[0] if found else None

    renamed = {
        col.CLIENT: options.client_column,
        col.EPISODE: options.episode_column,
        col.SESSION: options.session_column,
        col.DATE: options.date_column,
        col.MEASURE: options.measure_column,
        col.SCORE: options.score_column,
    }
    out: dict[str, str] = {}
    for ours, given in renamed.items():
        theirs = find(given)
        if fold(given) != ours:
            other = find(ours)
            if other is not None and theirs is not None:
                raise AnalysisError(
                    f"the input has both {other!r} and {theirs!r} columns; "
                    f"rename {other!r} or leave out --{ours}-column."
                )
        if theirs is not None:
            out[ours] = theirs
    for ours in (col.CLINICIAN, col.GROUP, col.RATER, col.ENDING):
        theirs = find(ours)
        if theirs is not None:
            out[ours] = theirs
    for folded in in_file:
        match = col.ITEM.match(folded)
        if match:
            theirs = find(folded)
            assert theirs is not None
            out[col.item_column(int(match.group(1)))] = theirs
    for measure in options.wide_measures:
        theirs = find(measure)
        if theirs is not None:
            out[measure] = theirs
    return out


def normalise(raw: Table, options: Options) -> Table:
    """The input with Ally's column names, one row per administration, all values still text."""
    names = column_names(raw, options)
    found = ", ".join(c for c in raw.columns if c != col.LINE)
    if col.CLIENT not in names:
        raise AnalysisError(
            f"the input has no {options.client_column!r} column, which names the client. "
            f"Columns found: {found}. "
            "Use --client-column NAME to name the column that identifies clients."
        )
    # The columns Ally reads go on under Ally's names; all of them stay in `raw` for rejected.csv.
    table = raw.select(
        col.LINE,
        *(raw[theirs].name(ours) for ours, theirs in names.items()),
    )

    if options.wide_measures:
        absent = [m for m in options.wide_measures if m not in table.columns]
        if absent:
            raise AnalysisError(
                f"--measures names columns that the input does not have: {', '.join(absent)}. "
                f"Columns found: {found}."
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
            f"the input has no {options.measure_column!r} column. A long file needs one (a "
            "measure id per row; name yours with --measure-column NAME); a wide file with one "
            f"column per measure needs --measures NAME[,NAME...]. Columns found: {found}."
        )
    if col.SESSION not in table.columns and col.DATE not in table.columns:
        raise AnalysisError(
            f"the input has neither a {options.session_column!r} nor a "
            f"{options.date_column!r} column, so sessions cannot be ordered. Add one, or name "
            f"yours with --session-column NAME or --date-column NAME. Columns found: {found}."
        )
    if col.SCORE not in table.columns and not item_numbers(table):
        raise AnalysisError(
            f"the input has neither a {options.score_column!r} column nor item columns "
            "(item1, item2, ...); name the total's column with --score-column NAME. "
            f"Columns found: {found}."
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


DateParser = Callable[[Value, str], Value]
"""The engine's reading of a date by a strptime format, null where the text does not match
(`ally.engine.backends`)."""


def number(value: Value, decimal: str = ".") -> Value:
    """A number from text, with `decimal` as its decimal separator; null if it is none."""
    if value.type().is_string() and decimal != ".":
        value = value.replace(decimal, ".")
    return value.try_cast("float64")


def date(value: Value, date_format: str | None = None, parse: DateParser | None = None) -> Value:
    """A date from text: ISO 8601, or by `date_format` (strptime, read by `parse`); null if it
    is none."""
    if value.type().is_string() and date_format is not None:
        assert parse is not None, "a date format needs the engine's parser"
        return parse(value, date_format)
    return value.try_cast("date")


def _answer(value: Value, decimal: str) -> Value:
    """An item answer as a number. Answers stored as numbers (Parquet) keep their type, often
    a byte: a float copy of every answer would be most of the run's stored rows; the scoring
    reads them as floats."""
    if value.type().is_integer() or value.type().is_floating():
        return value
    return number(value, decimal)


def typed(
    table: Table,
    decimal: str = ".",
    date_format: str | None = None,
    parse_date: DateParser | None = None,
) -> Table:
    """The normalised table plus typed session, date, score and answers, cast once per run.

    Raw columns that were typed already (Parquet) are dropped: the typed copy says the same.
    """
    numbers = item_numbers(table)
    values = {n: _answer(table[col.item_column(n)], decimal) for n in numbers}
    answered = sum((v.notnull().cast("int64") for v in values.values()), ibis.literal(0, "int64"))
    raw = [col.SESSION, col.DATE, col.SCORE, *map(col.item_column, numbers)]
    typed_already = [name for name in raw if not table[name].type().is_string()]
    return table.mutate(
        **{
            col.SESSION_NUMBER: table[col.SESSION].try_cast("int64"),
            col.DATE_VALUE: date(table[col.DATE], date_format, parse_date),
            col.GIVEN_SCORE: number(table[col.SCORE], decimal),
            col.ANSWERED: answered,
        },
        **{col.value_column(n): v for n, v in values.items()},
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


Check = tuple[BooleanValue, StringValue, str]
"""A rule a row can break: when it does, the reason (with the row's values), and the rule
alone (the reason without its values), which counts rows alike."""


def parse_problems(table: Table, params: Mapping[str, MeasureParams]) -> list[Check]:
    """The ways a row's text can fail to be read, in order: answers to items a measure does not
    have, answers and scores that are not numbers. The checks of the numbers themselves are the
    core's (`ally.engine.scores`)."""
    t, out = table, []
    items = item_numbers(t)
    for mid, p in params.items():
        m = p.measure
        n = len(m.items) if m else 0
        of_measure = t[col.MEASURE] == mid
        for k in items:
            name = col.item_column(k)
            given = as_given(t, name, col.value_column(k))
            if k > n:
                has = f"has {n} items" if m else "has no item definitions; give 'score'"
                text = f"{name} is given, but {mid} {has}"
                out.append((of_measure & given.notnull(), ibis.literal(text), text))
    for k in items:
        name = col.item_column(k)
        given = as_given(t, name, col.value_column(k))
        message = ibis.literal(f"{name} ") + given.cast("string") + " is not a number"
        rule = f"{name} is not a number"
        out.append((given.notnull() & t[col.value_column(k)].isnull(), message, rule))
    given_text = as_given(t, col.SCORE, col.GIVEN_SCORE)
    out.append(
        (
            given_text.notnull() & t[col.GIVEN_SCORE].isnull(),
            ibis.literal("score ") + given_text.cast("string") + " is not a number",
            "score is not a number",
        )
    )
    return out
