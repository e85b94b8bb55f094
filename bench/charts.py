"""Draw the charts and write the tables of the docs from a benchmark run.

Reads ``bench/results.txt`` (the output of ``python -m bench``) and writes,
under ``docs/``:

- ``_static/bench-idle-stop.svg``: idle stop latency, log scale.
- ``_static/bench-in-flight.svg``: requests completed with 8 in flight,
  per server, stopped by its usual signal and by ``POST /shutdown``.
- ``_generated/bench-ratios.csv``: the table of the benchmark page.
- ``_generated/bench-headline.inc``: the figures of the landing page.

Run it after a new benchmark run, from the repository root::

    .venv/bin/python bench/charts.py

``--out DIR`` writes into ``DIR`` instead of ``docs/`` (the tests compare
such a fresh copy with the committed files). The output is deterministic:
the same results give byte-identical files.

Rows are found by their key (``A1``, ``E2``, ...) and column, wherever
they are in the file, so new rows and sections do not matter; a row that
is needed but missing or not run is an error that names it.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import typing as t
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.txt"
DOCS = ROOT / "docs"

#: Every file this script writes, relative to the output directory.
OUTPUTS = (
    "_static/bench-idle-stop.svg",
    "_static/bench-in-flight.svg",
    "_generated/bench-ratios.csv",
    "_generated/bench-headline.inc",
)

#: The idle-stop rows of the chart, top to bottom, with short labels.
IDLE_STOP = (
    ("F1", "floor: accept() +\nshutdown(SHUT_RDWR)", "floor"),
    ("F2", "floor: selector +\nsocketpair wake-up", "floor"),
    ("A2", "ServerThread\n.stop_serving()", "ours"),
    ("A1", "ServerThread\n.shutdown()", "ours"),
    ("A3", "make_server +\nshutdown()", "theirs"),
)

#: Per server: its name, the row stopped by its usual signal, the row
#: stopped by POST /shutdown, and the row stopped by SIGTERM made graceful
#: by the one line the server's page gives (in-flight tables of E).
SERVERS = (
    ("gunicorn", "E1", "E2", "E9"),
    ("flask run", "E3", "E4", None),
    ("waitress", "E5", "E6", "E10"),
    ("uWSGI", "E7", "E8", "E11"),
)
#: How the docs write the servers' names.
RST_NAMES = {"flask run": "``flask run``"}

COLORS = {"ours": "#004b6b", "theirs": "#c0392b", "floor": "#9aa5ab"}


class ResultsError(Exception):
    """The results file lacks something the charts need."""


@dataclass(frozen=True)
class Value:
    """One cell: ``median [min..max]``."""

    median: float
    low: float
    high: float
    text: str


@dataclass
class Row:
    key: str
    label: str
    #: Column title to cell text; empty when the row was not run.
    cells: dict[str, str]
    skipped: str = ""

    def value(self, column: str) -> Value:
        if self.skipped:
            raise ResultsError(f"row {self.key} was not run: {self.skipped}")

        text = self.cells.get(column, "")
        m = _VALUE.fullmatch(text)

        if m is None:
            raise ResultsError(
                f"row {self.key} ({self.label}): {column!r} is {text!r},"
                " not 'median [min..max]'"
            )

        median, low, high = (float(g.replace(",", "")) for g in m.groups())
        return Value(median, low, high, m.group(1))


_NUM = r"[\d.,]+"
_VALUE = re.compile(rf"({_NUM}) \[({_NUM})\.\.({_NUM})\]")
_HEADER = re.compile(r"^   approach\s+n\s+(.*)$")
_ROW = re.compile(
    rf"^   (?P<key>[A-Z]\d+) (?P<label>.*?)\s+(?P<n>\d+)"
    rf"(?P<values>(?:\s+(?:{_NUM} \[{_NUM}\.\.{_NUM}\]|n/a))+)\s*(?P<rest>.*)$"
)
_SKIPPED = re.compile(r"^   (?P<key>[A-Z]\d+) (?P<label>.*?)\s+-\s+(?P<reason>.*)$")
_CELL = re.compile(rf"{_NUM} \[{_NUM}\.\.{_NUM}\]|n/a")
_RATIO = re.compile(
    rf"^   - (?P<what>[^,]+), (?P<a>[A-Z]\d+) [^/]*/ (?P<b>[A-Z]\d+)[^:]*:"
    rf" median {_NUM} / {_NUM} ms = (?P<ratio>{_NUM})x"
)


class Results:
    """The tables of one run: each table's rows under its column titles."""

    def __init__(self, text: str) -> None:
        self.tables: list[tuple[list[str], dict[str, Row]]] = []
        #: ``(what, key_a, key_b)`` of the ratio lines to ``"416"``.
        self.ratios: dict[tuple[str, str, str], str] = {}
        columns: list[str] | None = None

        for line in text.splitlines():
            header = _HEADER.match(line)

            if header:
                columns = re.split(r"\s{2,}", header.group(1).strip())
                self.tables.append((columns, {}))
                continue

            ratio = _RATIO.match(line)

            if ratio:
                key = (ratio["what"].strip(), ratio["a"], ratio["b"])
                self.ratios[key] = ratio["ratio"]
                continue

            if columns is None:
                continue

            row = _ROW.match(line)

            if row:
                values = _CELL.findall(row["values"])
                cells = dict(zip(columns, values, strict=False))

                if len(columns) > len(values):
                    cells[columns[len(values)]] = row["rest"]

                self.tables[-1][1][row["key"]] = Row(row["key"], row["label"], cells)
                continue

            skipped = _SKIPPED.match(line)

            if skipped:
                reason = skipped["reason"].removeprefix("not run: ")
                r = Row(skipped["key"], skipped["label"], {}, reason)
                self.tables[-1][1][r.key] = r
                continue

            # Anything else (a note, a blank line, a new section) ends the table.
            columns = None

    def row(self, key: str, column: str) -> Row:
        """The row ``key`` of the table that has ``column``."""
        for columns, rows in self.tables:
            if column in columns and key in rows:
                return rows[key]

        raise ResultsError(
            f"no row {key} in a table with a {column!r} column:"
            " run python -m bench for it (see bench/README.md)"
        )

    def value(self, key: str, column: str) -> Value:
        return self.row(key, column).value(column)

    def ratio(self, what: str, a: str, b: str) -> str:
        try:
            return self.ratios[(what, a, b)]
        except KeyError:
            raise ResultsError(
                f"no ratio line '{what}, {a} ... / {b} ...' in section R"
            ) from None


