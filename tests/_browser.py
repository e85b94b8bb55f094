"""Look at the built docs in a real browser: Debian's headless Chromium,
driven by Selenium through Debian's chromedriver, both given by path so
that nothing is downloaded.

The site is served over loopback HTTP. Each page is loaded at a given
viewport width (phone widths are emulated as a phone: ``mobile``, a device
scale factor of 3) and measured once it has loaded, images included.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import functools
import http.server
import tempfile
import threading
import typing as t
from dataclasses import dataclass
from pathlib import Path

#: The smallest font of the benchmark charts (bench/charts.py), in points.
CHART_FONT_PT = 10

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

#: Without these, Chromium tries to reach the network on start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]

#: Runs in the page; returns what the checks need. An element sticks out
#: when its right edge passes the viewport and no ancestor below <body>
#: clips or scrolls it (a ``pre`` in a scrollable box is deliberate).
_MEASURE = r"""
const root = document.documentElement;
const width = root.clientWidth;
const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (el.classList.length) s += "." + [...el.classList].join(".");
    const text = (el.textContent || "").trim().replace(/\s+/g, " ");
    return s + (text ? " " + JSON.stringify(text.slice(0, 50)) : "");
};
const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o !== "visible") return true;
    }
    return false;
};
const outside = [];
for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 1) continue;
    if (getComputedStyle(el).position === "fixed") continue;
    if (clipped(el)) continue;
    outside.push(describe(el) + " right=" + Math.round(r.right));
}
const truncated = [];
for (const el of document.querySelectorAll(
        "div.sphinxsidebar a, div.sphinxsidebar li, div.sphinxsidebar code")) {
    const cut = el.scrollWidth > el.clientWidth + 1;
    if (cut && getComputedStyle(el).overflowX !== "visible")
        truncated.push(describe(el));
}
const broken = [];
for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0)
        broken.push("img " + img.getAttribute("src"));
}
for (const obj of document.querySelectorAll("object")) {
    const doc = obj.contentDocument;
    const root = doc && doc.documentElement;
    if (!root || root.tagName.toLowerCase() !== "svg")
        broken.push("object " + obj.getAttribute("data"));
}
const scrolling = [];
for (const pre of document.querySelectorAll("div.body pre")) {
    if (pre.closest(".raw-output")) continue;
    if (pre.scrollWidth > pre.clientWidth + 1) scrolling.push(describe(pre));
}
// How big the smallest text of each picture is on screen, in CSS pixels.
// Diagrams: their SVG text, scaled as shown. Charts: their text is drawn
// as paths at CHART_FONT_PT, scaled as the image is.
const pictures = [];
for (const obj of document.querySelectorAll("object.graphviz")) {
    const svg = obj.contentDocument && obj.contentDocument.documentElement;
    if (!svg || !svg.viewBox || !svg.viewBox.baseVal) continue;
    const scale = obj.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    let smallest = Infinity;
    for (const text of svg.querySelectorAll("text")) {
        const size = parseFloat(text.getAttribute("font-size"));
        if (size) smallest = Math.min(smallest, size * scale);
    }
    pictures.push({src: obj.getAttribute("data"), px: smallest});
}
for (const img of document.querySelectorAll("img.chart")) {
    const scale = img.getBoundingClientRect().width / img.naturalWidth;
    pictures.push({src: img.getAttribute("src"), px: arguments[0] * 4 / 3 * scale});
}
return {
    scrolling: scrolling,
    pictures: pictures,
    viewport: width,
    scrollWidth: root.scrollWidth,
    bodyOverflow: document.body.scrollWidth - document.body.clientWidth,
    outside: outside.slice(0, 12),
    truncated: truncated,
    broken: broken,
    images: document.images.length + document.querySelectorAll("object").length,
};
"""


@dataclass
class Measure:
    page: str
    width: int
    viewport: int
    scroll_width: int
    body_overflow: int
    outside: list[str]
    truncated: list[str]
    broken: list[str]
    images: int
    #: Code blocks that scroll sideways (the raw benchmark output aside).
    scrolling: list[str]
    #: (source, smallest text in CSS px) of each diagram and chart.
    pictures: list[tuple[str, float]]

    @property
    def overflow(self) -> int:
        """How many CSS pixels the page scrolls sideways."""
        return max(self.scroll_width - self.viewport, self.body_overflow, 0)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: t.Any) -> None:
        pass


@contextlib.contextmanager
def serve_dir(root: Path) -> cabc.Iterator[str]:
    """Serve ``root`` on a free loopback port; yield its base URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def chromium() -> cabc.Iterator[t.Any]:
    """A headless Chromium with a fresh profile. Fails, not skips, when
    the browser or its driver is missing: ``scripts/bootstrap.sh test``
    installs both.
    """
    for path in (CHROMIUM, CHROMEDRIVER):
        assert path.is_file(), f"{path} is missing: run scripts/bootstrap.sh test"

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="docs-browser-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)

        for arg in CHROMIUM_ARGS:
            options.add_argument(arg)

        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(
            service=Service(executable_path=str(CHROMEDRIVER)), options=options
        )

        try:
            driver.set_page_load_timeout(30)
            yield driver
        finally:
            driver.quit()


