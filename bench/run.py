"""The command line (``python -m bench``): options, the watchdog, the loop
over :data:`bench.rows.ROWS`, and the report on standard output.

Progress goes to standard error, the tables to standard output. Every
server listens on 127.0.0.1 on an ephemeral port; every request, join and
wait has a timeout. Child processes run in their own sessions and are
killed (only them) at the end; a watchdog ends the run at budget + 60 s.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import threading

from . import rows
from .common import perf
from .procs import cleanup_children
from .report import report
from .runner import progress
from .runner import Row
from .runner import Run
from .runner import set_progress
from .runner import T_START


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="How fast and how cleanly Flask-Shutdown stops a server,"
        " and what it costs; the tables go to standard output.",
    )
    parser.add_argument("--trials", type=int, default=10, help="trials per row")
    parser.add_argument(
        "--budget",
        type=float,
        default=900.0,
        help="seconds; no new trial is started past this",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated row keys or prefixes: F,A,B,C,D,E,G or F1,A3,...",
    )
    return parser.parse_args(argv)


def run_rows(run: Run) -> None:
    """Measure every row ``--only`` selects, in the table's order."""
    for spec in rows.ROWS:
        if not run.want(spec.key):
            continue

        row = Row(spec.key, spec.label)
        why = spec.missing() if spec.missing is not None else None

        if why is not None:
            row.skipped = why
            progress(f"{spec.key}: {why}")
        else:
            spec.measure(run, row, spec.per_trial_s)

        run.rows[spec.table].append(row)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    # A SIGINT ignored by the parent shell (nohup, a background job) would be
    # inherited by the flask run and LiveServer children and break their stop.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    set_progress(os.fdopen(os.dup(2), "w", buffering=1))

    def hard_abort() -> None:
        progress("hard time limit reached: killing the children, exiting")
        cleanup_children()
        os._exit(2)

    watchdog = threading.Timer(args.budget + 60.0, hard_abort)
    watchdog.daemon = True
    watchdog.start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The sequence logs each shutdown at WARNING; 300 of them are noise.
    logging.getLogger("flask_shutdown").setLevel(logging.ERROR)
    run = Run(args.trials, args.budget, args.only.split(","))

    try:
        run_rows(run)
    finally:
        cleanup_children()

    print(report(run, perf() - T_START), flush=True)
    watchdog.cancel()
    shutil.rmtree(run.tmp, ignore_errors=True)
    return 0
