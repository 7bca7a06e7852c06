"""The layering rules of CONTRIBUTING.md, checked on the source.

Each module imports only from layers below it (modules of one domain layer do
not import each other), and each third-party dependency has one home.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "alerts"

LAYERS = {
    "config": 0,
    "errors": 0,
    "models": 0,
    "db": 1,
    "importer": 2,
    "targets": 2,
    "campaigns": 2,
    "render": 2,
    "links": 2,
    "send": 2,
    "tracking": 2,
    "stats": 2,
    "fake_sendgrid": 2,
    "outbox": 2,
    "pipeline": 3,
    "web": 4,
    "cli": 4,
}
ENTRY_POINTS = {"web", "cli"}

# dependency -> the modules (or packages) allowed to import it
HOMES = {
    "click": ("cli",),
    "starlette": ("web",),
    "uvicorn": ("web", "cli/serve"),
    "sendgrid": ("send",),
    "python_http_client": ("send",),
    "sqlite_utils": ("db",),
    "sqlite3": ("db",),
    "jinja2": ("render",),
    "markupsafe": ("render",),
    "mjml": ("render",),
    "premailer": ("render",),
    "markdown_it": ("render",),
}


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).with_suffix("").as_posix()
        yield name, ast.parse(path.read_text(encoding="utf-8"))


def imported_names(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            if node.module == "alerts":
                yield from (f"alerts.{alias.name}" for alias in node.names)


def test_every_module_has_a_layer():
    tops = {name.split("/")[0] for name, _ in modules()}
    unknown = tops - set(LAYERS) - {"__init__", "__main__"}
    assert not unknown, f"give these modules a layer in this test: {sorted(unknown)}"


@pytest.mark.parametrize(("name", "tree"), list(modules()), ids=lambda v: str(v)[:40])
def test_imports_only_from_layers_below(name, tree):
    top = name.split("/")[0]
    if top not in LAYERS:
        return
    for imported in imported_names(tree):
        parts = imported.split(".")
        if parts[0] != "alerts" or len(parts) < 2 or parts[1] not in LAYERS:
            continue
        dependency = parts[1]
        assert dependency not in ENTRY_POINTS or dependency == top, (
            f"{name} imports the entry point {dependency}"
        )
        if dependency != top:
            assert LAYERS[dependency] < LAYERS[top], f"{name} imports {dependency}"


@pytest.mark.parametrize(("name", "tree"), list(modules()), ids=lambda v: str(v)[:40])
def test_each_dependency_has_one_home(name, tree):
    for imported in imported_names(tree):
        homes = HOMES.get(imported.split(".")[0])
        if homes:
            assert any(name == home or name.startswith(home + "/") for home in homes), (
                f"{name} imports {imported}; only {', '.join(homes)} may"
            )
