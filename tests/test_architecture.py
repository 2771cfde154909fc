"""House rules a machine can check: core rooms stay pure, ga4gh stays a namespace package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["common", "config", "fhir_server", "ga4gh", "trust_center", "platform_provider"]
FORBIDDEN_IN_CORE = {"flask", "werkzeug", "sqlalchemy", "sqlmodel", "authlib", "alembic", "psycopg"}


def _core_modules() -> list[Path]:
    found = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).parts
            if "core" in rel[:-1] or path.name == "core.py":
                found.append(path)
    return found


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_there_are_core_modules() -> None:
    assert _core_modules(), "no core modules found: the check below would be vacuous"


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_framework(path: Path) -> None:
    bad = _imports(path) & FORBIDDEN_IN_CORE
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_ga4gh_is_a_namespace_package() -> None:
    assert not (ROOT / "ga4gh" / "__init__.py").exists()
