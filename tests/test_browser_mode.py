"""SHUTDOWN_BROWSER_TIMEOUT in a real headless Chromium: a reload or a
second tab keeps the server up; closing every page stops it gracefully."""

from __future__ import annotations

import requests
from flask import Flask
from flask import render_template_string

from flask_shutdown import ServerThread
from flask_shutdown import Shutdown

from ._browser import chromium

TIMEOUT = 3.0
PAGE = "<!doctype html><title>tool</title><p>local tool</p>{{ shutdown_heartbeat() }}"


def make_app() -> tuple[Flask, list[str]]:
    app = Flask("local_tool")
    app.config["SHUTDOWN_BROWSER_TIMEOUT"] = TIMEOUT
    shutdown = Shutdown(app)
    ran: list[str] = []
    shutdown.teardown(lambda: ran.append("hook"))
    app.get("/")(lambda: render_template_string(PAGE))
    return app, ran


def test_last_tab_closing_stops_the_server() -> None:
    app, ran = make_app()
    server = ServerThread(app, port=0)
    server.start()

    try:
        with chromium() as driver:
            driver.get(server.url + "/")
            assert "local tool" in driver.page_source
            # Open, reloaded, and longer than the timeout: still serving.
            driver.refresh()
            assert not server.wait_stopped(TIMEOUT * 1.5)

            # A second tab; the first one goes.
            first = driver.current_window_handle
            driver.switch_to.new_window("tab")
            driver.get(server.url + "/")
            second = driver.current_window_handle
            driver.switch_to.window(first)
            driver.close()
            driver.switch_to.window(second)
            assert not server.wait_stopped(TIMEOUT * 1.5)

            # The last page goes: the server stops by itself.
            driver.get("about:blank")
            assert server.wait_stopped(TIMEOUT * 4)

        record = app.extensions["shutdown"].coordinator.record
        assert record.source == "browser"
        assert record.reason == f"no browser page open for {TIMEOUT:g} s"
        assert ran == ["hook"]
    finally:
        server.stop_serving()


def test_heartbeat_needs_a_page_token() -> None:
    app, _ = make_app()
    server = ServerThread(app, port=0)
    server.start()

    try:
        url = f"{server.url}/shutdown/heartbeat"
        forged = {"page": "x", "token": "not-a-token", "closing": False}
        rv = requests.post(url, json=forged, timeout=10)
        assert rv.status_code == 403
        assert rv.json()["error"] == "bad_page_token"
        # From another site's page: refused before the token is read.
        rv = requests.post(
            url, json=forged, headers={"Origin": "https://evil.example"}, timeout=10
        )
        assert rv.json()["error"] == "cross_site"
        # A refused heartbeat keeps nothing alive and stops nothing.
        assert app.extensions["shutdown"].pages.gone_for() is None
        assert not server.stopped
    finally:
        server.stop_serving()
