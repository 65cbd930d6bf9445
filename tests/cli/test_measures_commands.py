"""`ally measures list|show|validate`: what a user sees of the measure library."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ally.cli.main import cli
from ally.measures import load_library


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["measures", *args])
    return result.exit_code, result.output


def test_list_shows_one_measure_per_line_with_its_id_first() -> None:
    code, output = invoke("list")
    assert code == 0
    ids = [line.split("\t")[0] for line in output.splitlines()]
    assert ids == sorted(m.id for m in load_library())
    assert {"phq9", "gad7", "core10", "wai-sr", "srs", "ors", "oq45", "ally-alliance"} <= set(ids)


def test_list_says_which_measures_ship_only_their_scoring() -> None:
    _, output = invoke("list")
    lines = {line.split("\t")[0]: line for line in output.splitlines()}
    assert "\ttext\t" in lines["phq9"]
    assert "scoring only" in lines["wai-sr"]


def test_show_gives_scoring_cutoffs_critical_items_and_text() -> None:
    code, output = invoke("show", "phq9")
    assert code == 0
    assert "items: 9; score sum from 0 to 27" in output
    assert "clinical cut-off: 10" in output
    assert "critical: item 9 at 1 or more raises self_harm" in output
    assert "9. Thoughts that you would be better off dead" in output


def test_show_of_a_licensed_measure_names_its_subscales_but_not_its_text() -> None:
    code, output = invoke("show", "wai-sr")
    assert code == 0
    assert "subscale bond" in output
    assert "supply your licensed copy" in output


def test_show_of_an_unknown_measure_lists_the_known_ones() -> None:
    code, output = invoke("show", "phq")
    assert code == 1
    assert "unknown measure 'phq'" in output
    assert "phq9" in output


def test_validate_accepts_a_shipped_definition(tmp_path: Path) -> None:
    source = Path(__file__).parents[2] / "src/ally/measures/definitions/gad7.yaml"
    code, output = invoke("validate", str(source))
    assert code == 0
    assert "valid (gad7" in output


def test_validate_names_the_field_that_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "id: mine\nname: Mine\nversion: '1'\nkind: outcome\ncitation: x\n"
        "licence: {name: x, text_may_ship: true, source: x}\n"
        "direction: sideways\n"
        "response: {type: options, options: [{value: 0}, {value: 1}]}\n"
        "items: [{number: 1, text: {en: One}}, {number: 3, text: {en: Two}}]\n"
        "scoring: {method: sum, min_answered: 2, prorate: false}\n"
    )
    code, output = invoke("validate", str(path))
    assert code == 1
    assert "direction: Input should be 'lower_is_better' or 'higher_is_better'" in output


def test_validate_reports_yaml_syntax_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nname: [unclosed\n")
    code, output = invoke("validate", str(path))
    assert code == 1
    assert "broken.yaml:3: not valid YAML" in output or "broken.yaml:2: not valid YAML" in output


def test_a_measure_in_a_users_folder_is_listed(tmp_path: Path) -> None:
    source = Path(__file__).parents[2] / "src/ally/measures/definitions/gad7.yaml"
    text = source.read_text().replace("id: gad7", "id: my-gad7")
    (tmp_path / "my-gad7.yaml").write_text(text)
    code, output = invoke("list", "--measures-dir", str(tmp_path))
    assert code == 0
    assert any(line.startswith("my-gad7\t") for line in output.splitlines())


def test_a_users_measure_may_not_reuse_a_shipped_id(tmp_path: Path) -> None:
    source = Path(__file__).parents[2] / "src/ally/measures/definitions/gad7.yaml"
    (tmp_path / "gad7.yaml").write_text(source.read_text())
    code, output = invoke("list", "--measures-dir", str(tmp_path))
    assert code == 1
    assert "measure id 'gad7' is already defined" in output
