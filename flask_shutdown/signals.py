"""Blinker signals sent during a shutdown, for observers such as metrics,
audit trails or tests. Flask's own namespace is only for Flask's signals,
so these live in their own.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent once when a shutdown has been accepted, before anything stops.
#: The sender is the app; ``record`` is the
#: :class:`~flask_shutdown.ShutdownRecord`.
shutdown_requested = _signals.signal("shutdown-requested")

#: Sent after the teardown hooks ran. The sender is the app; ``record`` is
#: the :class:`~flask_shutdown.ShutdownRecord`, whose ``hooks`` holds the
#: results.
hooks_done = _signals.signal("shutdown-hooks-done")

#: Sent once the server has been told to stop (and, for a
#: :class:`~flask_shutdown.ServerThread`, has stopped). The sender is the
#: app; ``record`` is the :class:`~flask_shutdown.ShutdownRecord`.
shutdown_stopped = _signals.signal("shutdown-stopped")

#: Sent for every request to the shutdown or status endpoint, once it has
#: been answered. The sender is the app; ``event`` is the
#: :class:`~flask_shutdown.audit.AuditEvent` written to the audit log.
attempt_answered = _signals.signal("shutdown-attempt-answered")
