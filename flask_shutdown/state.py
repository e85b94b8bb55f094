"""The per-app state the :class:`~flask_shutdown.Shutdown` extension keeps
in ``app.extensions["shutdown"]``, and the one place that looks it up.

The extension creates an :class:`AppState` in ``init_app``; the views, the
CLI, :func:`~flask_shutdown.serve` and the pytest plugin find it with
:func:`get_state` or :func:`find_state`. It is also the app's
:class:`~flask_shutdown.server.Lifecycle`, which is how a
:class:`~flask_shutdown.ServerThread` that knows only WSGI runs the
graceful sequence.
"""

from __future__ import annotations

import collections.abc as cabc
import hashlib
import logging
import os
import socket
import threading
import time
import typing as t
from pathlib import Path

from . import runtime
from . import shared
from .adapters.registry import master_process
from .adapters.registry import resolve
from .adapters.thread import ThreadAdapter
from .adapters.thread import TRIGGER_JOIN_TIMEOUT
from .auth import Authenticator
from .auth import Callbacks
from .browser import PageTracker
from .config import ShutdownConfig
from .hooks import Hook
from .hooks import HookFunc
from .inflight import InFlight
from .inflight import TICKET_KEY
from .refusals import ShutdownRefused
from .security import Guard
from .security import Lockout
from .security import StoredLockout
from .sequence import Coordinator
from .server import ServerThread
from .signals import hooks_done
from .signals import shutdown_requested
from .signals import shutdown_stopped
from .storage import RedisStore
from .storage import StoreUnavailable
from .tokens import TokenSigner
from .watch import ActivityMiddleware
from .watch import Watcher

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment
    from flask import Flask

    from .adapters.base import ServerAdapter
    from .record import ShutdownRecord

logger = logging.getLogger(__name__)

_F = t.TypeVar("_F", bound=HookFunc)
_V = t.TypeVar("_V", bound=t.Callable[..., t.Any])


class Owner(t.Protocol):
    """What the state uses of the extension object that created it."""

    @property
    def hooks(self) -> tuple[Hook, ...]: ...

    def create_token(
        self, expires_in: int | None = None, *, scope: cabc.Iterable[str] | None = None
    ) -> str: ...


