"""gunicorn settings for an app that uses Flask-Shutdown.

Run with ``gunicorn -c examples/gunicorn.conf.py 'myapp:create_app()'``.
``POST /shutdown`` to any worker then stops the whole server: the worker
that got it drains, runs the teardown hooks and sends SIGTERM to the
arbiter; every other worker finishes its requests and runs the hooks as
it exits; the arbiter exits 0. SIGTERM to the arbiter does the same.
"""

from __future__ import annotations

import typing as t

from flask_shutdown.adapters.gunicorn import graceful_sigterm

bind = "127.0.0.1:8000"

# Several sync workers: the worker that received the shutdown waits until
# the others have served every connection still queued in the kernel,
# so none of them is reset.
worker_class = "sync"
workers = 3

# How long the arbiter waits for the workers after SIGTERM before it kills
# them. Keep it above SHUTDOWN_DRAIN_TIMEOUT plus the time the teardown
# hooks need: a killed worker runs no hooks.
graceful_timeout = 40

# A sync worker that sends no heartbeat for this long is killed; the wait
# for the accept queue is capped at half of it.
timeout = 30


# SIGTERM to the arbiter (Kubernetes, systemd, docker stop) runs the same
# graceful sequence as POST /shutdown, instead of closing the listening
# socket at once and resetting the connections queued there. Give it the
# app's SHUTDOWN_PATH if that is not "/shutdown".
on_starting = graceful_sigterm()


def on_exit(server: t.Any) -> None:
    # The arbiter never runs the app's teardown hooks (it serves no
    # request, even with preload_app); put arbiter-level clean-up here.
    server.log.info("gunicorn arbiter exiting")
