"""An app with Prometheus metrics in prometheus_client's multiprocess
mode, for gunicorn with several workers. PROMETHEUS_MULTIPROC_DIR must be
set before the app (and prometheus_client) is imported."""

from __future__ import annotations

from flask import Flask
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client import multiprocess

from flask_shutdown import Shutdown

app = Flask("multiprocess_app")
app.config["SHUTDOWN_TOKENS"] = ["test-token-0123456789abcdef"]
app.config["SHUTDOWN_DRAIN_EXEMPT"] = ["/metrics"]
app.config["SHUTDOWN_DRAIN_DELAY"] = 3
Shutdown(app)


@app.get("/metrics")
def metrics() -> tuple[bytes, dict[str, str]]:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), {"Content-Type": "text/plain"}
