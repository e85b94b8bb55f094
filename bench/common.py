"""Constants shared by the orchestrator, the served app and the harness
process (addresses, the timings of the in-flight rows, the token, the
clock), and the two probes of what is installed.

Kept free of imports beyond the standard library, because every server the
benchmark starts imports it through :mod:`bench.app`.
"""

from __future__ import annotations

import importlib.util
import time
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version
from pathlib import Path

#: The repository root: the working directory of every server started as a
#: subprocess, so that ``bench.app`` is importable there.
ROOT = Path(__file__).resolve().parent.parent
#: Every server listens here, on an ephemeral port.
HOST = "127.0.0.1"
#: How long the slow view sleeps.
SLEEP_S = 0.3
#: Concurrent slow requests in the in-flight measurements.
N_INFLIGHT = 8
#: The stop is triggered this long after the slow requests start.
TRIGGER_AFTER_S = 0.05
#: The static bearer token of the benchmark app.
TOKEN = "bench-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: The variable that names the event file the app appends to.
EVENT_LOG_ENV = "BENCH_EVENT_LOG"
#: The variable holding extra app config, as JSON (rows H): with it, the
#: app also names the worker that answered in :data:`PID_HEADER`.
CONFIG_ENV = "BENCH_APP_CONFIG"
PID_HEADER = "X-Bench-Pid"
#: The secret key of the rows that use signed tokens.
SECRET_KEY = "bench-secret-key-0123456789abcdef"
#: CLOCK_MONOTONIC on Linux: comparable across processes.
perf = time.perf_counter


def pkg_version(name: str) -> str | None:
    """The installed version of the distribution ``name``, or ``None``."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def has_module(name: str) -> bool:
    """Whether the module ``name`` can be imported."""
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False
