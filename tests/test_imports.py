"""Module boundaries that import-linter cannot see: no ``_private`` names imported across
reviewapp modules (the layer contracts themselves run as ``lint-imports``)."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "reviewapp"


def test_no_private_names_are_imported_across_modules():
    """``from reviewapp.x import _y`` is a missing public function (or a misplaced one)."""
    offenders = []
    for path in sorted(APP.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reviewapp"):
                offenders += [
                    f"{path.relative_to(APP.parent)}:{node.lineno} {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert offenders == []
