"""The version matrix: the supported Pythons and the tested Flask lines.

    nox -l                                  list the cells
    nox -s "tests(3.10, flask-2.2)"         run one cell
    nox -p 3.10                             every cell on Python 3.10
    nox -t full                             the cells with the full suite
    nox -s "tests(3.12, flask-3.1)" -- -x   extra arguments go to pytest
    scripts/test.sh --matrix                the main suite, then every cell
                                            (what CI runs, with CI=true)

A cell is a Python (found on PATH or under pyenv; a missing one fails the
run, nothing is downloaded) and a Flask line: a set of exact pins in
requirements/flask-LINE.txt.

-   flask-min: every dependency at its lower bound in pyproject.toml (this
    file checks that the two agree) and Flask's own at Flask 3.0.0's.
-   flask-3.0, flask-3.1: newer sets inside the metadata; the package is
    installed with its dependencies in the same resolution as the pins,
    and ``pip check`` must pass.
-   flask-2.0, flask-2.2, flask-2.3: below the metadata floor (pip would
    pair them with a Werkzeug they cannot use); installed with their pins
    and the package with ``--no-deps``, as docs/installation.rst tells
    users to.

The cells (CELLS) are two axes, not the full product of Pythons and
lines, which does not fit CI's time: every Python with the newest line,
and every line on the oldest Python. What changes with the Python
(threads at interpreter exit, signals, the standard library) shows with
any Flask; what changes with Flask, Werkzeug and Click shows on any
Python. The main run of scripts/test.sh (.venv: Python 3.11 and the
newest line, the full suite with coverage) is the third Python of the
first axis and is not repeated here.

What a cell runs (see ``selection``):

-   "full", on the newest Python with the newest line and on the oldest
    Python with flask-min: every test file but MAIN_ONLY, so gunicorn,
    waitress and uWSGI run on Python 3.10 and 3.13 (and 3.11 in the main
    run). From Python 3.12 on, gunicorn and uWSGI workers run the hooks
    at interpreter exit, where new threads are refused: the inline
    fallback in flask_shutdown/hooks.py runs there.
-   "core", every other cell: the tests whose behaviour depends on the
    Python, Flask, Werkzeug or Click version: the extension,
    authentication and tokens, the security checks, draining, hooks, the
    sequence, readiness, ServerThread, ``flask run`` and ``app.run()``,
    ``serve()``, the test client and the pytest plugin, and the ``flask
    shutdown`` commands in process and through a real ``flask``
    executable. Not the production servers' files (PRODUCTION_SERVERS),
    nor their tests in the shared files (SERVER_TESTS), nor FULL_ONLY.
-   the flask-2.0 cell also runs the legacy ``werkzeug.server.shutdown``
    hook (test_legacy.py), served by the cell's own interpreter.
-   DESELECT leaves out, for one line only and with the reason, the tests
    of behaviour that line's Flask or Werkzeug does not have; each is
    listed under "Known differences" in docs/installation.rst.

Environments are kept in .nox/ and reused: a cell reinstalls only when its
requirements or pyproject.toml change (pip's cache makes that quick, uWSGI
included, once built for a Python).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from pathlib import Path

import nox

nox.needs_version = ">=2025.5.1"
nox.options.default_venv_backend = "virtualenv"
# A missing interpreter fails the run; it is never skipped, nor downloaded.
nox.options.error_on_missing_interpreters = True
nox.options.download_python = "never"
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = ROOT / "requirements"

#: The supported Pythons, oldest first; requires-python in pyproject.toml
#: must name the first. Python 3.14 is not installed where CI runs.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
OLDEST_PYTHON, NEWEST_PYTHON = PYTHONS[0], PYTHONS[-1]
#: The interpreter of the main run (.venv, built with python3).
MAIN_PYTHON = "3.11"

#: requirements/flask-LINE.txt, oldest first.
LINES = ["2.0", "2.2", "2.3", "min", "3.0", "3.1"]
NEWEST_LINE = "3.1"
#: Lines below the metadata floor: pins first, then the package --no-deps.
BELOW_FLOOR = {"2.0", "2.2", "2.3"}
#: The line with Werkzeug's legacy hook.
LEGACY_LINE = "2.0"

#: The cells: two axes, not the full product (which does not fit CI's
#: time). What changes with the Python is tested with the newest Flask;
#: what changes with Flask and Werkzeug, on the oldest Python. "full" is
#: the whole suite with the real servers; "core" is ``selection``'s.
CELLS: list[tuple[str, str, str]] = [
    # Every Python with the newest line (3.11 is the main run).
    (OLDEST_PYTHON, NEWEST_LINE, "core"),
    ("3.12", NEWEST_LINE, "core"),
    (NEWEST_PYTHON, NEWEST_LINE, "full"),
    # Every line on the oldest Python.
    (OLDEST_PYTHON, "min", "full"),
    (OLDEST_PYTHON, "3.0", "core"),
    (OLDEST_PYTHON, "2.3", "core"),
    (OLDEST_PYTHON, "2.2", "core"),
    (OLDEST_PYTHON, LEGACY_LINE, "core"),
]

#: The test files of gunicorn, waitress and uWSGI: full cells only.
PRODUCTION_SERVERS = [
    "test_server_gunicorn.py",
    "test_server_waitress.py",
    "test_server_waitress_sigterm.py",
    "test_server_uwsgi.py",
    "test_server_uwsgi_sigterm.py",
    "test_lockout_shared.py",
]
#: The tests in core files that start gunicorn, waitress or uWSGI, next
#: to the same test on Werkzeug's server (which core cells do run):
#: deselected in core cells, which do not install those servers.
SERVER_TESTS = [
    "tests/test_legacy_shim.py::test_seed_view_on_real_servers[gunicorn]",
    "tests/test_outcomes.py::test_failing_hook[waitress]",
    "tests/test_outcomes.py::test_failing_hook[gunicorn-gthread-2]",
    "tests/test_outcomes.py::test_failing_hook[gunicorn-gthread-1]",
    "tests/test_outcomes.py::test_drain_timeout[waitress]",
    "tests/test_outcomes.py::test_drain_timeout[gunicorn-gthread-1]",
    "tests/test_outcomes.py::test_clean_stop[waitress]",
    "tests/test_outcomes.py::test_gunicorn_two_sync_workers",
    "tests/test_security_framing.py::test_broken_framing_on_every_server[gunicorn]",
    "tests/test_security_framing.py::test_broken_framing_on_every_server[waitress]",
    "tests/test_security_framing.py::test_broken_framing_on_every_server[uWSGI]",
    "tests/test_shared_state.py::test_gunicorn_workers_share_one_state",
    "tests/test_shared_state.py::test_uwsgi_workers_share_one_state",
    "tests/test_shared_state.py::test_one_signed_token_stops_once_across_workers",
    "tests/test_urls.py::test_gunicorn_script_name",
]
LEGACY = ["test_legacy.py"]
FULL_ONLY = [
    "test_fuzz.py",
    "test_cli_send.py",
    "test_cli_docs.py",
    "test_docs.py",
    "test_examples.py",
    "test_kubernetes_example.py",
    "test_fleet_nginx.py",
    "test_security_host.py",
    "test_storage_redis.py",
    "test_metrics.py",
    "test_callbacks.py",
    "test_deploy_examples.py",
]
#: The docs seen in a browser, their links, diagrams and charts, and the
#: browser mode in Chromium: nothing there depends on the Python or Flask
#: version, and they need tools only the main environment has (Sphinx,
#: matplotlib, selenium). The main run of scripts/test.sh runs them.
MAIN_ONLY = [
    "test_docs_browser.py",
    "test_docs_site.py",
    "test_docs_diagrams.py",
    "test_charts.py",
    "test_browser_mode.py",
]

#: Tests that need what only the main environment has: deselected in
#: every cell, with the reason.
MAIN_ONLY_TESTS = [
    (
        "tests/test_docs.py::test_included_python_is_complete",
        "it reads the docs' literalinclude directives with Sphinx, which only"
        " the main environment installs; nothing there depends on the version",
    ),
]

#: Warnings that Flask and Werkzeug 2.0 and 2.2 raise on Python 3.12 and
#: later (pkgutil calls; the rule compiler's ast.Str), ignored in their
#: cells only: pytest turns every other warning into an error.
_OLD_ON_NEW_PYTHON = [
    "ignore:'pkgutil.get_loader' is deprecated:DeprecationWarning",
    "ignore:'pkgutil.find_loader' is deprecated:DeprecationWarning",
    "ignore:ast.Str is deprecated:DeprecationWarning",
    "ignore:Attribute s is deprecated:DeprecationWarning",
    "ignore:Constant.__init__:DeprecationWarning",
]
WARNING_FILTERS: dict[str, list[str]] = {
    "2.0": _OLD_ON_NEW_PYTHON,
    "2.2": _OLD_ON_NEW_PYTHON,
}

_MAX_CONTENT_LENGTH = (
    "tests/test_security_input.py::test_app_max_content_length_is_a_json_413",
    "before Werkzeug 2.3 the app's MAX_CONTENT_LENGTH applies to form data"
    " only, not to the body the endpoint reads (SHUTDOWN_MAX_BODY still"
    " bounds it)",
)

#: Tests of behaviour that a line's Flask or Werkzeug does not have, with
#: the reason; deselected in that line's cells only, and listed under
#: "Known differences" in docs/installation.rst.
DESELECT: dict[str, list[tuple[str, str]]] = {
    "2.0": [
        (
            "tests/test_server_flask_run.py",
            "'flask run' and 'app.run()' on Werkzeug >= 2.1 (the werkzeug"
            " adapter); before, they stop through the legacy hook, which"
            " test_legacy.py tests",
        ),
        (
            "tests/test_strategy.py::test_named_adapter_that_does_not_apply"
            "[werkzeug-legacy]",
            "on Werkzeug 2.0 the legacy hook is there, so that adapter applies",
        ),
        (
            "tests/test_endpoint.py::test_curl_bearer_token_stops_server",
            "Werkzeug 2.0 makes the Location header absolute",
        ),
        (
            "tests/test_server_thread.py::test_port_in_use_raises_oserror",
            "Werkzeug 2.0 raises its own OSError (Address already in use)"
            " instead of exiting, so the message is not the package's",
        ),
        (
            "tests/test_cli_subprocess.py",
            "Flask 2.0 loads plugin commands such as 'flask shutdown' only"
            " through pkg_resources, which refuses this package's (its"
            " declared dependencies are newer); the app adds the commands",
        ),
        (
            "tests/test_cli_token.py::test_token_through_flask_group",
            "the same: FlaskGroup of Flask 2.0 does not load the commands",
        ),
        (
            "tests/test_cli_local.py",
            "the same: 'flask shutdown list' and 'stop' run without an app,"
            " so on Flask 2.0 the command is not there",
        ),
        (
            "tests/test_outcomes.py",
            "the same: every test there asks through 'flask shutdown send'"
            " without an app",
        ),
        (
            "tests/test_cli_config.py::test_configuration_error_is_one_line[",
            "'flask --app' is an option from Flask 2.2 on (Flask 2.0 reads"
            " FLASK_APP only)",
        ),
        (
            "tests/test_cli_config.py::test_config_through_the_flask_executable",
            "the same: 'flask --app'",
        ),
        (
            "tests/test_legacy_shim.py::test_seed_view_on_real_servers[flask run]",
            "'flask --app', and 'flask run' on Werkzeug 2.0 stops through the"
            " legacy hook, which test_legacy.py tests",
        ),
        (
            "tests/test_security_framing.py::test_broken_framing_on_every_server"
            "[flask run]",
            "the same: 'flask --app' and the legacy hook",
        ),
        (
            "tests/test_legacy_shim.py::test_werkzeug_is_new_enough_to_lack_the_hook",
            "it checks that Werkzeug no longer has the legacy hook; 2.0 has it",
        ),
        (
            "tests/test_cli_errors.py::test_cli_variables_stay_out_of_the_app_config",
            "the test loads the app's config with Config.from_prefixed_env,"
            " new in Flask 2.1",
        ),
        *(
            (
                f"tests/test_urls.py::{test}",
                "Werkzeug 2.0 makes the Location header absolute",
            )
            for test in (
                "test_dispatcher_prefix",
                "test_proxy_fix_prefix",
                "test_status_and_ready_follow_the_shutdown_path",
                "test_status_and_ready_set_on_their_own",
            )
        ),
        _MAX_CONTENT_LENGTH,
    ],
    "2.2": [_MAX_CONTENT_LENGTH],
    "min": [
        (
            "tests/test_security_host.py::"
            f"test_other_hosts_are_refused_before_anything_counts[{host}]",
            "Werkzeug 3.0.0's test client cannot send that Host: it parses"
            " the request's URL for its cookies first and raises ValueError"
            " (the app never sees the request)",
        )
        for host in ("localhost:abc", "[::1")
    ],
}


def _add_pyenv_pythons() -> None:
    """Make the Pythons that pyenv installed findable by nox.

    pyenv's shims run only the active versions (``pyenv global``), and nox
    follows them; so each version's own bin/ goes at the end of PATH,
    after anything already there.
    """
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    extra = []

    for python in PYTHONS:
        found = [
            p
            for p in root.glob(f"{python}.*")
            if re.fullmatch(rf"{re.escape(python)}\.\d+", p.name)
            and (p / "bin" / f"python{python}").exists()
        ]

        if found:
            newest = max(found, key=lambda p: int(p.name.rsplit(".", 1)[1]))
            extra.append(str(newest / "bin"))

    if extra:
        os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *extra])


_add_pyenv_pythons()


def _cells() -> list[nox.param]:
    return [
        nox.param(
            python,
            line,
            kind,
            id=f"{python}, flask-{line}",
            tags=[f"py{python}", f"flask-{line}", kind],
        )
        for python, line, kind in CELLS
    ]


def _requirements(line: str, servers: bool) -> list[Path]:
    reqs = [REQUIREMENTS / f"flask-{line}.txt", REQUIREMENTS / "tests.txt"]

    if servers:
        reqs.append(REQUIREMENTS / "servers.txt")

    return reqs


def _pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by normalized name."""
    pins = {}

    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^;\s]+)", line)

        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]

    return pins


