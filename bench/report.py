"""The report: the tables of a run as text, with the ratios and the facts.

Times are printed in milliseconds (microseconds in the per-request rows of
G) with three significant digits, as ``median [min..max]``.
"""

from __future__ import annotations

import collections
import collections.abc as cabc
import os
import platform
import statistics
import time

from . import workers
from .common import HOST
from .common import N_INFLIGHT
from .common import pkg_version
from .common import SLEEP_S
from .common import TRIGGER_AFTER_S
from .overhead import CALLS
from .overhead import PYTEST_RUNS
from .overhead import REQUESTS
from .overhead import ROUNDS
from .runner import Row
from .runner import Run

#: Width of the first column.
W = 50


def clean(xs: cabc.Iterable[float]) -> list[float]:
    """Without the NaNs of trials that measured nothing."""
    return [x for x in xs if x == x]


def num(v: float) -> str:
    """Three significant digits, or two decimals below 10."""
    if abs(v) < 10:
        return f"{v:.2f}"

    if abs(v) < 100:
        return f"{v:.1f}"

    return f"{v:.0f}"


def fmt(seconds: float) -> str:
    """Seconds as milliseconds."""
    return num(seconds * 1000.0)


def ms(xs: cabc.Iterable[float], scale: float = 1000.0) -> str:
    """``median [min..max]``, in milliseconds unless ``scale`` says
    otherwise.
    """
    ys = clean(xs)

    if not ys:
        return "n/a"

    return (
        f"{num(statistics.median(ys) * scale)}"
        f" [{num(min(ys) * scale)}..{num(max(ys) * scale)}]"
    )


def cnt(xs: list[int]) -> str:
    """``median [min..max]`` of counts."""
    if not xs:
        return "n/a"

    return f"{statistics.median(xs):g} [{min(xs)}..{max(xs)}]"


