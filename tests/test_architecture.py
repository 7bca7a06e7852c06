"""The layering rules of CONTRIBUTING.md, checked on the source.

A module imports only from its own package or from layers below it; packages
of one layer do not import each other; nothing imports the entry points; each
third-party dependency has a home, and only its home imports it.

Imports are read with `ast.walk`, so imports inside functions and under
`if TYPE_CHECKING:` count, and relative imports are resolved against the
importing module's package. The checker is tested on small sources first, so
a hole in it fails here rather than letting the package pass.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO / "alerts"
ROOT = "__init__"  # alerts/__init__.py: the version, nothing else

# Each top-level module or package of alerts/ -> its layer.
LAYERS = {
    ROOT: 0,
    "config": 0,
    "errors": 0,
    "models": 0,
    "clock": 0,
    "standins": 0,
    "files": 0,
    "db": 1,
    "subscribers": 2,
    "targets": 2,
    "campaigns": 2,
    "bills": 2,
    "email": 3,
    "delivery": 3,
    "tracking": 3,
    "reports": 3,
    "letters": 4,
    "pipeline": 4,
    "signups": 4,
    "cli": 5,
    "web": 5,
    "__main__": 6,  # `python -m alerts`: runs the CLI
}
ENTRY_POINTS = ("cli", "web")
LAUNCHER = "__main__"

# Top-level import name -> the modules or packages (paths under alerts/) that may import it.
HOMES = {
    "click": ("cli",),
    "starlette": ("web",),
    "uvicorn": ("web", "cli/serve"),
    "sendgrid": ("delivery/providers/sendgrid",),
    "python_http_client": ("delivery/providers/sendgrid",),
    "cryptography": ("delivery/providers/sendgrid",),
    "sqlite3": ("db",),
    "sqlite_utils": ("db",),
    "jinja2": ("email", "web", "reports"),
    "markupsafe": ("email", "web", "reports"),
    "mjml": ("email",),
    "premailer": ("email",),
    "markdown_it": ("email",),
    "yaml": ("campaigns", "targets"),
    "email_validator": ("subscribers", "campaigns"),
}


@dataclass(frozen=True)
class Module:
    path: str  # relative to alerts/, without .py: "db/ledger", "db/__init__"
    tree: ast.Module

    @classmethod
    def parse(cls, path: str, source: str) -> Module:
        return cls(path.removesuffix(".py"), ast.parse(source, filename=path))

    @property
    def unit(self) -> str:
        return self.path.split("/")[0]

    @property
    def package(self) -> list[str]:
        """The dotted package that `from . import` means inside this module."""
        parts = ["alerts", *self.path.split("/")]
        parts.pop()  # a module's package is its folder; a package's __init__ is itself
        return parts


@dataclass(frozen=True)
class Import:
    module: Module
    line: int
    target: str  # absolute dotted name: "alerts.db.ledger", "alerts.config.Config", "yaml"

    @property
    def top(self) -> str:
        return self.target.split(".")[0]

    @property
    def unit(self) -> str | None:
        """The top-level part of alerts it reaches, or None for anything outside alerts."""
        parts = self.target.split(".")
        if parts[0] != "alerts":
            return None
        if len(parts) > 1 and parts[1] in LAYERS:
            return parts[1]
        return ROOT  # `import alerts`, `from alerts import __version__`

    def __str__(self) -> str:
        return f"alerts/{self.module.path}.py:{self.line}: imports {self.target}"


def relative_base(module: Module, node: ast.ImportFrom) -> str:
    package = module.package
    if node.level - 1 >= len(package):
        raise ValueError(f"alerts/{module.path}.py:{node.lineno}: relative import beyond alerts")
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(module: Module) -> Iterator[Import]:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = relative_base(module, node) if node.level else str(node.module)
            for alias in node.names:
                name = base if alias.name == "*" else f"{base}.{alias.name}"
                yield Import(module, node.lineno, name)


def all_imports(modules: Iterable[Module]) -> Iterator[Import]:
    for module in modules:
        yield from imports(module)


def is_under(module: Module, home: str) -> bool:
    return module.path == home or module.path.startswith(home + "/")


def layer_violations(modules: Iterable[Module]) -> list[str]:
    found = []
    for imp in all_imports(modules):
        here, there = imp.module.unit, imp.unit
        if there is None or there == here:
            continue
        if here not in LAYERS:
            found.append(f"{imp}: give {here} a layer in LAYERS")
        elif LAYERS[there] == LAYERS[here]:
            found.append(f"{imp}: {there} is in the same layer ({LAYERS[here]}) as {here}")
        elif LAYERS[there] > LAYERS[here]:
            found.append(f"{imp}: {there} (layer {LAYERS[there]}) is above {here}")
    return found


def entry_point_violations(modules: Iterable[Module]) -> list[str]:
    found = []
    for imp in all_imports(modules):
        if imp.unit in ENTRY_POINTS and imp.module.unit not in (imp.unit, LAUNCHER):
            found.append(f"{imp}: nothing imports the entry point {imp.unit}")
    return found


def is_third_party(name: str) -> bool:
    return name != "alerts" and name not in sys.stdlib_module_names


def unplaced_dependencies(modules: Iterable[Module]) -> list[str]:
    return [
        f"{imp}: give {imp.top} a home in HOMES"
        for imp in all_imports(modules)
        if is_third_party(imp.top) and imp.top not in HOMES
    ]


def misplaced_dependencies(modules: Iterable[Module]) -> list[str]:
    return [
        f"{imp}: only {', '.join(HOMES[imp.top])} may import {imp.top}"
        for imp in all_imports(modules)
        if imp.top in HOMES and not any(is_under(imp.module, home) for home in HOMES[imp.top])
    ]


def package_modules() -> list[Module]:
    return [
        Module.parse(path.relative_to(PACKAGE_DIR).as_posix(), path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
    ]


def snippet(path: str, source: str) -> list[Module]:
    return [Module.parse(path, source)]


def lines(found: list[str]) -> str:
    return "\n" + "\n".join(found)


# The checker itself, on small sources: each rule must catch what it is for.


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("models.py", "from . import pipeline"),
        ("reports/figures.py", "from .. import pipeline"),
        ("reports/__init__.py", "from .. import pipeline"),
        ("email/compile.py", "from ..pipeline import run_send"),
        ("campaigns/files.py", "from ..targets import lookup"),
        ("campaigns/files.py", "from alerts.targets.lookup import Roster"),
        ("db/ledger.py", "def later():\n    from alerts.subscribers import importing"),
        (
            "db/ledger.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import alerts.email",
        ),
        ("config.py", "from alerts import errors"),
        ("config.py", "from . import models"),
        ("delivery/providers/sendgrid/standin.py", "from .... import tracking"),
        ("cli/serve.py", "from alerts.web import app"),
        ("web/app.py", "from alerts.cli import main"),
        ("letters/__init__.py", "from ..pipeline import x"),
    ],
)
def test_checker_catches_an_import_across_the_layers(path, source):
    assert layer_violations(snippet(path, source))


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("campaigns/segments.py", "from .files import Campaign\nfrom . import files"),
        ("db/__init__.py", "from . import ledger\nfrom .connection import open_db"),
        (
            "delivery/providers/sendgrid/standin.py",
            "from .. import provider\nfrom ...engine import x",
        ),
        ("reports/figures.py", "from ..db import stats\nfrom alerts.targets import lookup"),
        ("pipeline.py", "from .delivery import engine\nfrom . import errors"),
        ("web/app.py", "import alerts\nfrom alerts import __version__"),
        ("email/outbox.py", "import email.message\nfrom email.utils import formatdate"),
        ("__main__.py", "from alerts.cli import main"),
    ],
)
def test_checker_allows_imports_from_below_and_within(path, source):
    modules = snippet(path, source)
    assert not layer_violations(modules) + entry_point_violations(modules)


def test_checker_rejects_a_relative_import_beyond_the_package():
    with pytest.raises(ValueError, match="beyond alerts"):
        layer_violations(snippet("db/ledger.py", "from ... import x"))


def test_checker_catches_a_package_without_a_layer():
    found = layer_violations(snippet("surveys/forms.py", "from alerts.db import connection"))
    assert found == [
        "alerts/surveys/forms.py:1: imports alerts.db.connection: give surveys a layer in LAYERS"
    ]


def test_checker_catches_an_import_of_an_entry_point():
    assert entry_point_violations(snippet("pipeline.py", "def f():\n    from . import web"))
    assert entry_point_violations(snippet("letters/page.py", "import alerts.cli._output"))


def test_checker_catches_a_dependency_without_a_home():
    found = unplaced_dependencies(snippet("email/compile.py", "def f():\n    import requests"))
    assert found == ["alerts/email/compile.py:2: imports requests: give requests a home in HOMES"]
    assert not unplaced_dependencies(snippet("email/compile.py", "import json\nimport jinja2"))


def test_checker_catches_a_dependency_outside_its_home():
    assert misplaced_dependencies(snippet("db/ledger.py", "from click import echo"))
    assert misplaced_dependencies(snippet("cli/send.py", "import uvicorn"))
    assert misplaced_dependencies(snippet("delivery/engine.py", "import sendgrid.helpers"))
    assert misplaced_dependencies(snippet("web/app.py", "import sqlite3"))
    assert not misplaced_dependencies(
        snippet("delivery/providers/sendgrid/client.py", "import sendgrid")
    )
    assert not misplaced_dependencies(snippet("cli/serve.py", "import uvicorn"))


# The package.


def test_every_module_has_a_layer():
    units = {module.unit for module in package_modules()}
    assert not units - set(LAYERS), f"give these a layer in this test: {units - set(LAYERS)}"


def test_imports_only_from_its_own_package_or_layers_below():
    found = layer_violations(package_modules())
    assert not found, lines(found)


def test_nothing_imports_the_entry_points():
    found = entry_point_violations(package_modules())
    assert not found, lines(found)


def test_every_third_party_dependency_has_a_home():
    found = unplaced_dependencies(package_modules())
    assert not found, lines(found)


def test_each_dependency_is_imported_only_in_its_home():
    found = misplaced_dependencies(package_modules())
    assert not found, lines(found)


def normalised(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def test_every_imported_dependency_is_declared_in_pyproject():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {
        normalised(re.match(r"[A-Za-z0-9._-]+", requirement).group())
        for requirement in pyproject["project"]["dependencies"]
    }
    distributions = importlib.metadata.packages_distributions()
    undeclared = sorted(
        f"{imp}: declare {' or '.join(distributions.get(imp.top, [imp.top]))}"
        for imp in all_imports(package_modules())
        if is_third_party(imp.top)
        and not {normalised(d) for d in distributions.get(imp.top, [imp.top])} & declared
    )
    assert not undeclared, lines(undeclared)


def test_the_web_app_named_by_the_serve_command_exists():
    """cli/serve.py starts the web app by its import string, not by importing it."""
    serve = next(module for module in package_modules() if module.path == "cli/serve")
    named = [
        node.value
        for node in ast.walk(serve.tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"alerts(\.\w+)+:\w+", node.value)
    ]
    assert named, "cli/serve.py no longer names the web app by an import string"
    for target in named:
        module_name, attribute = target.split(":")
        assert hasattr(importlib.import_module(module_name), attribute), target
