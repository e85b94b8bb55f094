"""Hostile input never hurts: generated requests (malformed credentials,
wrong schemes, huge and non-UTF-8 values, bad bodies, broken framing, odd
methods) get a 4xx JSON answer, never a 5xx, and never start a shutdown;
through the test client and through a real server on raw sockets.
Generated config values are read strictly or refused with an error that
names the key.

The profile is derandomized so that CI runs the same cases every time;
set ``HYPOTHESIS_SEED_RANDOM=1`` to explore new ones locally.
"""

from __future__ import annotations

import base64
import collections
import json
import logging
import math
import os
import re
import socket
import typing as t

from flask import Flask
from hypothesis import assume
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers
from werkzeug.security import generate_password_hash

from flask_shutdown import ServerThread
from flask_shutdown import Shutdown

from .conftest import PASSWORD
from .conftest import SECRET_KEY
from .conftest import TOKEN
from .conftest import USER

#: A token that may only read the status: valid, but never able to stop.
READER = "reader-token-0123456789abcdef"
#: A cheap hash: thousands of cases cannot wait for scrypt each time.
CHEAP_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")

MAIN_CASES = 2500
VALID_CREDENTIAL_CASES = 1000
LOCKOUT_CASES = 500
SERVER_CASES = 300
FRAMING_CASES = 500
CONFIG_CASES = 600


def _settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=not os.environ.get("HYPOTHESIS_SEED_RANDOM"),
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


class Target:
    """An app under attack, and what the attack did to it."""

    def __init__(self, **config: t.Any) -> None:
        self.stops: list[t.Any] = []
        app = Flask("fuzz")
        app.config.update(
            TESTING=True,
            SECRET_KEY=SECRET_KEY,
            SHUTDOWN_TOKENS={"main": TOKEN, "reader": READER},
            SHUTDOWN_USERS={USER: CHEAP_HASH},
            SHUTDOWN_ROLES={"token:reader": ["status"]},
            SHUTDOWN_SIGNED_TOKENS=True,
            SHUTDOWN_LOCKOUT_ATTEMPTS=0,
            SHUTDOWN_STRATEGY=self.stops.append,
        )
        app.config.update(config)

        @app.get("/")
        def index() -> str:
            return "ok"

        self.app = app
        self.shutdown = Shutdown(app)
        self.state = app.extensions["shutdown"]
        self.statuses: collections.Counter[int] = collections.Counter()

        with app.app_context():
            #: A signed token limited to the status: its mutations, even one
            #: that happens to decode to the same bytes, cannot stop.
            self.signed_reader = self.shutdown.create_token(scope=["status"])

    def signed(self) -> str:
        with self.app.app_context():
            return self.shutdown.create_token()

    def check(
        self, status: int, headers: t.Mapping[str, str], body: bytes, ours: bool
    ) -> None:
        """The invariants every answer keeps."""
        self.statuses[status] += 1
        assert status < 500, (status, body[:300])
        assert self.state.coordinator.record is None
        assert self.stops == []

        if status == 401:
            assert headers.get("WWW-Authenticate", "").startswith(("Bearer ", "Basic "))

        if status == 429:
            assert int(headers["Retry-After"]) >= 1

        if ours and status >= 400 and body:
            data = json.loads(body)
            assert isinstance(data["error"], str) and isinstance(data["message"], str)


# -- strategies ------------------------------------------------------------

#: Header-safe text: latin-1 without the line breaks HTTP forbids.
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0, max_codepoint=255, exclude_characters="\r\n"),
    max_size=60,
)
#: Characters a mutation may put into a secret: never blank, which the
#: header parser would strip.
MUTATION_CHARS = st.characters(min_codepoint=33, max_codepoint=255)


def mutations(secret: str) -> st.SearchStrategy[str]:
    """Near misses of ``secret``: one character changed, cut short, or
    something appended or prepended.
    """
    n = len(secret)
    return st.one_of(
        st.tuples(st.integers(0, n - 1), MUTATION_CHARS)
        .filter(lambda ic: secret[ic[0]] != ic[1])
        .map(lambda ic: secret[: ic[0]] + ic[1] + secret[ic[0] + 1 :]),
        st.integers(0, n - 1).map(lambda i: secret[:i]),
        st.integers(1, n - 1).map(lambda i: secret[i:]),
        st.text(MUTATION_CHARS, min_size=1, max_size=5).map(lambda s: secret + s),
        st.text(MUTATION_CHARS, min_size=1, max_size=5).map(lambda s: s + secret),
        st.just(secret.swapcase()),
    )


