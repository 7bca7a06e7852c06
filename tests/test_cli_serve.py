"""`alerts serve` start-up checks and a real multi-worker server; `alerts events ingest`."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port
from tracking_helpers import LINK_URL, live_server, payload, rows, seed_file, sg_event, token

from alerts.config import Config
from alerts.email.links import TokenKind


@pytest.fixture
def no_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up checks must fail before the server starts; if one does not, fail fast too."""

    def started(*args, **kwargs):
        raise AssertionError("uvicorn.run was called")

    monkeypatch.setattr("uvicorn.run", started)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ALERTS_BASE_URL", "", "base_url is not set"),
        ("ALERTS_BASE_URL", "act.example.org", "base_url must be an http(s) URL"),
        ("ALERTS_SECRET", "", "secret is not set"),
        ("ALERTS_SENDGRID_WEBHOOK_PUBLIC_KEY", "not-a-key", "sendgrid_webhook_public_key: not a"),
    ],
)
def test_serve_fails_fast_on_bad_settings(
    cli, project: Path, no_uvicorn, monkeypatch, variable: str, value: str, message: str
):
    monkeypatch.setenv(variable, value)
    result = cli("serve", "--port", str(free_port()), ok=False)
    assert result.output.startswith(f"Error: {message}")
    assert result.output.count("\n") == 1


def test_serve_fails_fast_when_the_port_is_taken(cli, project: Path, no_uvicorn):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", str(port), ok=False)
    assert result.output == f"Error: port {port} on 127.0.0.1 is already in use\n"


@pytest.mark.slow
def test_serve_runs_several_workers(project: Path):
    seed_file(project / "subscribers.db")
    config = Config.load(project / "alerts.toml", env={})
    click = token(config, TokenKind.CLICK, link=1)
    with live_server(project, free_port(), "--workers", "2") as base:
        for _ in range(20):
            request = urllib.request.Request(f"{base}/c/{click}", method="HEAD")
            opener = urllib.request.build_opener(NoRedirect)
            with opener.open(request, timeout=10) as answer:
                assert answer.status == 302 and answer.headers["Location"] == LINK_URL
    db = project / "subscribers.db"
    assert rows(db, "SELECT COUNT(*), SUM(machine) FROM events WHERE kind = 'click'") == [(20, 20)]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

    def http_error_302(self, req, fp, code, msg, headers):
        return fp


# --------------------------------------------------------------------------
# alerts events ingest


def test_ingest_loads_a_saved_payload_and_is_safe_to_repeat(cli, project: Path):
    seed_file(project / "subscribers.db")
    saved = project / "events.json"
    saved.write_bytes(payload([sg_event(n) for n in range(3)] + [sg_event(9, "bounce")]))
    first = cli("events", "ingest", str(saved))
    assert first.output.splitlines()[0] == f"{saved}: 4 events"
    assert "  recorded: 4" in first.output and "  status changes: 1" in first.output
    second = cli("events", "ingest", str(saved), "--format", "json")
    counts = json.loads(second.output)
    assert counts == {"received": 4, "recorded": 0, "duplicates": 4,
                      "ignored": 0, "invalid": 0, "status_changes": 0}  # fmt: skip
    db = project / "subscribers.db"
    assert rows(db, "SELECT COUNT(*) FROM events")[0][0] == 4
    assert rows(db, "SELECT status FROM subscribers WHERE id = 1") == [("bounced",)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[{", "not valid JSON (line 1, column 3"),
        (b"", "not valid JSON (line 1, column 1"),
        (b'{"event": "bounce"}', "expected a JSON array of events, found an object"),
        (b'[{"event": "bounce"}, "x"]', "event 2 is a string, not an object"),
        (b"\x89PNG\r\n\x1a\n", "not UTF-8 text"),
    ],
)
def test_ingest_refuses_bad_files_in_one_line(cli, project: Path, content: bytes, message: str):
    seed_file(project / "subscribers.db")
    saved = project / "bad.json"
    saved.write_bytes(content)
    result = cli("events", "ingest", str(saved), ok=False)
    assert result.output.startswith(f"Error: {saved}: {message}")
    assert result.output.count("\n") == 1
    assert rows(project / "subscribers.db", "SELECT COUNT(*) FROM events")[0][0] == 0


@pytest.mark.parametrize(("name", "message"), [("missing.json", "No such file"), (".", "Is a")])
def test_ingest_names_a_missing_file_or_folder(cli, project: Path, name: str, message: str):
    result = cli("events", "ingest", name, ok=False)
    assert result.output.startswith(f"Error: {name}: {message}")
    assert result.output.count("\n") == 1
