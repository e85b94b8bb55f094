"""The built HTML docs: build them once per test session, and check the
links inside them.

Only links inside the site are checked (the tests have no network): every
``href``/``src`` to a local file must name a file of the build, and every
``#anchor`` an ``id`` in the page it points to. A cross-reference that
Sphinx could not resolve is rendered as a ``code.xref`` outside any ``<a>``:
it looks like a link and goes nowhere, so it counts as broken too.
"""

from __future__ import annotations

import re
import subprocess
import sys
import typing as t
from dataclasses import dataclass
from dataclasses import field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: Attributes that load or link to another resource, per tag.
_LINK_ATTRS = {
    "a": "href",
    "link": "href",
    "img": "src",
    "script": "src",
    "object": "data",
    "iframe": "src",
    "embed": "src",
    "source": "src",
}
_EXTERNAL = ("http:", "https:", "mailto:", "javascript:", "data:", "tel:")


def build_html(outdir: Path) -> Path:
    """Build the HTML docs into ``outdir`` the way the test command does
    (warnings are errors), and return ``outdir``.
    """
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-E", "-q", "-b", "html"]
        + [str(DOCS), str(outdir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return outdir


@dataclass
class Page:
    ids: set[str] = field(default_factory=set)
    #: (tag, url) of every link and resource the page refers to.
    links: list[tuple[str, str]] = field(default_factory=list)
    #: The text of cross-references that lead nowhere.
    dead_xrefs: list[str] = field(default_factory=list)
    #: The prose of the page: text outside code, scripts and styles.
    prose: list[str] = field(default_factory=list)
    #: The links of the sidebar.
    sidebar_links: list[str] = field(default_factory=list)
    #: The ``data`` of every diagram object.
    diagrams: list[str] = field(default_factory=list)


#: Elements whose text is not prose.
_NOT_PROSE = {"pre", "code", "script", "style", "textarea", "title"}
#: Elements without an end tag.
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "source", "track", "wbr",
}  # fmt: skip


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._open: list[str] = []
        self._in_a = 0
        # Depth of the xref code element being read, and its text.
        self._xref: list[str] | None = None
        self._not_prose = 0
        # Open elements inside the sidebar, once it has started.
        self._sidebar: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}

        if tag in _NOT_PROSE:
            self._not_prose += 1

        classes = a.get("class", "").split()

        if self._sidebar is not None and tag not in _VOID:
            self._sidebar.append(tag)
        elif tag == "div" and "sphinxsidebar" in classes:
            self._sidebar = [tag]

        if self._sidebar and tag == "a" and a.get("href"):
            self.page.sidebar_links.append(a["href"])

        if tag == "object" and "graphviz" in classes:
            self.page.diagrams.append(a.get("data", ""))

        if "id" in a:
            self.page.ids.add(a["id"])

        if tag == "a" and "name" in a:
            self.page.ids.add(a["name"])

        attr = _LINK_ATTRS.get(tag)

        if attr and a.get(attr):
            self.page.links.append((tag, a[attr]))

        if tag == "a":
            self._in_a += 1
        elif tag == "code" and "xref" in a.get("class", "").split() and not self._in_a:
            self._xref = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _NOT_PROSE and self._not_prose:
            self._not_prose -= 1

        if self._sidebar:
            if tag in self._sidebar:
                while self._sidebar.pop() != tag:
                    pass

            if not self._sidebar:
                self._sidebar = None

        if tag == "a" and self._in_a:
            self._in_a -= 1
        elif tag == "code" and self._xref is not None:
            self.page.dead_xrefs.append("".join(self._xref))
            self._xref = None

    def handle_data(self, data: str) -> None:
        if self._xref is not None:
            self._xref.append(data)

        if not self._not_prose and data.strip():
            self.page.prose.append(data)


def parse(path: Path) -> Page:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser.page


def broken_links(root: Path) -> list[str]:
    """Every broken internal link, anchor and dead cross-reference of the
    site built in ``root``, as ``page: problem`` lines.
    """
    pages = {p: parse(p) for p in sorted(root.rglob("*.html"))}
    problems: list[str] = []

    for path, page in pages.items():
        name = path.relative_to(root).as_posix()

        for text in page.dead_xrefs:
            problems.append(f"{name}: {text!r} looks like a link and goes nowhere")

        for tag, url in page.links:
            if url.startswith(_EXTERNAL) or url.startswith("//"):
                continue

            parts = urlsplit(url)

            if parts.scheme or parts.netloc:
                problems.append(f"{name}: <{tag}> {url!r} has an unexpected scheme")
                continue

            if not parts.path:
                target = path
            elif parts.path.startswith("/"):
                # Rooted at the site (the 404 page is served at any depth).
                target = (root / unquote(parts.path).lstrip("/")).resolve()
            else:
                target = (path.parent / unquote(parts.path)).resolve()

            if target.is_dir():
                # A web server might serve index.html here; a file:// reader
                # or a static host without that rule shows a listing or 404.
                problems.append(f"{name}: <{tag}> {url!r} points to a directory")
                continue

            if not target.is_file():
                problems.append(f"{name}: <{tag}> {url!r} does not exist")
                continue

            if parts.fragment and target.suffix == ".html":
                target_page = pages.get(target) or parse(target)

                if unquote(parts.fragment) not in target_page.ids:
                    problems.append(f"{name}: <{tag}> {url!r}: no such anchor")

    return problems


#: reStructuredText that should have been rendered, seen in prose.
STRAY_MARKUP = re.compile(
    r"``|:[a-z]+(?::[a-z]+)?:`|`_|\[ \]|^\.\. [a-z-]+::|\*\*\w", re.M
)


def stray_markup(root: Path) -> list[str]:
    """Prose that still shows reST markup: literal backticks, roles,
    ``[ ]`` checkboxes, directives, unclosed emphasis.
    """
    problems = []

    for path in sorted(root.rglob("*.html")):
        for text in parse(path).prose:
            for m in STRAY_MARKUP.finditer(text):
                where = text[max(m.start() - 30, 0) : m.end() + 30].strip()
                problems.append(f"{path.relative_to(root).as_posix()}: {where!r}")

    return problems


def count_links(root: Path) -> int:
    """How many internal links and resources the site has (to show that
    the checker looked at something).
    """
    return sum(
        1
        for p in root.rglob("*.html")
        for _, url in parse(p).links
        if not url.startswith(_EXTERNAL)
    )


if __name__ == "__main__":  # pragma: no cover - a tool for a person
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS / "_build" / "html"
    found = broken_links(site)
    print("\n".join(found + stray_markup(site)))
    print(f"{len(found)} broken of {count_links(site)} internal links", file=sys.stderr)
    raise SystemExit(1 if found else 0)


__all__: t.Sequence[str] = [
    "build_html",
    "broken_links",
    "count_links",
    "parse",
    "stray_markup",
]