def basic(
    user: st.SearchStrategy[bytes], password: st.SearchStrategy[bytes]
) -> st.SearchStrategy[str]:
    return st.tuples(user, password).map(
        lambda up: "Basic " + base64.b64encode(up[0] + b":" + up[1]).decode()
    )


def _utf8(s: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    return s.map(lambda v: v.encode("utf-8", "surrogatepass"))


def hostile_authorization(target: Target) -> st.SearchStrategy[str | None]:
    """Authorization values that must never be able to stop the server."""
    schemes = st.sampled_from(
        [
            "Bearer",
            "bearer",
            "BEARER",
            "Basic",
            "basic",
            "Digest",
            "Token",
            "Negotiate",
            "",
        ]
    )
    wrong_password = st.one_of(_utf8(mutations(PASSWORD)), st.binary(max_size=40))
    return st.one_of(
        st.none(),
        HEADER_TEXT,
        st.tuples(schemes, HEADER_TEXT).map(" ".join),
        mutations(TOKEN).map("Bearer ".__add__),
        mutations(target.signed_reader).map("Bearer ".__add__),
        st.just("Bearer " + READER),
        st.just("Bearer " + target.signed_reader),
        basic(st.just(USER.encode()), wrong_password),
        basic(_utf8(mutations(USER)), st.just(PASSWORD.encode())),
        basic(st.binary(max_size=30), st.binary(max_size=30)),
        st.tuples(schemes, st.binary(max_size=60)).map(
            lambda sb: f"{sb[0]} {base64.b64encode(sb[1]).decode()}"
        ),
        st.tuples(
            st.sampled_from(["Basic ", "Bearer "]),
            st.text("=!@#$%^&*(){}[]", max_size=20),
        ).map("".join),
        # Huge values, on both sides of the length limit.
        st.tuples(
            st.sampled_from(["Bearer ", "Basic ", ""]), st.integers(3000, 70_000)
        ).map(lambda sn: sn[0] + "A" * sn[1]),
    )


def valid_authorization(target: Target) -> st.SearchStrategy[str]:
    """Credentials that may stop the server."""
    return st.one_of(
        st.just(f"Bearer {TOKEN}"),
        st.just("Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()),
        st.builds(lambda: f"Bearer {target.signed()}"),
    )


METHODS = st.one_of(
    st.sampled_from(
        [
            "GET",
            "HEAD",
            "POST",
            "PUT",
            "PATCH",
            "DELETE",
            "OPTIONS",
            "TRACE",
            "PROPFIND",
            "FOO",
        ]
    ),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", min_size=1, max_size=12),
)
PATHS = st.sampled_from(
    [
        "/shutdown",
        "/shutdown/status",
        "/shutdown/",
        "/shutdown/ready",
        "/SHUTDOWN",
        "/shutdown//status",
        "/shutdown/status/",
        "/shutdown/../shutdown",
        "/shutdown%00",
    ]
)
#: Mostly the two right pairs, so that most cases reach the credentials.
METHOD_PATHS = st.one_of(
    st.just(("POST", "/shutdown")),
    st.just(("POST", "/shutdown")),
    st.just(("GET", "/shutdown/status")),
    st.tuples(METHODS, PATHS),
)
QUERY = st.one_of(
    st.just(""),
    st.just(f"token={TOKEN}"),
    st.just(f"access_token={TOKEN}&username={USER}&password={PASSWORD}"),
    st.text(
        st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="#"),
        max_size=40,
    ),
)
CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-16",
            "application/json; charset=latin-1",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "multipart/form-data",
            "application/jsonx",
            "*/*",
        ]
    ),
    HEADER_TEXT,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(["reason", "force", "exit_code", "token"]),
        JSON_VALUES,
        max_size=3,
    ).map(lambda v: json.dumps(v).encode()),
    st.integers(0, 700).map(lambda n: json.dumps({"reason": "r" * n}).encode()),
    st.text(max_size=40).map(lambda s: json.dumps({"reason": s}).encode("utf-16")),
    st.integers(4000, 200_000).map(lambda n: b"x" * n),
    st.integers(1000, 100_000).map(lambda n: b"[" * n),
    st.just(b'{"reason": "' + "\u00e9".encode("latin-1") + b'"}'),
)
ORIGIN_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Origin": st.one_of(
            st.sampled_from(
                ["https://evil.example", "null", "http://localhost", "http://[::1", ""]
            ),
            HEADER_TEXT,
        ),
        "Sec-Fetch-Site": st.sampled_from(
            ["cross-site", "same-site", "same-origin", "none", "", "x"]
        ),
        "Cookie": st.just(f"token={TOKEN}; session={PASSWORD}"),
        "X-Forwarded-For": st.sampled_from(
            ["127.0.0.1", "10.0.0.1, 127.0.0.1", "garbage"]
        ),
    },
)
REMOTE_ADDRS = st.one_of(
    st.just("127.0.0.1"),
    st.sampled_from(
        [
            "::1",
            "::ffff:127.0.0.1",
            "10.0.0.1",
            "fe80::1%lo",
            "",
            "not-an-ip",
            "2001:db8::1",
        ]
    ),
)


