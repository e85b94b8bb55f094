"""The shutdown sequence: the one place where a shutdown happens, whatever
triggered it (the endpoint, :meth:`ServerThread.shutdown`, a signal, or
:meth:`Shutdown.trigger`).

Phases, in order::

    running -> draining -> hooks -> stopping -> stopped

``draining``
    The readiness endpoint answers 503 from the moment the shutdown is
    accepted. The app keeps serving for ``SHUTDOWN_DRAIN_DELAY`` seconds so
    a load balancer can take the instance out of rotation; then new
    requests get 503 and the sequence waits (up to
    ``SHUTDOWN_DRAIN_TIMEOUT``) until no request is in flight.
``hooks``
    The teardown hooks run, in registration order, each with a timeout.
``stopping``
    The server adapter stops the server that runs the app.
``stopped``
    The adapter has stopped the server (or, for a process-level server,
    told it to stop).
"""

from __future__ import annotations

import collections.abc as cabc
import logging
import threading
import time
import typing as t
import uuid

from .adapters.base import StopContext
from .hooks import describe_exception
from .hooks import run_hooks
from .record import Phase
from .record import ShutdownRecord
from .shared import LocalState
from .signals import hooks_done
from .signals import shutdown_requested
from .signals import shutdown_stopped

if t.TYPE_CHECKING:
    from blinker import NamedSignal
    from flask import Flask

    from .adapters.base import ServerAdapter
    from .hooks import Hook
    from .hooks import HookResult
    from .inflight import InFlight

logger = logging.getLogger(__name__)

#: How long the stop waits for a status read that follows the shutdown
#: (``GET /shutdown/status?wait=...``) to receive the report of the
#: ``stopping`` phase, which holds every hook's result, before the server
#: goes away. Only when such a read came during this shutdown.
FOLLOWER_GRACE = 1.0

#: Runs a callback once the response of the request that asked for a
#: shutdown has been sent.
AfterResponse = cabc.Callable[[cabc.Callable[[], None]], None]