def measure(driver: t.Any, base: str, page: str, width: int) -> Measure:
    phone = width < 768
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": 844 if phone else 900,
            "deviceScaleFactor": 3 if phone else 1,
            "mobile": phone,
        },
    )
    driver.get(f"{base}/{page}")
    # get() returns after the load event: images and objects are loaded
    # or have failed. Web fonts change widths; wait for them as well.
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "document.fonts.ready.then(() => done(true));"
    )
    # An <object> may still be parsing its SVG after the load event on a
    # busy machine: give each one up to 5 s to show a document before
    # the measure counts it as broken.
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const objects = [...document.querySelectorAll('object')];"
        "const ready = () => objects.every(o => o.contentDocument"
        " && o.contentDocument.documentElement"
        " && o.contentDocument.documentElement.tagName.toLowerCase() === 'svg');"
        "const started = Date.now();"
        "(function check() {"
        " if (ready() || Date.now() - started > 5000) done(true);"
        " else setTimeout(check, 50); })();"
    )
    m = driver.execute_script(_MEASURE, CHART_FONT_PT)
    return Measure(
        page=page,
        width=width,
        viewport=m["viewport"],
        scroll_width=m["scrollWidth"],
        body_overflow=m["bodyOverflow"],
        outside=m["outside"],
        truncated=m["truncated"],
        broken=m["broken"],
        images=m["images"],
        scrolling=m["scrolling"],
        pictures=[(p["src"], p["px"]) for p in m["pictures"]],
    )


def screenshot(driver: t.Any, base: str, page: str, width: int, out: Path) -> None:
    """Save a full-height screenshot of a page, for a person to look at."""
    measure(driver, base, page, width)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    phone = width < 768
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": min(height, 8000),
            "deviceScaleFactor": 1,
            "mobile": phone,
        },
    )
    driver.save_screenshot(str(out))


if __name__ == "__main__":  # pragma: no cover - a tool for a person
    import sys

    site = Path(sys.argv[1])
    pages = sys.argv[2:] or sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if not p.name.startswith(("_", "404", "genindex", "search", "py-modindex"))
    )

    with serve_dir(site) as base, chromium() as driver:
        for width in (1280, 390):
            for page in pages:
                m = measure(driver, base, page, width)
                smallest = min((px for _, px in m.pictures), default=0)
                print(
                    f"{width:5} {page:28} overflow={m.overflow:4} images={m.images}"
                    f" broken={len(m.broken)} truncated={len(m.truncated)}"
                    f" scrolling-code={len(m.scrolling)} smallest-text={smallest:.1f}"
                )

                for line in (
                    m.outside[:4] + m.broken + m.truncated[:4] + m.scrolling[:4]
                ):
                    print("        ", line)
