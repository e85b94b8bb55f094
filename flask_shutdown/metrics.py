"""Prometheus metrics, with ``prometheus_client`` (the ``metrics`` extra:
``pip install Flask-Shutdown[metrics]``).

When ``prometheus_client`` is installed and ``SHUTDOWN_METRICS`` is on
(the default), ``init_app`` registers these on its default registry,
labelled with the app's name:

``flask_shutdown_in_flight_requests``
    Requests being served, sampled once a second and at each phase.
``flask_shutdown_phase{phase}``
    ``1`` for the current phase, ``0`` for the others.
``flask_shutdown_shutdowns_total{outcome}``
    Finished shutdowns by outcome (``OK``, ``HOOK_FAILED``,
    ``DRAIN_TIMEOUT``, ``FORCED``, ``STOP_FAILED``).
``flask_shutdown_hook_duration_seconds{hook,result}``
    How long each teardown hook ran, and how it ended.
``flask_shutdown_drain_duration_seconds``
    How long the drain took.
``flask_shutdown_refusals_total{reason}``
    Refused requests to the shutdown and status endpoints, by the audit
    reason.

Expose them as usual, with ``prometheus_client.make_wsgi_app()`` or
``generate_latest()`` in a view, and list that path in
``SHUTDOWN_DRAIN_EXEMPT`` so that scrapes are answered during the drain.
Under gunicorn or uWSGI with several workers, use prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``): every metric here is
declared with the aggregation that mode needs.

The metrics are fed by the package's blinker signals and a sampling
thread; ordinary requests pay nothing for them.
"""

from __future__ import annotations

import os
import threading
import time
import typing as t
import weakref

from .record import Phase
from .signals import attempt_answered
from .signals import hooks_done
from .signals import shutdown_requested
from .signals import shutdown_stopped

if t.TYPE_CHECKING:
    from flask import Flask

    from .audit import AuditEvent
    from .inflight import InFlight
    from .record import ShutdownRecord

#: Seconds between two samples of the in-flight count.
SAMPLE_INTERVAL = 1.0


class _Metrics:
    """The metric objects, created once per process."""

    def __init__(self) -> None:
        from prometheus_client import Counter
        from prometheus_client import Gauge
        from prometheus_client import Histogram

        self.in_flight = Gauge(
            "flask_shutdown_in_flight_requests",
            "Requests being served.",
            ["app"],
            multiprocess_mode="livesum",
        )
        self.phase = Gauge(
            "flask_shutdown_phase",
            "1 for the current shutdown phase, 0 for the others.",
            ["app", "phase"],
            multiprocess_mode="max",
        )
        self.shutdowns = Counter(
            "flask_shutdown_shutdowns",
            "Finished shutdowns, by outcome.",
            ["app", "outcome"],
        )
        self.hook_duration = Histogram(
            "flask_shutdown_hook_duration_seconds",
            "How long each teardown hook ran.",
            ["app", "hook", "result"],
        )
        self.drain_duration = Histogram(
            "flask_shutdown_drain_duration_seconds",
            "How long the drain took.",
            ["app"],
        )
        self.refusals = Counter(
            "flask_shutdown_refusals",
            "Refused requests to the shutdown and status endpoints, by reason.",
            ["app", "reason"],
        )


_metrics: _Metrics | None = None
_lock = threading.Lock()
#: App name -> its in-flight set, held weakly: an app that is gone (a test
#: suite makes many) is sampled no more.
_sampled: weakref.WeakValueDictionary[str, InFlight] = weakref.WeakValueDictionary()
_sampler_pid: int | None = None


def _start_sampler(metrics: _Metrics, name: str, in_flight: InFlight) -> None:
    """Sample ``in_flight`` once a second, in one thread per process."""
    global _sampler_pid

    with _lock:
        _sampled[name] = in_flight

        if _sampler_pid == os.getpid():
            return

        # A forked worker inherits the dict but not the thread.
        _sampler_pid = os.getpid()

    def sample() -> None:
        while True:
            for app_name, tracked in list(_sampled.items()):
                metrics.in_flight.labels(app_name).set(len(tracked))

            time.sleep(SAMPLE_INTERVAL)

    threading.Thread(target=sample, name="flask-shutdown-metrics", daemon=True).start()


def available() -> bool:
    """Whether ``prometheus_client`` can be imported."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False

    return True


def instrument(app: Flask, in_flight: InFlight) -> list[t.Any]:
    """Export the metrics of ``app``.

    :param app: The app; its name labels every series.
    :param in_flight: The app's requests in flight.
    :returns: The signal receivers; keep them as long as the app (blinker
        holds weak references).
    """
    global _metrics

    with _lock:
        if _metrics is None:
            _metrics = _Metrics()

    metrics = _metrics
    name = app.name

    def set_phase(phase: Phase) -> None:
        for p in Phase:
            metrics.phase.labels(name, p.value).set(1 if p is phase else 0)

        metrics.in_flight.labels(name).set(len(in_flight))

    def requested(sender: Flask, record: ShutdownRecord) -> None:
        set_phase(Phase.DRAINING)

    def hooks(sender: Flask, record: ShutdownRecord) -> None:
        set_phase(Phase.HOOKS)

        if record.drain_duration is not None:
            metrics.drain_duration.labels(name).observe(record.drain_duration)

        for result in record.hooks:
            metrics.hook_duration.labels(name, result.name, result.status).observe(
                result.duration
            )

    def stopped(sender: Flask, record: ShutdownRecord) -> None:
        set_phase(Phase.STOPPED)
        metrics.shutdowns.labels(name, record.exit_code.name).inc()

    def answered(sender: Flask, event: AuditEvent) -> None:
        if event.outcome == "refused":
            metrics.refusals.labels(name, event.reason).inc()

    receivers: list[tuple[t.Any, t.Callable[..., None]]] = [
        (shutdown_requested, requested),
        (hooks_done, hooks),
        (shutdown_stopped, stopped),
        (attempt_answered, answered),
    ]

    for signal, receiver in receivers:
        signal.connect(receiver, sender=app)

    set_phase(Phase.RUNNING)
    _start_sampler(metrics, name, in_flight)
    return receivers
