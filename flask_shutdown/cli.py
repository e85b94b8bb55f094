"""The ``flask shutdown`` command group, registered with Flask through the
``flask.commands`` entry point.

``token`` and ``config`` need the app (``token`` signs with the app's
``SECRET_KEY``). The other commands do not load the app at all, so
``flask shutdown send URL`` works from any directory, with no ``--app``
and no ``FLASK_APP``.

The HTTP client is :mod:`urllib.request`, so the commands need nothing
beyond the package's own dependencies. Whatever a server answers is
printed only after its control characters are removed, and credentials
are never printed.
"""

from __future__ import annotations

import base64
import collections.abc as cabc
import dataclasses
import enum
import ipaddress
import json
import os
import sys
import threading
import time
import typing as t
import urllib.parse

import click
from flask.cli import AppGroup

from . import runtime
from .client import Connection
from .client import port_open
from .client import request
from .client import Response
from .client import Unreachable
from .record import ExitCode
from .record import Phase

if t.TYPE_CHECKING:
    from .state import AppState

#: The environment variables the commands read credentials from, so that
#: secrets stay out of shell history and process listings. Not prefixed
#: with ``FLASK_``: an app that loads its config with
#: ``app.config.from_prefixed_env()`` would copy them into its config.
TOKEN_ENV = "SHUTDOWNCTL_TOKEN"
USER_ENV = "SHUTDOWNCTL_USER"
PASSWORD_ENV = "SHUTDOWNCTL_PASSWORD"

#: Earlier names of those variables, refused with a message naming the
#: new ones.
OLD_ENV = {
    "FLASK_SHUTDOWN_TOKEN": TOKEN_ENV,
    "FLASK_SHUTDOWN_USER": USER_ENV,
    "FLASK_SHUTDOWN_PASSWORD": PASSWORD_ENV,
}

#: The endpoint path appended to a base URL (the ``SHUTDOWN_PATH`` default).
DEFAULT_PATH = "/shutdown"

#: The shortest password ``hash-password`` accepts.
MIN_PASSWORD_LENGTH = 12

#: How long one status read waits for the shutdown to move on.
_FOLLOW_WAIT = 5.0

#: The longest server text printed, in characters.
_MAX_TEXT = 300


class CliExit(enum.IntEnum):
    """The exit codes of ``flask shutdown send`` and ``flask shutdown
    status``. A usage error, such as a missing URL or credential, exits
    with ``2``.
    """

    #: ``send``: every server stopped, and no shutdown reported a failure.
    #: ``status``: the report was printed.
    OK = 0
    #: The server answered something unexpected: a 404 (wrong URL, or no
    #: credential configured on the server), a 5xx, a redirect, or a body
    #: that is not the expected JSON.
    FAILED = 1
    #: The server refused the credentials: 401, 403 or 429.
    REFUSED = 3
    #: Nothing answered at the URL (connection refused, unknown host, or
    #: the request timed out).
    UNREACHABLE = 4
    #: ``send --wait``: the server was still up when ``--timeout`` passed.
    TIMED_OUT = 5
    #: ``send --wait``: the server stopped, but its shutdown reported a
    #: failure: a hook failed or timed out, the drain timed out, or the
    #: stop was forced. ``--ignore-failures`` exits ``0`` instead.
    UNCLEAN = 6


_REFUSED_STATUSES = frozenset({401, 403, 429})

#: The order of the phases, to keep the furthest one seen.
_RANK = {phase.value: i for i, phase in enumerate(Phase)}


class UsageProblem(click.ClickException):
    """A mistake in how the command was called, told in one line: exit
    code 2, like click's own usage errors, without the usage text.
    """

    exit_code = 2


class _ShutdownGroup(AppGroup):
    """Click's usage errors, told in one line like every other failure of
    these commands, with where to find the usage.
    """

    def invoke(self, ctx: click.Context) -> t.Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else ctx.command_path
            raise UsageProblem(f"{e.format_message()} See '{where} --help'.") from None


shutdown_command = _ShutdownGroup(
    "shutdown",
    help="Stop servers, read their shutdown status, and manage credentials.",
)


# -- The app, for token and config --------------------------------------------


def _load_state() -> tuple[t.Any, AppState]:
    """Load the app given by ``--app`` or ``FLASK_APP``, and its state.

    A configuration error raised while the app is created is one line,
    not a traceback: it is the operator's to fix, not a bug.
    """
    from flask.cli import ScriptInfo

    from .state import find_state

    info = click.get_current_context().ensure_object(ScriptInfo)

    try:
        app = info.load_app()
    except RuntimeError as e:
        raise click.ClickException(f"The app could not be loaded: {e}") from None

    state = find_state(app)

    if state is None:
        raise click.ClickException(
            f"Flask-Shutdown is not registered on the app {app.name!r}."
            " Call 'Shutdown(app)' or 'shutdown.init_app(app)' in the app"
            " factory."
        )

    return app, state


