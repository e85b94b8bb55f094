"""Who runs the graceful sequence when the server's own stop signal
(SIGTERM from Kubernetes, systemd or ``docker stop``) arrives.

The adapters that turn that signal into a shutdown (waitress, uWSGI) know
the server but not the extension: each app registers a *receiver* here at
``init_app``, a function that takes the signal's name, the adapter that
will stop the server, and whether to force, and runs the sequence.
Receivers are held weakly, so an app that goes away (a test's) takes its
receiver with it.
"""

from __future__ import annotations

import typing as t
import weakref

if t.TYPE_CHECKING:
    from .base import ServerAdapter


class Receiver(t.Protocol):
    """Runs the sequence for the signal ``name``, stopping the server with
    ``adapter``, or stops it now with ``force``. Returns whether this call
    started the shutdown (``False``: one was under way already).
    """

    def __call__(self, name: str, adapter: ServerAdapter, force: bool) -> bool: ...


_receivers: weakref.WeakKeyDictionary[t.Any, weakref.WeakMethod[Receiver]] = (
    weakref.WeakKeyDictionary()
)


def register(app: t.Any, receiver: Receiver) -> None:
    """Register ``receiver`` (a bound method) as the one of ``app``."""
    _receivers[app] = weakref.WeakMethod(receiver)


def receivers_for(wsgi_app: object) -> list[Receiver]:
    """The receiver of ``wsgi_app`` when it is a registered app; else,
    when the server serves an app wrapped in middleware, every app of
    this process that is still alive (in a server process, the one app).
    """
    try:
        found = _receivers.get(wsgi_app)
    except TypeError:  # not weakly referenceable: no app of ours
        found = None

    live = [found()] if found is not None else [r() for r in _receivers.values()]
    return [r for r in live if r is not None]
