"""The built docs, looked at in a real browser (headless Chromium) at a
desktop width and a phone width: nothing sticks out sideways, every image
and diagram loads and is big enough to read, no sidebar name is cut, and
on a desktop no code line is cut off behind a scroll bar.

Chromium, chromedriver (Debian packages) and selenium are installed by
``scripts/bootstrap.sh test``; without them these tests fail, they do not
skip.
"""

from __future__ import annotations

import collections.abc as cabc
import typing as t
from pathlib import Path

import pytest

from ._browser import chromium
from ._browser import Measure
from ._browser import measure
from ._browser import serve_dir

#: Every page written for the guide (Sphinx's own search and index pages
#: aside); the landing page first.
PAGES = [
    "index.html",
    "quickstart.html",
    "installation.html",
    "config.html",
    "sequence.html",
    "security.html",
    "servers/index.html",
    "servers/flask-run.html",
    "servers/gunicorn.html",
    "servers/waitress.html",
    "servers/uwsgi.html",
    "local.html",
    "deploy/workers.html",
    "deploy/fleet.html",
    "deploy/kubernetes.html",
    "deploy/docker.html",
    "deploy/systemd.html",
    "deploy/nginx.html",
    "testing.html",
    "cli.html",
    "api.html",
    "architecture.html",
    "benchmark.html",
    "changes.html",
    "license.html",
]
DESKTOP, PHONE = 1280, 390
#: The smallest text a diagram or chart may show, in CSS pixels.
SMALLEST_TEXT = 10
#: Pages with pictures, and how many.
PICTURES = {
    "sequence.html": 1,
    "security.html": 1,
    "servers/gunicorn.html": 1,
    "deploy/kubernetes.html": 1,
    "benchmark.html": 2,
}


@pytest.fixture(scope="module")
def browser(docs_html: Path) -> cabc.Iterator[tuple[t.Any, str]]:
    with serve_dir(docs_html) as base, chromium() as driver:
        yield driver, base


@pytest.fixture(scope="module")
def measured(browser: tuple[t.Any, str]) -> dict[tuple[str, int], Measure]:
    driver, base = browser
    return {
        (page, width): measure(driver, base, page, width)
        for width in (DESKTOP, PHONE)
        for page in PAGES
    }


def test_every_page_is_checked(docs_html: Path) -> None:
    written = {
        p.relative_to(docs_html).as_posix()
        for p in docs_html.rglob("*.html")
        if not p.relative_to(docs_html).parts[0].startswith("_")
    } - {"404.html", "genindex.html", "py-modindex.html", "search.html"}
    assert written == set(PAGES)


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
@pytest.mark.parametrize("page", PAGES)
def test_page_fits_and_loads(
    measured: dict[tuple[str, int], Measure], page: str, width: int
) -> None:
    m = measured[(page, width)]
    assert m.viewport == width
    assert m.overflow == 0, f"{page} scrolls sideways by {m.overflow} px: {m.outside}"
    assert m.broken == [], m.broken
    assert m.truncated == [], f"cut in the sidebar: {m.truncated}"
    assert m.images == PICTURES.get(page, 0)

    for src, px in m.pictures:
        assert px >= SMALLEST_TEXT, f"{src}: text {px:.1f} px high at {width} px"

    if width == DESKTOP:
        assert m.scrolling == [], f"code cut off at {width} px: {m.scrolling}"


def test_the_check_sees_overflow_and_broken_images(tmp_path: Path) -> None:
    (tmp_path / "bad.html").write_text(
        '<!doctype html><meta name="viewport" content="width=device-width">'
        '<body><div class="body"><p style="width:900px">wide</p>'
        '<img src="missing.png"><pre>' + "x" * 400 + "</pre></div></body>"
    )

    with serve_dir(tmp_path) as base, chromium() as driver:
        m = measure(driver, base, "bad.html", PHONE)

    assert m.overflow > 400
    assert m.broken == ["img missing.png"]
    assert m.scrolling