def load(path: Path = RESULTS) -> Results:
    return Results(path.read_text(encoding="utf-8"))


def ms(v: Value) -> str:
    """A time as the results print it, with its unit."""
    number = v.median

    if number >= 1000:
        return f"{number / 1000:.2f} s"

    return f"{v.text} ms"


def times(ratio: str) -> str:
    return f"{ratio}x"


def completed(results: Results, key: str) -> tuple[Value, int]:
    """Requests completed per trial, and how many were in flight."""
    done = results.value(key, "complete")
    lost = results.value(key, "lost")
    return done, round(done.median + lost.median)


def _check_label(row: Row, post: bool) -> None:
    if ("POST /shutdown" in row.label) != post:
        want = "stopped by POST /shutdown" if post else "stopped by a signal"
        raise ResultsError(f"row {row.key} should be {want}, but is: {row.label}")


def _signal(label: str) -> str:
    return label.rsplit(", ", 1)[-1]


# -- charts --------------------------------------------------------------


def _pyplot() -> t.Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcdefaults()
    plt.rcParams.update(
        {
            # The same bytes on every run: no random ids, no date.
            "svg.hashsalt": "flask-shutdown-bench",
            "svg.fonttype": "path",
            "font.family": "DejaVu Sans",
            "font.size": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.edgecolor": "#3e4349",
            "axes.labelcolor": "#3e4349",
            "xtick.color": "#3e4349",
            "ytick.color": "#3e4349",
            "text.color": "#3e4349",
        }
    )
    return plt


def _save(fig: t.Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight")


def _plain_number(x: float, pos: int | None = None) -> str:
    """Axis labels 0.1, 1, 10, 100 instead of powers of ten."""
    return f"{x:g}"


def idle_stop_chart(results: Results, path: Path) -> None:
    plt = _pyplot()
    rows = [(results.value(key, "stop"), label, kind) for key, label, kind in IDLE_STOP]
    fig, ax = plt.subplots(figsize=(2.8, 3.9))
    y = list(range(len(rows)))[::-1]

    for pos, (v, _, kind) in zip(y, rows, strict=False):
        ax.barh(pos, v.median, height=0.6, color=COLORS[kind])
        ax.errorbar(
            v.median,
            pos,
            xerr=[[v.median - v.low], [v.high - v.median]],
            fmt="none",
            ecolor="#3e4349",
            capsize=3,
            linewidth=1,
        )
        ax.annotate(
            ms(v),
            (v.high, pos),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=10,
        )

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_plain_number)
    lo = min(v.low for v, _, _ in rows)
    hi = max(v.high for v, _, _ in rows)
    ax.set_xlim(lo / 2, hi * 12)
    ax.set_yticks(y, [label for _, label, _ in rows], fontsize=10)
    ax.set_xlabel("ms, log scale (median, min to max)")
    ax.set_title("Stopping an idle server", loc="left", fontsize=12)
    _save(fig, path)
    plt.close(fig)


