"""Runtime files: a ServerThread writes one while it runs, with a token
of its own that stops it; stale and foreign files are not used."""

from __future__ import annotations

import json
import multiprocessing
import os
import typing as t
from pathlib import Path

import pytest
import requests

from flask_shutdown import runtime

from .conftest import AppFactory


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))


def test_file_while_serving_and_its_token_stops(
    make_app: AppFactory, serve: t.Any
) -> None:
    app, _ = make_app()
    server = serve(app)
    [entry] = runtime.read_all()
    assert entry["url"] == server.url
    assert entry["pid"] == os.getpid()
    assert entry["path"] == "/shutdown"
    assert entry["name"] == app.import_name
    assert Path(entry["file"]).stat().st_mode & 0o777 == 0o600

    rv = requests.post(
        f"{server.url}/shutdown",
        headers={"Authorization": f"Bearer {entry['token']}"},
        timeout=10,
    )
    assert rv.status_code == 202
    assert rv.json()["requested_by"] == "token:local"
    assert server.wait_stopped(10)
    assert runtime.read_all() == []


def test_no_file_when_turned_off(make_app: AppFactory, serve: t.Any) -> None:
    app, _ = make_app(SHUTDOWN_RUNTIME_FILE=False)
    serve(app)
    assert runtime.read_all() == []


def test_stale_files_are_removed_and_loose_ones_refused(tmp_path: Path) -> None:
    folder = runtime.servers_dir()
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=int)
    child.start()
    child.join(10)
    stale = folder / f"{child.pid}-1234.json"
    stale.write_text(json.dumps({"pid": child.pid, "url": "http://127.0.0.1:1234"}))
    stale.chmod(0o600)
    assert runtime.read_all() == []
    assert not stale.exists()

    loose = folder / f"{os.getpid()}-1.json"
    loose.write_text(json.dumps({"pid": os.getpid()}))
    loose.chmod(0o644)

    with pytest.raises(PermissionError, match="readable by other users"):
        runtime.read_all()