# -- token -------------------------------------------------------------------


@shutdown_command.command("token", with_appcontext=False)
@click.option(
    "--expires",
    type=click.IntRange(min=1),
    default=None,
    metavar="SECONDS",
    help="Seconds the token is valid. Default: SHUTDOWN_TOKEN_MAX_AGE.",
)
@click.option(
    "--scope",
    type=click.Choice(["shutdown", "status"]),
    multiple=True,
    help="What the token may do; repeat for both. Default: both.",
)
def token_command(expires: int | None, scope: tuple[str, ...]) -> None:
    """Print a signed shutdown token for the app.

    The app must enable SHUTDOWN_SIGNED_TOKENS and set a strong SECRET_KEY.
    Each token stops the server at most once.
    """
    app, state = _load_state()

    if state.signer is None:
        raise click.ClickException(
            "Signed shutdown tokens are off for this app. Set"
            " SHUTDOWN_SIGNED_TOKENS = True and a strong SECRET_KEY in the app's"
            " config."
        )

    with app.app_context():
        click.echo(state.extension.create_token(expires, scope=scope or None))


# -- config ------------------------------------------------------------------


@shutdown_command.command("config", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
def config_command(as_json: bool) -> None:
    """Print the app's effective shutdown settings.

    Paths, networks, the kinds and number of credentials, the strategy,
    the timeouts and the hooks, as init_app read them; never a secret.
    """
    _, state = _load_state()
    settings = _describe_config(state)

    if as_json:
        click.echo(json.dumps(settings, indent=2))
        return

    width = max(len(key) for key in settings)

    for key, value in settings.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        elif isinstance(value, dict):
            value = "; ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif value is None:
            value = "-"

        click.echo(f"{key.ljust(width)}  {value}")


def _describe_config(state: AppState) -> dict[str, t.Any]:
    """The effective settings of an app, as ``flask shutdown config``
    prints them: names of credentials, never their values.
    """
    config = state.config
    strategy = config.strategy

    if callable(strategy):
        strategy = "callable " + getattr(strategy, "__qualname__", repr(strategy))

    return {
        "endpoint": "exposed" if config.has_credentials else "off (no credential)",
        "path": config.path,
        "status path": config.status_path,
        "ready path": config.ready_path or "off",
        "static tokens": _named(config.tokens),
        "basic users": _named(config.users),
        "signed tokens": (
            f"on, valid {config.token_max_age} s" if config.signed_tokens else "off"
        ),
        "min token length": config.min_token_length,
        "roles": {
            name: ", ".join(sorted(roles)) for name, roles in config.roles.items()
        },
        "allowed networks": [str(n) for n in config.allowed_networks],
        "trusted origins": list(config.trusted_origins),
        "strategy": strategy,
        "drain delay": f"{config.drain_delay:g} s",
        "drain timeout": f"{config.drain_timeout:g} s",
        "hook timeout": f"{config.hook_timeout:g} s",
        "hooks": [
            hook.name
            + ("" if hook.timeout is None else f" (timeout {hook.timeout:g} s)")
            for hook in state.extension.hooks
        ],
        "lockout": (
            f"{config.lockout_attempts} failed attempts per {config.lockout_window:g} s"
            if config.lockout_attempts and config.lockout_window
            else "off"
        ),
        "max body": f"{config.max_body} bytes",
    }


def _named(items: cabc.Mapping[str, str]) -> str:
    if not items:
        return "none"

    return f"{len(items)} ({', '.join(items)})"


# -- hash-password -----------------------------------------------------------


def _stdin_is_tty() -> bool:
    return click.get_text_stream("stdin").isatty()


@shutdown_command.command("hash-password", with_appcontext=False)
def hash_password_command() -> None:
    """Print a password hash for SHUTDOWN_USERS.

    On a terminal it prompts for the password twice, without echo.
    Otherwise it reads the password from the first line of standard input,
    for scripts: printf '%s\\n' "$PASSWORD" | flask shutdown hash-password
    """
    from werkzeug.security import generate_password_hash

    if _stdin_is_tty():
        password = click.prompt(
            "Password", hide_input=True, confirmation_prompt=True, err=True
        )
    else:
        password = click.get_text_stream("stdin").readline().rstrip("\r\n")

    if not password:
        raise click.ClickException("The password is empty.")

    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(
            f"The password is shorter than {MIN_PASSWORD_LENGTH} characters. It"
            " is all it takes to stop the server, and the lockout only slows"
            " down guessing from one address: use a long random one."
        )

    click.echo(generate_password_hash(password))


# -- URLs and credentials ----------------------------------------------------


def _redact(url: str) -> str:
    """``url`` without the password of its user info, for messages."""
    parts = urllib.parse.urlsplit(url)

    if parts.password is None:
        return url

    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _is_loopback(host: str) -> bool:
    host = host.rstrip(".").lower()

    if host == "localhost" or host.endswith(".localhost"):
        return True

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str, allow_http: bool) -> None:
    """Refuse a URL the credentials must not be sent to.

    :raises UsageProblem: Not an http(s) URL, credentials in the URL, or
        plain HTTP to another machine without ``--allow-http``.
    """
    if "://" not in url:
        raise UsageProblem(
            f"{_redact(url)!r} is not a URL. Give one such as http://127.0.0.1:5000."
        )

    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise UsageProblem(f"{_redact(url)!r} is not a valid URL.") from None

    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageProblem(f"{_redact(url)!r} is not an http or https URL.")

    if "@" in parts.netloc:
        raise UsageProblem(
            f"The URL {_redact(url)!r} has credentials in it, where process"
            f" listings and logs show them. Pass --user (the password from"
            f" {PASSWORD_ENV}) or --token instead."
        )

    if parts.scheme == "http" and not allow_http and not _is_loopback(parts.hostname):
        raise UsageProblem(
            f"Not sending credentials over plain HTTP to {parts.hostname}, which"
            " is not this machine: anyone on the way could read them. Use"
            " https://, or pass --allow-http if that network is trusted."
        )


