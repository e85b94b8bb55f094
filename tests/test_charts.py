"""The benchmark charts and tables in the docs are those of bench/results.txt:
drawn again from it, they are byte for byte the committed files. After a
new benchmark run, ``.venv/bin/python bench/charts.py`` refreshes them.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest

from ._proc import ROOT

RESULTS = ROOT / "bench" / "results.txt"
#: Lines as the benchmark (python -m bench) prints them.
ROW = "   {key} {label:<46} 10  {cells}\n"
HEADER = "   " + "approach".ljust(50) + "   n  start->ready             stop\n"
E_CELLS = (
    "2 [2..2]  8 [8..8]  0 [0..0]  100 [99..101]  100 [99..101]  5.00 [4.00..6.00]  -"
)
G_CELLS = "1.00 [0.90..1.10]        2.00 [1.90..2.10]"


@pytest.fixture(scope="module")
def charts() -> types.ModuleType:
    # bench/ is not a package; load the script by its path.
    spec = importlib.util.spec_from_file_location(
        "bench_charts", ROOT / "bench" / "charts.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _write(charts: types.ModuleType, text: str, out: Path) -> int:
    results = out / "results.txt"
    results.write_text(text)
    return int(charts.main(["--results", str(results), "--out", str(out)]))


def test_committed_charts_and_tables_match_the_results(
    charts: types.ModuleType, tmp_path: Path
) -> None:
    assert _write(charts, RESULTS.read_text(), tmp_path) == 0

    for name in charts.OUTPUTS:
        fresh = (tmp_path / name).read_bytes()
        committed = (ROOT / "docs" / name).read_bytes()
        assert fresh == committed, f"docs/{name} is stale: run bench/charts.py"


def test_charts_are_svg_without_a_date(charts: types.ModuleType) -> None:
    for name in charts.OUTPUTS:
        if name.endswith(".svg"):
            text = (ROOT / "docs" / name).read_text()
            assert text.startswith("<?xml") and "<svg" in text
            assert "<dc:date>" not in text


def test_new_rows_and_sections_change_nothing(
    charts: types.ModuleType, tmp_path: Path
) -> None:
    text = RESULTS.read_text()
    # A row added at the end of table E, and a new section after R.
    e9 = ROW.format(key="E99", label="some new server, POST /shutdown", cells=E_CELLS)
    text = text.replace(
        "   [E2] the stop request itself got",
        e9 + "   [E2] the stop request itself got",
    )
    text += (
        "\nG) a new kind of measurement\n"
        + HEADER
        + ROW.format(key="G1", label="something else", cells=G_CELLS)
    )
    assert "E99 some new server" in text
    results = charts.Results(text)
    assert results.value("E99", "complete").median == 8
    assert results.value("G1", "stop").median == 2
    assert _write(charts, text, tmp_path) == 0

    for name in charts.OUTPUTS:
        assert (tmp_path / name).read_bytes() == (ROOT / "docs" / name).read_bytes(), (
            name
        )


def test_a_missing_row_is_named(
    charts: types.ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "".join(
        line
        for line in RESULTS.read_text().splitlines(True)
        if not line.startswith("   E6 ")
    )
    assert _write(charts, text, tmp_path) == 1
    err = capsys.readouterr().err
    assert "no row E6" in err, err


def test_a_row_not_run_is_named(
    charts: types.ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = re.sub(
        r"^   A3 make_server.*$",
        "   A3 make_server + serve_forever, shutdown()"
        + " " * 12
        + "-  not run: no werkzeug",
        RESULTS.read_text(),
        flags=re.M,
    )
    assert _write(charts, text, tmp_path) == 1
    err = capsys.readouterr().err
    assert "row A3 was not run: no werkzeug" in err, err


def test_a_row_that_changed_meaning_is_refused(
    charts: types.ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = RESULTS.read_text().replace(
        "E2 gunicorn 2 sync workers, POST /shutdown",
        "E2 gunicorn 2 sync workers, SIGQUIT   ",
    )
    assert _write(charts, text, tmp_path) == 1
    assert "row E2 should be stopped by POST /shutdown" in capsys.readouterr().err
