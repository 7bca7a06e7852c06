"""Fixtures shared by the whole suite.

Tests run against real SQLite files in temporary folders, through Click's
CliRunner, with every ALERTS_* and SENDGRID_* variable removed so the
developer's own settings never leak in.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alerts.cli import main
from alerts.db import Database, open_db

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("ALERTS_", "SENDGRID_")) and not name.startswith("ALERTS_TEST_"):
            monkeypatch.delenv(name)


class Cli:
    """Runs `alerts ...` in-process and insists that nothing ended in a traceback."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, ok: bool | None = True) -> Result:
        result = self.runner.invoke(main, list(args), input=input, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(
                f"alerts {' '.join(args)} raised {result.exception!r}\n{result.output}"
            ) from result.exception
        if ok is True:
            assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
        elif ok is False:
            assert result.exit_code != 0, f"expected failure, got: {result.output}"
        return result


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> Path:
    """A fresh working folder made by `alerts init`, as the current directory.

    Settings that sending and rendering need are filled in.
    """
    monkeypatch.chdir(tmp_path)
    cli("init")
    config = tmp_path / "alerts.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + "\n".join(
            [
                'org_name = "Citizens Against Qualified Immunity"',
                'postal_address = "1 Test Street, Springfield, IL 62701"',
                'from_email = "updates@example.org"',
                'from_name = "End QI"',
                'reply_to = "team@example.org"',
                'base_url = "https://act.example.org"',
                "",
            ]
        ),
        encoding="utf-8",
    )
    return tmp_path


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_db(tmp_path / "test.db")
    yield database
    database.close()


@pytest.fixture
def shared_data() -> Path:
    """The public data files beside the project; tests needing them skip without them."""
    if not (SHARED_DATA / "legislators-current.yaml").exists():
        pytest.skip(f"public data files not found in {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests leave screenshots and reports for a person to look at."""
    path = Path(os.environ.get("ALERTS_TEST_ARTIFACTS", REPO / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_path() -> str | None:
    return os.environ.get("ALERTS_TEST_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright.

    Skips where Chromium is absent, except under CI (ALERTS_TEST_REQUIRE_BROWSER=1),
    where a missing browser is a failure.
    """
    executable = chromium_path()
    if executable is None:
        if os.environ.get("ALERTS_TEST_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed but ALERTS_TEST_REQUIRE_BROWSER is set")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on 127.0.0.1 serving a folder: (base URL, folder to fill)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()
    thread.join()
