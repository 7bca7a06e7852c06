"""The signup form from the outside: the snippet, the commands, stats, a real server killed."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from starlette.testclient import TestClient
from stats_data import build_letter_campaign
from tracking_helpers import alerts_command, wait_until_up

from alerts.config import Config
from alerts.db import open_db
from alerts.delivery.providers.sendgrid.standin import FakeSendGrid, Fault
from alerts.signups.form import SignupSettings, read_signup
from alerts.signups.start import start_signup
from alerts.web.app import create_app

API_KEY = "SG.forms-test"
BASE = "https://act.example.org"


def _set(project: Path, **values: str) -> None:
    """Set keys of the project's alerts.toml, replacing the lines `alerts init` wrote."""
    config = project / "alerts.toml"
    kept = [
        line
        for line in config.read_text(encoding="utf-8").splitlines()
        if line.split(" = ")[0] not in values
    ]
    lines = [*kept, *(f'{name} = "{value}"' for name, value in values.items())]
    config.write_text("\n".join(lines) + "\n", "utf-8")


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def _signup(project: Path, email: str, **attribution: Any) -> None:
    db = open_db(project / "subscribers.db")
    settings = SignupSettings.of(Config({}))
    signup = read_signup(
        {"email": email, "zip": "62701"}, settings.fields, "I agree", **attribution
    )
    start_signup(db, signup, client=None, confirm_days=7)
    db.conn.commit()
    db.close()


# --------------------------------------------------------------------------
# alerts forms snippet


def test_the_snippet_is_a_form_posting_to_join_with_escaped_attribution(cli, project):
    _set(project, signup_fields="first_name,zip*")
    out = cli("forms", "snippet", "--source", 'web"site', "--tag", "qi<2026>").output
    assert out.startswith('<form method="post" action="https://act.example.org/join"')
    assert '<input type="hidden" name="source" value="web&quot;site">' in out
    assert '<input type="hidden" name="tag" value="qi&lt;2026&gt;">' in out
    assert 'name="zip"' in out and " required>" in out
    assert 'name="website"' in out  # the honeypot
    assert "<script" not in out


def test_the_snippet_posts_from_a_listed_website_only(cli, project):
    _set(project, form_origins="https://www.example.org")
    snippet = cli("forms", "snippet", "--tag", "qi-letter").output
    fields = dict(re.findall(r'name="(token|tag)" value="([^"]*)"', snippet))
    form = {**fields, "email": "ann@example.com", "first_name": "", "last_name": "", "zip": ""}
    config = Config.load(project / "alerts.toml")
    with TestClient(create_app(project / "subscribers.db", config), base_url=BASE) as client:
        listed = client.post("/join", data=form, headers={"Origin": "https://www.example.org"})
        other = client.post("/join", data=form, headers={"Origin": "https://other.example"})
        # The snippet's token does not expire, so it does not count on our own page.
        own = client.post("/join", data=form, headers={"Origin": BASE})
    assert listed.status_code == 200 and "Check your inbox" in listed.text
    assert other.status_code == 403
    assert own.status_code == 400
    assert _rows(project / "subscribers.db", "SELECT email, tags FROM signups") == [
        ("ann@example.com", '["qi-letter"]')
    ]


# --------------------------------------------------------------------------
# alerts subscribers pending, forget, stats


def test_pending_lists_unconfirmed_signups_as_text_and_json(cli, project):
    assert "No signups are waiting" in cli("subscribers", "pending").output
    _signup(project, "ann@example.com", source="website")
    text = cli("subscribers", "pending").output
    assert "ann@example.com" in text and "website" in text
    (item,) = json.loads(cli("subscribers", "pending", "--format", "json").output)
    assert item["email"] == "ann@example.com" and item["zip"] == "62701"
    assert "ann@example.com" not in cli("subscribers", "list").output  # not a subscriber


