"""The state of one run (options, time budget, temporary directory, the
rows measured so far) and the loop that runs a row's trials.
"""

from __future__ import annotations

import collections
import collections.abc as cabc
import dataclasses
import os
import random
import tempfile
import threading
import time
import typing as t
from pathlib import Path

from .common import perf
from .procs import cleanup_children

_PROGRESS: t.TextIO | None = None
#: When the run started; the budget counts from here.
T_START = perf()


def set_progress(stream: t.TextIO | None) -> None:
    """Where :func:`progress` writes (standard error of the run)."""
    global _PROGRESS
    _PROGRESS = stream


def progress(msg: str) -> None:
    """One line of progress, with the seconds since the start."""
    if _PROGRESS is not None:
        _PROGRESS.write(f"[{perf() - T_START:6.1f}s] {msg}\n")
        _PROGRESS.flush()


@dataclasses.dataclass
class Row:
    """One approach's results. Times are in seconds.

    :param key: The row key, such as ``A1``.
    :param label: What the report prints in the first column.
    """

    key: str
    label: str
    #: Samples by column name (``ready``, ``stop``, ...).
    samples: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    #: One dict per in-flight trial.
    trials: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    #: Printed after the table as ``[KEY] note; note``.
    notes: list[str] = dataclasses.field(default_factory=list)
    #: ``not run: ...`` when the row could not run.
    skipped: str | None = None

    @property
    def n(self) -> int:
        """The number of trials that produced numbers."""
        if self.trials:
            return len(self.trials)

        if "stop" in self.samples:
            return len(self.samples["stop"])

        return max((len(v) for v in self.samples.values()), default=0)


@dataclasses.dataclass
class Running:
    """A server under an in-flight (or idle, for E) measurement.

    ``trigger`` starts the stop. ``finish(timeout)`` waits for it to end
    and returns ``(stopped_at, exited_at)``: when the server stopped
    (serving thread joined, or process gone) and when its process exited
    (``None`` when the server runs in this process).
    """

    port: int
    trigger: cabc.Callable[[], None]
    finish: cabc.Callable[[float], tuple[float | None, float | None]]
    trigger_outcomes: list[str] = dataclasses.field(default_factory=list)
    trigger_threads: list[threading.Thread] = dataclasses.field(default_factory=list)
    #: The server's log file, for error messages.
    log: Path | None = None
    #: Seconds from spawn to ready, for servers started as processes.
    ready: float | None = None

    def wait_trigger(self, timeout: float) -> None:
        """Wait for a stop request sent from a thread to get its answer."""
        for th in self.trigger_threads:
            th.join(timeout)


class Run:
    """The options and the state of one benchmark run.

    :param trials: Trials per row.
    :param budget: Seconds; no trial starts when less than it needs is left.
    :param only: Row keys or key prefixes to run; empty runs every row.
    """

    def __init__(self, trials: int, budget: float, only: cabc.Iterable[str]) -> None:
        self.trials = trials
        self.deadline = T_START + budget
        self.rng = random.Random(20261122)
        self.tmp = Path(tempfile.mkdtemp(prefix="flask-shutdown-bench-"))
        self.only = {k.strip() for k in only if k.strip()}
        #: The rows measured, by the table they are printed in.
        self.rows: dict[str, list[Row]] = collections.defaultdict(list)
        self._logn = 0
        #: Other work on the machine shows up as outliers; the report
        #: prints the load so a reader can judge a noisy run.
        self.load_start = os.getloadavg()[0]

    def want(self, key: str) -> bool:
        """Whether ``--only`` selects the row ``key``."""
        return not self.only or any(key.startswith(k) for k in self.only)

    def left(self) -> float:
        """Seconds left in the budget."""
        return self.deadline - perf()

    def logpath(self, tag: str) -> Path:
        """A new file name in the temporary directory."""
        self._logn += 1
        return self.tmp / f"{self._logn:03d}-{tag}.log"

    def idle_phase(self) -> None:
        """Sleep 0 to 0.5 s, so that a polling loop is hit at a random
        phase.
        """
        time.sleep(self.rng.uniform(0.0, 0.5))

    def find(self, table: str, key: str) -> Row | None:
        """The row ``key`` of ``table`` if it has numbers."""
        for row in self.rows.get(table, []):
            if row.key == key and not row.skipped:
                return row

        return None

    def run_trials(
        self,
        row: Row,
        fn: cabc.Callable[[], dict[str, float]],
        per_trial_s: float,
    ) -> None:
        """Run ``fn`` once per trial and add what it returns to the row's
        samples. A failed trial is counted in a note, not retried.
        """
        errors = []

        for i in range(self.trials):
            if self.left() < per_trial_s:
                row.notes.append(f"time budget hit after {i} trials")
                break

            try:
                for name, value in fn().items():
                    row.samples[name].append(value)
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")
                cleanup_children()

        if errors:
            row.notes.append(f"{len(errors)} trials failed: {errors[0]}")

        progress(f"{row.key}: {row.n} trials done")
