"""Writing a research export's files: each data table as CSV (described by a Frictionless
`datapackage.json`), Parquet (labels in the field metadata) and SPSS .sav (variable and value
labels, measurement levels), with codebook.csv and summary.csv. Every file is written from the
same `Variable`s, so the formats agree.

Parquet is written with pyarrow, loaded only here, in the one request or command that asks for
an export (pyproject's import contract names this module as the exception).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ally.interop.research import Variable
from ally.web.research.tables import Row, Table

FORMATS = ("csv", "parquet", "sav")
PROFILE = "tabular-data-package"
TYPES_ORDER = ("string", "integer", "number", "boolean", "date", "year")


def normalised(variable: Variable, value: Any) -> Any:
    """A cell as its variable's type wants it (None for missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    kind = variable.type
    if kind in ("integer", "year"):
        return int(value)
    if kind == "number":
        return float(value)
    if kind == "boolean":
        return bool(value)
    if kind == "date":
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return str(value)


def _rows(table: Table) -> list[Row]:
    return [{v.name: normalised(v, row.get(v.name)) for v in table.variables} for row in table.rows]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def write_csv(table: Table, folder: Path) -> Path:
    path = folder / f"{table.name}.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([v.name for v in table.variables])
        for row in _rows(table):
            writer.writerow([_cell(row[v.name]) for v in table.variables])
    return path


def _code(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def schema_field(variable: Variable) -> dict[str, Any]:
    """The variable as a Table Schema field: title, type, the allowed values and range, and its
    value labels as v2 `categories`."""
    found: dict[str, Any] = {"name": variable.name, "title": variable.label, "type": variable.type}
    if variable.description:
        found["description"] = variable.description
    constraints: dict[str, Any] = {}
    if variable.categories:
        constraints["enum"] = list(variable.categories)
    if variable.value_labels:
        constraints["enum"] = [_code(v) for v, _ in variable.value_labels]
        found["categories"] = [
            {"value": _code(v), "label": label} for v, label in variable.value_labels
        ]
    if variable.minimum is not None and not variable.value_labels:
        constraints["minimum"] = _code(variable.minimum)
    if variable.maximum is not None and not variable.value_labels:
        constraints["maximum"] = _code(variable.maximum)
    if constraints:
        found["constraints"] = constraints
    if variable.measure:
        found["ally:measure"] = variable.measure
        found["ally:licence"] = variable.licence
    return found


def datapackage(tables: Sequence[Table], *, description: str, created: str) -> dict[str, Any]:
    """The Frictionless Data Package describing the CSV files."""
    return {
        "profile": PROFILE,
        "name": "ally-research-export",
        "title": "Ally research export",
        "description": description,
        "created": created,
        "resources": [
            {
                "name": table.name,
                "title": table.title,
                "description": table.description,
                "path": f"{table.name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {
                    "fields": [schema_field(v) for v in table.variables],
                    "missingValues": [""],
                },
            }
            for table in tables
        ],
    }