def in_flight_chart(results: Results, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.9, 5.4))
    total = 0
    names = []

    for i, (name, signal_key, post_key, graceful_key) in enumerate(SERVERS):
        signal_row = results.row(signal_key, "complete")
        post_row = results.row(post_key, "complete")
        _check_label(signal_row, post=False)
        _check_label(post_row, post=True)
        base = (len(SERVERS) - 1 - i) * 4
        names.append((base + (1.0 if graceful_key else 1.5), name))
        bars = [
            (base + 2, post_key, "ours", "POST /shutdown"),
            (base + 1, signal_key, "theirs", _signal(signal_row.label)),
        ]

        if graceful_key is not None:
            _check_label(results.row(graceful_key, "complete"), post=False)
            bars.insert(1, (base + 1, graceful_key, "ours", "SIGTERM, one line"))
            bars[2] = (base, *bars[2][1:])

        for pos, key, kind, what in bars:
            done, n = completed(results, key)
            total = max(total, n)
            ax.barh(pos, done.median, height=0.8, color=COLORS[kind])
            ax.annotate(
                f"{done.text} of {n}, {what}",
                (done.median, pos),
                xytext=(5, 0),
                textcoords="offset points",
                va="center",
                fontsize=10,
            )

    ax.set_xlim(0, total * 2.1)
    ax.set_xticks(range(0, total + 1, 2))
    ax.spines["bottom"].set_bounds(0, total)
    ax.set_yticks([p for p, _ in names], [n for _, n in names], fontsize=11)
    ax.set_xlabel(f"requests completed of {total} in flight (median)")
    ax.set_title(f"{total} requests in flight at the stop", loc="left", fontsize=12)
    ax.tick_params(axis="y", length=0)
    _save(fig, path)
    plt.close(fig)


# -- tables --------------------------------------------------------------


def ratio_rows(results: Results) -> list[list[str]]:
    r = results
    v = r.value
    a1, a2, a3 = v("A1", "stop"), v("A2", "stop"), v("A3", "stop")
    b1, b2 = v("B1", "POST->stopped"), v("B2", "POST->stopped")
    rows = [
        [
            "Idle stop",
            f"``ServerThread.shutdown()``: {ms(a1)}",
            f"``make_server`` + ``shutdown()``: {ms(a3)}",
            f"{times(r.ratio('idle stop', 'A3', 'A1'))} faster",
        ],
        [
            "Idle stop, without the sequence",
            f"``ServerThread.stop_serving()``: {ms(a2)}",
            f"``make_server`` + ``shutdown()``: {ms(a3)}",
            f"{times(r.ratio('idle stop', 'A3', 'A2'))} faster",
        ],
        [
            "``POST /shutdown`` to stopped, idle",
            f"``ServerThread``: {ms(b1)}",
            f"a naive view calling ``shutdown()``: {ms(b2)};"
            " a deadlock on a non-threaded server",
            f"{times(r.ratio('POST to stopped', 'B2', 'B1'))} faster",
        ],
    ]

    c1, n = completed(r, "C1")
    c3, _ = completed(r, "C3")
    rows.append(
        [
            f"{n} requests in flight at a stop, one process",
            f"``ServerThread``, ``POST /shutdown``: {c1.text} of {n} complete",
            f"``multiprocessing`` + ``terminate()``: {c3.text} of {n}",
            _more(c1, c3, n),
        ]
    )

    d1_start, d2_start = r.value("D1", "start->ready"), r.value("D2", "start->ready")
    d3, d4 = r.value("D3", "start->ready"), r.value("D4", "start->ready")
    rows.append(
        [
            "Test server start",
            f"``ServerThread``: {ms(d1_start)}; ``shutdown_server`` setup: {ms(d3)}",
            f"pytest-flask ``LiveServer``: {ms(d2_start)}; ``live_server`` setup:"
            f" {ms(d4)}",
            f"{times(r.ratio('fixture start', 'D2', 'D1'))} and"
            f" {times(r.ratio('pytest setup', 'D4', 'D3'))} faster",
        ]
    )
    d1_stop, d2_stop = r.value("D1", "stop"), r.value("D2", "stop")
    d3s, d4s = r.value("D3", "stop"), r.value("D4", "stop")
    rows.append(
        [
            "Test server stop",
            f"``ServerThread``: {ms(d1_stop)}; ``shutdown_server`` teardown: {ms(d3s)}",
            f"``LiveServer``: {ms(d2_stop)}; ``live_server`` teardown: {ms(d4s)}",
            f"{times(r.ratio('fixture stop', 'D2', 'D1'))} and"
            f" {times(r.ratio('pytest teardown', 'D4', 'D3'))} faster",
        ]
    )
    f1, n = completed(r, "D1")
    f2, _ = completed(r, "D2")
    rows.append(
        [
            f"{n} requests in flight at a test server's stop",
            f"``ServerThread``: {f1.text} of {n} complete",
            f"``LiveServer``: {f2.text} of {n}",
            _more(f1, f2, n),
        ]
    )

    for name, signal_key, post_key, graceful_key in SERVERS:
        signal_row = r.row(signal_key, "complete")
        _check_label(signal_row, post=False)
        _check_label(r.row(post_key, "complete"), post=True)
        theirs, _ = completed(r, signal_key)
        ways = [(post_key, "``POST /shutdown``", "")]

        if graceful_key is not None:
            ways.append((graceful_key, "SIGTERM, made graceful", ", SIGTERM"))

        for key, what, how in ways:
            ours, n = completed(r, key)
            rows.append(
                [
                    f"{RST_NAMES.get(name, name)}{how}, {n} requests in flight",
                    f"{what}: {ours.text} of {n} complete, exit after"
                    f" {ms(r.value(key, 'exit ms'))}",
                    f"{_signal(signal_row.label)}: {theirs.text} of {n}, exit after"
                    f" {ms(r.value(signal_key, 'exit ms'))}",
                    _more(ours, theirs, n),
                ]
            )

    return rows