def _open(target: Target, **kwargs: t.Any) -> None:
    path = kwargs["path"]

    with target.app.test_client().open(**kwargs) as rv:
        body = rv.get_data()
        ours = path in ("/shutdown", "/shutdown/status") and kwargs["method"] != "HEAD"
        target.check(rv.status_code, rv.headers, body, ours)


def _hostile_request(
    target: Target,
    method: str,
    path: str,
    query: str,
    authorization: str | None,
    content_type: str | None,
    body: bytes,
    extra: dict[str, str],
    remote_addr: str,
) -> None:
    headers = dict(extra)

    if authorization is not None:
        headers["Authorization"] = authorization

    if content_type is not None:
        headers["Content-Type"] = content_type

    _open(
        target,
        path=path,
        method=method,
        query_string=query,
        headers=headers,
        data=body,
        environ_base={"REMOTE_ADDR": remote_addr},
    )


def test_fuzz_hostile_requests_test_client() -> None:
    target = Target()

    # Weighted towards requests that get past the address, origin and
    # method checks, to reach the credential and body parsing.
    @_settings(MAIN_CASES)
    @given(
        method_path=METHOD_PATHS,
        query=QUERY,
        authorization=st.deferred(lambda: hostile_authorization(target)),
        content_type=CONTENT_TYPES,
        body=BODIES,
        extra=st.one_of(st.just({}), st.just({}), ORIGIN_HEADERS),
        remote_addr=st.one_of(st.just("127.0.0.1"), st.just("::1"), REMOTE_ADDRS),
    )
    def run(method_path: tuple[str, str], **kwargs: t.Any) -> None:
        _hostile_request(target, *method_path, **kwargs)

    run()
    cases = sum(target.statuses.values())
    print(f"\nhostile (test client): {cases} cases, statuses {dict(target.statuses)}")
    assert cases >= MAIN_CASES
    assert not any(s >= 500 for s in target.statuses)
    # The cases reach every kind of answer, most of them the credential check.
    assert {200, 400, 401, 403, 404, 405} <= set(target.statuses)
    assert target.statuses[401] >= MAIN_CASES // 4
    assert target.state.coordinator.record is None


def _body_is_valid(content_type: str | None, body: bytes) -> bool:
    """What the endpoint accepts: mirrors the rules, to never send a
    valid request by accident.
    """
    if not body.strip():
        return True

    if (
        len(body) > 4096
        or (content_type or "").split(";")[0].strip().lower() != "application/json"
    ):
        return False

    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return False

    return (
        isinstance(obj, dict)
        and set(obj) <= {"reason"}
        and isinstance(obj.get("reason", ""), str)
        and len(obj.get("reason", "")) <= 500
    )


HOSTILE_CONTEXT = st.one_of(
    st.fixed_dictionaries({"extra": st.just({"Origin": "https://evil.example"})}),
    st.fixed_dictionaries({"extra": st.just({"Sec-Fetch-Site": "cross-site"})}),
    st.fixed_dictionaries(
        {"remote_addr": st.sampled_from(["10.0.0.1", "2001:db8::1", "", "x"])}
    ),
    st.fixed_dictionaries(
        {"method": METHODS.filter(lambda m: m.upper() not in ("POST", "HEAD", "GET"))}
    ),
)