def _endpoints(url: str) -> tuple[str, str]:
    """The shutdown and status URLs for a URL given on the command line: a
    base URL (no path) gets ``/shutdown``; any other URL is the shutdown
    endpoint itself, or its status URL.
    """
    parts = urllib.parse.urlsplit(url)
    path = parts.path.rstrip("/")

    if not path:
        path = DEFAULT_PATH

    if path.endswith("/status"):
        status_path = path
        path = path[: -len("/status")] or DEFAULT_PATH
    else:
        status_path = path + "/status"

    def build(p: str) -> str:
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, p, "", ""))

    return build(path), build(status_path)


def _same_origin_url(base: str, url: t.Any) -> str | None:
    """``url`` (from a server's answer) resolved against ``base``, if it
    stays on the same scheme, host and port: the credentials go there.
    """
    if not isinstance(url, str) or not url:
        return None

    joined = urllib.parse.urljoin(base, url)
    a = urllib.parse.urlsplit(base)
    b = urllib.parse.urlsplit(joined)

    if (a.scheme, a.netloc) != (b.scheme, b.netloc):
        return None

    return urllib.parse.urlunsplit((b.scheme, b.netloc, b.path, "", ""))


def _reject_old_env() -> None:
    old = [name for name in OLD_ENV if name in os.environ]

    if old:
        renames = ", ".join(f"{name} -> {OLD_ENV[name]}" for name in old)
        raise UsageProblem(
            f"Rename {renames}: names starting with FLASK_ are copied into the"
            " app's config by app.config.from_prefixed_env(), secrets included."
        )


def _auth_header(token: str | None, user: str | None) -> str:
    if token and user:
        # An option on the command line wins over a variable from the
        # environment, so an exported token does not get in the way of a
        # one-off --user.
        ctx = click.get_current_context()
        env = click.core.ParameterSource.ENVIRONMENT
        token_from_env = ctx.get_parameter_source("token") == env
        user_from_env = ctx.get_parameter_source("user") == env

        if token_from_env and not user_from_env:
            token = None
        elif user_from_env and not token_from_env:
            user = None
        else:
            raise UsageProblem(
                "Pass either a token or a user, not both (check"
                f" {TOKEN_ENV} and {USER_ENV})."
            )

    if token:
        return f"Bearer {token}"

    if user:
        password = os.environ.get(PASSWORD_ENV)

        if password is None:
            password = click.prompt(f"Password for {user}", hide_input=True, err=True)

        raw = f"{user}:{password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    raise UsageProblem(
        f"Pass --token or --user, or set {TOKEN_ENV} or {USER_ENV} and {PASSWORD_ENV}."
    )


# -- What servers say --------------------------------------------------------


def _clean(value: t.Any, limit: int = _MAX_TEXT) -> str:
    """Server text fit for a terminal: control characters (escape
    sequences, carriage returns) replaced, and cut to ``limit``.
    """
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))

    if len(text) > limit:
        text = text[: limit - 1] + "…"

    return text