class AppState:
    """What :class:`~flask_shutdown.Shutdown` keeps for one app, in
    ``app.extensions["shutdown"]``. It is also the app's
    :class:`~flask_shutdown.server.Lifecycle`: a
    :class:`~flask_shutdown.ServerThread` serving the app asks it to run
    the graceful sequence.
    """

    def __init__(
        self,
        extension: Owner,
        app: Flask,
        config: ShutdownConfig,
        callbacks: Callbacks,
    ) -> None:
        #: The extension object registered on the app.
        self.extension = extension
        #: The resolved config.
        self.config = config
        #: Requests in flight.
        self.in_flight = InFlight()
        #: The shutdown sequence.
        self.coordinator = Coordinator(
            app,
            lambda: extension.hooks,
            self.in_flight,
            drain_delay=config.drain_delay,
            drain_timeout=config.drain_timeout,
            hook_timeout=config.hook_timeout,
            shared=shared.LazyState(lambda: _shared_state(app, config)),
        )
        #: Signs and verifies tokens, or ``None`` when signed tokens are off.
        self.signer = TokenSigner(config.signing_keys) if config.signed_tokens else None
        #: The receivers of the Prometheus metrics, kept alive here.
        self.metric_receivers: list[t.Any] = []
        #: The runtime file of each ServerThread serving the app.
        self.runtime_files: dict[ServerThread, Path] = {}
        self.app_name = app.import_name
        #: The browser pages the server outlives, with
        #: ``SHUTDOWN_BROWSER_TIMEOUT``.
        self.pages = (
            None
            if config.browser_timeout is None
            else PageTracker(config.browser_timeout)
        )
        #: Watches for an idle server or a parent gone, when configured.
        self.watcher: Watcher | None = None
        #: The fleet-wide store, or ``None`` for one server's own state.
        self.store: RedisStore | None = None

        if config.storage_uri != "memory://":
            self.store = RedisStore(config.storage_uri, _app_key(app, config))

        self.guard = Guard(config, _lockout(app, config, self.store))
        #: The name the fleet status lists this instance under.
        self.instance_name = config.instance_name or ""

        if config.fleet_status:
            self.instance_name = self.instance_name or _instance_name()
            self._publish_to_fleet(app)

        self.auth = Authenticator(config, self.signer, self.guard, callbacks)
        #: The :class:`ServerThread` serving the app, if any; triggers that
        #: come from code or signals stop it.
        self.server_thread: ServerThread | None = None

    @property
    def exposed(self) -> bool:
        """Whether the shutdown and status endpoints are served: some kind
        of credential is configured, or a verify callback registered.
        """
        return self.config.has_credentials or bool(self.auth.callbacks)

    def adapter_for(self, environ: WSGIEnvironment | None) -> ServerAdapter:
        """Choose the adapter that stops the server for this trigger.

        :raises RuntimeError: The configured strategy does not apply.
        """
        thread = self.server_thread

        if (
            environ is None
            and self.config.strategy == "auto"
            and thread is not None
            and not thread.stopped
        ):
            return ThreadAdapter(thread)

        return resolve(self.config.strategy, environ)

    def trigger(
        self,
        environ: WSGIEnvironment | None,
        *,
        reason: str,
        requested_by: str,
        source: str,
        adapter: ServerAdapter | None = None,
    ) -> tuple[ShutdownRecord, bool]:
        """Accept a shutdown and run its sequence: once the response of
        the request in ``environ`` has been sent in full, or at once when
        there is no request. Idempotent, like
        :meth:`Coordinator.trigger <flask_shutdown.sequence.Coordinator.trigger>`.

        :param environ: The triggering request's environ, or ``None``.
        :param adapter: Stops the server; chosen by :meth:`adapter_for`
            when not given.
        :returns: The record and whether this call created it.
        :raises RuntimeError: The configured strategy does not apply;
            nothing has changed then.
        """
        if adapter is None:
            adapter = self.adapter_for(environ)

        ticket = None if environ is None else environ.get(TICKET_KEY)
        after_response = None

        if ticket is not None:
            # From the end of the response, not after a fixed sleep.
            def after_response(callback: cabc.Callable[[], None]) -> None:
                self.in_flight.after(ticket, callback)

        return self.coordinator.trigger(
            adapter,
            reason=reason,
            requested_by=requested_by,
            source=source,
            after_response=after_response,
        )

    def watch(self, wsgi_app: WSGIApplication) -> ActivityMiddleware:
        """Start the watcher of ``SHUTDOWN_IDLE_TIMEOUT`` and
        ``SHUTDOWN_STOP_WITH_PARENT``, and wrap ``wsgi_app`` to tell it of
        requests.
        """
        config = self.config
        ignore = config.idle_ignore

        if ignore is None:
            ignore = tuple(
                p
                for p in (
                    config.status_path,
                    config.ready_path,
                    config.live_path,
                    config.heartbeat_path,
                )
                if p is not None
            )

        def stop(reason: str, source: str) -> None:
            adapter = self.adapter_for(middleware.sample)
            self.trigger(
                None, reason=reason, requested_by=source, source=source, adapter=adapter
            )

        watcher = Watcher(
            stop,
            lambda: len(self.in_flight),
            idle_timeout=config.idle_timeout,
            stop_with_parent=config.stop_with_parent,
            pages=self.pages,
        )
        middleware = ActivityMiddleware(wsgi_app, watcher, ignore)
        self.watcher = watcher
        watcher.start()
        # Threads do not survive a fork: a forked worker watches anew.
        os.register_at_fork(after_in_child=watcher.start)
        return middleware

    def use_token_once(self, token_id: str, expires_at: float) -> bool:
        """Record a signed token as used, once per server or, with a
        store, once per fleet; ``False`` if it was used before.

        :raises ShutdownRefused: The store does not answer (``503``).
        """
        if self.store is None:
            return self.coordinator.shared.use_once(token_id, expires_at)

        try:
            return self.store.use_once(token_id, expires_at)
        except StoreUnavailable as e:
            raise store_unavailable(e) from None

    def _publish_to_fleet(self, app: Flask) -> None:
        """Publish each step of a shutdown this process runs to the store,
        for ``GET /shutdown/status?fleet=1``.
        """
        store = self.store
        assert store is not None, "the config requires a store"

        def publish(sender: Flask, record: ShutdownRecord, **_: t.Any) -> None:
            report = {
                **record.to_dict(),
                "instance": self.instance_name,
                "phase": self.coordinator.phase.value,
                "published_at": time.time(),
            }

            try:
                store.publish_instance(self.instance_name, report, FLEET_TTL)
            except StoreUnavailable:
                # Logged by the store; the shutdown goes on without it.
                pass

        for signal in (shutdown_requested, hooks_done, shutdown_stopped):
            signal.connect(publish, sender=app, weak=False)

    def fleet_status(self) -> dict[str, t.Any]:
        """The fleet status: the last shutdown each instance published.

        :raises ShutdownRefused: The fleet status is off (``409``), or the
            store does not answer (``503``).
        """
        if not self.config.fleet_status or self.store is None:
            raise ShutdownRefused(
                "fleet_status_off",
                "The fleet status is off for this app. Set"
                " SHUTDOWN_FLEET_STATUS = True and a Redis SHUTDOWN_STORAGE_URI"
                " on every instance to list their shutdowns.",
            )

        try:
            instances = self.store.instances()
        except StoreUnavailable as e:
            raise e.refusal() from None

        return {"instances": instances}

    def stop_signal(self, name: str, adapter: ServerAdapter, force: bool) -> bool:
        """The server's stop signal arrived (SIGTERM from the platform):
        the first runs the same sequence as ``POST /shutdown``, with
        ``adapter`` stopping the server; with ``force`` (a second signal)
        it stops the server now. Returns whether this call started the
        shutdown.
        """
        _, created = self.trigger(
            None,
            reason=f"received {name}",
            requested_by=f"signal:{name}",
            source="signal",
            adapter=adapter,
        )

        if force:
            self.coordinator.force()

        return created

    def worker_exiting(self) -> None:
        """A worker of a multi-process server exits: run the hooks once in
        it, and let go of the state it shares with the other workers.
        """
        self.coordinator.run_hooks_once()
        self.coordinator.shared.release()

    # -- Lifecycle of a ServerThread serving the app -------------------------

    def server_starting(self, server: ServerThread) -> None:
        """A new :class:`~flask_shutdown.ServerThread` serves the app: a
        finished shutdown leaves the app refusing requests, so serving it
        again starts a new life cycle.

        :raises RuntimeError: A shutdown of the app is still under way.
        """
        # The previous server's loop may have ended a moment before its
        # sequence recorded the stop.
        if self.coordinator.record is not None:
            self.coordinator.wait(TRIGGER_JOIN_TIMEOUT)

        self.coordinator.reset()
        self.server_thread = server

        target = self.write_runtime_file(server.url)

        if target is not None:
            self.runtime_files[server] = target

    def write_runtime_file(self, url: str) -> Path | None:
        """Write the runtime file of a server at ``url`` serving the app,
        when ``SHUTDOWN_RUNTIME_FILE`` is on and the endpoint exposed.
        """
        if not (self.config.runtime_file and self.exposed):
            return None

        token = self.auth.local_token or runtime.new_token()

        try:
            target = runtime.write(
                url=url, path=self.config.path, name=self.app_name, token=token
            )
        except OSError as e:
            logger.warning("No runtime file for %s: %s", url, e)
            return None

        self.auth.local_token = token
        return target

    def server_stopped(self, server: ServerThread) -> None:
        """The server closed its socket: its runtime file goes."""
        target = self.runtime_files.pop(server, None)

        if target is not None:
            runtime.remove(target)

    def shutdown_server(self, server: ServerThread, reason: str) -> ShutdownRecord:
        """Run the graceful sequence and stop ``server``. Blocks until it
        has stopped, except in the thread that serves, where that would
        deadlock.
        """
        record, _ = self.trigger(
            None,
            reason=reason,
            requested_by="code",
            source="code",
            adapter=ThreadAdapter(server),
        )

        if threading.current_thread() is not server:
            self.coordinator.wait()
            server.wait_stopped()

        return record

    def status(self, *, exclude: int = 0) -> dict[str, t.Any]:
        """The status report served by ``GET /shutdown/status``.

        :param exclude: Requests not to count as in flight: the status
            request itself, when it asks.
        """
        coordinator = self.coordinator
        record = coordinator.record
        rv: dict[str, t.Any] = {
            "phase": coordinator.phase.value,
            "ready": coordinator.ready,
            "in_flight": max(len(self.in_flight) - exclude, 0),
            # Which process answered: on servers with several workers,
            # consecutive reads may come from different ones.
            "pid": os.getpid(),
        }
        shared = coordinator.shared_report()

        if shared is not None and (
            record is None or shared["shutdown_id"] == record.id
        ):
            # The worker that runs the shutdown shares its progress; this
            # one may have only joined it, or not heard of it at all.
            rv.update(shared)
        elif record is None:
            rv.update(
                shutdown_id=None,
                reason=None,
                requested_by=None,
                hooks=[],
                exit_code=None,
            )
        else:
            rv.update(record.to_dict())

        return rv

    def follow(
        self, environ: WSGIEnvironment, since: str, timeout: float
    ) -> dict[str, t.Any]:
        """The status report once the phase is no longer ``since``, or
        after ``timeout`` seconds: ``GET /shutdown/status?wait=...``. The
        waiting request does not hold up the drain, and the stop lets the
        report of its last phase reach the client before the server goes.
        """
        ticket = environ.get(TICKET_KEY)

        with self.in_flight.parked(ticket):
            sent = self.coordinator.watch(since, timeout)

        report = self.status(exclude=0 if ticket is None else 1)
        phase = report["phase"]

        if ticket is None:
            sent(phase)
        else:
            self.in_flight.after(ticket, lambda: sent(phase))

        return report


