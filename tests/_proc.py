"""Real servers in subprocesses: start one, learn its URL from its output,
and make sure it, and everything it started, is gone at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

import requests

#: The interpreter of the test environment; its bin/ holds gunicorn & co.
PYTHON = sys.executable
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
#: An interpreter with Flask 2.0 (the legacy hook): .venv-legacy, or the
#: matrix cell's own interpreter on its Flask 2.0 line (noxfile.py).
LEGACY_PYTHON = Path(
    os.environ.get("FLASK_SHUTDOWN_LEGACY_PYTHON")
    or ROOT / ".venv-legacy" / "bin" / "python"
)


class Proc:
    """A server process in its own session, with its output in a file.

    :param args: The command line.
    :param log: The file that receives its output.
    :param env: Variables set on top of ``base_env``.
    :param cwd: Its working directory.
    :param base_env: The environment to start from; defaults to
        ``os.environ``. The benchmark passes one with variables removed.
    :param pipes: Give it a pipe as standard input and another as standard
        output (``popen.stdin``, ``popen.stdout``), for a process that
        speaks a line protocol; only its standard error goes to ``log``.
    """

    def __init__(
        self,
        args: list[str],
        log: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        base_env: t.Mapping[str, str] | None = None,
        pipes: bool = False,
    ) -> None:
        self.args = args
        self.log_path = log
        self._log = open(log, "wb")
        base = os.environ if base_env is None else base_env
        full_env = {**base, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.popen = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else self._log,
            stderr=self._log if pipes else subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
        self._exited = threading.Event()
        self.returncode: int | None = None
        #: ``time.perf_counter()`` when the exit was seen, or ``None``.
        self.exited_at: float | None = None
        # A blocking wait() in a thread learns of the exit at once;
        # Popen.wait(timeout) polls in steps of up to 50 ms.
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self) -> None:
        self.returncode = self.popen.wait()
        self.exited_at = time.perf_counter()
        self._exited.set()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """Wait until the output matches ``pattern``."""
        deadline = time.monotonic() + timeout

        while time.monotonic() < deadline:
            match = re.search(pattern, self.output())

            if match:
                return match

            if self._exited.is_set():
                break

            time.sleep(0.02)

        raise AssertionError(
            f"{self.args[0]} did not print {pattern!r} within {timeout} s"
            f" (exit code {self.returncode}). Output:\n{self.output()}"
        )

    def wait_url(self, url: str, timeout: float = 30) -> None:
        """Wait until ``GET url`` answers at all."""
        deadline = time.monotonic() + timeout

        while time.monotonic() < deadline:
            try:
                requests.get(url, timeout=1)
                return
            except requests.ConnectionError:
                if self._exited.is_set():
                    break

                time.sleep(0.02)

        raise AssertionError(
            f"{url} did not answer within {timeout} s:\n{self.output()}"
        )

    def wait_exit(self, timeout: float = 30) -> int:
        """Wait for the process to exit and return its exit code."""
        if not self._exited.wait(timeout):
            raise AssertionError(
                f"{self.args[0]} did not exit within {timeout} s."
                f" Output:\n{self.output()}"
            )

        assert self.returncode is not None
        return self.returncode

    def group_alive(self) -> bool:
        """Whether any process of its session is still running."""
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False

        return True

    def wait_group_gone(self, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout

        while time.monotonic() < deadline:
            if not self.group_alive():
                return True

            time.sleep(0.02)

        return False

    def kill(self) -> None:
        """Kill the whole session (only what this test started)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

        self._exited.wait(10)
        self._log.close()

        # Its standard output, when a pipe, belongs to whoever reads it:
        # closing it here could block on that reader's lock.
        if self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.kill()


class Redis:
    """A redis-server process on 127.0.0.1, without persistence."""

    def __init__(self, tmp_path: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, (
            "redis-server is not installed; the README's test command installs"
            " it (scripts/bootstrap.sh test)."
        )
        self.binary = binary
        self.dir = tmp_path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port)]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        for _ in range(500):
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.1) as s:
                    s.sendall(b"PING\r\n")

                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.01)

        raise AssertionError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
