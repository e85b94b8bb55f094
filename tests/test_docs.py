"""Every Python sample in the docs and the README runs.

The blocks of one document run in order in one namespace, as a reader
would type them; a block may use what an earlier block defined. Blocks
guarded by ``if __name__ == "__main__":`` define but do not serve.
"""

from __future__ import annotations

import re
import textwrap
import typing as t
from pathlib import Path

import pytest
import requests
from werkzeug.security import generate_password_hash

from flask_shutdown import ServerThread

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
