"""What a server adapter is: the piece that knows how to stop one kind of
server, and how to tell, from a request's WSGI environ, that it is the
server running the app.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from ..sequence import Coordinator


class ServerAdapter:
    """Stops one kind of server. Subclasses set :attr:`name` and implement
    :meth:`stop`, and usually :meth:`detect`.
    """

    #: The name used in ``SHUTDOWN_STRATEGY`` and in the status report.
    name: t.ClassVar[str] = "unknown"

    #: Whether the whole sequence must run in the thread that served the
    #: shutdown request, before that request ends. Only the legacy
    #: Werkzeug hook needs this.
    inline: t.ClassVar[bool] = False

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        """Return an adapter if this kind of server is serving ``environ``
        (``None`` when the shutdown was not triggered by a request).
        """
        return None

    #: Why an explicitly configured adapter does not apply, for the error
    #: raised by :meth:`create` when :meth:`detect` finds nothing.
    not_detected: t.ClassVar[str] = "this request was not served by that server."

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

    def stop(self, coordinator: Coordinator) -> None:
        """Stop the server. Called once, after the drain and the hooks."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
