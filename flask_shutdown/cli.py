"""The ``flask shutdown`` command group, registered with Flask through the
``flask.commands`` entry point.

``token`` needs the app (it signs with the app's ``SECRET_KEY``). The other
commands do not load the app at all, so ``flask shutdown send URL`` works
from any directory, with no ``--app`` and no ``FLASK_APP``.

The HTTP client is :mod:`urllib.request`, so the commands need nothing
beyond the package's own dependencies.
"""

from __future__ import annotations

import base64
import collections.abc as cabc
import enum
import json
import os
import sys
import threading
import time
import typing as t
import urllib.error
import urllib.parse
import urllib.request

import click
from flask import current_app
from flask.cli import AppGroup

from .client import port_open
from .client import request
from .client import Response
from .client import Unreachable

#: The environment variables the commands read credentials from, so that
#: secrets stay out of shell history and process listings.
TOKEN_ENV = "FLASK_SHUTDOWN_TOKEN"
USER_ENV = "FLASK_SHUTDOWN_USER"
PASSWORD_ENV = "FLASK_SHUTDOWN_PASSWORD"

#: The endpoint path appended to a base URL (the ``SHUTDOWN_PATH`` default).
DEFAULT_PATH = "/shutdown"


class CliExit(enum.IntEnum):
    """The exit codes of ``flask shutdown send`` and ``flask shutdown
    status``. Click itself exits with ``2`` for a usage error.
    """

    #: ``send``: every server stopped. ``status``: the report was printed.
    OK = 0
    #: The server answered something unexpected: a 404 (wrong URL, or no
    #: credential configured on the server), a 5xx, or a body that is not
    #: the expected JSON.
    FAILED = 1
    #: The server refused the credentials: 401, 403 or 429.
    REFUSED = 3
    #: Nothing answered at the URL (connection refused, unknown host, or
    #: the request timed out).
    UNREACHABLE = 4
    #: ``send --wait``: the server was still up when ``--timeout`` passed.
    TIMED_OUT = 5


_REFUSED_STATUSES = frozenset({401, 403, 429})


shutdown_command = AppGroup(
    "shutdown",
    help="Create shutdown tokens and password hashes, and stop servers.",
)


# -- token -------------------------------------------------------------------


@shutdown_command.command("token")
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
    state = current_app.extensions.get("shutdown")

    if state is None:
        raise click.ClickException(
            f"Flask-Shutdown is not registered on the app {current_app.name!r}."
            " Call 'Shutdown(app)' or 'shutdown.init_app(app)' in the app"
            " factory."
        )

    if state.signer is None:
        raise click.ClickException(
            "Signed shutdown tokens are off for this app. Set"
            " SHUTDOWN_SIGNED_TOKENS = True and a strong SECRET_KEY in the app's"
            " config."
        )

    click.echo(state.extension.create_token(expires, scope=scope or None))


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

    click.echo(generate_password_hash(password))


# -- URLs and credentials ----------------------------------------------------


