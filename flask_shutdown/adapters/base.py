"""What a server adapter is: the piece that knows how to stop one kind of
server, and how to tell, from a request's WSGI environ, that it is the
server running the app.

Adapters sit between the sequence and the servers: the sequence calls
them, they call the servers, and they know nothing of the extension.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import typing as t

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from ..record import ShutdownRecord


@dataclasses.dataclass(frozen=True)
class StopContext:
    """What an adapter is given to stop the server."""

    #: The shutdown being carried out.
    record: ShutdownRecord
    #: ``time.monotonic()`` value by which waiting on the server (queued
    #: connections, unsent responses) must give up: the stop starts with
    #: ``SHUTDOWN_DRAIN_TIMEOUT`` to spend.
    deadline: float
    #: Set once the sequence has recorded the stop, logged it and told
    #: the observers: a process that ends right after the stop waits for
    #: it, so that none of that is lost.
    finished: threading.Event = dataclasses.field(default_factory=threading.Event)

    def remaining(self) -> float:
        """Seconds left until :attr:`deadline`, never below zero."""
        return max(self.deadline - time.monotonic(), 0.0)


class ServerAdapter:
    """Stops one kind of server. Subclasses set :attr:`name`, implement
    :meth:`stop`, and usually :meth:`detect`.
    """

    #: The name used in ``SHUTDOWN_STRATEGY`` and in the status report.
    name: t.ClassVar[str] = "unknown"

    #: Whether the whole sequence must run in the thread that served the
    #: shutdown request, once its response has been sent, rather than in a
    #: thread of its own.
    inline: t.ClassVar[bool] = False

    #: Whether the sequence runs inside the shutdown request, before it is
    #: answered, so that the answer shows the outcome (the test client).
    before_response: t.ClassVar[bool] = False

    #: Whether ``SHUTDOWN_DRAIN_DELAY`` applies: it gives load balancers
    #: time to notice readiness, so it is pointless where none can exist.
    drain_delay: t.ClassVar[bool] = True

    #: Whether whoever runs the server learns the shutdown's exit code
    #: (:class:`~flask_shutdown.ExitCode`) from it: as the exit code of the
    #: server process (``flask run``, waitress), as the return value of
    #: :func:`~flask_shutdown.serve` or the record returned by
    #: :meth:`ServerThread.shutdown() <flask_shutdown.ServerThread.shutdown>`,
    #: or in the test client's answer. Servers whose master process
    #: chooses its own exit code (gunicorn's arbiter, uWSGI's master) leave
    #: this off; the status report and ``flask shutdown send`` carry the
    #: code instead, and the log line does not claim it.
    carries_exit_code: t.ClassVar[bool] = False

    #: Why an explicitly configured adapter does not apply, for the error
    #: raised by :meth:`create` when :meth:`detect` finds nothing.
    not_detected: t.ClassVar[str] = "this request was not served by that server."

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        """Return an adapter if this kind of server is serving ``environ``
        (``None`` when the shutdown was not triggered by a request). Has
        no side effects: the choice is only acted on in :meth:`accepted`.
        """
        return None

    @classmethod
    def create(cls, environ: WSGIEnvironment | None) -> ServerAdapter:
        """Return an adapter for an explicitly configured strategy.

        :raises RuntimeError: The server running the app is not this kind.
        """
        adapter = cls.detect(environ)

        if adapter is None:
            raise RuntimeError(
                f"SHUTDOWN_STRATEGY is {cls.name!r}, but {cls.not_detected}"
            )

        return adapter

    def accepted(self) -> None:
        """Called once, in the thread that asked, when the shutdown this
        adapter will carry out has been accepted: the place to stop taking
        new work from the server.
        """

    def stop(self, context: StopContext) -> None:
        """Stop the server. Called once, after the drain and the hooks."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
