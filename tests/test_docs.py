"""Every Python sample in the docs and the README runs, and can be pasted.

The blocks of one document run in order in one namespace, as a reader
would type them; a block may use the objects an earlier block defined
(an ``app``), but imports everything it uses itself. Blocks guarded by
``if __name__ == "__main__":`` define but do not serve; the landing page's
app is also started for real and stopped with the ``curl`` command shown.
Samples that define tests are run with pytest. Python files the docs
include must show their imports too.
"""

from __future__ import annotations

import builtins
import re
import shlex
import subprocess
import symtable
import sys
import textwrap
import typing as t
from pathlib import Path

import pytest
import requests
from werkzeug.security import generate_password_hash

from flask_shutdown import ServerThread

from ._proc import Proc

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").rglob("*.rst"))

_RST_BLOCK = re.compile(r"^( *)\.\. code-block:: python\n((?:\n|\1 {2,}.*\n)+)", re.M)
_MD_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def python_blocks(path: Path) -> list[str]:
    text = path.read_text()

    if path.suffix == ".md":
        return [m.group(1) for m in _MD_BLOCK.finditer(text)]

    return [textwrap.dedent(m.group(2)) for m in _RST_BLOCK.finditer(text)]


def run_blocks(path: Path) -> dict[str, t.Any]:
    namespace: dict[str, t.Any] = {"__name__": f"docs_{path.stem}"}

    for i, block in enumerate(python_blocks(path)):
        code = compile(block, f"{path.name}[block {i}]", "exec")
        exec(code, namespace)

    return namespace


DOCS_WITH_CODE = [p for p in DOCS if python_blocks(p)]


def test_the_docs_have_samples() -> None:
    # A broken pattern would silently test nothing.
    assert len(DOCS_WITH_CODE) >= 2
    assert python_blocks(ROOT / "README.md")


@pytest.mark.parametrize(
    "path", DOCS_WITH_CODE, ids=[str(p.relative_to(ROOT)) for p in DOCS_WITH_CODE]
)
def test_doc_samples_run(path: Path) -> None:
    run_blocks(path)


def test_quickstart_stop_function_stops_a_real_server() -> None:
    ns = run_blocks(ROOT / "docs" / "quickstart.rst")
    from flask import Flask

    from flask_shutdown import Shutdown

    served = Flask("quickstart_client")
    served.config["SHUTDOWN_USERS"] = {"ops": generate_password_hash("password")}
    Shutdown(served)

    with ServerThread(served) as server:
        shutdown_id = ns["stop"](server.url)
        server.join(10)
        assert not server.is_alive()

    assert served.extensions["shutdown"].status()["shutdown_id"] == shutdown_id


def test_readme_samples_run_and_stop_a_real_server() -> None:
    ns = run_blocks(ROOT / "README.md")
    from flask import Flask

    from flask_shutdown import Shutdown

    served = Flask("readme_client")
    served.config["SHUTDOWN_USERS"] = {"ops": generate_password_hash("password")}
    Shutdown(served)

    with ServerThread(served) as server:
        ns["stop"](server.url)
        server.join(10)
        assert not server.is_alive()

    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=2)


def test_every_config_key_is_documented_with_its_default() -> None:
    from flask_shutdown.config import DEFAULTS

    text = (ROOT / "docs" / "config.rst").read_text()

    for key, default in DEFAULTS.items():
        assert f".. data:: {key}\n" in text, f"{key} is not in docs/config.rst"
        section = text.split(f".. data:: {key}\n", 1)[1].split(".. data::", 1)[0]
        assert f"Default: ``{default!r}``".replace("'", '"') in section, key
        assert ".. versionadded::" in section, key


def names(source: str) -> tuple[set[str], set[str], set[str]]:
    """The names a sample imports, the names it assigns (variables,
    functions, classes), and the global names it uses without binding
    them (builtins aside).
    """
    top = symtable.symtable(source, "<sample>", "exec")
    symbols = top.get_symbols()
    imported = {s.get_name() for s in symbols if s.is_imported()}
    assigned = {s.get_name() for s in symbols if s.is_assigned()}
    used = {s.get_name() for s in symbols if s.is_referenced()}
    tables = list(top.get_children())

    while tables:
        table = tables.pop()
        used |= {
            s.get_name()
            for s in table.get_symbols()
            if s.is_global() and s.is_referenced()
        }
        tables.extend(table.get_children())

    return imported, assigned, used - imported - assigned - set(dir(builtins))


SAMPLED = DOCS_WITH_CODE + [ROOT / "README.md"]


