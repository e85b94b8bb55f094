"""The fallback: send a signal to the own process.

Used when no adapter recognises the server, or when ``SHUTDOWN_STRATEGY``
is ``"signal"`` (SIGTERM) or ``"signal:NAME"`` (for example
``"signal:SIGINT"``). Most servers treat SIGTERM as "stop gracefully";
the drain and the hooks have already happened when it is sent.
"""

from __future__ import annotations

import logging
import os
import signal
import typing as t

from .base import ServerAdapter

if t.TYPE_CHECKING:
    from .base import StopContext

logger = logging.getLogger(__name__)


class SignalAdapter(ServerAdapter):
    """Sends ``signum`` to this process (or to ``pid``)."""

    name = "signal"

    def __init__(self, signum: int = signal.SIGTERM, pid: int | None = None) -> None:
        self.signum = signum
        self.pid = pid

    @classmethod
    def from_spec(cls, spec: str) -> SignalAdapter:
        """Build from ``"signal"`` or ``"signal:SIGINT"``.

        :raises RuntimeError: Unknown signal name.
        """
        _, _, sig_name = spec.partition(":")

        if not sig_name:
            return cls()

        try:
            return cls(signal.Signals[sig_name.upper()])
        except KeyError:
            raise RuntimeError(
                f"SHUTDOWN_STRATEGY {spec!r} names an unknown signal. Use a name"
                " such as 'signal:SIGTERM' or 'signal:SIGINT'."
            ) from None

    def stop(self, context: StopContext) -> None:
        pid = os.getpid() if self.pid is None else self.pid
        logger.info("Sending %s to process %d.", signal.Signals(self.signum).name, pid)
        os.kill(pid, self.signum)


class CallableAdapter(ServerAdapter):
    """Calls a user-supplied function with the
    :class:`~flask_shutdown.ShutdownRecord` (``SHUTDOWN_STRATEGY`` set to a
    callable).
    """

    name = "callable"

    def __init__(self, func: t.Callable[..., t.Any]) -> None:
        self.func = func

    def stop(self, context: StopContext) -> None:
        self.func(context.record)