def report(run: Run, total: float) -> str:
    """The whole report of ``run``, which took ``total`` seconds."""
    out: list[str] = []
    add = out.append
    vers = ", ".join(
        f"{n} {pkg_version(n) or 'not installed'}"
        for n in (
            "flask-shutdown",
            "flask",
            "werkzeug",
            "gunicorn",
            "pytest",
            "pytest-flask",
        )
    )
    add("Flask-Shutdown benchmark (python -m bench)")
    add(
        f"Python {platform.python_version()} on {platform.system()}"
        f" {platform.machine()}, {os.cpu_count()} CPUs; {vers}"
    )
    add(
        f"trials per row: {run.trials}; every server on {HOST}, ephemeral"
        f" ports; run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    rows = run.rows

    if rows.get("A"):
        add("")
        add("A) idle stop latency, ms: median [min..max]")
        add(
            "   start = construct -> first 200 on GET /; stop = stop call ->"
            " serving thread joined;"
        )
        add("   the stop comes at a random 0-0.5 s after the last request")
        lat_table(out, "A", rows["A"], [("ready", "start->ready"), ("stop", "stop")])

    if rows.get("B"):
        add("")
        add("B) POST to stopped on an idle server, ms: median [min..max]")
        add(
            "   from sending the POST to: the client holding the whole response;"
            " the serving thread joined"
        )
        lat_table(
            out,
            "B",
            rows["B"],
            [("response", "POST->response"), ("stop", "POST->stopped")],
        )

    if rows.get("C"):
        add("")
        add(
            f"C) in-flight: {N_INFLIGHT} concurrent GET /sleep ({SLEEP_S} s each),"
            f" stop triggered {TRIGGER_AFTER_S} s after they start;"
        )
        add(
            "   the server runs in a harness process that returns from main once"
            " the server stopped. Per trial,"
        )
        add(
            "   median [min..max]: in-view = in the view at the trigger; complete"
            " = full 200 with the body;"
        )
        add(
            "   stopped = trigger -> serving thread joined (C3: child process"
            " joined); exit = trigger -> harness"
        )
        add(
            "   process gone; after-last = stopped - the moment the server had"
            " written the last /sleep"
        )
        add("   response (taken in the server's process)")
        inflight_table(out, rows["C"])

    if rows.get("D") or rows.get("DI"):
        add("")
        add("D) test servers: the fixture's engine, idle start/stop, ms")
        add(
            "   start = construct -> first 200 (D3/D4: pytest setup phase);"
            " stop = stop call returned (D3/D4: teardown)"
        )
        lat_table(
            out, "D", rows.get("D", []), [("ready", "start->ready"), ("stop", "stop")]
        )
        add(
            f"   in-flight at stop: {N_INFLIGHT} x GET /sleep ({SLEEP_S} s), stop"
            f" called {TRIGGER_AFTER_S} s in, in this process;"
        )
        add("   stopped = trigger -> the stop call returned and the server is gone")
        inflight_table(out, rows.get("DI", []))

    if rows.get("E") or rows.get("EI"):
        add("")
        add("E) real servers as subprocesses, ms: median [min..max]")
        add(
            "   start = spawn -> first 200 (gunicorn: and both workers booted);"
            " stop = trigger -> process exited,"
        )
        add("   idle server, trigger at a random 0-0.5 s after the last request")
        lat_table(
            out,
            "E",
            rows.get("E", []),
            [("ready", "start->ready"), ("stop", "trigger->exit")],
        )
        add(
            f"   in-flight: {N_INFLIGHT} x GET /sleep ({SLEEP_S} s), trigger"
            f" {TRIGGER_AFTER_S} s in; stopped = exit = trigger -> process gone"
        )
        inflight_table(out, rows.get("EI", []))

    lines = ratios(run)

    if lines:
        add("")
        add("R) ratios and targets: of the medians, means and maxima above")
        out.extend(f"   - {line}" for line in lines)

    if rows.get("facts"):
        add("")
        add("F) facts checked on this install")
        out.extend(
            f"   - {row.label}: {row.skipped or '; '.join(row.notes)}"
            for row in rows["facts"]
        )

    if rows.get("G") or rows.get("GP"):
        add("")
        add(
            "G) cost of the extension while nothing is stopped: the same app without"
            " and with Shutdown(app)"
        )

        if rows.get("G"):
            add(
                f"   per request, us (microseconds): median [min..max] over {ROUNDS}"
                " rounds of each, plain and extension"
            )
            add(
                f"   rounds alternating; a hello-world view (return 'ok'); G1:"
                f" {CALLS:,} calls of app(environ, start_response)"
            )
            add(
                f"   per round, body consumed and closed; G2: {REQUESTS:,} GET / per"
                " round from one http.client connection;"
            )
            add(
                "   difference = extension - plain of the same round; overhead ="
                " median difference / median plain"
            )
            pair_table(
                out,
                rows["G"],
                ("plain us/req", "extension us/req", "difference us", "overhead"),
                1e6,
                lambda base, ext, diff: f"{diff / base * 100:+.1f}%",
                "CPU time of this thread per call, us",
            )

        if rows.get("GP"):
            add(
                f"   pytest start-up, ms: median [min..max] of {PYTEST_RUNS} runs of"
                " each, alternating: python -m pytest -q"
            )
            add(
                "   -p no:cacheprovider in a directory holding test_one.py (def"
                " test_one(): pass) and an empty"
            )
            add(
                "   pytest.ini; without = with -p no:flask_shutdown; ratio = median"
                " with / median without"
            )
            pair_table(
                out,
                rows["GP"],
                ("without ms", "with ms", "difference ms", "ratio"),
                1e3,
                lambda base, ext, diff: f"{ext / base:.2f}x",
                "CPU time (user + system) of the pytest process, ms",
            )

    if rows.get("H"):
        add("")
        add(
            f"H) one state per server: gunicorn, {workers.WORKERS} sync workers"
            " (H4: 3 instances of 2); each row both ways in one run, trials"
            " alternating"
        )
        add(
            "   per-process = SHUTDOWN_SHARED_STATE = False, each worker keeps its"
            " state to itself (the state before 0.1.0 shared it); shared = the"
        )
        add(
            "   default, one state file per server; H4 and H9: memory:// against"
            " redis:// on a local redis-server. median [min..max]"
        )
        shared_table(out, rows["H"])

    add(
        f"total wall time: {total:.1f} s; load average (1 min) at the start"
        f" {run.load_start:.2f}, at the end {os.getloadavg()[0]:.2f}"
    )
    return "\n".join(out)


def lat_table(
    out: list[str], table: str, rows: list[Row], cols: list[tuple[str, str]]
) -> None:
    """A table of times: one ``median [min..max]`` cell per column."""
    head = "".join(f" {title:<24}" for _, title in cols)
    out.append(f"   {'approach':<{W}} {'n':>3} {head}")

    for row in rows:
        if _skipped(out, row):
            continue

        cells = "".join(f" {ms(row.samples.get(c, [])):<24}" for c, _ in cols)
        out.append(f"   {row.label:<{W}} {row.n:>3} {cells}")

    for row in rows:
        stop = clean(row.samples.get("stop", []))
        notes = list(row.notes)

        if stop and table in ("A", "B"):
            fast = sum(1 for x in stop if x < 0.02)
            notes.insert(
                0,
                f"stop mean {fmt(statistics.mean(stop))} ms;"
                f" {fast}/{len(stop)} under 20 ms",
            )

        if notes:
            out.append(f"   [{row.key}] " + "; ".join(notes))


def inflight_table(out: list[str], rows: list[Row]) -> None:
    """A table of in-flight trials: counts, times and client failures."""
    out.append(
        f"   {'approach':<{W}} {'n':>3}  {'in-view':<9} {'complete':<9}"
        f" {'lost':<9} {'stopped ms':<21} {'exit ms':<21}"
        f" {'after-last ms':<21} client failures"
    )

    for row in rows:
        if _skipped(out, row):
            continue

        tr = row.trials
        fails: collections.Counter[str] = collections.Counter()

        for trial in tr:
            fails.update(trial["fail"])

        failures = ", ".join(f"{k} {v}" for k, v in fails.most_common()) or "-"
        out.append(
            f"   {row.label:<{W}} {len(tr):>3}"
            f"  {cnt([x['in_view'] for x in tr]):<9}"
            f" {cnt([x['ok'] for x in tr]):<9}"
            f" {cnt([x['lost'] for x in tr]):<9}"
            f" {ms([x['stopped'] for x in tr]):<21}"
            f" {ms([x['exit'] for x in tr]):<21}"
            f" {ms([x['after_last'] for x in tr]):<21} {failures}"
        )

    _notes(out, rows)


def _skipped(out: list[str], row: Row) -> bool:
    """Print the line of a row that did not run; return whether it did not."""
    if row.skipped:
        out.append(f"   {row.label:<{W}} {'-':>3}  {row.skipped}")

    return bool(row.skipped)


def _notes(out: list[str], rows: list[Row]) -> None:
    """The rows' notes, after their table: ``[KEY] note; note``."""
    for row in rows:
        if row.notes:
            out.append(f"   [{row.key}] " + "; ".join(row.notes))


def shared_table(out: list[str], rows: list[Row]) -> None:
    """Table H: each row's value per process and shared, and its target."""
    out.append(
        f"   {'approach':<{W}} {'n':>3}  {'per-process':<21} {'shared':<21} target"
    )

    for row in rows:
        if _skipped(out, row):
            continue

        unit, target = workers.FORMATS[row.key]
        base, ext = row.samples.get("base", []), row.samples.get("ext", [])

        out.append(
            f"   {row.label:<{W}} {max(len(base), len(ext)):>3}"
            f"  {_cell(base, unit):<21} {_cell(ext, unit):<21} {target}"
        )

    _notes(out, rows)


def _cell(xs: list[float], unit: str) -> str:
    """Counts as counts; measures with their unit."""
    if not unit:
        return cnt([round(x) for x in xs])

    return f"{ms(xs, 1)} {unit}" if xs else "n/a"


def pair_table(
    out: list[str],
    rows: list[Row],
    titles: tuple[str, str, str, str],
    scale: float,
    relative: cabc.Callable[[float, float, float], str],
    cpu_what: str,
) -> None:
    """A table of paired rounds (:func:`bench.overhead.alternate`): the
    base, the extension, their difference per round, and ``relative`` of
    the three medians. A row with CPU times gets a note with their medians,
    named ``cpu_what``.
    """
    t_base, t_ext, t_diff, t_rel = titles
    out.append(
        f"   {'approach':<{W}} {'n':>3}  {t_base:<21} {t_ext:<21} {t_diff:<21} {t_rel}"
    )

    for row in rows:
        if _skipped(out, row):
            continue

        base, ext, diff = (row.samples.get(k, []) for k in ("base", "ext", "diff"))
        rel = relative(*medians(base, ext, diff)) if diff else "n/a"
        out.append(
            f"   {row.label:<{W}} {len(diff):>3}"
            f"  {ms(base, scale):<21} {ms(ext, scale):<21}"
            f" {ms(diff, scale):<21} {rel}"
        )

    # The variants' names in a note: "plain us/req" -> "plain".
    n_base, n_ext = t_base.split()[0], t_ext.split()[0]

    for row in rows:
        notes = list(row.notes)
        base, ext = row.samples.get("base_cpu", []), row.samples.get("ext_cpu", [])
        diff = [e - b for b, e in zip(base, ext, strict=False)]

        if diff:
            m_base, m_ext, m_diff = (m * scale for m in medians(base, ext, diff))
            notes.insert(
                0,
                f"{cpu_what}, median: {num(m_base)} {n_base}, {num(m_ext)} {n_ext},"
                f" difference {num(m_diff)} ({relative(m_base, m_ext, m_diff)})",
            )

        if notes:
            out.append(f"   [{row.key}] " + "; ".join(notes))


def medians(
    base: list[float], ext: list[float], diff: list[float]
) -> tuple[float, float, float]:
    """The medians of the three sample lists of a paired row."""
    return (
        statistics.median(base),
        statistics.median(ext),
        statistics.median(diff),
    )


def ratios(run: Run) -> list[str]:
    """The lines of R: ratios between rows of the run, with targets."""
    lines = []

    def stat(row: Row | None, name: str, how: str = "median") -> float | None:
        if row is None:
            return None

        xs = clean(row.samples.get(name, []))

        if not xs:
            return None

        if how == "max":
            return max(xs)

        return statistics.median(xs) if how == "median" else statistics.mean(xs)

    def ratio(
        text: str,
        a: Row | None,
        b: Row | None,
        name: str,
        target: float | None = None,
    ) -> None:
        parts = []

        for how in ("median", "mean", "max"):
            x, y = stat(a, name, how), stat(b, name, how)

            if x is None or y is None or y <= 0:
                return

            parts.append((how, x, y, x / y))

        line = f"{text}: " + "; ".join(
            f"{how} {fmt(x)} / {fmt(y)} ms = {r:,.{1 if r < 10 else 0}f}x"
            for how, x, y, r in parts
        )

        if target is not None:
            met = parts[0][3] >= target
            line += f" (target: median >= {target:g}x: {'met' if met else 'NOT met'})"

        lines.append(line)

    a1, a2, a3 = (run.find("A", k) for k in ("A1", "A2", "A3"))
    ratio("idle stop, A3 make_server / A1 ServerThread.shutdown()", a3, a1, "stop", 100)
    ratio("idle stop, A3 make_server / A2 ServerThread.stop_serving()", a3, a2, "stop")
    ratio(
        "idle stop, A1 shutdown() / F2 selector floor", a1, run.find("A", "F2"), "stop"
    )
    ratio(
        "POST to stopped, B2 naive make_server / B1 ServerThread",
        run.find("B", "B2"),
        run.find("B", "B1"),
        "stop",
    )

    c1 = run.find("C", "C1")

    if c1 is not None and c1.trials:
        after = clean([x["after_last"] for x in c1.trials])
        lost = sum(x["lost"] for x in c1.trials)

        if after:
            met = sum(1 for x in after if x <= 0.005)
            lines.append(
                "in-flight, C1 stopped - last response written:"
                f" {ms(after)} ms (target within 5 ms: met in {met}/{len(after)}"
                f" trials); requests lost over all trials: {lost}"
            )

    d1, d2 = run.find("D", "D1"), run.find("D", "D2")
    d3, d4 = run.find("D", "D3"), run.find("D", "D4")
    ratio("fixture start, D2 LiveServer / D1 ServerThread", d2, d1, "ready", 5)
    ratio("fixture stop, D2 LiveServer / D1 ServerThread", d2, d1, "stop", 1)
    ratio(
        "pytest setup, D4 live_server / D3 flask_shutdown fixture", d4, d3, "ready", 5
    )
    ratio(
        "pytest teardown, D4 live_server / D3 flask_shutdown fixture", d4, d3, "stop", 1
    )

    for row in run.rows.get("DI", []):
        if row.trials:
            lost = sum(x["lost"] for x in row.trials)
            lines.append(
                f"in-flight at fixture stop, {row.key}: {lost} of"
                f" {N_INFLIGHT * len(row.trials)} requests lost"
            )

    for row in run.rows.get("EI", []):
        if row.trials:
            ok = sum(x["ok"] for x in row.trials)
            lines.append(
                f"in-flight, {row.label.split(' ', 1)[1]}: {ok} of"
                f" {N_INFLIGHT * len(row.trials)} requests completed"
            )

    return lines
