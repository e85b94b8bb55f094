"""Requests in flight during the stop: eight slow requests, the stop 0.05 s
into them, and what happened to each (C, and the loop that D and E reuse).
The server side of C runs in a :mod:`bench.harness` process.
"""

from __future__ import annotations

import collections
import collections.abc as cabc
import contextlib
import threading
import time
import typing as t
from pathlib import Path

from .common import AUTH
from .common import EVENT_LOG_ENV
from .common import N_INFLIGHT
from .common import perf
from .common import TRIGGER_AFTER_S
from .net import classify
from .net import http_request
from .procs import child_env
from .procs import cleanup_children
from .procs import exit_time
from .procs import Harness
from .procs import log_tail
from .procs import release
from .runner import progress
from .runner import Row
from .runner import Run
from .runner import Running

#: Starts a server with the environment given and returns it running.
Start = cabc.Callable[[dict[str, str]], Running]


def run_inflight(run: Run, row: Row, start: Start, per_trial_s: float) -> None:
    """Run the in-flight trial ``run.trials`` times against servers
    started by ``start``.
    """
    errors = []
    outcomes: collections.Counter[str] = collections.Counter()

    for i in range(run.trials):
        if run.left() < per_trial_s:
            row.notes.append(f"time budget hit after {i} trials")
            break

        ev = run.tmp / f"events-{row.key}-{i}.log"

        try:
            trial, running = inflight_trial(start, ev)
            row.trials.append(trial)
            outcomes.update(running.trigger_outcomes)
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
            cleanup_children()

    if outcomes:
        row.notes.append(
            "the stop request itself got: "
            + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        )

    if errors:
        row.notes.append(f"{len(errors)} trials failed: {errors[0]}")

    progress(f"{row.key}: {row.n} in-flight trials done")


def read_events(path: Path) -> list[tuple[str, float]]:
    """The ``(kind, time)`` lines the app appended to its event file."""
    out = []

    with contextlib.suppress(FileNotFoundError), open(path) as f:
        for line in f:
            parts = line.split()

            if len(parts) >= 2:
                out.append((parts[0], float(parts[1])))

    return out


def inflight_trial(start: Start, ev_path: Path) -> tuple[dict[str, t.Any], Running]:
    """Start a server, send the slow requests, trigger the stop 0.05 s in,
    and count what the clients got.
    """
    running = start(child_env({EVENT_LOG_ENV: str(ev_path)}))
    # Settle: every worker up, no connection in progress.
    time.sleep(0.3)
    barrier = threading.Barrier(N_INFLIGHT + 1)
    results: list[tuple[str, float] | None] = [None] * N_INFLIGHT

    def client(i: int) -> None:
        barrier.wait(5)

        try:
            status, body = http_request(running.port, "/sleep", timeout=5)
            ok = status == 200 and body == b"slept"
            results[i] = ("ok" if ok else f"http-{status}", perf())
        except Exception as e:
            results[i] = (classify(e), perf())

    threads = [
        threading.Thread(target=client, args=(i,), daemon=True)
        for i in range(N_INFLIGHT)
    ]

    for th in threads:
        th.start()

    barrier.wait(5)
    t0 = perf()
    time.sleep(max(0.0, t0 + TRIGGER_AFTER_S - perf()))
    t_trig = perf()
    running.trigger()
    stopped_at, exited_at = running.finish(15)
    running.wait_trigger(5)

    for th in threads:
        th.join(10)

    events = read_events(ev_path)
    done = [r for r in results if r is not None]
    ok_times = [at for outcome, at in done if outcome == "ok"]
    sent = [at for kind, at in events if kind == "sent"]
    nan = float("nan")
    trial = {
        "in_view": sum(1 for k, at in events if k == "enter" and at < t_trig),
        "ok": len(ok_times),
        "lost": N_INFLIGHT - len(ok_times),
        "stopped": nan if stopped_at is None else stopped_at - t_trig,
        "exit": nan if exited_at is None else exited_at - t_trig,
        "after_last": (
            nan if stopped_at is None or not sent else stopped_at - max(sent)
        ),
        "fail": collections.Counter(o for o, _ in done if o != "ok"),
    }
    return trial, running


def post_trigger(
    port: int, outcomes: list[str], threads: list[threading.Thread]
) -> cabc.Callable[[], None]:
    """A trigger that sends ``POST /shutdown`` from its own thread, as an
    operator's client would.
    """

    def send() -> None:
        try:
            status, _ = http_request(
                port, "/shutdown", method="POST", headers=AUTH, timeout=10
            )
            outcomes.append(f"http-{status}")
        except Exception as e:
            outcomes.append(classify(e))

    def trigger() -> None:
        th = threading.Thread(target=send, daemon=True)
        threads.append(th)
        th.start()

    return trigger


def harness_start(run: Run, mode: str) -> Start:
    """C1-C3: the server in a harness process in ``mode``. ``thread-post``
    is stopped by ``POST /shutdown``; the others on ``stop`` from the pipe.
    """

    def start(env: dict[str, str]) -> Running:
        log = run.logpath(f"harness-{mode}")
        h = Harness(mode, log, env)

        try:
            port = int(h.expect("READY", 20))
        except Exception as e:
            release(h.proc)
            raise RuntimeError(f"{e} Log: {log_tail(log)}") from None

        outcomes: list[str] = []
        threads: list[threading.Thread] = []

        if mode == "thread-post":
            trigger = post_trigger(port, outcomes, threads)
        else:
            trigger = h.send_stop

        def finish(timeout: float) -> tuple[float | None, float | None]:
            try:
                stopped_at: float | None = float(h.expect("STOPPED", timeout))
            except Exception:
                stopped_at = None

            exited_at = exit_time(h.proc, timeout)
            h.close()
            release(h.proc)
            return stopped_at, exited_at

        return Running(port, trigger, finish, outcomes, threads, log)

    return start
