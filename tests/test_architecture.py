"""Module boundaries of STYLE.md section 3, checked by walking every import with ast."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"core", "ashby_api", "store", "sync", "webhooks", "worker", "ashby_mcp", "ashby_sim", "delivery", "ashby_sync"}

# package -> (our packages it may import, module prefixes it must not import)
ALLOWED: dict[str, tuple[set[str], tuple[str, ...]]] = {
    "core": (set(), ("aiohttp", "arq", "asyncpg", "redis", "mcp")),
    "ashby_api": ({"core"}, ()),
    "store": ({"core", "ashby_api.models", "ashby_api.resources"}, ("aiohttp", "arq", "redis", "httpx")),
    "sync": ({"core", "ashby_api", "store"}, ("aiohttp.web", "arq")),
    "webhooks": (
        {"core", "ashby_api", "store.inbox", "store.pool", "store.errors", "store.accounts", "store.secrets"},
        (),
    ),
    "worker": ({"core", "ashby_api", "store", "sync"}, ()),
    "ashby_mcp": ({"core", "ashby_api", "store"}, ()),
    "ashby_sim": ({"core", "ashby_api.webhooks", "ashby_api.resources"}, ()),
    "delivery": ({"core", "store"}, ()),
    "ashby_sync": (OURS, ()),
}
STDLIB = set(sys.stdlib_module_names)
CORE_THIRD_PARTY = {"pydantic", "structlog"}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            assert node.module is not None
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
    return names


def allowed(name: str, prefixes: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def all_modules() -> list[tuple[str, Path]]:
    return [(pkg, p) for pkg in sorted(ALLOWED) for p in sorted((ROOT / pkg).rglob("*.py"))]


@pytest.mark.parametrize(("package", "path"), all_modules(), ids=lambda v: str(v))
def test_module_imports_respect_the_boundaries(package: str, path: Path) -> None:
    ours_allowed, banned = ALLOWED[package]
    for name in imports_of(path):
        top = name.split(".")[0]
        assert not allowed(name, set(banned)), f"{path.relative_to(ROOT)} imports {name}"
        if top in OURS and top != package:
            # `from ashby_api import models` is recorded both as ashby_api and ashby_api.models: accept either form
            # when the specific submodule is allowed.
            ok = allowed(name, ours_allowed) or any(p.startswith(name + ".") for p in ours_allowed)
            assert ok, f"{path.relative_to(ROOT)} ({package}) may not import {name}"
        if package == "core" and top not in OURS:
            assert top in STDLIB or top in CORE_THIRD_PARTY, f"{path.relative_to(ROOT)} imports {name}"


def test_no_production_code_imports_the_sandbox() -> None:
    for package in ALLOWED.keys() - {"ashby_sim", "ashby_sync"}:
        for path in (ROOT / package).rglob("*.py"):
            assert not any(n.split(".")[0] == "ashby_sim" for n in imports_of(path)), path
    # ashby_sync may use the sandbox only for `sandbox` and `demo`
    for path in (ROOT / "ashby_sync").rglob("*.py"):
        if any(n.split(".")[0] == "ashby_sim" for n in imports_of(path)):
            assert path.name in {"cli.py", "demo.py"}, path


def test_no_package_shadows_a_dependency() -> None:
    for banned in ("mcp", "ashby", "arq", "aiohttp", "redis"):
        assert not (ROOT / banned).exists(), banned