class Coordinator:
    """Runs the shutdown sequence of one app in one process.

    :param app: The app whose hooks run and whose server stops.
    :param hooks: Returns the hooks to run, in order.
    :param in_flight: The app's in-flight requests.
    :param drain_delay: ``SHUTDOWN_DRAIN_DELAY``.
    :param drain_timeout: ``SHUTDOWN_DRAIN_TIMEOUT``.
    :param hook_timeout: ``SHUTDOWN_HOOK_TIMEOUT``.
    :param shared: The state shared with the other worker processes of
        the server; per process by default.
    """

    def __init__(
        self,
        app: Flask,
        hooks: cabc.Callable[[], cabc.Sequence[Hook]],
        in_flight: InFlight,
        *,
        drain_delay: float,
        drain_timeout: float,
        hook_timeout: float,
        shared: LocalState | None = None,
    ) -> None:
        self.app = app
        self.shared = LocalState() if shared is None else shared
        self.hooks = hooks
        self.in_flight = in_flight
        self.drain_delay = drain_delay
        self.drain_timeout = drain_timeout
        self.hook_timeout = hook_timeout
        self._lock = threading.RLock()
        #: Notified on every change of phase, and when a followed report
        #: has been sent.
        self._changed = threading.Condition(self._lock)
        self._init_state()

    def _init_state(self) -> None:
        self._phase = Phase.RUNNING
        self._record: ShutdownRecord | None = None
        self._adapter: ServerAdapter | None = None
        #: Read by the in-flight middleware on every request: a plain
        #: attribute, not a property, to keep that path cheap.
        self.admitting = True
        self._hooks_ran = False
        self._stopped = threading.Event()
        self._forced = threading.Event()
        #: Whether a status read followed this shutdown, and whether one
        #: was sent the report of the ``stopping`` phase or a later one.
        self._followed = False
        self._final_report_sent = False

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def record(self) -> ShutdownRecord | None:
        """The current shutdown, or ``None`` while running."""
        return self._record

    @property
    def ready(self) -> bool:
        """Whether the app is ready for traffic (the readiness answer): no
        shutdown has been accepted, by this process or by another worker
        of the same server.
        """
        return self._record is None and self.shared.read() is None

    def shared_report(self) -> dict[str, t.Any] | None:
        """The shutdown of the server as its running worker last shared
        it, with its ``phase``; ``None`` when no worker shares one.
        """
        return self.shared.read()

    def trigger(
        self,
        adapter: ServerAdapter,
        *,
        reason: str,
        requested_by: str,
        source: str,
        after_response: AfterResponse | None = None,
    ) -> tuple[ShutdownRecord, bool]:
        """Accept a shutdown and run the sequence with ``adapter`` stopping
        the server. Idempotent: while a shutdown is under way every call
        returns the same record and starts nothing.

        The sequence runs in a thread of its own, or in the calling thread
        when the adapter is :attr:`~.ServerAdapter.inline`; it starts once
        the triggering response has been sent when ``after_response`` is
        given, unless the adapter runs it :attr:`~.ServerAdapter.before_response`.

        :param adapter: Stops the server.
        :param reason: Recorded and logged.
        :param requested_by: Who asked; never a secret.
        :param source: ``"http"``, ``"code"`` or ``"signal"``.
        :param after_response: Schedules a callback for the end of the
            triggering response; ``None`` starts at once.
        :returns: The record and whether this call created it.
        """
        with self._lock:
            if self._record is not None:
                return self._record, False

            record = ShutdownRecord(
                id=uuid.uuid4().hex,
                reason=reason,
                requested_by=requested_by,
                source=source,
                server=adapter.name,
                exit_code_carried=adapter.carries_exit_code,
            )
            other = self.shared.claim(_report(record, Phase.DRAINING))

            if other is not None:
                # Another worker of this server accepted a shutdown first:
                # this one joins it and starts nothing. The server stops
                # it, and its hooks run when it exits.
                self._record = ShutdownRecord.from_dict(other)
                self._phase = Phase(other.get("phase", Phase.DRAINING.value))
                return self._record, False

            self._record = record
            self._adapter = adapter
            self._set_phase(Phase.DRAINING)

        logger.warning(
            "Shutdown %s accepted: requested by %s via %s, reason %r.",
            record.id,
            requested_by,
            source,
            reason,
        )
        adapter.accepted()
        self._send(shutdown_requested, record)

        if after_response is not None and not adapter.before_response:
            after_response(lambda: self._start(adapter))
        else:
            self._start(adapter)

        return record, True

    def _start(self, adapter: ServerAdapter) -> None:
        if adapter.inline:
            self._run(adapter)
        else:
            threading.Thread(
                target=self._run, args=(adapter,), name="flask-shutdown", daemon=True
            ).start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the sequence reached ``stopped``."""
        return self._stopped.wait(timeout)

    def expect_follower(self) -> None:
        """The client that asked for the shutdown will follow it with
        status reads (``POST /shutdown?follow=1``): the stop waits up to
        :data:`FOLLOWER_GRACE` for one of them to receive the report of
        ``stopping``, even if the whole sequence is over before the first
        read arrives.
        """
        with self._changed:
            if self._record is not None:
                self._followed = True

    def watch(self, since: str, timeout: float) -> cabc.Callable[[str], None]:
        """Wait until the phase is no longer ``since`` (a :class:`Phase`
        value), at most ``timeout`` seconds: a status read that follows a
        shutdown, so that it learns of each phase as it begins instead of
        polling for it.

        Returns a function to call with the phase of the report once that
        report has been sent. When a read followed the shutdown, the stop
        waits up to :data:`FOLLOWER_GRACE` for a report of ``stopping``
        (which holds every hook's result) to be sent before the server
        goes away.
        """
        with self._changed:
            if self._record is not None:
                self._followed = True

            # Nothing is waited for once stopping: the server is going away,
            # and a server that waits for its requests to end before it
            # closes (waitress) would wait for this one.
            self._changed.wait_for(
                lambda: (
                    self._phase.value != since
                    or self._phase in (Phase.STOPPING, Phase.STOPPED)
                ),
                timeout,
            )

        def sent(phase: str) -> None:
            if phase in (Phase.STOPPING.value, Phase.STOPPED.value):
                with self._changed:
                    self._final_report_sent = True
                    self._changed.notify_all()

        return sent

    def _set_phase(self, phase: Phase) -> None:
        with self._changed:
            self._phase = phase
            self._changed.notify_all()

        record = self._record

        # The other workers of the server learn of it too.
        if record is not None:
            self.shared.publish(_report(record, phase))

    def force(self) -> None:
        """Stop the server now, skipping whatever of the drain and the hooks
        has not happened yet. Used on a second interrupt.
        """
        with self._lock:
            record = self._record
            adapter = self._adapter

        if record is None or adapter is None or self._stopped.is_set():
            return

        record.forced = True
        self.admitting = False
        self._forced.set()
        logger.warning("Shutdown %s forced: stopping the server now.", record.id)
        self._stop(adapter, record)

    def run_hooks_once(self) -> list[HookResult]:
        """Run the teardown hooks unless they already ran in this process
        for this shutdown. Server adapters whose other worker processes
        exit on their own call this from those processes.
        """
        with self._lock:
            if self._hooks_ran:
                return []

            self._hooks_ran = True

            if self._record is None:
                self._record = ShutdownRecord(
                    id=uuid.uuid4().hex,
                    reason="process exit",
                    requested_by="server",
                    source="exit",
                )

        results = run_hooks(self.app, self.hooks(), self.hook_timeout)
        self._record.hooks.extend(results)
        return results

    def reset(self) -> None:
        """Return to ``running`` after a finished shutdown, so the same app
        can be served again (a test suite that starts a server per test).

        :raises RuntimeError: A shutdown is under way.
        """
        with self._lock:
            if self._record is not None and not self._stopped.is_set():
                raise RuntimeError(
                    "A shutdown is under way for this app; wait for it to finish"
                    " before serving the app again."
                )

            self._init_state()
            self.shared.clear()
            self._changed.notify_all()

    def _send(self, signal: NamedSignal, record: ShutdownRecord) -> None:
        # Each receiver on its own: a failing observer must not keep the
        # others from hearing of the shutdown, stop the shutdown, or break
        # the response of the request that asked for it.
        for receiver in list(signal.receivers_for(self.app)):
            try:
                receiver(self.app, record=record)
            except Exception:
                logger.exception("A receiver of the %r signal failed.", signal.name)

    def _run(self, adapter: ServerAdapter) -> None:
        record = self._record
        assert record is not None

        if self.drain_delay and adapter.drain_delay and not self._forced.is_set():
            logger.info(
                "Shutdown %s: readiness is down; serving for %.1f s more before"
                " the drain.",
                record.id,
                self.drain_delay,
            )
            self._forced.wait(self.drain_delay)

        self.admitting = False

        drain_started = time.monotonic()
        drained = self.in_flight.wait_idle(self.drain_timeout)
        record.drain_duration = time.monotonic() - drain_started

        if not drained:
            record.drain_timed_out = True
            record.still_running = self.in_flight.describe()
            logger.error(
                "Shutdown %s: the drain timed out after %.1f s with %d request(s)"
                " still running: %s",
                record.id,
                self.drain_timeout,
                len(record.still_running),
                "; ".join(record.still_running),
            )

        if self._forced.is_set():
            return

        self._set_phase(Phase.HOOKS)
        self.run_hooks_once()
        self._send(hooks_done, record)

        if self._forced.is_set():
            return

        self._stop(adapter, record)

    def _stop(self, adapter: ServerAdapter, record: ShutdownRecord) -> None:
        with self._changed:
            if self._phase in (Phase.STOPPING, Phase.STOPPED):
                return

            self._set_phase(Phase.STOPPING)

            # Whoever follows the shutdown learns how the hooks went before
            # the server, and its status endpoint, is gone. An inline
            # sequence holds the thread that would answer (a sync worker).
            if self._followed and not adapter.inline:
                self._changed.wait_for(lambda: self._final_report_sent, FOLLOWER_GRACE)

        try:
            adapter.stop(
                StopContext(
                    record, time.monotonic() + self.drain_timeout, self._stopped
                )
            )
        except Exception as e:
            # Redacted, like a hook's error: the status report shows it.
            record.error = describe_exception(e)
            logger.error(
                "Shutdown %s: the %s adapter failed:\n%s",
                record.id,
                adapter.name,
                describe_exception(e, True),
            )

        record.stopped_at = time.time()
        self._set_phase(Phase.STOPPED)
        code = record.exit_code

        if adapter.carries_exit_code:
            logger.warning(
                "Shutdown %s: %s stopped (exit code %d, %s).",
                record.id,
                adapter.name,
                code,
                code.name,
            )
        else:
            # The master process of these servers exits with a code of its
            # own: claiming this one as the process's would be untrue.
            logger.warning(
                "Shutdown %s: %s told to stop. The shutdown's exit code is %d"
                " (%s); %s ends with a process exit code of its own, so read"
                " this one from the status report or 'flask shutdown send'.",
                record.id,
                adapter.name,
                code,
                code.name,
                adapter.name,
            )
        # Observers hear of the stop before anyone waiting in wait() wakes.
        self._send(shutdown_stopped, record)
        self._stopped.set()


def _report(record: ShutdownRecord, phase: Phase) -> dict[str, t.Any]:
    """What is shared with the other workers: the record and its phase."""
    return {**record.to_dict(), "phase": phase.value}
