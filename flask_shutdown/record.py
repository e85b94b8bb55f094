"""What a shutdown is: its phases, its record, and the exit code it ends
with. Shared by the sequence, the server adapters and the app-facing
extension, so it depends on none of them.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import time
import typing as t

from .hooks import HookResult


class Phase(str, enum.Enum):
    """Where a shutdown stands."""

    #: Serving; no shutdown has been accepted.
    RUNNING = "running"
    #: A shutdown was accepted: readiness answers 503, and after
    #: ``SHUTDOWN_DRAIN_DELAY`` new requests get 503 while the ones in
    #: flight finish.
    DRAINING = "draining"
    #: The teardown hooks are running.
    HOOKS = "hooks"
    #: The server adapter is stopping the server.
    STOPPING = "stopping"
    #: The server has stopped, or has been told to stop.
    STOPPED = "stopped"


class ExitCode(enum.IntEnum):
    """The process exit codes used by :func:`flask_shutdown.serve`. When
    several apply, the highest wins.
    """

    #: Drained, every hook succeeded, the server stopped.
    OK = 0
    #: A hook raised or ran past its timeout.
    HOOK_FAILED = 1
    #: Requests were still running when ``SHUTDOWN_DRAIN_TIMEOUT`` passed.
    DRAIN_TIMEOUT = 2
    #: A second interrupt forced a fast stop.
    FORCED = 3
    #: The server adapter failed to stop the server.
    STOP_FAILED = 4


@dataclasses.dataclass
class ShutdownRecord:
    """One shutdown: who asked for it, why, and what happened."""

    #: Shared by every request that asked for this shutdown.
    id: str
    reason: str
    #: The principal that asked: ``"user:NAME"``, ``"token:NAME"``,
    #: ``"signed:ID"``, or ``"code"``/``"signal:SIGTERM"`` for triggers
    #: outside HTTP. Never a secret.
    requested_by: str
    #: ``"http"``, ``"code"``, ``"signal"`` or ``"exit"``.
    source: str
    #: When it was accepted, as a Unix timestamp.
    requested_at: float = dataclasses.field(default_factory=time.time)
    #: The name of the server adapter that stops the server.
    server: str | None = None
    #: Whether the process running the server ends with :attr:`exit_code`
    #: (or :func:`~flask_shutdown.serve` returns it). ``False`` where the
    #: server's master process chooses its own exit code (gunicorn,
    #: uWSGI): then the status report is where the code is found.
    exit_code_carried: bool = False
    #: Whether requests were still running when ``SHUTDOWN_DRAIN_TIMEOUT``
    #: passed.
    drain_timed_out: bool = False
    #: Seconds the drain took, once it is over.
    drain_duration: float | None = None
    #: Requests still in flight when the drain timed out.
    still_running: list[str] = dataclasses.field(default_factory=list)
    #: The result of each teardown hook, in the order they ran.
    hooks: list[HookResult] = dataclasses.field(default_factory=list)
    #: Whether a second interrupt forced a fast stop.
    forced: bool = False
    #: Why the server adapter failed to stop the server, if it did.
    error: str | None = None
    #: When the server stopped, as a Unix timestamp; ``None`` until then.
    stopped_at: float | None = None

    @property
    def stopped(self) -> bool:
        """Whether the sequence has finished."""
        return self.stopped_at is not None

    @property
    def exit_code(self) -> ExitCode:
        """What the shutdown amounts to so far; final once :attr:`stopped`."""
        if self.error is not None:
            return ExitCode.STOP_FAILED

        if self.forced:
            return ExitCode.FORCED

        if self.drain_timed_out:
            return ExitCode.DRAIN_TIMEOUT

        if any(not r.ok for r in self.hooks):
            return ExitCode.HOOK_FAILED

        return ExitCode.OK

    def to_dict(self) -> dict[str, t.Any]:
        """The record as JSON-ready data, as the status report shows it.
        ``exit_code`` is ``None`` until the server has stopped.
        """
        return {
            "shutdown_id": self.id,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "source": self.source,
            "requested_at": _iso(self.requested_at),
            "server": self.server,
            "exit_code_carried": self.exit_code_carried,
            "drain_timed_out": self.drain_timed_out,
            "drain_duration_ms": (
                None
                if self.drain_duration is None
                else round(self.drain_duration * 1000, 3)
            ),
            "still_running": list(self.still_running),
            "hooks": [r.to_dict() for r in self.hooks],
            "forced": self.forced,
            "error": self.error,
            "stopped_at": None if self.stopped_at is None else _iso(self.stopped_at),
            "exit_code": int(self.exit_code) if self.stopped else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, t.Any]) -> ShutdownRecord:
        """Rebuild a record from :meth:`to_dict`, as another worker process
        of the same server shared it.
        """
        return cls(
            id=data["shutdown_id"],
            reason=data["reason"],
            requested_by=data["requested_by"],
            source=data["source"],
            requested_at=_timestamp(data["requested_at"]),
            server=data.get("server"),
            drain_timed_out=bool(data.get("drain_timed_out")),
            drain_duration=(
                None
                if data.get("drain_duration_ms") is None
                else data["drain_duration_ms"] / 1000
            ),
            still_running=list(data.get("still_running") or []),
            hooks=[HookResult.from_dict(h) for h in data.get("hooks") or []],
            forced=bool(data.get("forced")),
            error=data.get("error"),
            stopped_at=(
                None
                if data.get("stopped_at") is None
                else _timestamp(data["stopped_at"])
            ),
        )


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat()


def _timestamp(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).timestamp()