def _describe_error(rv: Response) -> str:
    """One line saying what an unexpected answer probably means. A JSON
    refusal from the extension is quoted; anything else (an HTML error
    page) is summarised, never printed.
    """
    if rv.body is not None and isinstance(rv.body.get("message"), str):
        return f"HTTP {rv.status}: {_clean(rv.body['message'])}"

    kind = _clean(rv.content_type.split(";")[0].strip() or "no content type", 60)
    head = f"HTTP {rv.status} ({kind}), not an answer from Flask-Shutdown"

    if 300 <= rv.status < 400:
        location = rv.header("Location")
        where = f" to {_clean(_redact(location), 200)}" if location else ""
        return (
            f"HTTP {rv.status}: a redirect{where}, not followed: it would send the"
            " credentials elsewhere. Give the URL it points to, if you trust it."
        )

    if rv.status == 404:
        return (
            f"{head}: nothing at this path. Check the path (SHUTDOWN_PATH, and"
            " any prefix the app is mounted under); or the server has no"
            " credential configured, which hides the endpoint."
        )

    if rv.status in (405, 501):
        return (
            f"{head}: the server does not take this request here. Probably no"
            " Flask-Shutdown endpoint at this URL: another server or app."
        )

    if rv.status in (502, 503, 504):
        return (
            f"{head}: probably a proxy or load balancer that could not reach"
            " the app behind it."
        )

    if rv.status >= 500:
        return f"{head}: the app failed; its log says why."

    return f"{head}: probably another server or app at this URL."


def _refusal_code(rv: Response) -> CliExit:
    return CliExit.REFUSED if rv.status in _REFUSED_STATUSES else CliExit.FAILED


def _failure_word(code: CliExit) -> str:
    return "refused" if code == CliExit.REFUSED else "failed"


def _exit_code(report: dict[str, t.Any]) -> int | None:
    """The shutdown's exit code from a report: given once ``stopped``;
    worked out from the report of ``stopping``, which has every hook's
    result and the drain's; unknown before.
    """
    phase = report.get("phase")

    if phase == Phase.STOPPED.value and isinstance(report.get("exit_code"), int):
        return int(report["exit_code"])

    if phase != Phase.STOPPING.value:
        return None

    if report.get("forced"):
        return int(ExitCode.FORCED)

    if report.get("drain_timed_out"):
        return int(ExitCode.DRAIN_TIMEOUT)

    if any(h.get("status") != "ok" for h in _hooks(report)):
        return int(ExitCode.HOOK_FAILED)

    return int(ExitCode.OK)