def _more(ours: Value, theirs: Value, n: int) -> str:
    if theirs.median == 0:
        return f"{ours.text} of {n} kept, none with the alternative"

    return f"{ours.median / theirs.median:.1f}x as many kept"


def ratios_csv(results: Results) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["measure", "Flask-Shutdown", "the alternative", "in short"])
    writer.writerows(ratio_rows(results))
    return out.getvalue()


def headline(results: Results) -> str:
    a1, a3 = results.value("A1", "stop"), results.value("A3", "stop")
    lines = [
        ".. This file is written by bench/charts.py from bench/results.txt.",
        "",
        f"**{ms(a1)}** to stop an idle ``ServerThread``, where Werkzeug's"
        f" ``make_server(...).shutdown()`` takes {ms(a3)}:"
        f" **{times(results.ratio('idle stop', 'A3', 'A1'))} faster**.",
        "",
        ".. list-table:: Requests in flight that complete when the server stops"
        " (median of the trials)",
        "    :header-rows: 1",
        "    :class: compact",
        "",
        "    *   - server",
        "        - ``POST /shutdown``",
        "        - SIGTERM, made graceful",
        "        - its usual signal",
    ]

    for name, signal_key, post_key, graceful_key in SERVERS:
        signal_row = results.row(signal_key, "complete")
        _check_label(signal_row, post=False)
        _check_label(results.row(post_key, "complete"), post=True)
        ours, n = completed(results, post_key)
        theirs, _ = completed(results, signal_key)
        graceful = "not needed: ``flask run`` is a development server"

        if graceful_key is not None:
            done, _ = completed(results, graceful_key)
            graceful = f"**{done.text} of {n}**"

        lines += [
            f"    *   - {RST_NAMES.get(name, name)}",
            f"        - **{ours.text} of {n}**",
            f"        - {graceful}",
            f"        - {theirs.text} of {n} ({_signal(signal_row.label)})",
        ]

    return "\n".join(lines) + "\n"


def write_all(results: Results, out: Path) -> list[Path]:
    paths = [out / name for name in OUTPUTS]
    idle_stop_chart(results, paths[0])
    in_flight_chart(results, paths[1])

    for path, text in ((paths[2], ratios_csv(results)), (paths[3], headline(results))):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args(argv)

    try:
        paths = write_all(load(args.results), args.out)
    except ResultsError as e:
        print(f"{args.results}: {e}", file=sys.stderr)
        return 1

    for path in paths:
        print(path)

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
