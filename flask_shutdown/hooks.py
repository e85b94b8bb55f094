"""Teardown hooks: registered functions run once, in order, each bounded by
a timeout and isolated from the others' failures.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import logging
import threading
import time
import traceback
import typing as t

from .redaction import redact

if t.TYPE_CHECKING:
    from flask import Flask

logger = logging.getLogger(__name__)

HookFunc = cabc.Callable[[], t.Any]


@dataclasses.dataclass(frozen=True)
class Hook:
    """A registered teardown hook."""

    func: HookFunc
    #: Seconds it may run; ``None`` uses ``SHUTDOWN_HOOK_TIMEOUT``.
    timeout: float | None = None

    @property
    def name(self) -> str:
        return getattr(self.func, "__qualname__", None) or repr(self.func)


@dataclasses.dataclass(frozen=True)
class HookResult:
    """What happened when a hook ran."""

    name: str
    #: ``"ok"``, ``"error"`` (it raised) or ``"timeout"`` (it was still
    #: running when its timeout passed; it is left to finish on its own).
    status: str
    duration: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, t.Any]:
        """The result as JSON-ready data, as the status report shows it."""
        return {
            "name": self.name,
            "status": self.status,
            "duration_ms": round(self.duration * 1000, 3),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, t.Any]) -> HookResult:
        """Rebuild a result from :meth:`to_dict`."""
        return cls(
            data["name"], data["status"], data["duration_ms"] / 1000, data.get("error")
        )


def run_hooks(
    app: Flask, hooks: cabc.Sequence[Hook], default_timeout: float
) -> list[HookResult]:
    """Run each hook inside an app context, in registration order.

    A hook that raises is logged and reported; a hook that runs past its
    timeout is reported and left running in its (daemon) thread. Either
    way the remaining hooks still run.
    """
    results = []

    for hook in hooks:
        timeout = default_timeout if hook.timeout is None else hook.timeout
        result = _run_one(app, hook, timeout)
        results.append(result)

        if result.ok:
            logger.info(
                "Shutdown hook %r finished in %.1f ms.",
                result.name,
                result.duration * 1e3,
            )
        elif result.status == "timeout":
            logger.error(
                "Shutdown hook %r did not finish within %.1f s; the shutdown"
                " goes on without it.",
                result.name,
                timeout,
            )

    return results


def _run_one(app: Flask, hook: Hook, timeout: float) -> HookResult:
    outcome: dict[str, BaseException] = {}
    done = threading.Event()

    def target() -> None:
        try:
            with app.app_context():
                hook.func()
        except BaseException as e:
            outcome["error"] = e
        finally:
            done.set()

    started = time.perf_counter()
    thread = threading.Thread(
        target=target, name=f"flask-shutdown-hook-{hook.name}", daemon=True
    )

    try:
        thread.start()
    except RuntimeError:
        # At interpreter exit (Python 3.12+) new threads are refused. The
        # hook then runs here, without a timeout, rather than not at all.
        target()

    finished = done.wait(timeout)
    duration = time.perf_counter() - started

    if not finished:
        return HookResult(
            hook.name, "timeout", duration, f"timed out after {timeout} s"
        )

    if "error" in outcome:
        e = outcome["error"]
        # Logged here, where the traceback is at hand; operators need it.
        # Formatted and redacted here rather than passed as exc_info: the
        # message of a failed connection often holds the URL with its
        # password.
        logger.error(
            "Shutdown hook %r failed:\n%s", hook.name, describe_exception(e, True)
        )
        return HookResult(hook.name, "error", duration, describe_exception(e))

    return HookResult(hook.name, "ok", duration)


def describe_exception(e: BaseException, with_traceback: bool = False) -> str:
    """``"TypeName: message"`` (or the whole traceback), with credentials
    in URLs and long token-like strings redacted: what the status report
    and the log lines show of an error.
    """
    if with_traceback:
        text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        return redact(text.rstrip("\n"))

    return redact(f"{type(e).__name__}: {e}")
