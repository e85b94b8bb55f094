from pallets_sphinx_themes import get_version
from pallets_sphinx_themes import ProjectLink

project = "Flask-Shutdown"
copyright = "2026 Flask-Shutdown contributors"
author = "Flask-Shutdown contributors"
release, version = get_version("Flask-Shutdown")

master_doc = "index"
default_role = "code"
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.extlinks",
    "sphinx.ext.intersphinx",
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
# docs/diagrams holds the Graphviz sources that pages include, and
# docs/_generated the tables that bench/charts.py writes from
# bench/results.txt.
exclude_patterns = ["_build", "_generated", "diagrams"]

# The diagrams (docs/diagrams/*.dot) are drawn by Graphviz's dot at build
# time; scripts/bootstrap.sh installs it. SVG stays sharp at any width.
graphviz_output_format = "svg"
# The inventories are not fetched: builds must work offline. Cross-project
# references are written as plain text instead.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
nitpicky = False

html_theme = "flask"
html_context = {
    "project_links": [
        ProjectLink("PyPI Releases", "https://pypi.org/project/Flask-Shutdown/"),
        ProjectLink("Changes", "changes/"),
    ]
}
html_sidebars = {
    "index": ["project.html", "localtoc.html", "searchbox.html"],
    "**": ["localtoc.html", "relations.html", "searchbox.html"],
}
singlehtml_sidebars = {"index": ["project.html", "localtoc.html"]}
html_title = f"Flask-Shutdown Documentation ({version})"
html_show_sourcelink = False