def _hooks(report: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    hooks = report.get("hooks")
    return [h for h in hooks if isinstance(h, dict)] if isinstance(hooks, list) else []


def _code_name(code: int) -> str:
    try:
        return ExitCode(code).name
    except ValueError:
        return "unknown"


# -- send --------------------------------------------------------------------


def _stdout_is_tty() -> bool:
    return click.get_text_stream("stdout").isatty()


class _Reporter:
    """Prints progress: one line rewritten in place on a terminal, plain
    lines (one per change) otherwise or when several servers stop at once.
    With ``--json`` it prints nothing but one document per server.
    """

    def __init__(self, live: bool, as_json: bool = False) -> None:
        self.live = live
        self.as_json = as_json
        self._lock = threading.Lock()
        self._pending = False

    def progress(self, label: str, text: str) -> None:
        if self.as_json:
            return

        with self._lock:
            if self.live:
                click.echo(f"\r\x1b[K{label}: {text}", nl=False)
                self._pending = True
            else:
                click.echo(f"{label}: {text}")

    def line(self, label: str, text: str, err: bool = False) -> None:
        if self.as_json:
            return

        with self._lock:
            if self._pending:
                click.echo("\r\x1b[K", nl=False)
                self._pending = False

            click.echo(f"{label}: {text}", err=err)

    def document(self, doc: dict[str, t.Any]) -> None:
        if self.as_json:
            with self._lock:
                click.echo(json.dumps(doc, sort_keys=True))


def _summarize(report: dict[str, t.Any]) -> str:
    hooks = _hooks(report)
    failed = sum(1 for h in hooks if h.get("status") != "ok")
    text = (
        f"{_clean(report.get('phase', '?'), 20)},"
        f" {_clean(report.get('in_flight', '?'), 20)} in flight,"
        f" {len(hooks)} hook(s) run"
    )

    if failed:
        text += f", {failed} failed"

    if report.get("pid") is not None:
        text += f" (pid {_clean(report['pid'], 20)})"

    return text


def _hook_line(hook: dict[str, t.Any]) -> str:
    status = _clean(hook.get("status", "?"), 20)
    text = f"hook {_clean(hook.get('name', '?'), 100)}: {status}"
    duration = hook.get("duration_ms")

    if isinstance(duration, (int, float)):
        text += f" ({duration:g} ms)"

    if hook.get("error"):
        text += f": {_clean(hook['error'])}"

    return text


def _drain_line(report: dict[str, t.Any]) -> str:
    if not report.get("drain_timed_out"):
        return "drained: every request finished"

    running = report.get("still_running")
    running = running if isinstance(running, list) else []
    text = f"drain timed out with {len(running)} request(s) still running"

    if running:
        text += ": " + _clean("; ".join(str(r) for r in running))

    return text


@dataclasses.dataclass
class _Follow:
    """What one ``send`` learned of one server's shutdown."""

    label: str
    code: CliExit = CliExit.OK
    result: str = ""
    message: str = ""
    shutdown_id: str | None = None
    #: The report of the furthest phase of this shutdown seen so far.
    report: dict[str, t.Any] | None = None
    #: Workers whose report was of no shutdown or of another one.
    strangers: set[str] = dataclasses.field(default_factory=set)

    @property
    def phase(self) -> str | None:
        return None if self.report is None else self.report.get("phase")

    def document(self) -> dict[str, t.Any]:
        exit_code = None if self.report is None else _exit_code(self.report)
        return {
            "url": self.label,
            "result": self.result,
            "exit": int(self.code),
            "message": self.message,
            "shutdown_id": self.shutdown_id,
            "exit_code": exit_code,
            "report": self.report,
        }


def _send_one(
    url: str,
    auth: str,
    reason: str,
    wait: bool,
    timeout: float,
    interval: float,
    ignore_failures: bool,
    reporter: _Reporter,
) -> _Follow:
    connection = Connection()

    try:
        return _send_and_follow(
            url,
            auth,
            reason,
            wait,
            timeout,
            interval,
            ignore_failures,
            reporter,
            connection,
        )
    finally:
        connection.close()


def _send_and_follow(
    url: str,
    auth: str,
    reason: str,
    wait: bool,
    timeout: float,
    interval: float,
    ignore_failures: bool,
    reporter: _Reporter,
    connection: Connection,
) -> _Follow:
    endpoint, default_status_url = _endpoints(url)
    follow = _Follow(url)

    def fail(code: CliExit, result: str, message: str) -> _Follow:
        follow.code, follow.result, follow.message = code, result, message
        reporter.line(url, f"{result}: {message}", err=True)
        return follow

    # follow=1: the server lets the status read that follows it learn how
    # the hooks went before it goes away.
    target = f"{endpoint}?follow=1" if wait else endpoint

    try:
        # One connection for the POST and the reads that follow: on a
        # server with several workers, they reach the one that accepted
        # the shutdown while it keeps the connection open.
        rv = request(
            "POST",
            target,
            auth,
            {"reason": reason} if reason else None,
            connection=connection,
        )
    except Unreachable as e:
        return fail(CliExit.UNREACHABLE, "unreachable", _clean(e))

    if rv.status != 202 or rv.body is None or "shutdown_id" not in rv.body:
        code = _refusal_code(rv)
        return fail(code, _failure_word(code), _describe_error(rv))

    body = rv.body
    follow.shutdown_id = str(body["shutdown_id"])
    follow.report = body
    reporter.line(
        url,
        f"shutdown {_clean(follow.shutdown_id, 64)} accepted"
        f" ({_clean(body.get('phase'), 20)})",
    )

    if not wait:
        follow.result = "accepted"
        return follow

    # Where the server says its status is (it knows its prefix and
    # SHUTDOWN_STATUS_PATH), as long as that is the same server.
    status_url = (
        _same_origin_url(endpoint, body.get("status_url")) or default_status_url
    )
    gone = _watch(
        follow, endpoint, status_url, auth, timeout, interval, reporter, connection
    )

    if not gone:
        return fail(
            CliExit.TIMED_OUT,
            "timed out",
            f"after {timeout:g} s; still up (last phase: {follow.phase or 'unknown'})",
        )

    _report_outcome(follow, ignore_failures, reporter)
    return follow


def _watch(
    follow: _Follow,
    endpoint: str,
    status_url: str,
    auth: str,
    timeout: float,
    interval: float,
    reporter: _Reporter,
    connection: Connection,
) -> bool:
    """Follow the shutdown until the server is gone. Returns ``False`` if
    it was still up after ``timeout``.

    Status reads wait on the server for the next phase, so none is
    missed. On a server with several workers, consecutive reads may come
    from different ones: only reports of this shutdown count, and the
    furthest phase seen is kept.
    """
    label = follow.label
    deadline = time.monotonic() + timeout
    shown = ""
    poll_status = True
    # The first read shows where the drain stands at once.
    first = True

    while True:
        remaining = deadline - time.monotonic()

        if remaining <= 0:
            return False

        advanced = False

        if poll_status:
            phase = follow.phase or Phase.DRAINING.value
            # Once stopping, the server is going away: do not hold one of
            # its threads, which its stop may wait for.
            long_poll = _RANK.get(phase, 0) < _RANK[Phase.STOPPING.value]
            wait = min(remaining, _FOLLOW_WAIT) if long_poll and not first else 0
            first = False
            query = urllib.parse.urlencode({"wait": f"{wait:.2f}", "since": phase})

            try:
                st = request(
                    "GET",
                    f"{status_url}?{query}",
                    auth,
                    timeout=min(remaining, wait + 5),
                    connection=connection,
                )
            except Unreachable as e:
                if e.refused:
                    return True

                # The server closed the connection as it stopped; the
                # next attempt tells whether the port is closed.
                st = None

            if st is not None and st.status == 200 and st.body is not None:
                advanced = _merge(follow, st.body, reporter)

                if follow.report is not None and "in_flight" in follow.report:
                    text = _summarize(follow.report)

                    if text != shown:
                        reporter.progress(label, text)
                        shown = text

                if follow.phase == Phase.STOPPED.value:
                    # Stopped in the app; for a process-level server that
                    # means "told to stop": wait for the port.
                    poll_status = False
            elif st is not None:
                # Status refused (a token scoped to "shutdown" only), or
                # not served: watch the port instead.
                reporter.progress(label, "waiting for the port to close")
                poll_status = False

        if not poll_status and not port_open(endpoint, min(remaining, 1.0)):
            return True

        if not advanced:
            time.sleep(min(interval, max(deadline - time.monotonic(), 0)))


def _merge(follow: _Follow, report: dict[str, t.Any], reporter: _Reporter) -> bool:
    """Take in a status report. Returns whether it moved the shutdown on
    to a later phase.
    """
    rid = report.get("shutdown_id")
    worker = _clean(report.get("pid", "?"), 20)

    if rid != follow.shutdown_id:
        # Another worker of the same server, which has not heard of this
        # shutdown (or has one of its own): never let it undo what was seen.
        if worker not in follow.strangers:
            follow.strangers.add(worker)
            other = "no shutdown" if rid is None else f"shutdown {_clean(rid, 64)}"
            reporter.line(
                follow.label,
                f"pid {worker} answered the status read with {other}; ignored",
            )

        return False

    before = _RANK.get(str(follow.phase), -1)
    now = _RANK.get(str(report.get("phase")), -1)

    if now < before:
        return False

    follow.report = report

    if before <= _RANK[Phase.DRAINING.value] < now:
        reporter.line(follow.label, _drain_line(report))

    if now >= _RANK[Phase.STOPPING.value] > before:
        for hook in _hooks(report):
            reporter.line(follow.label, _hook_line(hook))

    return now > before


def _report_outcome(
    follow: _Follow, ignore_failures: bool, reporter: _Reporter
) -> None:
    report = follow.report or {}
    code = _exit_code(report)
    follow.result = "stopped"

    if code is None:
        follow.message = (
            "the server went away before a report of its hooks was read (or"
            " other workers answered); its log has the outcome"
        )
        reporter.line(follow.label, f"stopped; outcome unknown: {follow.message}")
        return

    follow.message = f"exit code {code} ({_code_name(code)})"

    if report.get("exit_code_carried") is False:
        server = _clean(report.get("server") or "the server", 40)
        follow.message += f"; {server} does not pass it on as its process exit code"

    reporter.line(follow.label, f"stopped, {follow.message}")

    if code != 0 and not ignore_failures:
        follow.code = CliExit.UNCLEAN


_TOKEN_OPTION = click.option(
    "--token",
    "-t",
    envvar=TOKEN_ENV,
    show_envvar=True,
    help="A bearer token (static or signed).",
)
_USER_OPTION = click.option(
    "--user",
    "-u",
    envvar=USER_ENV,
    show_envvar=True,
    help=f"A SHUTDOWN_USERS user. The password comes from {PASSWORD_ENV},"
    " or is prompted for.",
)
_ALLOW_HTTP_OPTION = click.option(
    "--allow-http",
    is_flag=True,
    help="Send credentials over plain http:// to a host other than this"
    " machine. Only on a network you trust.",
)


_TIMEOUT_OPTION = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for each server to stop.",
)
_IGNORE_FAILURES_OPTION = click.option(
    "--ignore-failures",
    is_flag=True,
    help="Exit 0 when the servers stopped even if a hook failed or a drain"
    " timed out (they are still printed).",
)
_JSON_DOCUMENTS_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document per server."
)


