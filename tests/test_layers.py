"""Layers point one way: parsers/ and routing/ never import ingest/, not even for types.

Read from the source with `ast`, so an import hidden under TYPE_CHECKING or
inside a function counts too.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("parsers", ("ingest", "routing")), ("routing", ("ingest",))],
)
def test_lower_layers_do_not_import_upper_ones(package: str, forbidden: tuple[str, ...]) -> None:
    offenders = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / package).rglob("*.py"))
        for name in sorted(_imports(path))
        if name.split(".")[0] in forbidden
    ]
    assert offenders == []