def write_parquet(table: Table, folder: Path, *, description: str) -> Path:
    """The table as Parquet: typed columns, each field's label, description and value labels in
    its metadata, the export's description in the file's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {
        "string": pa.string(),
        "integer": pa.int64(),
        "year": pa.int32(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
    }
    fields = []
    for v in table.variables:
        meta = {"label": v.label, "description": v.description}
        if v.value_labels:
            meta["value_labels"] = json.dumps({str(_code(k)): lab for k, lab in v.value_labels})
        if v.measure:
            meta["measure"], meta["licence"] = v.measure, v.licence
        fields.append(pa.field(v.name, types[v.type], metadata=meta))
    schema = pa.schema(fields, metadata={"description": description})
    path = folder / f"{table.name}.parquet"
    pq.write_table(pa.Table.from_pylist(_rows(table), schema=schema), path)
    return path


def write_sav(table: Table, folder: Path, *, note: str) -> Path:
    """The table as SPSS .sav: variable labels, value labels (answer options; no and yes for
    flags), measurement levels."""
    import pandas as pd
    import pyreadstat

    rows = _rows(table)
    columns: dict[str, Any] = {}
    value_labels: dict[str, dict[float, str]] = {}
    for v in table.variables:
        cells = [row[v.name] for row in rows]
        if v.type == "string":
            columns[v.name] = pd.Series(["" if c is None else c for c in cells], dtype=object)
        elif v.type == "date":
            columns[v.name] = pd.Series(cells, dtype=object)
        else:
            columns[v.name] = pd.Series(
                [math.nan if c is None else float(c) for c in cells], dtype="float64"
            )
        if v.type == "boolean":
            value_labels[v.name] = {0.0: "no", 1.0: "yes"}
        elif v.value_labels:
            value_labels[v.name] = {float(k): label for k, label in v.value_labels}
    frame = pd.DataFrame(columns, columns=[v.name for v in table.variables])
    path = folder / f"{table.name}.sav"
    pyreadstat.write_sav(
        frame,
        str(path),
        file_label=f"Ally research export: {table.title}",
        column_labels={v.name: v.label for v in table.variables},
        variable_value_labels=value_labels,
        variable_measure={v.name: v.level for v in table.variables},
        # SPSS keeps a file's notes as lines of at most 80 bytes.
        note=textwrap.wrap(note, 80),
    )
    return path


def codebook(tables: Sequence[Table]) -> Table:
    """codebook.csv: every variable of every data table."""
    variables = (
        Variable("table", "Table", "string", "nominal"),
        Variable("variable", "Variable name", "string", "nominal"),
        Variable("label", "Label", "string", "nominal"),
        Variable(
            "type", "Type (Frictionless Table Schema)", "string", "nominal", categories=TYPES_ORDER
        ),
        Variable(
            "measurement",
            "Measurement level (SPSS)",
            "string",
            "nominal",
            categories=("nominal", "ordinal", "scale"),
        ),
        Variable("value_labels", "Value labels, as JSON {value: label}", "string", "nominal"),
        Variable(
            "categories", "Allowed values of a text variable, separated by |", "string", "nominal"
        ),
        Variable("minimum", "Smallest possible value", "number", "scale"),
        Variable("maximum", "Largest possible value", "number", "scale"),
        Variable("measure", "Measure the variable comes from", "string", "nominal"),
        Variable("item", "Item number within the measure", "integer", "scale"),
        Variable("subscale", "Subscale id within the measure", "string", "nominal"),
        Variable("licence", "The measure's licence", "string", "nominal"),
        Variable("attribution", "Attribution the licence asks for", "string", "nominal"),
        Variable("description", "Description", "string", "nominal"),
    )
    rows = [
        {
            "table": table.name,
            "variable": v.name,
            "label": v.label,
            "type": v.type,
            "measurement": v.level,
            "value_labels": json.dumps(
                {str(_code(k)): label for k, label in v.value_labels}, ensure_ascii=False
            )
            if v.value_labels
            else None,
            "categories": "|".join(v.categories) or None,
            "minimum": v.minimum,
            "maximum": v.maximum,
            "measure": v.measure or None,
            "item": v.item,
            "subscale": v.subscale or None,
            "licence": v.licence or None,
            "attribution": v.attribution or None,
            "description": v.description or None,
        }
        for table in tables
        for v in table.variables
    ]
    return Table(
        "codebook",
        "Codebook",
        "Every variable of the data tables: label, type, value labels, and the measure and "
        "licence it comes from, generated from Ally's measure files.",
        variables,
        rows,
    )


def write_package(
    data: Sequence[Table], summary: Table, folder: Path, *, description: str, created: str
) -> list[Path]:
    """Write every file of the export into `folder`; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    book = codebook(data)
    written = [write_csv(table, folder) for table in (*data, book, summary)]
    for table in data:
        written.append(write_parquet(table, folder, description=description))
        written.append(write_sav(table, folder, note=description))
    package = folder / "datapackage.json"
    package.write_text(
        json.dumps(
            datapackage((*data, book, summary), description=description, created=created),
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return [package, *written]