@shutdown_command.command("send", with_appcontext=False)
@click.argument("urls", metavar="URL...", nargs=-1, required=True)
@_TOKEN_OPTION
@_USER_OPTION
@click.option("--reason", default="", help="Recorded and logged by the server.")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Follow each shutdown until the server is gone.",
)
@_TIMEOUT_OPTION
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=0.2,
    show_default=True,
    metavar="SECONDS",
    help="How long to pause between status reads that brought nothing new.",
)
@click.option(
    "--parallel",
    is_flag=True,
    help="Stop every server at once instead of one after the other.",
)
@_IGNORE_FAILURES_OPTION
@_JSON_DOCUMENTS_OPTION
@_ALLOW_HTTP_OPTION
def send_command(
    urls: tuple[str, ...],
    token: str | None,
    user: str | None,
    reason: str,
    wait: bool,
    timeout: float,
    interval: float,
    parallel: bool,
    ignore_failures: bool,
    as_json: bool,
    allow_http: bool,
) -> None:
    """Ask each server at URL to shut down, and follow it until it is gone.

    URL is a base URL such as http://127.0.0.1:5000 (then /shutdown is
    used), or the full shutdown endpoint URL when SHUTDOWN_PATH differs or
    the app is mounted under a prefix.

    Servers are stopped one after the other, each waiting for the previous
    one to be gone; the first failure skips the rest. With --parallel they
    are all asked at once.

    Exit codes: 0 stopped, 1 unexpected answer, 3 refused (401, 403, 429),
    4 unreachable, 5 timed out, 6 stopped but a hook failed or the drain
    timed out. With several URLs, the highest code wins.
    """
    _reject_old_env()

    for url in urls:
        _check_url(url, allow_http)

    auth = _auth_header(token, user)
    reporter = _Reporter(live=_stdout_is_tty() and not parallel, as_json=as_json)

    def run(url: str) -> _Follow:
        follow = _send_one(
            url, auth, reason, wait, timeout, interval, ignore_failures, reporter
        )
        reporter.document(follow.document())
        return follow

    codes: list[CliExit] = []

    if parallel:
        results: dict[str, CliExit] = {}

        def target(url: str) -> None:
            results[url] = run(url).code

        threads = [threading.Thread(target=target, args=(u,)) for u in urls]

        for thread in threads:
            thread.start()

        for thread in threads:
            thread.join()

        codes = [results[u] for u in urls]
    else:
        for i, url in enumerate(urls):
            code = run(url).code
            codes.append(code)

            if code != CliExit.OK:
                for skipped in urls[i + 1 :]:
                    reporter.line(skipped, "skipped", err=True)
                    reporter.document(
                        _Follow(
                            skipped, code, "skipped", "an earlier one failed"
                        ).document()
                    )

                break

    sys.exit(int(max(codes)))


