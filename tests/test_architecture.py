"""The layers of the package: no import cycle, no import up the layers
(``scripts/import_graph.py``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "import_graph.py"


def load() -> object:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_package_has_no_cycle_and_respects_layers() -> None:
    rv = subprocess.run(
        [sys.executable, str(SCRIPT), "--print"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rv.returncode == 0, rv.stderr
    graph = dict(line.split(": ", 1) for line in rv.stdout.splitlines() if ": " in line)
    # The server knows only WSGI; the adapters never reach the extension.
    assert graph["server"] == "-"
    assert "extension" not in graph["adapters.thread"]
    assert "sequence" not in graph["adapters.base"]
    # The views read the per-app state; only the extension builds it.
    for reader in ("views", "cli", "serving", "pytest_plugin", "state"):
        assert "extension" not in graph[reader].split(", "), reader


def test_checker_finds_cycles() -> None:
    graph_module = load()
    cycles = graph_module.find_cycles(  # type: ignore[attr-defined]
        {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    )
    assert cycles == [["a", "b", "c"]]


def test_public_surface() -> None:
    import __future__

    import flask_shutdown

    public = {
        name
        for name in dir(flask_shutdown)
        if not name.startswith("_")
        and name not in ("importlib", "t")
        # Submodules show up as attributes once imported; only names count.
        and not isinstance(
            getattr(flask_shutdown, name), (type(sys), __future__._Feature)
        )
    }
    assert public == {
        "ExitCode",
        "HookResult",
        "Phase",
        "ServerThread",
        "Shutdown",
        "ShutdownRecord",
        "ShutdownRefused",
        "attempt_answered",
        "hooks_done",
        "serve",
        "shutdown_requested",
        "shutdown_stopped",
    }


def test_plugin_import_does_not_load_flask() -> None:
    # pytest imports the plugin in every run of every project that has the
    # package installed: it must not pay for Flask and the package there.
    code = (
        "import sys, flask_shutdown.pytest_plugin;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('flask', 'werkzeug', 'flask_shutdown')))"
    )
    rv = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert rv.returncode == 0, rv.stderr
    assert rv.stdout.strip() == "['flask_shutdown', 'flask_shutdown.pytest_plugin']"


def test_error_code_table_in_docs_matches_the_code() -> None:
    import re

    from flask_shutdown.refusals import ERROR_CODES

    text = (SCRIPT.parent.parent / "docs" / "api.rst").read_text()
    rows = re.findall(r"\* - ``(\w+)``\n\s+- (\d+)\n\s+- (.+)", text)
    assert {code: (int(status), meaning) for code, status, meaning in rows} == (
        ERROR_CODES
    )


def test_every_raised_code_is_in_the_table() -> None:
    import re

    from flask_shutdown.refusals import AUDIT_REASONS
    from flask_shutdown.refusals import ERROR_CODES

    package = SCRIPT.parent.parent / "flask_shutdown"
    raised: set[str] = set()

    for path in package.rglob("*.py"):
        text = path.read_text()
        raised.update(re.findall(r'ShutdownRefused\(\s*"(\w+)"', text))
        raised.update(re.findall(r'\.retry_after\(\s*"(\w+)"', text))
        raised.update(
            "unauthorized:" + c for c in re.findall(r'\.unauthorized\(\s*"(\w+)"', text)
        )

    assert raised, "the pattern found nothing"

    for code in raised:
        if code.startswith("unauthorized:"):
            assert code.split(":")[1] in AUDIT_REASONS
        else:
            assert code in ERROR_CODES
