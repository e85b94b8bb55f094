"""The audit trail: one log record for every request to the shutdown and
status endpoints, accepted or refused.

Records go to the ``flask_shutdown.audit`` logger, so that they can be
routed, kept or silenced apart from the rest of the package's logging. Each carries an
:class:`AuditEvent` as ``record.audit``, so a handler or formatter can
ship the fields as structured data:

.. code-block:: python

    class AuditFilter(logging.Filter):
        def filter(self, record):
            event = getattr(record, "audit", None)

            if event is not None:
                record.audit_json = json.dumps(event.to_dict())

            return True

An event never holds a secret: the principal is a user name or the name
(or id) of a token, never a password, a token or a password hash.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import typing as t

logger = logging.getLogger(__name__)

#: Longest text kept from a field the client controls (the path, the
#: method, the shutdown reason), so that one request cannot write a
#: huge log line.
MAX_FIELD_LENGTH = 200

ACCEPTED = "accepted"
REFUSED = "refused"


@dataclasses.dataclass(frozen=True)
class AuditEvent:
    """One attempt to use the shutdown or status endpoint."""

    #: When it was answered, ISO 8601 in UTC.
    time: str
    #: ``request.remote_addr``: the client, or the last proxy when no
    #: ``ProxyFix`` is applied.
    remote_addr: str | None
    method: str
    path: str
    #: ``"shutdown"`` or ``"status"``.
    endpoint: str
    #: ``"user:NAME"``, ``"token:NAME"`` or ``"signed:ID"``; ``None`` when
    #: no known principal was named. Never a secret.
    principal: str | None
    #: :data:`ACCEPTED` or :data:`REFUSED`.
    outcome: str
    #: A short code: why it was refused (``"bad_token"``,
    #: ``"too_many_attempts"``, ...) or what was done
    #: (``"shutdown_requested"``, ``"status_read"``, ...).
    reason: str
    #: The HTTP status of the answer.
    status: int
    #: The reason the client gave for a shutdown, if any.
    shutdown_reason: str | None = None
    #: The id of the shutdown that was requested or already under way.
    shutdown_id: str | None = None

    def to_dict(self) -> dict[str, t.Any]:
        return dataclasses.asdict(self)


def clean(value: str | None, limit: int = MAX_FIELD_LENGTH) -> str | None:
    """Make client-controlled text safe for a log line: control and other
    non-printable characters become spaces (so a client cannot forge log
    lines or terminal escapes), and it is cut to ``limit`` characters.
    """
    if value is None:
        return None

    if len(value) > limit:
        value = value[:limit] + "..."

    return "".join(ch if ch.isprintable() else " " for ch in value)


def log_attempt(
    *,
    remote_addr: str | None,
    method: str,
    path: str,
    endpoint: str,
    principal: str | None,
    outcome: str,
    reason: str,
    status: int,
    shutdown_reason: str | None = None,
    shutdown_id: str | None = None,
) -> AuditEvent:
    """Log one attempt on the ``flask_shutdown.audit`` logger: refusals and
    accepted shutdowns at ``WARNING``, accepted status reads at ``INFO``.

    :returns: The event that was logged.
    """
    event = AuditEvent(
        time=datetime.datetime.now(datetime.timezone.utc).isoformat(),
        remote_addr=clean(remote_addr),
        method=clean(method) or "",
        path=clean(path) or "",
        endpoint=endpoint,
        principal=clean(principal),
        outcome=outcome,
        reason=reason,
        status=status,
        shutdown_reason=clean(shutdown_reason, 500),
        shutdown_id=shutdown_id,
    )
    level = (
        logging.INFO
        if outcome == ACCEPTED and endpoint != "shutdown"
        else logging.WARNING
    )
    message = "Shutdown endpoint: %s %s from %s by %s: %s (%s, HTTP %d)."
    args: tuple[t.Any, ...] = (
        event.method,
        event.path,
        event.remote_addr or "-",
        event.principal or "-",
        event.outcome,
        event.reason,
        event.status,
    )

    if event.shutdown_reason:
        message = message[:-1] + ", shutdown reason %r."
        args = (*args, event.shutdown_reason)

    logger.log(level, message, *args, extra={"audit": event})
    return event