def _endpoints(url: str) -> tuple[str, str]:
    """The shutdown and status URLs for a URL given on the command line: a
    base URL (no path) gets ``/shutdown``; any other URL is the shutdown
    endpoint itself, or its status URL.
    """
    if "://" not in url:
        raise click.BadParameter(
            f"{url!r} is not a URL. Give one such as http://127.0.0.1:5000.",
            param_hint="URL",
        )

    parts = urllib.parse.urlsplit(url)

    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(
            f"{url!r} is not an http or https URL.", param_hint="URL"
        )

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
            raise click.UsageError(
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

    raise click.UsageError(
        f"Pass --token or --user, or set {TOKEN_ENV} or {USER_ENV} and {PASSWORD_ENV}."
    )


def _describe_error(rv: Response) -> str:
    if rv.body is not None and "message" in rv.body:
        return f"HTTP {rv.status}: {rv.body['message']}"

    return f"HTTP {rv.status}: {rv.text.strip()[:200] or 'empty body'}"


def _refusal_code(rv: Response) -> CliExit:
    return CliExit.REFUSED if rv.status in _REFUSED_STATUSES else CliExit.FAILED


def _failure_word(code: CliExit) -> str:
    return "refused" if code == CliExit.REFUSED else "failed"


# -- send --------------------------------------------------------------------


def _stdout_is_tty() -> bool:
    return click.get_text_stream("stdout").isatty()


class _Reporter:
    """Prints progress: one line rewritten in place on a terminal, plain
    lines (one per change) otherwise or when several servers stop at once.
    """

    def __init__(self, live: bool) -> None:
        self.live = live
        self._lock = threading.Lock()
        self._pending = False

    def progress(self, label: str, text: str) -> None:
        with self._lock:
            if self.live:
                click.echo(f"\r\x1b[K{label}: {text}", nl=False)
                self._pending = True
            else:
                click.echo(f"{label}: {text}")

    def line(self, label: str, text: str, err: bool = False) -> None:
        with self._lock:
            if self._pending:
                click.echo("\r\x1b[K", nl=False)
                self._pending = False

            click.echo(f"{label}: {text}", err=err)


def _hooks_summary(status: dict[str, t.Any]) -> str:
    hooks = status.get("hooks") or []
    failed = sum(1 for h in hooks if h.get("status") != "ok")
    text = f"{len(hooks)} hook(s) run"

    if failed:
        text += f", {failed} failed"

    return text


def _summarize(status: dict[str, t.Any]) -> str:
    phase = status.get("phase", "?")
    return (
        f"{phase}, {status.get('in_flight', '?')} in flight, {_hooks_summary(status)}"
    )


def _send_one(
    url: str,
    auth: str,
    reason: str,
    wait: bool,
    timeout: float,
    interval: float,
    reporter: _Reporter,
) -> CliExit:
    endpoint, status_url = _endpoints(url)
    label = url
    data = {"reason": reason} if reason else None

    try:
        rv = request("POST", endpoint, auth, data)
    except Unreachable as e:
        reporter.line(label, f"unreachable: {e}", err=True)
        return CliExit.UNREACHABLE

    if rv.status != 202 or rv.body is None:
        code = _refusal_code(rv)
        reporter.line(label, f"{_failure_word(code)}: {_describe_error(rv)}", err=True)
        return code

    reporter.line(
        label,
        f"shutdown {rv.body.get('shutdown_id')} accepted ({rv.body.get('phase')})",
    )

    if not wait:
        return CliExit.OK

    deadline = time.monotonic() + timeout
    last: dict[str, t.Any] | None = None
    shown = ""
    poll_status = True

    while True:
        remaining = deadline - time.monotonic()

        if remaining <= 0:
            phase = "unknown" if last is None else last.get("phase")
            reporter.line(
                label,
                f"timed out after {timeout:g} s; still up (last phase: {phase})",
                err=True,
            )
            return CliExit.TIMED_OUT

        if poll_status:
            try:
                st = request("GET", status_url, auth, timeout=min(remaining, 5.0))
            except Unreachable as e:
                if e.refused:
                    break

                # The server closed the connection as it stopped; the
                # next attempt tells whether the port is closed.
                st = None

            if st is not None:
                if st.status == 200 and st.body is not None:
                    last = st.body
                    text = _summarize(last)

                    if text != shown:
                        reporter.progress(label, text)
                        shown = text

                    if last.get("phase") == "stopped":
                        # Stopped in the app; for a process-level server
                        # that means "told to stop": wait for the port.
                        poll_status = False
                else:
                    # Status refused (a token scoped to "shutdown" only):
                    # watch the port instead.
                    reporter.progress(label, "waiting for the port to close")
                    poll_status = False

        if not poll_status and not port_open(endpoint, min(remaining, 1.0)):
            break

        time.sleep(min(interval, max(deadline - time.monotonic(), 0)))

    text = "stopped"

    # The hook results and the exit code are known only if the report of
    # the stopped phase was read before the port closed.
    if last is not None and last.get("phase") == "stopped":
        text += f" ({_hooks_summary(last)}, exit code {last.get('exit_code')})"

    reporter.line(label, text)
    return CliExit.OK


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
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for each server to stop.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=0.2,
    show_default=True,
    metavar="SECONDS",
    help="How often to poll the status.",
)
@click.option(
    "--parallel",
    is_flag=True,
    help="Stop every server at once instead of one after the other.",
)
def send_command(
    urls: tuple[str, ...],
    token: str | None,
    user: str | None,
    reason: str,
    wait: bool,
    timeout: float,
    interval: float,
    parallel: bool,
) -> None:
    """Ask each server at URL to shut down, and follow it until it is gone.

    URL is a base URL such as http://127.0.0.1:5000 (then /shutdown is
    used), or the full shutdown endpoint URL when SHUTDOWN_PATH differs or
    the app is mounted under a prefix.

    Servers are stopped one after the other, each waiting for the previous
    one to be gone; the first failure skips the rest. With --parallel they
    are all asked at once.

    Exit codes: 0 stopped, 1 unexpected answer, 3 refused (401, 403, 429),
    4 unreachable, 5 timed out. With several URLs, the highest code wins.
    """
    for url in urls:
        _endpoints(url)

    auth = _auth_header(token, user)
    reporter = _Reporter(live=_stdout_is_tty() and not parallel)

    def run(url: str) -> CliExit:
        return _send_one(url, auth, reason, wait, timeout, interval, reporter)

    codes: list[CliExit] = []

    if parallel:
        results: dict[str, CliExit] = {}

        def target(url: str) -> None:
            results[url] = run(url)

        threads = [threading.Thread(target=target, args=(u,)) for u in urls]

        for thread in threads:
            thread.start()

        for thread in threads:
            thread.join()

        codes = [results[u] for u in urls]
    else:
        for i, url in enumerate(urls):
            code = run(url)
            codes.append(code)

            if code != CliExit.OK:
                for skipped in urls[i + 1 :]:
                    reporter.line(skipped, "skipped", err=True)

                break

    sys.exit(int(max(codes)))