def _check_floor_pins(session: nox.Session) -> None:
    """flask-min.txt pins each dependency at its pyproject.toml floor."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins(REQUIREMENTS / "flask-min.txt")
    floor_python = project["requires-python"].removeprefix(">=")

    if floor_python != OLDEST_PYTHON:
        session.error(
            f"requires-python is {project['requires-python']!r} but the"
            f" oldest Python of the matrix is {OLDEST_PYTHON}."
        )

    for dep in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9._-]+)>=([0-9.]+)", dep)

        if match is None:
            session.error(f"{dep!r}: a dependency needs a plain '>=' floor.")

        name = re.sub(r"[-_.]+", "-", match[1]).lower()
        want = match[2].split(".")
        pin = pins.get(name, "").split(".")
        # 3.0 and 3.0.0 are the same floor.
        if want + ["0"] * (3 - len(want)) != pin + ["0"] * (3 - len(pin)):
            session.error(
                f"pyproject.toml has {dep!r} but requirements/flask-min.txt"
                f" pins {name}=={'.'.join(pin)}; make them agree."
            )


def _install(session: nox.Session, line: str, servers: bool) -> None:
    reqs = _requirements(line, servers)
    # What the environment is made of: the requirements, and the package's
    # metadata (not the tool settings elsewhere in pyproject.toml).
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    digest = hashlib.sha1(
        b"".join(p.read_bytes() for p in reqs)
        + json.dumps(project, sort_keys=True).encode()
        + line.encode()
    ).hexdigest()
    venv = Path(session.virtualenv.location)
    stamp = venv / ".flask-shutdown-stamp"

    if stamp.exists() and stamp.read_text() == digest:
        session.log("Environment up to date; not reinstalling.")
        return

    if stamp.exists() or (venv / "bin" / "flask").exists():
        # Reused but stale, or an install that did not finish: create it
        # again, so that nothing a previous pin set brought stays behind.
        session.log("Requirements changed; creating the environment again.")
        session.virtualenv.reuse_existing = False
        session.virtualenv.create()

    # nox runs in ROOT; relative paths keep the log short.
    args = [arg for req in reqs for arg in ("-r", str(req.relative_to(ROOT)))]

    if line in BELOW_FLOOR:
        session.install(*args)
        session.install("--no-deps", "-e", ".")
    else:
        # One resolution: a pin outside the metadata fails here.
        session.install(*args, "-e", ".")
        session.run("python", "-m", "pip", "check")

    # The pins are what got installed (pip would not silently differ, but
    # the cell reports what it tested).
    pins = _pins(REQUIREMENTS / f"flask-{line}.txt")
    session.run(
        "python",
        "-c",
        "import importlib.metadata as m, json, sys\n"
        "want = json.loads(sys.argv[1])\n"
        "got = {n: m.version(n) for n in want}\n"
        "bad = {n: (want[n], got[n]) for n in want if want[n] != got[n]}\n"
        "assert not bad, f'installed versions differ from the pins: {bad}'\n"
        "print(sys.version.split()[0], *(f'{n}=={v}' for n, v in got.items()))",
        json.dumps(pins),
    )
    stamp.write_text(digest)


def selection(python: str, line: str, kind: str) -> list[str]:
    """The test files a cell runs (``kind`` is "full" or "core").

    Core: the files whose behaviour depends on the Python, Flask or
    Werkzeug version: the extension, authentication and tokens, the
    security checks, draining, hooks, the sequence, readiness,
    ServerThread, ``flask run``, ``serve()``, the test client and the
    pytest plugin, the ``flask shutdown`` commands; not the production
    servers (nor SERVER_TESTS), not FULL_ONLY. Full: every file but
    MAIN_ONLY. The legacy hook's file runs on its line.
    """
    tests = ROOT / "tests"
    every = sorted(p.name for p in tests.glob("test_*.py"))
    named = PRODUCTION_SERVERS + LEGACY + FULL_ONLY + MAIN_ONLY
    unknown = sorted(set(named) - set(every))
    listed = {node.split("::")[0].removeprefix("tests/") for node in SERVER_TESTS}
    unknown += sorted(listed - set(every))

    if unknown:
        raise RuntimeError(f"noxfile.py names missing test files: {unknown}")

    files = [name for name in every if name not in named]

    if kind == "full":
        files += PRODUCTION_SERVERS + FULL_ONLY

    if line == LEGACY_LINE:
        files += LEGACY

    return [f"tests/{name}" for name in sorted(files)]


@nox.session
@nox.parametrize(("python", "line", "kind"), _cells())
def tests(session: nox.Session, line: str, kind: str) -> None:
    """One cell: a Python and a Flask line, the full suite or the core."""
    python = session.python
    assert isinstance(python, str)

    if line == "min":
        _check_floor_pins(session)

    files = selection(python, line, kind)
    _install(session, line, servers=kind == "full")
    env = {}

    if line == LEGACY_LINE:
        # test_legacy.py serves its app with this interpreter.
        env["FLASK_SHUTDOWN_LEGACY_PYTHON"] = str(
            Path(session.virtualenv.location) / "bin" / "python"
        )

    filters = [arg for w in WARNING_FILTERS.get(line, []) for arg in ("-W", w)]
    deselect = []

    if kind == "core":
        session.log(
            f"Core cell: {len(SERVER_TESTS)} tests on gunicorn, waitress or"
            " uWSGI left to the full cells."
        )
        deselect += [arg for node in SERVER_TESTS for arg in ("--deselect", node)]

    for node, reason in MAIN_ONLY_TESTS:
        session.log(f"Deselected in every cell: {node}: {reason}.")
        deselect += ["--deselect", node]

    for node, reason in DESELECT.get(line, []):
        session.log(f"Deselected on Flask {line}: {node}: {reason}.")
        deselect += ["--deselect", node]

    # Exit code 5 (nothing collected) fails the cell like any other.
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        *filters,
        *deselect,
        *files,
        *session.posargs,
        env=env,
    )