# -- list and stop: local servers found through their runtime files ----------


def _local_servers() -> list[dict[str, t.Any]]:
    try:
        return runtime.read_all()
    except OSError as e:
        raise click.ClickException(_clean(e)) from None


@shutdown_command.command("list", with_appcontext=False)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the servers as JSON, tokens aside."
)
def list_command(as_json: bool) -> None:
    """List the local servers that 'flask shutdown stop' can stop.

    They are found through the runtime files that serve() and ServerThread
    write while they run (SHUTDOWN_RUNTIME_FILE), in this user's runtime
    directory; files of servers that have gone are removed.
    """
    servers = _local_servers()
    public = [{k: v for k, v in s.items() if k != "token"} for s in servers]

    if as_json:
        click.echo(json.dumps(public, indent=2))
        return

    if not servers:
        click.echo("No local server runs.")
        return

    rows = [("PID", "URL", "APP", "STARTED")]
    rows += [
        (
            str(s.get("pid")),
            _clean(s.get("url")) + _clean(s.get("path")),
            _clean(s.get("name")),
            _clean(s.get("started"))[:19].replace("T", " "),
        )
        for s in servers
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]

    for row in rows:
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
            + "  "
            + row[3]
        )


@shutdown_command.command("stop", with_appcontext=False)
@click.argument("which", metavar="[PORT|APP|URL]", required=False)
@click.option("--all", "stop_all", is_flag=True, help="Stop every local server.")
@click.option("--reason", default="flask shutdown stop", help="Recorded by the server.")
@_TIMEOUT_OPTION
@_IGNORE_FAILURES_OPTION
@_JSON_DOCUMENTS_OPTION
def stop_command(
    which: str | None,
    stop_all: bool,
    reason: str,
    timeout: float,
    ignore_failures: bool,
    as_json: bool,
) -> None:
    """Stop local servers gracefully, with no URL or token typed.

    Name the server by its port, its app's import name or its URL, or
    stop them all with --all; with a single server running, no name is
    needed. Each one is stopped and followed as 'send' does, with the token
    its runtime file holds, and the exit codes are those of 'send'.
    """
    servers = _local_servers()

    if stop_all:
        chosen = servers
    elif which is None:
        if len(servers) != 1:
            raise UsageProblem(
                f"{len(servers)} local servers run; name one (its port, app or"
                " URL, see 'flask shutdown list') or pass --all."
            )

        chosen = servers
    else:
        chosen = [
            s
            for s in servers
            if which in (str(s.get("url", "")).rsplit(":", 1)[-1], s.get("name"))
            or str(s.get("url", "")).rstrip("/") == which.rstrip("/")
        ]

    if not chosen:
        raise UsageProblem(
            "No local server matches"
            + (f" {_clean(which)!r}" if which else "")
            + "; 'flask shutdown list' shows them."
        )

    reporter = _Reporter(live=_stdout_is_tty(), as_json=as_json)
    codes = []

    for server in chosen:
        url = str(server["url"]) + str(server["path"])
        follow = _send_one(
            url,
            f"Bearer {server['token']}",
            reason,
            True,
            timeout,
            0.2,
            ignore_failures,
            reporter,
        )
        reporter.document(follow.document())
        codes.append(follow.code)

    sys.exit(int(max(codes)))


