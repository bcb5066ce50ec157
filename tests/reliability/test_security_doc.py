"""docs/security.md names, for each threat, the tests that cover it: those tests must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"`((?:services|tests|shared)/[\w/.-]+\.py)::(\w+)`")


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_test_named_in_the_threat_model_exists() -> None:
    document = (ROOT / "docs" / "security.md").read_text()
    references = REFERENCE.findall(document)
    assert len(references) >= 40, "the threat model should name its tests"
    missing = []
    for file, name in references:
        path = ROOT / file
        if not path.exists() or name not in _test_names(path):
            missing.append(f"{file}::{name}")
    assert missing == [], missing
