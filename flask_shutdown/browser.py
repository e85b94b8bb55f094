"""Stop when the last browser tab closes (``SHUTDOWN_BROWSER_TIMEOUT``).

A local app served to a browser (a tool's front end, a notebook-style
helper) cannot be stopped once its browser is closed, short of finding
the process. With this setting the app's pages include a small script,
``{{ shutdown_heartbeat() }}`` in a template, that tells the server every
few seconds that the page is open, and that it is closing when the tab
goes. When no page has been open for the configured time, the normal
graceful sequence runs, with ``source`` ``"browser"``. A reload or a
second tab does not stop the server: a reloaded page is back well within
the time, and each tab counts on its own.

The script carries a credential of its own, made for that page by this
process and good for nothing but its heartbeat: it can keep the server
alive or say the page closed, never stop it or read its status. The
heartbeat endpoint makes the same network and cross-site checks as the
shutdown endpoint, so a page of another site cannot send heartbeats.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import typing as t

from itsdangerous import BadData
from itsdangerous import URLSafeSerializer
from markupsafe import Markup

#: Sets the page tokens apart from anything else signed by this process.
SALT = "flask-shutdown.page"


_SCRIPT = """<script>(function () {
  var c = %s;
  function beat(closing) {
    var body = JSON.stringify({page: c.page, token: c.token, closing: closing});
    if (closing && navigator.sendBeacon) {
      navigator.sendBeacon(c.url, new Blob([body], {type: "application/json"}));
    } else {
      fetch(c.url, {method: "POST", body: body, keepalive: closing,
        headers: {"Content-Type": "application/json"}}).catch(function () {});
    }
  }
  beat(false);
  setInterval(function () { beat(false); }, c.interval);
  addEventListener("pagehide", function () { beat(true); });
})();</script>"""


class PageTracker:
    """The pages open in browsers, by the time of their last heartbeat.

    :param timeout: ``SHUTDOWN_BROWSER_TIMEOUT``.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # Random for each process: a page token is only good for the
        # server that rendered the page.
        self._signer = URLSafeSerializer(secrets.token_bytes(32), salt=SALT)
        self._pages: dict[str, float] = {}
        #: When a page was last seen or closed; ``None`` before the first.
        self._last: float | None = None
        self._lock = threading.Lock()

    @property
    def interval(self) -> float:
        """Seconds between heartbeats: several fit in the timeout."""
        return max(min(self.timeout / 3, 10.0), 0.2)

    def new_page(self) -> tuple[str, str]:
        """An id and a token for a page being rendered."""
        page = secrets.token_urlsafe(12)
        return page, self._signer.dumps({"page": page})

    def script(self, url: str) -> Markup:
        """The ``<script>`` a page includes to keep the server alive."""
        page, token = self.new_page()
        config = {
            "url": url,
            "page": page,
            "token": token,
            "interval": int(self.interval * 1000),
        }
        # "</" would end the script element early.
        data = json.dumps(config).replace("</", "<\\/")
        return Markup(_SCRIPT % data)

    def beat(self, page: t.Any, token: t.Any, closing: bool) -> bool:
        """Record a heartbeat. Returns ``False`` for a token that is not
        this page's, which changes nothing.
        """
        if not isinstance(page, str) or not isinstance(token, str):
            return False

        try:
            data = self._signer.loads(token)
        except BadData:
            return False

        if not isinstance(data, dict) or data.get("page") != page:
            return False

        now = time.monotonic()

        with self._lock:
            if closing:
                self._pages.pop(page, None)
            else:
                self._pages[page] = now

            self._last = now

        return True

    def gone_for(self) -> float | None:
        """Seconds since the last page was open, or ``None`` while one is
        (or before any page was ever seen).
        """
        now = time.monotonic()

        with self._lock:
            if self._last is None:
                return None

            # A page that stopped beating (a crashed tab, a sleeping
            # laptop) is gone too.
            alive = [t for t in self._pages.values() if now - t < self.timeout]

            if alive:
                return None

            last = max([self._last, *self._pages.values()])

        return now - last