# -- status ------------------------------------------------------------------


@shutdown_command.command("status", with_appcontext=False)
@click.argument("url")
@_TOKEN_OPTION
@_USER_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON report.")
@click.option(
    "--fleet",
    is_flag=True,
    help="List the last shutdown of every instance that shares the server's"
    " store (SHUTDOWN_FLEET_STATUS).",
)
@_ALLOW_HTTP_OPTION
def status_command(
    url: str,
    token: str | None,
    user: str | None,
    as_json: bool,
    fleet: bool,
    allow_http: bool,
) -> None:
    """Print the shutdown status report of the server at URL.

    URL is a base URL, the shutdown endpoint URL, or its /status URL.
    Exit codes are those of 'send'.
    """
    _reject_old_env()
    _check_url(url, allow_http)
    _, status_url = _endpoints(url)
    auth = _auth_header(token, user)

    if fleet:
        status_url += "?fleet=1"

    try:
        rv = request("GET", status_url, auth)
    except Unreachable as e:
        click.echo(f"{url}: unreachable: {_clean(e)}", err=True)
        sys.exit(CliExit.UNREACHABLE)

    if rv.status != 200 or rv.body is None:
        code = _refusal_code(rv)
        click.echo(f"{url}: {_failure_word(code)}: {_describe_error(rv)}", err=True)
        sys.exit(code)

    if as_json:
        click.echo(json.dumps(rv.body, indent=2, sort_keys=True))
        return

    if fleet:
        for line in _format_fleet(rv.body):
            click.echo(line)

        return

    for line in _format_status(rv.body):
        click.echo(line)


def _format_fleet(report: dict[str, t.Any]) -> cabc.Iterator[str]:
    """One line per instance of ``GET /shutdown/status?fleet=1``: its
    name, phase, shutdown id, exit code and reason.
    """
    instances = report.get("instances")

    if not isinstance(instances, list) or not instances:
        yield "no instance has published a shutdown"
        return

    for item in instances:
        if not isinstance(item, dict):
            continue

        fields = ("instance", "phase", "shutdown_id", "exit_code", "reason")
        values = ["-" if item.get(k) is None else _clean(item[k]) for k in fields]
        yield "  ".join(values)


#: The keys ``status`` prints first, in this order; the others follow.
_LEADING_KEYS = ("phase", "in_flight", "hooks", "pid")


def _format_status(report: dict[str, t.Any]) -> cabc.Iterator[str]:
    """The lines ``flask shutdown status`` prints: the phase, the requests
    in flight and the hooks first, then the rest of the report.
    """
    keys = [k for k in _LEADING_KEYS if k in report]
    keys += [k for k in report if k not in _LEADING_KEYS]

    for key in keys:
        value = report[key]
        name = _clean(key, 40)

        if key == "hooks" and isinstance(value, list):
            yield f"hooks: {len(value)}"

            for hook in value:
                if isinstance(hook, dict):
                    yield "  " + _hook_line(hook).removeprefix("hook ")
        elif key == "exit_code" and value is None:
            yield "exit_code: - (not stopped)"
        elif isinstance(value, list):
            yield f"{name}: {', '.join(_clean(v) for v in value) or '-'}"
        else:
            yield f"{name}: {'-' if value is None else _clean(value)}"