# -- status ------------------------------------------------------------------


@shutdown_command.command("status", with_appcontext=False)
@click.argument("url")
@_TOKEN_OPTION
@_USER_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON report.")
def status_command(
    url: str, token: str | None, user: str | None, as_json: bool
) -> None:
    """Print the shutdown status report of the server at URL.

    URL is a base URL, the shutdown endpoint URL, or its /status URL.
    Exit codes are those of 'send'.
    """
    _, status_url = _endpoints(url)
    auth = _auth_header(token, user)

    try:
        rv = request("GET", status_url, auth)
    except Unreachable as e:
        click.echo(f"{url}: unreachable: {e}", err=True)
        sys.exit(CliExit.UNREACHABLE)

    if rv.status != 200 or rv.body is None:
        code = _refusal_code(rv)
        click.echo(f"{url}: {_failure_word(code)}: {_describe_error(rv)}", err=True)
        sys.exit(code)

    if as_json:
        click.echo(json.dumps(rv.body, indent=2, sort_keys=True))
        return

    for line in _format_status(rv.body):
        click.echo(line)


def _format_status(report: dict[str, t.Any]) -> cabc.Iterator[str]:
    for key, value in report.items():
        if key == "hooks":
            yield f"hooks: {len(value)}"

            for hook in value:
                error = hook.get("error")
                text = f"  {hook.get('name', '?')}: {hook.get('status', '?')}"

                if error:
                    text += f" ({error})"

                yield text
        elif isinstance(value, list):
            yield f"{key}: {', '.join(str(v) for v in value) or '-'}"
        else:
            yield f"{key}: {'-' if value is None else value}"