def test_fuzz_valid_credentials_hostile_rest() -> None:
    # Valid credentials, but always with something that must be refused:
    # a bad body, or a refused origin, address or method.
    target = Target()

    @_settings(VALID_CREDENTIAL_CASES)
    @given(
        authorization=st.deferred(lambda: valid_authorization(target)),
        content_type=CONTENT_TYPES,
        body=BODIES,
        hostile=st.one_of(st.none(), st.none(), st.none(), HOSTILE_CONTEXT),
        extra=ORIGIN_HEADERS,
        query=QUERY,
    )
    def run(
        authorization: str,
        content_type: str | None,
        body: bytes,
        hostile: dict[str, t.Any] | None,
        extra: dict[str, str],
        query: str,
    ) -> None:
        if hostile is None:
            assume(not _body_is_valid(content_type, body))
            # Only headers that do not refuse the request by themselves.
            extra = {
                k: v for k, v in extra.items() if k in ("Cookie", "X-Forwarded-For")
            }

        request = {
            "method": "POST",
            "path": "/shutdown",
            "query": query,
            "authorization": authorization,
            "content_type": content_type,
            "body": body,
            "extra": extra,
            "remote_addr": "127.0.0.1",
        }
        hostile = hostile or {}
        request["extra"] = {**request["extra"], **hostile.pop("extra", {})}
        request.update(hostile)
        _hostile_request(target, **request)

    run()
    cases = sum(target.statuses.values())
    print(f"\nvalid credentials: {cases} cases, statuses {dict(target.statuses)}")
    assert cases >= VALID_CREDENTIAL_CASES
    assert {400, 403, 405, 413, 415} <= set(target.statuses)