@pytest.mark.parametrize(
    "path", SAMPLED, ids=[str(p.relative_to(ROOT)) for p in SAMPLED]
)
def test_samples_import_what_they_use(path: Path) -> None:
    """A sample may use an object an earlier sample of the page made, but
    not a module or class that only an earlier sample imported: pasted on
    its own, or after the sample that made the object, it must run.
    """
    made: set[str] = set()

    for i, block in enumerate(python_blocks(path)):
        _, assigned, free = names(block)
        missing = free - made
        assert not missing, (
            f"{path.name} block {i} uses {sorted(missing)} without importing"
            f" or defining it:\n{block}"
        )
        made |= assigned


def test_the_import_check_catches_a_missing_import() -> None:
    assert names("import os\nrequests.get(os.sep)\n")[2] == {"requests"}
    assert names("def f():\n    return Flask\n")[2] == {"Flask"}
    assert names("from flask import Flask\nFlask(__name__)\n")[2] == set()


_INCLUDE = re.compile(r"^( *)\.\. literalinclude:: (\S+)\n((?:\1 +:.*\n)*)", re.M)


def python_includes() -> list[tuple[Path, Path, dict[str, str]]]:
    """``(page, file, options)`` of every Python file a page includes."""
    rv = []

    for page in DOCS:
        for m in _INCLUDE.finditer(page.read_text()):
            options = dict(
                re.match(r" *:([\w-]+):\s*(.*)", line).groups()  # type: ignore[union-attr]
                for line in m.group(3).splitlines()
            )

            if options.get("language") == "python":
                rv.append((page, (page.parent / m.group(2)).resolve(), options))

    return rv


INCLUDES = python_includes()


def test_the_docs_include_python_files() -> None:
    assert len(INCLUDES) >= 3


@pytest.mark.parametrize(
    ("page", "file", "options"),
    INCLUDES,
    ids=[f"{p.relative_to(ROOT)}:{f.name}" for p, f, _ in INCLUDES],
)
def test_included_python_is_complete(
    page: Path, file: Path, options: dict[str, str]
) -> None:
    """What the page shows of a Python file (Sphinx's own reader applies
    the options) compiles and binds every name it uses.
    """
    from sphinx.config import Config
    from sphinx.directives.code import LiteralIncludeReader

    config = Config({}, {})
    config.init_values()
    text, _ = LiteralIncludeReader(str(file), options, config).read()
    _, _, free = names(text)
    assert not free, f"{page.name} shows {file.name} without {sorted(free)}:\n{text}"


def test_samples_that_are_tests_pass_under_pytest(tmp_path: Path) -> None:
    pages = [
        p
        for p in DOCS_WITH_CODE
        if re.search(r"^def test_", "\n".join(python_blocks(p)), re.M)
    ]
    assert pages, "no page has a sample test"

    for page in pages:
        test_file = tmp_path / f"test_doc_{page.stem}.py"
        test_file.write_text("\n\n".join(python_blocks(page)))
        rv = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                str(test_file),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rv.returncode == 0, rv.stdout + rv.stderr
        assert re.search(r"\b[1-9]\d* passed", rv.stdout), rv.stdout


def test_index_app_stops_with_the_curl_command(tmp_path: Path) -> None:
    """The landing page's app, saved as app.py and run, stops on the curl
    command shown, with the output shown.
    """
    page = (ROOT / "docs" / "index.rst").read_text()
    [app] = [b for b in python_blocks(ROOT / "docs" / "index.rst") if "serve(" in b]
    console = re.search(
        r"\.\. code-block:: console\n(?: +:.*\n)*\n((?: {4}.*\n)+)", page
    )
    assert console, "no console block"
    lines = textwrap.dedent(console.group(1)).replace("\\\n", " ").splitlines()
    command = lines[0].removeprefix("$ ")
    shown = lines[1]

    # The sample serves on port 5000; take a free port instead.
    assert '"127.0.0.1", 5000' in app
    (tmp_path / "app.py").write_text(app.replace('"127.0.0.1", 5000', '"127.0.0.1", 0'))

    with Proc([sys.executable, "app.py"], tmp_path / "app.log", cwd=tmp_path) as proc:
        url = proc.wait_for_output(r"Serving on (\S+)").group(1)
        args = [a.replace("http://127.0.0.1:5000", url) for a in shlex.split(command)]
        assert args[0] == "curl"
        rv = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert rv.returncode == 0, rv.stderr
        assert proc.wait_exit() == 0, proc.output()

    # The shown answer, up to the shutdown id, which differs each time.
    pattern = re.escape(shown).replace(re.escape("..."), '[^"]+')
    assert re.fullmatch(pattern, rv.stdout.strip()), rv.stdout
    assert "closing the database" in proc.output()
