"""The options that say how the input is written: delimiter, decimal separator, date format,
encoding and the names of its columns, shared by `ally analyze` and `ally fit`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner, Result

from ally.cli.main import cli

# A German export: `;` between fields, decimal commas, dates as DD.MM.YYYY, German names.
GERMAN = (
    "Klient;Datum;Fragebogen;Wert\n"
    "k1;03.03.2026;phq9;12,5\n"
    "k1;10.03.2026;phq9;10\n"
    "k1;17.03.2026;phq9;7,5\n"
    "k2;04.03.2026;phq9;20\n"
    "k2;11.03.2026;phq9;21,5\n"
)
GERMAN_OPTIONS = [
    "--delimiter", ";", "--decimal", ",", "--date-format", "%d.%m.%Y",
    "--client-column", "Klient", "--date-column", "Datum", "--measure-column", "Fragebogen",
    "--score-column", "Wert",
]  # fmt: skip


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [*map(str, args), "--no-progress"])


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_german_export_is_read_with_delimiter_decimal_date_format_and_column_names(
    tmp_path: Path,
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(GERMAN, encoding="utf-8")
    result = run("analyze", path, "--out", tmp_path / "out", *GERMAN_OPTIONS)
    assert result.exit_code == 0, result.output
    assert "Read 5 rows: 5 administrations analysed, 0 rejected" in result.output
    sessions = read_csv(tmp_path / "out" / "sessions.csv")
    assert [(r["client"], r["session"], r["date"], r["score"]) for r in sessions] == [
        ("k1", "1", "2026-03-03", "12.5"),
        ("k1", "2", "2026-03-10", "10.0"),
        ("k1", "3", "2026-03-17", "7.5"),
        ("k2", "1", "2026-03-04", "20.0"),
        ("k2", "2", "2026-03-11", "21.5"),
    ]


def test_ally_fit_reads_the_input_with_the_same_options(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(GERMAN, encoding="utf-8")
    result = run("fit", path, "--out", tmp_path / "model.json", *GERMAN_OPTIONS)
    assert result.exit_code == 0, result.output
    assert "Read 5 rows: 5 administrations, 0 rejected" in result.output
    assert json.loads((tmp_path / "model.json").read_text())["training"]["administrations"] == 5


def test_a_date_not_in_the_date_format_is_rejected_with_the_format_named(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "client,date,measure,score\na,03.03.2026,phq9,12\na,2026-03-10,phq9,10\n",
        encoding="utf-8",
    )
    result = run("analyze", path, "--out", tmp_path / "out", "--date-format", "%d.%m.%Y")
    assert result.exit_code == 0, result.output
    (row,) = read_csv(tmp_path / "out" / "rejected.csv")
    assert (row["line"], row["reason"]) == (
        "3",
        "date 2026-03-10 does not match --date-format %d.%m.%Y",
    )


def test_a_tab_delimiter_is_given_as_tab(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("client\tsession\tmeasure\tscore\na\t1\tphq9\t12\n", encoding="utf-8")
    result = run("analyze", path, "--out", tmp_path / "out", "--delimiter", "tab")
    assert result.exit_code == 0, result.output
    assert read_csv(tmp_path / "out" / "sessions.csv")[0]["score"] == "12.0"


def test_a_delimiter_of_more_than_one_character_is_refused(tmp_path: Path) -> None:
    result = run("analyze", tmp_path / "x.csv", "--out", tmp_path / "out", "--delimiter", ";;")
    assert result.exit_code == 2
    assert "--delimiter ';;': give one character other than a quote" in result.output


def test_a_date_format_duckdb_does_not_know_is_one_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("client,date,measure,score\na,03.03.2026,phq9,12\n", encoding="utf-8")
    result = run("analyze", path, "--out", tmp_path / "out", "--date-format", "%Q")
    assert result.exit_code == 1
    assert "--date-format '%Q' is not a date format" in result.output


def test_an_encoding_other_than_utf_8_utf_16_or_latin_1_is_refused(tmp_path: Path) -> None:
    result = run("analyze", tmp_path / "x.csv", "--out", tmp_path / "out", "--encoding", "cp850")
    assert result.exit_code == 2
    assert "'utf-8', 'utf-16', 'latin-1'" in result.output


def test_a_utf_16_file_is_read_with_encoding_utf_16(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("client,session,measure,score\nJürgen,1,phq9,12\n", encoding="utf-16")
    result = run("analyze", path, "--out", tmp_path / "out", "--encoding", "utf-16")
    assert result.exit_code == 0, result.output
    assert read_csv(tmp_path / "out" / "sessions.csv")[0]["client"] == "Jürgen"
