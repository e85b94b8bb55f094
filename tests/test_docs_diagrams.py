"""The diagrams of the docs say what the code does.

``docs/diagrams/checks.dot`` draws the checks of ``POST /shutdown`` in
order. Each pair of neighbouring checks is tried with one request that
fails both: the earlier check must be the one that answers. If the code
ever checks in another order, this fails until the diagram (and the list
in docs/security.rst) is redrawn.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass
from dataclasses import field

import pytest
from flask import Flask

from flask_shutdown import Shutdown

from ._proc import ROOT
from .conftest import AppFactory
from .conftest import SECRET_KEY

DIAGRAMS = ROOT / "docs" / "diagrams"
DEPLOY = "deploy-token-0123456789abcdef"
MONITOR = "monitor-token-0123456789abcdef"


@dataclass
class Request:
    """A POST /shutdown that passes every check until something breaks it."""

    method: str = "POST"
    headers: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {DEPLOY}"}
    )
    #: Served as if by a real server that is not gunicorn: under the test
    #: client itself the strategy would never be refused.
    environ_base: dict[str, str] = field(
        default_factory=lambda: {"SERVER_SOFTWARE": "other-server/1.0"}
    )
    data: str | None = None
    #: Run against the app before the request is sent.
    prepare: list[t.Callable[[Flask, Shutdown, Request], None]] = field(
        default_factory=list
    )


def _use_a_signed_token(app: Flask, shutdown: Shutdown, req: Request) -> None:
    with app.app_context():
        token = shutdown.create_token()

    # The first use consumes the token; the strategy then refuses (501).
    rv = app.test_client().post(
        "/shutdown",
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"SERVER_SOFTWARE": "other-server/1.0"},
    )
    assert rv.status_code == 501, rv.json
    req.headers["Authorization"] = f"Bearer {token}"


def fail_network(req: Request) -> None:
    req.environ_base["REMOTE_ADDR"] = "203.0.113.9"


def fail_host(req: Request) -> None:
    # A page under a rebinding name (DNS rebinding).
    req.headers["Host"] = "evil.example"


def fail_framing(req: Request) -> None:
    req.environ_base["CONTENT_LENGTH"] = "abc"


def fail_cross_site(req: Request) -> None:
    req.headers["Origin"] = "https://evil.example"


def fail_method(req: Request) -> None:
    req.method = "GET"


def fail_header_size(req: Request) -> None:
    req.headers["Authorization"] = "Bearer " + "x" * 5000


def fail_credentials(req: Request) -> None:
    req.headers["Authorization"] = "Bearer not-a-valid-token-at-all"


def fail_role(req: Request) -> None:
    req.headers["Authorization"] = f"Bearer {MONITOR}"


def fail_body(req: Request) -> None:
    req.data = "{not json"
    req.headers["Content-Type"] = "application/json"


def fail_replay(req: Request) -> None:
    req.prepare.append(_use_a_signed_token)


def fail_strategy(req: Request) -> None:
    pass  # The app's strategy (gunicorn) never applies to this server.


#: Each check: how to make a request fail it, and the answer it then gets.
CHECKS: dict[str, tuple[t.Callable[[Request], None], int, str | None]] = {
    "network": (fail_network, 403, "forbidden_network"),
    "host": (fail_host, 400, "untrusted_host"),
    "cross_site": (fail_cross_site, 403, "cross_site"),
    "method": (fail_method, 405, "method_not_allowed"),
    "framing": (fail_framing, 400, "bad_framing"),
    "header_size": (fail_header_size, 400, "bad_authorization"),
    "credentials": (fail_credentials, 401, None),
    "role": (fail_role, 403, "forbidden"),
    "body": (fail_body, 400, "bad_json"),
    "replay": (fail_replay, 401, "token_used"),
    "strategy": (fail_strategy, 501, "strategy_unavailable"),
}


def drawn_checks() -> list[tuple[str, str]]:
    """``(check, refusal label)`` in the order the diagram draws them."""
    text = (DIAGRAMS / "checks.dot").read_text()
    nodes = {
        int(n): name for n, name in re.findall(r"^\s*c_(\d+)_(\w+) \[", text, re.M)
    }
    refusals = dict(re.findall(r'^\s*r_(\d+) \[label="([^"]*)"', text, re.M))
    assert sorted(nodes) == list(range(1, len(nodes) + 1)), "checks are c_1 ... c_N"
    return [(nodes[n], refusals[str(n)].replace("\\n", " ")) for n in sorted(nodes)]


def test_the_diagram_draws_every_check_with_its_answer() -> None:
    drawn = drawn_checks()
    assert [name for name, _ in drawn] == list(CHECKS)

    for name, label in drawn:
        _, status, error = CHECKS[name]
        assert label.startswith(str(status)), (name, label)

        if error is not None and name not in ("body",):
            assert error in label, (name, label)


def _answer(make_app: AppFactory, req: Request) -> tuple[int, t.Any]:
    app, shutdown = make_app(
        SECRET_KEY=SECRET_KEY,
        SHUTDOWN_SIGNED_TOKENS=True,
        SHUTDOWN_TOKENS={"deploy": DEPLOY, "monitor": MONITOR},
        SHUTDOWN_ROLES={"token:monitor": ["status"]},
        # No server adapter applies under the test client, so no request
        # here ever starts a shutdown.
        SHUTDOWN_STRATEGY="gunicorn",
    )

    for prepare in req.prepare:
        prepare(app, shutdown, req)

    rv = app.test_client().open(
        "/shutdown",
        method=req.method,
        headers=req.headers,
        environ_base=req.environ_base,
        data=req.data,
    )
    assert app.extensions["shutdown"].coordinator.record is None
    return rv.status_code, rv.get_json(silent=True)


@pytest.mark.parametrize("name", list(CHECKS))
def test_each_check_alone(make_app: AppFactory, name: str) -> None:
    fail, status, error = CHECKS[name]
    req = Request()
    fail(req)
    got, body = _answer(make_app, req)
    assert got == status, (name, body)

    if error is not None:
        assert body["error"] == error, (name, body)


PAIRS = list(zip(list(CHECKS), list(CHECKS)[1:], strict=False))


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_the_earlier_check_answers(
    make_app: AppFactory, first: str, second: str
) -> None:
    req = Request()
    # Break the later check, then the earlier one: where both touch the
    # same header, the earlier check's breakage is what is sent.
    CHECKS[second][0](req)
    CHECKS[first][0](req)
    got, body = _answer(make_app, req)
    _, status, error = CHECKS[first]
    assert got == status, (first, second, body)

    if error is not None:
        assert body["error"] == error, (first, second, body)


def test_every_diagram_is_shown() -> None:
    pages = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.rst"))

    for dot in DIAGRAMS.glob("*.dot"):
        assert f"diagrams/{dot.name}" in pages, f"{dot.name} is on no page"
