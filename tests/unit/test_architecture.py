"""Imports point inward: the domain and the handlers never reach for I/O (DESIGN.md §2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INNER_PACKAGES = ("petitions", "handlers")  # handlers/ may not be written yet
FORBIDDEN = frozenset({"telegram", "aiohttp", "sqlalchemy", "storage", "bot"})
_DYNAMIC_IMPORTERS = frozenset({"import_module", "__import__"})


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """Return ``line: module`` for every forbidden module the source imports."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                modules = [first.value]
        found += [f"{node.lineno}: {m}" for m in modules if m.split(".")[0] in FORBIDDEN]
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in _DYNAMIC_IMPORTERS
    return isinstance(func, ast.Attribute) and func.attr in _DYNAMIC_IMPORTERS


def inner_modules() -> list[Path]:
    files: list[Path] = []
    for package in INNER_PACKAGES:
        directory = ROOT / package
        if directory.is_dir():
            files += sorted(directory.rglob("*.py"))
    return files


MODULES = inner_modules()


def test_the_domain_package_is_found_and_scanned() -> None:
    # Guards against a wrong ROOT silently turning every check below into a no-op.
    assert (ROOT / "petitions" / "lifecycle.py") in MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_inner_modules_import_no_channel_storage_or_service_code(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert forbidden_imports(source, str(path)) == []


@pytest.mark.parametrize(
    "source",
    [
        "import telegram",
        "import telegram.ext",
        "from telegram.ext import Application",
        "import aiohttp.web as web",
        "from sqlalchemy.ext.asyncio import AsyncSession",
        "import os, storage.vault",
        "from bot import cli",
        "from bot.telegram import adapter",
        "def f():\n    import sqlalchemy\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from storage import uow\n",
        "import importlib\nimportlib.import_module('aiohttp')",
        "__import__('telegram')",
    ],
)
def test_the_check_catches_every_way_of_importing_a_forbidden_module(source: str) -> None:
    assert forbidden_imports(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "import datetime",
        "from petitions.case import Case",
        "from . import storage",  # a sibling module that happens to share the name
        "from .bot import x",
        "import telegraph",
        "import botocore",
        "import storage_tools",
        "x = 'import telegram'",
    ],
)
def test_the_check_leaves_allowed_imports_alone(source: str) -> None:
    assert forbidden_imports(source) == []