def test_forget_erases_a_pending_signup(cli, project):
    _signup(project, "ann@example.com")
    assert "Forgotten" in cli("subscribers", "forget", "ann@example.com").output
    assert json.loads(cli("subscribers", "pending", "--format", "json").output) == []


def test_stats_count_the_signups_a_campaign_brought(cli, project):
    db = open_db(project / "subscribers.db")
    build_letter_campaign(db)
    db.conn.commit()
    db.close()
    _signup(project, "a@example.com", campaign="qi-letter")  # its /act page
    _signup(project, "b@example.com", tags=["qi-letter"])
    _signup(project, "c@example.com", source="qi-letter")
    _signup(project, "d@example.com", source="website")  # another campaign's, or none
    figures = json.loads(cli("stats", "qi-letter", "--format", "json").output)
    signups = figures["public"]["signups"]
    assert signups["totals"] == {"confirmed": 0, "pending": 3, "expired": 0, "refused": 0}
    assert [row["source"] for row in signups["by_source"]] == [None, "qi-letter"]
    assert [row["pending"] for row in signups["by_day"]] == [3]
    table = cli("stats", "qi-letter").output
    assert "Signups from the website" in table


# --------------------------------------------------------------------------
# A real server killed with confirmations queued


def _start(project: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTS_", "SENDGRID_"))}
    log = (project / "server.log").open("ab")
    server = subprocess.Popen(
        [*alerts_command(), "serve", "--port", str(port), "--no-access-log"],
        cwd=project,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**env, "SENDGRID_API_KEY": API_KEY},
    )
    wait_until_up(f"http://127.0.0.1:{port}", server)
    return server


def _join(base: str, email: str) -> int:
    with urllib.request.urlopen(base + "/join", timeout=10) as page:
        token = re.search(r'name="token" value="([^"]+)"', page.read().decode())
    assert token
    body = urllib.parse.urlencode({"token": token.group(1), "email": email}).encode()
    request = urllib.request.Request(base + "/join", body, headers={"Origin": BASE})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)


def _wait(what: str, check: object, seconds: float = 60, details: Any = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f": {details()}" if details else ""))


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(api_key=API_KEY) as server:
        yield server


def test_a_kill_minus_9_loses_no_confirmation_and_sends_none_twice(
    project: Path, fake: FakeSendGrid
):
    _set(project, sendgrid_host=fake.url, signup_fields="")
    db_path = project / "subscribers.db"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fake.inject(Fault("status", status=503, times=10_000))  # SendGrid is down
    server = _start(project, port)
    emails = [f"person{i}@example.com" for i in range(6)]
    try:
        assert [_join(base, email) for email in emails] == [200] * 6
        _wait(
            "every message tried once",
            lambda: _rows(db_path, "SELECT MIN(attempts), COUNT(*) FROM signup_mail") == [(1, 6)],
        )
        with sqlite3.connect(db_path) as conn:  # as if killed between claim and send
            conn.execute("UPDATE signup_mail SET state = 'sending', claimed_at = 1 WHERE id = 1")
            # and as if the retries' times had come while the server was down, so a slow
            # machine's extra retries before the kill cannot push them past the wait below
            conn.execute("UPDATE signup_mail SET next_at = 0 WHERE state = 'queued'")
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    assert fake.deliveries() == []
    fake.clear_faults()  # SendGrid is back
    server = _start(project, port)
    try:
        _wait(
            "every message sent",
            lambda: (
                _rows(db_path, "SELECT COUNT(*) FROM signup_mail WHERE state = 'sent'") == [(6,)]
            ),
            details=lambda: (
                f"{_rows(db_path, 'SELECT id, state, attempts, next_at, error FROM signup_mail')}"
                f"\n{(project / 'server.log').read_text(errors='replace')[-3000:]}"
            ),
        )
        time.sleep(1.5)  # a second pass of the sender finds nothing more to send
    finally:
        server.terminate()
        server.wait(timeout=30)
    sent = sorted(delivery.email for delivery in fake.deliveries())
    assert sent == sorted(emails)
