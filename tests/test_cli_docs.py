"""Every command in docs/cli.rst, run for real: the console blocks are
replayed as one shell session against live servers, and the output lines
they show (other than those with "...") must appear.
"""

from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import FlaskGroup
from flask.cli import ScriptInfo

from flask_shutdown import ServerThread
from flask_shutdown.cli import CliExit

from ._proc import ROOT
from .conftest import AppFactory
from .conftest import PASSWORD
from .conftest import SECRET_KEY

DOC = ROOT / "docs" / "cli.rst"
URL = re.compile(r"http://127\.0\.0\.1:50\d\d")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOKEN", "USER", "PASSWORD"):
        monkeypatch.delenv(f"SHUTDOWNCTL_{name}", raising=False)
        monkeypatch.delenv(f"FLASK_SHUTDOWN_{name}", raising=False)

    # FlaskGroup sets this in os.environ, where it would turn app.run()
    # into a no-op in every server process started by later tests. Set
    # it here so that monkeypatch removes it again.
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "false")


def blocks(kind: str) -> list[list[str]]:
    """The dedented lines of each ``.. code-block:: kind`` in the page."""
    rv = []
    lines = DOC.read_text().splitlines()

    for i, line in enumerate(lines):
        if line.strip() == f".. code-block:: {kind}":
            block = []

            for body in lines[i + 2 :]:
                if body and not body.startswith("    "):
                    break

                block.append(body[4:])

            rv.append([b for b in block if b.strip()])

    return rv


def commands() -> list[tuple[str, list[str]]]:
    """Each ``$ `` line with the output lines shown after it."""
    rv: list[tuple[str, list[str]]] = []

    for block in blocks("console"):
        for line in block:
            if line.startswith("$ "):
                rv.append((line[2:], []))
            else:
                rv[-1][1].append(line)

    return rv


def test_the_page_has_commands() -> None:
    assert len(commands()) >= 7


def test_console_blocks(make_app: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from flask_shutdown import cli

    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: True)
    started: list[ServerThread] = []

    def new_app() -> Flask:
        app, shutdown = make_app(SECRET_KEY=SECRET_KEY, SHUTDOWN_SIGNED_TOKENS=True)

        def close_db() -> None:
            pass

        def flush_cache() -> None:
            # The page's example of a failing hook gives this reason.
            if shutdown.status(app)["reason"] == "cache is down":
                raise ConnectionError("cache server is gone")

        for hook in (close_db, flush_cache):
            hook.__qualname__ = hook.__name__
            shutdown.teardown(hook)

        return app

    group = FlaskGroup(create_app=new_app)
    env: dict[str, str] = {}
    # The exit code of the last command, which "echo $?" shows; any other
    # command must exit 0.
    last = [0]

    def run(command: str) -> str:
        if command == "echo $?":
            # int(): the code may be a CliExit, which str() spells by name
            # before Python 3.11.
            return str(int(last[0]))

        args = shlex.split(command)
        assert args[:2] == ["flask", "shutdown"], f"Not replayable: {command!r}"
        urls: dict[str, str] = {}

        def live(match: re.Match[str]) -> str:
            if match.group() not in urls:
                server = ServerThread(new_app())
                server.start()
                started.append(server)
                urls[match.group()] = server.url

            return urls[match.group()]

        args = [URL.sub(live, a) for a in args[1:]]
        result = CliRunner().invoke(
            group,
            args,
            env=env,
            input=f"{PASSWORD}\n{PASSWORD}\n",
            obj=ScriptInfo(create_app=new_app),
        )
        last[0] = result.exit_code
        output = result.output

        for doc_url, real_url in urls.items():
            output = output.replace(real_url, doc_url)

        return output

    try:
        listed = commands()

        for i, (command, shown) in enumerate(listed):
            export = re.fullmatch(r'export (\w+)="\$\((.*)\)"', command)

            if export:
                env[export.group(1)] = run(export.group(2)).strip()
                continue

            output = [line.strip() for line in run(command).splitlines()]

            for line in shown:
                if "..." not in line:
                    assert line.strip() in output, (command, line, output)

            # A command that fails on the page is followed by "echo $?".
            if command != "echo $?" and last[0] != 0:
                following = listed[i + 1][0] if i + 1 < len(listed) else None
                assert following == "echo $?", (command, last[0], output)
    finally:
        for server in started:
            server.stop_serving()
            server.join(5)


def test_command_table_matches() -> None:
    """The table of commands lists every command with the summary its
    ``--help`` shows, in full (the help's listing cuts long ones short).
    """
    from flask_shutdown.cli import shutdown_command

    rows = re.findall(
        r"^ +\*   - :ref:`flask shutdown ([\w-]+) <cli-\1>`\n +- (.+)$",
        DOC.read_text(),
        re.M,
    )
    real = {
        name: command.get_short_help_str(limit=1000)
        for name, command in shutdown_command.commands.items()
    }
    assert dict(rows) == real


def test_exit_code_table() -> None:
    rows = re.findall(r"^``(\d)`` ``(\w+)``", DOC.read_text(), re.M)
    assert {name: int(code) for code, name in rows} == {e.name: int(e) for e in CliExit}


def test_env_vars_documented() -> None:
    from flask_shutdown import cli

    text = DOC.read_text()

    for name in (cli.TOKEN_ENV, cli.USER_ENV, cli.PASSWORD_ENV):
        assert f"``{name}``" in text


def test_options_documented() -> None:
    from flask_shutdown.cli import shutdown_command

    text = DOC.read_text()

    for command in shutdown_command.commands.values():
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert f"``{opt}" in text, (command.name, opt)

            for opt in getattr(param, "secondary_opts", []):
                assert f"``{opt}``" in text, (command.name, opt)
