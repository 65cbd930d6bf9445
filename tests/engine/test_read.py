"""Reading the input file: every RFC 4180 CSV whatever its first rows hold, bad lines rejected
with the file's own line numbers, and messages that say what is wrong with the file."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from ally.cli.main import cli
from ally.engine.read import Dialect, connect, read_rows

HEADER = "client,session,measure,score"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["analyze", *map(str, args), "--no-progress"])


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def rejected(out: Path) -> dict[int, str]:
    return {int(r["line"]): r["reason"] for r in read_csv(out / "rejected.csv")}


@pytest.mark.parametrize(
    ("note", "later"),
    [
        # A quoted id alone used to read with its quotes: a new client, silently.
        ("", ['"C01646",3,phq9,9', '"C01647",3,phq9,8']),
        # A quoted value holding the delimiter used to stop the run.
        (",note", ['"C01646",3,phq9,9,"late, rescheduled"', '"C01647",3,phq9,8,"said ""fine"""']),
    ],
)
def test_quotes_after_the_first_25000_rows_are_read_as_rfc_4180(
    tmp_path: Path, note: str, later: list[str]
) -> None:
    # DuckDB's sniffer guesses the dialect from the first 20,480 rows; Ally gives it instead.
    # (Two sessions a client: too short a history to fit an expected course, which is slow.)
    end = "," if note else ""
    rows = [f"C{c:05d},{s},phq9,{10 + s}{end}" for c in range(12_500) for s in (1, 2)]
    path = write(tmp_path / "x.csv", "\n".join([HEADER + note, *rows, *later]))
    result = run(path, "--out", tmp_path / "out", "--no-feedback")
    assert result.exit_code == 0, result.output
    assert rejected(tmp_path / "out") == {}
    episodes = {r["client"]: r for r in read_csv(tmp_path / "out" / "episodes.csv")}
    assert len(episodes) == 12_500
    assert (episodes["C01646"]["sessions"], episodes["C01646"]["last_score"]) == ("3", "9.0")
    assert episodes["C01647"]["sessions"] == "3"


def test_lines_with_too_many_or_too_few_fields_are_rejected_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "x.csv",
        f"{HEADER}\na,1,phq9,12\na,2,phq9,10,extra\na,3\na,4,phq9,8\nb,1,phq9,20,x,y\n",
    )
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert rejected(tmp_path / "out") == {
        3: "the line has 5 fields, but the header has 4; a value holding the delimiter needs "
        "quotes",
        4: "the line has 2 fields, but the header has 4",
        6: "the line has 6 fields, but the header has 4; a value holding the delimiter needs "
        "quotes",
    }
    assert "Read 5 rows: 2 administrations analysed, 3 rejected" in result.output
    sessions = read_csv(tmp_path / "out" / "sessions.csv")
    assert [(r["session"], r["score"]) for r in sessions] == [("1", "12.0"), ("4", "8.0")]


def test_rejected_lines_are_the_files_lines_after_blank_lines_and_values_spanning_lines(
    tmp_path: Path,
) -> None:
    text = (
        "client,session,measure,score,note\n"  # 1
        "a,1,phq9,12,\n"  # 2
        "\n"  # 3
        'a,2,phq9,10,"first line\n'  # 4
        "\n"  # 5: inside the quoted note
        'last line"\n'  # 6
        "a,3,phq9,99,\n"  # 7: out of range
        "\n"  # 8
        "\n"  # 9
        "a,4,phq9,8,too,many\n"  # 10
        'a,5,phq9,"7",\n'  # 11
        'a,5,phq9,6,"a ""quoted"" word"\n'  # 12: duplicate of line 11
        'b,x,phq9,1,"one\ntwo"\n'  # 13-14: session x
        "b,2,phq9,5,\n"  # 15
    )
    path = write(tmp_path / "x.csv", text)
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert rejected(tmp_path / "out") == {
        7: "score 99 is outside phq9's range 0 to 27",
        10: "the line has 6 fields, but the header has 5; a value holding the delimiter needs "
        "quotes",
        12: "duplicate of line 11 (same client, episode, session, measure and rater)",
        13: "session x is not a whole number from 1 up",
    }
    rows = read_csv(tmp_path / "out" / "rejected.csv")
    assert rows[-1]["note"] == "one\ntwo"


def test_rows_keep_their_lines_with_crlf_line_ends_and_a_quote_not_closed(tmp_path: Path) -> None:
    text = 'client,session,measure,score\r\na,1,phq9,12\r\n\r\na,2,phq9,"10\r\na,3,phq9,8\r\n'
    path = write(tmp_path / "x.csv", text)
    inp = read_rows(connect(), path, Dialect())
    assert inp.rows.execute()["line"].tolist() == [2]
    unreadable = inp.unreadable.execute()
    assert unreadable["line"].tolist() == [4]
    assert unreadable["reason"].iloc[0].startswith("a quoted value is not closed")