def store_unavailable(error: StoreUnavailable) -> ShutdownRefused:
    """The ``503`` answered while the store does not: no credential is
    checked without it.
    """
    return error.refusal()


#: How long an instance's last shutdown stays in the fleet status.
FLEET_TTL = 24 * 3600


def _instance_name() -> str:
    """The host and the server's master process (the process itself for
    a single-process server): one name per server, whichever worker
    publishes.
    """
    return f"{socket.gethostname()}:{master_process() or os.getpid()}"


def _lockout(app: Flask, config: ShutdownConfig, store: RedisStore | None) -> Lockout:
    """The lockout: counted in the fleet's store when there is one, else
    in the state the workers of the server share.
    """
    limits = (config.lockout_attempts, config.lockout_window)
    budget = config.lockout_global_attempts

    if store is not None:
        return StoredLockout(store, *limits, global_attempts=budget)

    state = shared.LazyState(lambda: _shared_state(app, config, lockout=True))
    return Lockout(*limits, global_attempts=budget, state=state)


def _shared_state(
    app: Flask, config: ShutdownConfig, *, lockout: bool = False
) -> shared.LocalState:
    """The state this process shares with the other workers of its
    server, or its own when it is the only one.

    :param lockout: The lockout's state rather than the shutdown's.
    """
    master = master_process()

    # SHUTDOWN_SHARED_STATE = False: each worker on its own, so that the
    # benchmark can set both side by side.
    if master is None or not config.shared_state:
        return shared.LocalState()

    return shared.for_server(master, _app_key(app, config), lockout=lockout)


def _app_key(app: Flask, config: ShutdownConfig) -> str:
    """What keeps the shared and stored state of one app apart from that
    of other apps on the same server or Redis (DispatcherMiddleware, one
    Redis for several services): its import name and endpoint path.
    """
    key = f"{app.import_name}\0{config.path}".encode()
    return hashlib.sha256(key).hexdigest()[:16]


def get_state(app: t.Any) -> AppState:
    """Return the :class:`AppState` of ``app``: the one place that looks
    into ``app.extensions``.

    :raises RuntimeError: The extension is not registered on ``app``.
    """
    state = find_state(app)

    if state is None:
        raise RuntimeError(
            "Flask-Shutdown is not registered on this app. Did you forget to"
            " call 'Shutdown.init_app(app)'?"
        )

    return state


def find_state(app: t.Any) -> AppState | None:
    """Return the :class:`AppState` of ``app``, or ``None`` for an app (or
    any WSGI callable) that does not use the extension.
    """
    extensions = getattr(app, "extensions", None)

    if not isinstance(extensions, dict):
        return None

    state = extensions.get("shutdown")
    return state if isinstance(state, AppState) else None
