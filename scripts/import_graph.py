"""Print the package's internal import graph and check its layers.

    python scripts/import_graph.py          # check; exit 1 on a violation
    python scripts/import_graph.py --print  # also print module -> imports

Every ``import`` and ``from ... import`` of a ``flask_shutdown`` module is
counted, including those under ``if t.TYPE_CHECKING:`` and inside
functions: a cycle through type-only imports is still a cycle for the
reader. It fails on:

- an import cycle, type-only ones included;
- an import that points up the layers: a server module may import no
  other part of the package, an adapter only adapters, the server and the
  record, the sequence no app-facing module.

The test suite runs it (``tests/test_architecture.py``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "flask_shutdown"

#: Cycles that are allowed, as sets of modules.
ALLOWED_CYCLES: list[set[str]] = []

#: The layers, lowest first. A module may import modules of its own layer
#: or of a lower one, never of a higher one.
LAYERS: list[tuple[str, set[str]]] = [
    (
        "server and shared records",
        {
            "server",
            "hooks",
            "record",
            "refusals",
            "signals",
            "addresses",
            "redaction",
        },
    ),
    ("adapters", {"adapters"}),
    ("sequence", {"sequence", "inflight", "shared"}),
    (
        "app-facing extension",
        {
            "config",
            "auth",
            "security",
            "storage",
            "legacy_hook",
            "watch",
            "systemd",
            "metrics",
            "browser",
            "runtime",
            "tokens",
            "audit",
            "state",
            "extension",
            "views",
            "serving",
            "pytest_plugin",
            "cli",
            "client",
            "__init__",
            "__main__",
        },
    ),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts)


def resolve(module: str, node: ast.ImportFrom) -> list[str]:
    if node.level:
        # Module names here end in the file's name ("__init__" for a
        # package), so level 1 is the module's own package.
        base = module.split(".")[: -node.level]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""

    if not target.startswith(PACKAGE):
        return []

    # "from . import gunicorn" imports a module, not a name.
    names = [f"{target}.{alias.name}" for alias in node.names]
    return [n for n in names if n in MODULES] or [target]


def imports_of(path: Path) -> set[str]:
    module = module_name(path)
    rv: set[str] = set()

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            rv.update(resolve(module, node))
        elif isinstance(node, ast.Import):
            rv.update(a.name for a in node.names if a.name.startswith(PACKAGE))

    rv = {_canonical(m) for m in rv}
    rv.discard(_canonical(module))
    rv.discard(PACKAGE)
    return rv


def _canonical(module: str) -> str:
    # "flask_shutdown.adapters" is its __init__ module.
    if module + ".__init__" in MODULES:
        return module + ".__init__"

    return module


MODULES = {module_name(p) for p in (ROOT / PACKAGE).rglob("*.py")}


def layer_of(module: str) -> int:
    short = module.split(".", 1)[1].split(".")[0]

    for i, (_, names) in enumerate(LAYERS):
        if short in names:
            return i

    raise SystemExit(f"{module} is in no layer; add it to LAYERS in {__file__}.")


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    rv: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)

        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])

        if low[v] == index[v]:
            component = []

            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)

                if w == v:
                    break

            if len(component) > 1:
                rv.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)

    return rv


def check() -> list[str]:
    graph = {
        module_name(p): imports_of(p) for p in sorted((ROOT / PACKAGE).rglob("*.py"))
    }
    problems = []

    for cycle in find_cycles(graph):
        if set(cycle) not in ALLOWED_CYCLES:
            problems.append("import cycle: " + " <-> ".join(cycle))

    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            # The package's __init__ re-exports the public API from the top.
            if module.endswith(f"{PACKAGE}.__init__"):
                continue

            if target.endswith(".__init__"):
                continue

            if layer_of(target) > layer_of(module):
                problems.append(
                    f"{module} ({LAYERS[layer_of(module)][0]}) imports {target}"
                    f" ({LAYERS[layer_of(target)][0]}), a higher layer"
                )

            if module.endswith(f"{PACKAGE}.server") or (
                ".adapters." in module
                and not (
                    ".adapters." in target or target.endswith((".server", ".record"))
                )
            ):
                problems.append(f"{module} may not import {target}")

    if "--print" in sys.argv:
        for module, imported in sorted(graph.items()):
            short = sorted(i.removeprefix(PACKAGE + ".") for i in imported)
            print(f"{module.removeprefix(PACKAGE + '.')}: {', '.join(short) or '-'}")

    return problems


if __name__ == "__main__":
    problems = check()

    for problem in problems:
        print(problem, file=sys.stderr)

    if not problems:
        print(f"{len(MODULES)} modules: no import cycle, no import up the layers.")

    sys.exit(1 if problems else 0)