class _Reasons(logging.Handler):
    """Counts the audit records' reasons."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "audit", None)

        if event is not None:
            self.counts[event.reason] += 1


#: The audit reasons of a guess that reached a credential check and failed.
GUESSES = ("bad_token", "token_expired", "token_from_future", "unknown_user")
GUESSES += ("bad_password",)


def test_fuzz_with_lockout() -> None:
    # The lockout on: a few addresses, so that they get locked and the
    # 429 path is attacked too.
    target = Target(SHUTDOWN_LOCKOUT_ATTEMPTS=3)
    reasons = _Reasons()
    audit = logging.getLogger("flask_shutdown.audit")
    audit.addHandler(reasons)

    @_settings(LOCKOUT_CASES)
    @given(
        method_path=METHOD_PATHS,
        authorization=st.deferred(lambda: hostile_authorization(target)),
        remote_addr=st.sampled_from([f"127.0.0.{i}" for i in range(1, 9)] + ["::1"]),
        body=BODIES,
    )
    def run(
        method_path: tuple[str, str],
        authorization: str | None,
        remote_addr: str,
        body: bytes,
    ) -> None:
        _hostile_request(
            target,
            *method_path,
            "",
            authorization,
            "application/json",
            body,
            {},
            remote_addr,
        )

    try:
        run()
    finally:
        audit.removeHandler(reasons)

    cases = sum(target.statuses.values())
    guesses = sum(reasons.counts[r] for r in GUESSES)
    print(
        f"\nwith lockout: {cases} cases, statuses {dict(target.statuses)},"
        f" {guesses} failed guesses"
    )
    assert cases >= LOCKOUT_CASES
    assert target.statuses[429] > 0
    # No clock moves, and the loopback addresses are one client: at most
    # 3 guesses reached a credential check and failed.
    assert 1 <= guesses <= 3


# -- broken framing --------------------------------------------------------

#: Content-Length values that are not a plain number of bytes.
BAD_LENGTHS = st.one_of(
    st.sampled_from(
        ["-1", "abc", "1e3", "0x10", "5, 5", "+5", "5 5", "\u0665", "1.0", "5,"]
    ),
    st.text("0123456789 ,+-xXeE.abc\t", min_size=1, max_size=8).filter(
        lambda v: not re.fullmatch(r"[ \t]*[0-9]*[ \t]*", v)
    ),
    st.integers(-(10**6), -1).map(str),
)
GOOD_LENGTHS = st.one_of(
    st.integers(0, 10**6).map(str),
    st.integers(0, 300).map(lambda n: f" {n}\t"),
    st.just(""),
)


def _framing_is_valid(environ: dict[str, t.Any]) -> bool:
    """What the endpoint accepts: mirrors the rule, to know the answer."""
    length = environ.get("CONTENT_LENGTH", "").strip(" \t")
    encoding = "HTTP_TRANSFER_ENCODING" in environ

    if length and (not re.fullmatch(r"[0-9]+", length) or encoding):
        return False

    return not encoding or bool(environ.get("wsgi.input_terminated"))


def test_fuzz_framing_test_client() -> None:
    # Content-Length and Transfer-Encoding as a server could pass them on,
    # with every kind of credential (none of which may stop the server
    # here: the valid ones only read the status).
    target = Target()

    @_settings(FRAMING_CASES)
    @given(
        length=st.one_of(st.none(), BAD_LENGTHS, GOOD_LENGTHS),
        chunked=st.sampled_from([None, "terminated", "raw"]),
        authorization=st.one_of(
            st.none(),
            st.just(f"Bearer {READER}"),
            st.just(f"Bearer {target.signed_reader}"),
            st.deferred(lambda: hostile_authorization(target)),
        ),
        body=st.one_of(
            st.just(b""), st.just(b'{"reason": "x"}'), st.binary(max_size=50)
        ),
    )
    def run(
        length: str | None, chunked: str | None, authorization: str | None, body: bytes
    ) -> None:
        # Always set, so that the test client's own length is not used.
        environ: dict[str, t.Any] = {
            "CONTENT_LENGTH": str(len(body)) if length is None else length
        }

        if chunked is not None:
            environ["HTTP_TRANSFER_ENCODING"] = "chunked"
            environ["wsgi.input_terminated"] = chunked == "terminated"

        headers = {"Content-Type": "application/json"}

        if authorization is not None:
            headers["Authorization"] = authorization

        with target.app.test_client().open(
            "/shutdown",
            method="POST",
            headers=headers,
            data=body,
            environ_overrides=environ,
        ) as rv:
            data = rv.get_data()
            target.check(rv.status_code, rv.headers, data, ours=True)

            if not _framing_is_valid(environ):
                assert rv.status_code == 400, (environ, data)
                assert json.loads(data)["error"] == "bad_framing"

    run()
    cases = sum(target.statuses.values())
    print(f"\nframing: {cases} cases, statuses {dict(target.statuses)}")
    assert cases >= FRAMING_CASES
    assert {400, 401, 403} <= set(target.statuses)


# -- typed config ----------------------------------------------------------

BOOL_KEYS = ["SHUTDOWN_SIGNED_TOKENS"]
INT_KEYS = {
    "SHUTDOWN_TOKEN_MAX_AGE": 0,
    "SHUTDOWN_MIN_TOKEN_LENGTH": 0,
    "SHUTDOWN_LOCKOUT_ATTEMPTS": 0,
    "SHUTDOWN_MAX_BODY": 0,
    "SHUTDOWN_LOCKOUT_GLOBAL_ATTEMPTS": 0,
    "SHUTDOWN_MAX_CONCURRENT_HASHES": 1,
}
FLOAT_KEYS = [
    "SHUTDOWN_DRAIN_TIMEOUT",
    "SHUTDOWN_DRAIN_DELAY",
    "SHUTDOWN_HOOK_TIMEOUT",
    "SHUTDOWN_LOCKOUT_WINDOW",
]
OTHER_KEYS = [
    "SHUTDOWN_TOKENS",
    "SHUTDOWN_USERS",
    "SHUTDOWN_ROLES",
    "SHUTDOWN_PATH",
    "SHUTDOWN_READY_PATH",
    "SHUTDOWN_STRATEGY",
    "SHUTDOWN_ALLOWED_NETWORKS",
    "SHUTDOWN_LOCKOUT_SHARED_NETWORKS",
    "SHUTDOWN_TRUSTED_ORIGINS",
    "SHUTDOWN_TRUSTED_HOSTS",
]
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        ["true", "False", "0", "1", "yes", "OFF", " on ", "5", " 7 ", "2.5", "-1"]
        + ["nan", "inf", "1e3", "0x10", "", "maybe", "/shutdown", "auto", "10.0.0.0/8"]
    ),
    st.text(max_size=12),
    st.binary(max_size=4),
)
CONFIG_VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=8), SCALARS, max_size=2),
)


def _expected_bool(value: t.Any) -> bool | None:
    if isinstance(value, bool):
        return value

    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE

    return None


def _expected_number(value: t.Any, whole: bool, minimum: int) -> float | None:
    if isinstance(value, bool):
        return None

    if isinstance(value, str):
        text = value.strip()

        if whole:
            number: float | None = int(text) if re.fullmatch(r"[0-9]+", text) else None
        else:
            try:
                number = float(text)
            except ValueError:
                number = None
    elif isinstance(value, int) or (isinstance(value, float) and not whole):
        number = value
    else:
        number = None

    if number is None or not math.isfinite(number) or number < minimum:
        return None

    return number


def test_fuzz_typed_config() -> None:
    keys = BOOL_KEYS + list(INT_KEYS) + FLOAT_KEYS + OTHER_KEYS
    outcomes: collections.Counter[str] = collections.Counter()

    @_settings(CONFIG_CASES)
    @given(key=st.sampled_from(keys), value=CONFIG_VALUES)
    def run(key: str, value: t.Any) -> None:
        app = Flask("typed")
        app.config.update(
            SECRET_KEY=SECRET_KEY,
            SHUTDOWN_TOKENS={"main": TOKEN},
            SHUTDOWN_USERS={USER: CHEAP_HASH},
        )
        app.config[key] = value

        try:
            Shutdown(app)
        except RuntimeError as e:
            # The key is named; other keys may be named too, such as
            # SHUTDOWN_TOKENS when the minimum length rose above it.
            assert key in str(e), (key, value, str(e))
            error = True
        else:
            error = False

        outcomes["error" if error else "accepted"] += 1
        config = None if error else app.extensions["shutdown"].config

        if key in BOOL_KEYS:
            expected = _expected_bool(value)
            assert error == (expected is None), (key, value)
            assert error or config.signed_tokens is expected
        elif key in INT_KEYS or key in FLOAT_KEYS:
            whole = key in INT_KEYS
            expected_n = _expected_number(value, whole, INT_KEYS.get(key, 0))

            if expected_n is None:
                assert error, (key, value)
            elif not error:
                field = key.removeprefix("SHUTDOWN_").lower()
                read = getattr(config, field)
                assert read == expected_n and type(read) is (int if whole else float)

    run()
    print(f"\ntyped config: {dict(outcomes)}")
    assert outcomes["error"] > 0 and outcomes["accepted"] > 0


# -- a real server, raw sockets --------------------------------------------

RAW_HEADER_VALUE = st.one_of(
    HEADER_TEXT.map(lambda s: s.encode("latin-1")),
    st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b),
    st.integers(1000, 70_000).map(lambda n: b"A" * n),
)


@st.composite
def raw_requests(draw: st.DrawFn, target: Target) -> bytes:
    method, path = draw(
        st.one_of(
            METHOD_PATHS.map(lambda mp: (mp[0].encode(), mp[1].encode())),
            st.tuples(st.binary(min_size=1, max_size=10), st.just(b"/shutdown")),
        )
    )
    method = method.replace(b" ", b"").replace(b"\r", b"").replace(b"\n", b"") or b"X"
    query = draw(QUERY).encode()
    target_bytes = path + (b"?" + query if query else b"")
    # Not HTTP/2.0: the server itself answers it with 505, before the app.
    version = draw(
        st.one_of(
            st.just(b"HTTP/1.1"),
            st.just(b"HTTP/1.1"),
            st.sampled_from([b"HTTP/1.0", b"HTTP/x", b"HTTP/0.9", b""]),
        )
    )
    headers = [(b"Host", b"127.0.0.1")]
    # A quarter of the cases carry valid credentials, and then a body
    # framing that is always broken, so that the body reading is attacked.
    valid = draw(st.integers(0, 3)) == 0

    if valid:
        authorization: bytes | None = draw(valid_authorization(target)).encode()
    else:
        authorization = draw(
            st.one_of(
                hostile_authorization(target).map(
                    lambda a: None if a is None else a.encode("latin-1", "replace")
                ),
                RAW_HEADER_VALUE,
            )
        )

    if authorization is not None:
        headers.append((b"Authorization", authorization))

    content_type = draw(CONTENT_TYPES)

    if content_type is not None:
        headers.append((b"Content-Type", content_type.encode("latin-1")))

    for name, value in draw(st.just({}) | ORIGIN_HEADERS).items():
        headers.append((name.encode(), value.encode("latin-1")))

    body = draw(st.one_of(BODIES.filter(lambda b: len(b) <= 20_000), st.just(b"")))
    framing = draw(
        st.sampled_from(["long", "bad-chunked", "garbage", "length-and-chunked"])
        if valid
        else st.one_of(
            st.just("length"),
            st.just("length"),
            st.sampled_from(
                ["none", "short", "long", "garbage", "chunked", "bad-chunked"]
            ),
        )
    )

    if framing == "length":
        headers.append((b"Content-Length", str(len(body)).encode()))
    elif framing == "short":
        headers.append((b"Content-Length", str(max(len(body) - 5, 0)).encode()))
    elif framing == "long":
        headers.append((b"Content-Length", str(len(body) + 50).encode()))
    elif framing == "garbage":
        headers.append((b"Content-Length", draw(BAD_LENGTHS).encode()))
    elif framing == "length-and-chunked":
        headers.append((b"Content-Length", str(len(body)).encode()))
        headers.append((b"Transfer-Encoding", b"chunked"))
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    elif framing == "chunked":
        headers.append((b"Transfer-Encoding", b"chunked"))
        body = (
            (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
            if body
            else b"0\r\n\r\n"
        )
    elif framing == "bad-chunked":
        headers.append((b"Transfer-Encoding", b"chunked"))
        body = b"zz\r\n" + body

    extra = draw(
        st.lists(
            st.tuples(
                st.sampled_from([b"X-A", b"Cookie", b"Origin", b"\xff\xfe"]),
                RAW_HEADER_VALUE,
            ),
            max_size=2,
        )
        | st.just([])
    )
    head = b" ".join(p for p in (method, target_bytes, version) if p) + b"\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers + extra)
    return head + b"\r\n" + body


def _send_raw(port: int, data: bytes) -> tuple[int, Headers, bytes] | None:
    """Send one request and half-close; return the status, headers and
    body, or ``None`` if the server closed without answering. An answer
    without a status line (HTTP/0.9) has status 0.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # The server may answer and close before reading it all.

        received = b""

        try:
            while len(received) < 1_000_000:
                chunk = sock.recv(65536)

                if not chunk:
                    break

                received += chunk
        except ConnectionResetError:
            pass

    if not received:
        return None

    if not received.startswith(b"HTTP/"):
        # An HTTP/0.9-style answer, with no status line: how the server
        # itself refuses a request line it cannot parse.
        match = re.search(rb"Error code: (\d+)", received)

        if match is not None:
            return int(match.group(1)), Headers(), b""

        # Or an HTTP/0.9 request the app answered: the body alone, with
        # no status to check. Counted as status 0.
        return 0, Headers(), b""

    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = Headers()

    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())

    return int(lines[0].split()[1]), headers, body


def test_fuzz_real_server_raw_sockets() -> None:
    target = Target()
    server = ServerThread(target.app, "127.0.0.1", 0)
    server.start()
    unanswered = 0

    try:

        @_settings(SERVER_CASES)
        @given(data=st.deferred(lambda: raw_requests(target)))
        def run(data: bytes) -> None:
            nonlocal unanswered
            answer = _send_raw(server.port, data)

            if answer is None:
                unanswered += 1
                target.check(0, Headers(), b"", ours=False)
            else:
                status, headers, body = answer
                json_answer = headers.get("Content-Type") == "application/json"
                target.check(status, headers, body, ours=json_answer)

            assert server.is_alive()

        run()
        # Still serving.
        answer = _send_raw(server.port, b"GET / HTTP/1.0\r\n\r\n")
        assert answer is not None and answer[0] == 200
        assert target.state.coordinator.record is None
    finally:
        server.stop_serving()
        server.join(5)

    cases = sum(target.statuses.values())
    print(
        f"\nreal server: {cases} cases, statuses {dict(target.statuses)},"
        f" {unanswered} closed without an answer"
    )
    assert cases >= SERVER_CASES
