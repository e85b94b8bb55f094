"""The child processes this run started, and only those: starting them in
their own sessions (with the tests' :class:`~tests._proc.Proc`), learning
when they exit, and killing what is left at the end.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import os
import queue
import sys
import threading
import typing as t
from pathlib import Path

from tests._proc import Proc

from .common import EVENT_LOG_ENV
from .common import perf
from .common import ROOT
from .harness import PROTO

if t.TYPE_CHECKING:
    import multiprocessing.process

#: Every process started with :func:`spawn` and not yet released.
_PROCS: list[Proc] = []
#: Processes forked through ``multiprocessing`` (pytest-flask's LiveServer).
_MPROCS: list[multiprocessing.process.BaseProcess] = []


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the variables that would change
    how a child serves, plus ``extra``.
    """
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"

    for key in (EVENT_LOG_ENV, "FLASK_APP", "FLASK_DEBUG", "WERKZEUG_RUN_MAIN"):
        env.pop(key, None)

    env.update(extra or {})
    return env


def spawn(
    cmd: list[str],
    log: Path,
    env: dict[str, str],
    *,
    cwd: Path = ROOT,
    pipes: bool = False,
) -> Proc:
    """Start ``cmd`` in its own session with exactly ``env``; its output
    goes to ``log`` (with ``pipes``, only its standard error).
    """
    proc = Proc(cmd, log, base_env=env, cwd=cwd, pipes=pipes)
    _PROCS.append(proc)
    return proc


def release(proc: Proc) -> None:
    """Kill what is left of ``proc``'s session and close its log."""
    proc.kill()

    with contextlib.suppress(ValueError):
        _PROCS.remove(proc)


def alive(proc: Proc) -> cabc.Callable[[], bool]:
    """Whether ``proc`` still runs; ``Popen.poll`` would answer ``None``
    while :class:`Proc`'s own thread waits for it.
    """
    return lambda: proc.returncode is None


def exit_time(proc: Proc, timeout: float) -> float | None:
    """When ``proc`` exited, or ``None`` (and it is killed) when it is
    still running after ``timeout`` seconds.
    """
    try:
        proc.wait_exit(timeout)
    except AssertionError:
        release(proc)
        return None

    return proc.exited_at


def track_fork(process: multiprocessing.process.BaseProcess | None) -> None:
    """Remember a process forked through ``multiprocessing``."""
    if process is not None:
        _MPROCS.append(process)


def cleanup_children() -> None:
    """Kill every child this run started that is still there."""
    for proc in list(_PROCS):
        release(proc)

    for mp in _MPROCS:
        with contextlib.suppress(Exception):
            if mp.is_alive():
                mp.kill()
                mp.join(5)


def log_tail(path: Path | None, n: int = 6) -> str:
    """The last ``n`` non-empty lines of a log, on one line."""
    if path is None:
        return ""

    try:
        with open(path, errors="replace") as f:
            lines = [line.rstrip() for line in f if line.strip()]
    except OSError:
        return ""

    return " | ".join(lines[-n:])


@contextlib.contextmanager
def quiet_fds(log_path: Path) -> cabc.Iterator[None]:
    """Point fd 1 and 2 at a log file, so that forked servers print their
    banner and request log there rather than into the results.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)

    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


class Harness:
    """The orchestrator's side of a :mod:`bench.harness` process."""

    def __init__(self, mode: str, log: Path, env: dict[str, str]) -> None:
        cmd = [sys.executable, "-m", "bench.harness", mode]
        self.proc = spawn(cmd, log, env, pipes=True)
        self.log = log
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.popen.stdout
        assert out is not None

        with out:
            for raw in out:
                line = raw.decode(errors="replace").strip()

                if line.startswith(PROTO):
                    self.lines.put(line[len(PROTO) :])

        self.lines.put(None)

    def expect(self, word: str, timeout: float) -> str:
        """Wait for the line ``WORD VALUE...`` and return ``VALUE...``."""
        deadline = perf() + timeout

        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - perf()))
            except queue.Empty:
                raise TimeoutError(
                    f"The harness sent no {word} in {timeout:.0f} s."
                ) from None

            if line is None:
                raise RuntimeError(f"The harness exited before {word}.")

            if line.startswith(word + " "):
                return line.split(maxsplit=1)[1]

    def send_stop(self) -> None:
        """Tell it to stop its server."""
        stdin = self.proc.popen.stdin
        assert stdin is not None
        stdin.write(b"stop\n")
        stdin.flush()

    def close(self) -> None:
        """Close its standard input."""
        with contextlib.suppress(OSError):
            assert self.proc.popen.stdin is not None
            self.proc.popen.stdin.close()
