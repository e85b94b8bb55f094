from __future__ import annotations

import importlib
import typing as t

from docutils import nodes
from pallets_sphinx_themes import get_version
from pallets_sphinx_themes import ProjectLink

if t.TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

project = "Flask-Shutdown"
copyright = "2026 Flask-Shutdown contributors"
author = "Flask-Shutdown contributors"
release, version = get_version("Flask-Shutdown")

master_doc = "index"
default_role = "code"
# docs/_generated holds tables that bench/charts.py writes from
# bench/results.txt; the pages include them.
exclude_patterns = ["_build", "_generated", "diagrams"]
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.extlinks",
    "sphinx.ext.doctest",
    "sphinx.ext.graphviz",
    "pallets_sphinx_themes",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
extlinks = {
    "issue": ("https://github.com/flask-shutdown/flask-shutdown/issues/%s", "#%s"),
}

# The diagrams (docs/diagrams/*.dot) are drawn by Graphviz's dot at build
# time; scripts/bootstrap.sh installs it. SVG stays sharp at any width.
graphviz_output_format = "svg"

# References to other projects: no intersphinx. Its inventories are
# downloaded at build time, and the docs must build offline (the tests
# build them); copies kept in the repository would go stale unseen. So
# names of Python, Flask, Werkzeug, itsdangerous or click objects are
# written as plain literals (``werkzeug.serving.make_server``), and a
# cross-reference to one, as autodoc makes from docstrings and type hints,
# is shown as a plain literal too (_external_as_literal below), not as a
# link that goes nowhere. References to this project must resolve:
# nitpicky, with -W, fails the build on one that does not.
nitpicky = True
# Internals that public signatures mention but the API page leaves out on
# purpose (docs/architecture.rst says where they sit).
nitpick_ignore = [
    ("py:class", "flask_shutdown.extension._F"),
    ("py:class", "flask_shutdown.extension._V"),
    ("py:class", "flask_shutdown.hooks.Hook"),
]

html_theme = "flask"
html_static_path = ["_static"]
html_css_files = ["flask-shutdown.css"]
html_js_files = ["flask-shutdown.js"]
html_context = {
    "project_links": [
        ProjectLink("PyPI Releases", "https://pypi.org/project/Flask-Shutdown/"),
        # Shown on the index page only (project.html), so relative to it.
        ProjectLink("Changes", "changes.html"),
    ]
}
html_sidebars = {
    "index": ["project.html", "globaltoc.html", "searchbox.html"],
    "**": ["globaltoc.html", "localtoc.html", "relations.html", "searchbox.html"],
}
html_theme_options = {"globaltoc_maxdepth": 2, "globaltoc_includehidden": True}
singlehtml_sidebars = {"index": ["project.html", "localtoc.html"]}
html_title = f"Flask-Shutdown Documentation ({version})"
html_show_sourcelink = False


def _is_internal(target: str, module: str | None) -> bool:
    """Whether a Python reference names an object of this project: a
    ``flask_shutdown`` path, or a name that the module it was written in
    binds to one of this project's objects.
    """
    if target.split(".")[0] == "flask_shutdown":
        return True

    if not module:
        return False

    try:
        obj: object = importlib.import_module(module)

        for part in target.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return False

    return str(getattr(obj, "__module__", "")).startswith("flask_shutdown")


def _external_as_literal(
    app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Node
) -> nodes.Node | None:
    if node.get("refdomain") != "py":
        return None

    if _is_internal(node["reftarget"], node.get("py:module")):
        return None

    literal = contnode.deepcopy()

    if isinstance(literal, nodes.Element):
        literal["classes"] = [c for c in literal["classes"] if c != "xref"]

    return literal


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", _external_as_literal)
