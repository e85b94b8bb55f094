"""Requests count as in flight until their body is exhausted or closed,
whichever comes first, or it is dropped unsent; test-client requests do
not count."""

from __future__ import annotations

import collections.abc as cabc
import gc
import io
import types
import typing as t

import pytest

from flask_shutdown.inflight import InFlight
from flask_shutdown.inflight import TICKET_KEY
from flask_shutdown.inflight import TrackingMiddleware


def gate(admitting: bool = True) -> t.Any:
    return types.SimpleNamespace(admitting=admitting)


class Body:
    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = 0

    def __iter__(self) -> cabc.Iterator[bytes]:
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise ValueError("broken stream")

            yield chunk

    def close(self) -> None:
        self.closed += 1


def make(
    body: cabc.Iterable[bytes], refusing: bool = False
) -> tuple[TrackingMiddleware, InFlight, list[str]]:
    in_flight = InFlight()
    finished: list[str] = []

    def app(environ: dict[str, t.Any], start_response: t.Any) -> cabc.Iterable[bytes]:
        in_flight.after(environ[TICKET_KEY], lambda: finished.append("done"))
        start_response("200 OK", [])
        return body

    return (
        TrackingMiddleware(app, in_flight, gate(not refusing), {"/shutdown"}),
        in_flight,
        finished,
    )


def call(mw: TrackingMiddleware, path: str = "/") -> cabc.Iterable[bytes]:
    return mw({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, lambda s, h: None)  # type: ignore[arg-type,return-value]


def test_exhausted_without_close_counts_out() -> None:
    # What Werkzeug does when the client resets after reading the body.
    mw, in_flight, finished = make(Body([b"a", b"b"]))
    rv = call(mw)
    assert len(in_flight) == 1
    assert list(rv) == [b"a", b"b"]
    assert len(in_flight) == 0
    assert finished == ["done"]


def test_closed_without_exhaustion_counts_out_once() -> None:
    body = Body([b"a", b"b"])
    mw, in_flight, finished = make(body)
    rv = call(mw)
    it = iter(rv)
    assert next(it) == b"a"
    assert len(in_flight) == 1
    rv.close()  # type: ignore[attr-defined]
    rv.close()  # type: ignore[attr-defined]
    # The server may close twice; the body is closed once (PEP 3333).
    assert body.closed == 1
    assert len(in_flight) == 0
    assert finished == ["done"]


def test_exhausted_then_closed_closes_the_body_once() -> None:
    body = Body([b"a"])
    mw, in_flight, finished = make(body)
    rv = call(mw)
    assert list(rv) == [b"a"]
    # Closed as soon as it is exhausted: before the server's close().
    assert body.closed == 1
    rv.close()  # type: ignore[attr-defined]
    assert body.closed == 1
    assert len(in_flight) == 0
    assert finished == ["done"]


def test_closed_before_iteration_counts_out_and_closes() -> None:
    body = Body([b"a"])
    mw, in_flight, finished = make(body)
    rv = call(mw)
    rv.close()  # type: ignore[attr-defined]
    assert body.closed == 1
    assert len(in_flight) == 0
    assert finished == ["done"]


def test_error_while_streaming_counts_out() -> None:
    mw, in_flight, finished = make(Body([b"a", b"b"], fail_at=1))

    with pytest.raises(ValueError):
        list(call(mw))

    assert len(in_flight) == 0
    assert finished == ["done"]


def test_error_in_app_counts_out() -> None:
    in_flight = InFlight()

    def app(environ: t.Any, start_response: t.Any) -> cabc.Iterable[bytes]:
        raise RuntimeError("view crashed")

    mw = TrackingMiddleware(app, in_flight, gate(), ())

    with pytest.raises(RuntimeError):
        call(mw)

    assert len(in_flight) == 0


def test_refusing_answers_503_except_exempt_paths() -> None:
    mw, in_flight, _ = make([b"ok"], refusing=True)
    statuses: list[str] = []
    rv = mw(
        {"PATH_INFO": "/work", "REQUEST_METHOD": "GET"},
        lambda s, h: statuses.append(s),  # type: ignore[arg-type,func-returns-value]
    )
    assert statuses == ["503 Service Unavailable"]
    assert b"shutting_down" in b"".join(rv)
    assert len(in_flight) == 0
    assert list(call(mw, "/shutdown")) == [b"ok"]


def test_wait_idle_and_describe() -> None:
    in_flight = InFlight()
    ticket = in_flight.enter("GET", "/slow")
    assert in_flight.wait_idle(0.01) is False
    assert in_flight.describe()[0].startswith("GET /slow (")
    in_flight.leave(ticket)
    in_flight.leave(ticket)
    assert in_flight.wait_idle(0) is True


def test_failing_finish_callback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    in_flight = InFlight()

    def app(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
        in_flight.after(environ[TICKET_KEY], lambda: 1 / 0)
        return [b"x"]

    mw = TrackingMiddleware(app, in_flight, gate(), ())
    assert list(call(mw)) == [b"x"]
    assert "A shutdown callback failed" in caplog.text
    assert len(in_flight) == 0


def test_dropped_body_counts_out() -> None:
    # A response that is neither iterated nor closed was never sent: it
    # must not hold a drain until SHUTDOWN_DRAIN_TIMEOUT.
    mw, in_flight, finished = make(Body([b"a"]))
    rv = call(mw)
    assert len(in_flight) == 1
    del rv
    gc.collect()
    assert len(in_flight) == 0
    assert finished == ["done"]


def test_body_without_close_is_passed_through() -> None:
    mw, in_flight, finished = make(iter([b"a", b"b"]))
    assert list(call(mw)) == [b"a", b"b"]
    assert len(in_flight) == 0
    assert finished == ["done"]


def test_callback_after_the_request_left_runs_at_once() -> None:
    in_flight = InFlight()
    ticket = in_flight.enter("POST", "/shutdown")
    in_flight.leave(ticket)
    ran: list[int] = []
    in_flight.after(ticket, lambda: ran.append(1))
    assert ran == [1]


def test_test_client_requests_are_not_counted() -> None:
    in_flight = InFlight()
    seen: list[bool] = []

    def app(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
        seen.append(TICKET_KEY in environ)
        return [b"x"]

    mw = TrackingMiddleware(app, in_flight, gate(), ())
    # What Werkzeug's test client builds: no SERVER_SOFTWARE, an in-memory
    # body.
    environ = {"PATH_INFO": "/", "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
    rv = mw(environ, lambda s, h: None)  # type: ignore[arg-type]
    assert len(in_flight) == 0
    assert seen == [False]
    assert list(rv) == [b"x"]
    # A real server sets SERVER_SOFTWARE, whatever its body stream is.
    environ["SERVER_SOFTWARE"] = "waitress"
    rv = mw(environ, lambda s, h: None)  # type: ignore[arg-type]
    assert len(in_flight) == 1
    assert seen == [False, True]
    list(rv)
    assert len(in_flight) == 0