def test_a_latin_1_file_says_it_is_not_utf_8_and_reads_with_encoding_latin_1(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "x.csv", f"{HEADER}\nJürgen,1,phq9,12\nJürgen,2,phq9,8\n", "latin-1")
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "x.csv: is not UTF-8 text (line 2 has bytes that UTF-8 does not allow)" in result.output
    assert "--encoding latin-1" in result.output
    result = run(path, "--out", tmp_path / "out", "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    assert {r["client"] for r in read_csv(tmp_path / "out" / "sessions.csv")} == {"Jürgen"}


def test_an_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    result = run(write(tmp_path / "x.csv", ""), "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "x.csv: is empty." in result.output
    assert "column0" not in result.output


def test_a_header_without_rows_says_there_is_nothing_to_analyse(tmp_path: Path) -> None:
    result = run(write(tmp_path / "x.csv", f"{HEADER}\n"), "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "x.csv: has no rows below its header" in result.output
    assert "Traceback" not in result.output


def test_a_semicolon_file_read_at_commas_says_to_give_the_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "client;session;measure;score\na;1;phq9;12\n")
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "the file looks separated by ';'. Give --delimiter ';'." in result.output


def test_column_names_match_whatever_their_case(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.csv",
        "Client,SESSION,Measure,Item1,item2,ITEM3,item4,item5,item6,item7,item8,item9,Rater\n"
        "a,1,phq9,1,1,1,1,1,1,1,1,0,Client\n",
    )
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    (row,) = read_csv(tmp_path / "out" / "sessions.csv")
    assert (row["client"], row["session"], row["score"], row["rater"]) == (
        "a",
        "1",
        "8.0",
        "client",
    )


def test_two_columns_of_one_name_but_for_case_are_one_clear_message(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "client,session,measure,score,CLIENT\na,1,phq9,3,b\n")
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "columns 1 and 5 are both named 'CLIENT'" in result.output


def test_parquet_column_names_match_whatever_their_case_and_take_the_renaming_options(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.parquet"
    pq.write_table(
        pa.table(
            {"Klient": ["a", "a"], "SESSION": [1, 2], "Fragebogen": ["phq9"] * 2, "Wert": [12, 8]}
        ),
        path,
    )
    result = run(
        path, "--out", tmp_path / "out", "--client-column", "klient",
        "--measure-column", "fragebogen", "--score-column", "WERT",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sessions = read_csv(tmp_path / "out" / "sessions.csv")
    assert [(r["client"], r["session"], r["score"]) for r in sessions] == [
        ("a", "1", "12.0"),
        ("a", "2", "8.0"),
    ]


def test_every_row_rejected_exits_1_with_the_commonest_reasons_and_the_options(
    tmp_path: Path,
) -> None:
    # A German export read as if it were English: decimal commas are not numbers.
    path = write(
        tmp_path / "x.csv",
        'client,session,measure,score\na,1,phq9,"12,5"\na,2,phq9,"10,5"\nb,1,phq9,"3,5"\n'
        "b,0,phq9,3\n",
    )
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "every row of" in result.output
    assert "was rejected (4 rows)" in result.output
    assert "3 rows: score is not a number (first on line 2: score 12,5 is not a number)" in (
        result.output
    )
    assert "1 row: session is not a whole number from 1 up" in result.output
    assert "rejected.csv" in result.output
    assert "--decimal ," in result.output
    assert "--date-format" in result.output
    assert len(rejected(tmp_path / "out")) == 4


def test_an_unreadable_date_does_not_reject_a_row_with_a_session_number(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.csv",
        "client,session,date,measure,score\n"
        "a,1,2026-03-03,phq9,12\na,2,10.03.2026,phq9,10\na,3,2026-03-17,phq9,8\n",
    )
    result = run(path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert rejected(tmp_path / "out") == {}
    sessions = read_csv(tmp_path / "out" / "sessions.csv")
    assert [(r["session"], r["date"]) for r in sessions] == [
        ("1", "2026-03-03"),
        ("2", ""),
        ("3", "2026-03-17"),
    ]
    assert "1 dates could not be read (first on line 3" in result.output


def test_rows_keep_their_lines_when_blank_lines_shift_them_at_many_places(
    tmp_path: Path,
) -> None:
    # Past a hundred shifts the lines are stored with the rows rather than computed in a view.
    text = HEADER + "\n" + "".join(f"a,{s},phq9,{s % 27}\n\n" for s in range(1, 151))
    inp = read_rows(connect(), write(tmp_path / "x.csv", text), Dialect())
    rows = inp.rows.order_by("line").execute()
    assert rows["line"].tolist() == list(range(2, 302, 2))
    assert rows["session"].tolist() == [str(s) for s in range(1, 151)]


def test_a_line_longer_than_a_row_may_be_is_rejected_and_the_run_goes_on(tmp_path: Path) -> None:
    text = f"{HEADER},note\na,1,phq9,12,\na,2,phq9,10,{'x' * 2_100_000}\na,3,phq9,8,\n"
    inp = read_rows(connect(), write(tmp_path / "x.csv", text), Dialect())
    assert inp.rows.execute()["line"].tolist() == [2, 4]
    unreadable = inp.unreadable.execute()
    assert unreadable["line"].tolist() == [3]
    assert unreadable["reason"].tolist() == ["the line is longer than 2 MB, the most a row may be"]


def test_a_file_not_rfc_4180_whose_lines_cannot_be_told_apart_says_so(tmp_path: Path) -> None:
    # A quote inside an unquoted value (5" tall) and a value spanning lines: DuckDB reads the
    # quote as text, so which lines begin rows cannot be told from the quotes; rows are counted.
    text = f'{HEADER},note\na,1,phq9,12,5" tall\na,2,phq9,10,"two\nlines"\na,3,phq9,8,\n'
    inp = read_rows(connect(), write(tmp_path / "x.csv", text), Dialect())
    rows = inp.rows.execute()
    assert rows["note"].tolist()[:2] == ['5" tall', "two\nlines"]
    assert rows["line"].tolist() == [2, 3, 4]  # the file's lines are 2, 3 and 5
    (note,) = inp.notes
    assert "its lines cannot all be told apart" in note
    assert "count rows instead" in note
