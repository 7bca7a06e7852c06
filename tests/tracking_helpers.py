"""For the tracking server's tests: seeded databases, tokens, signed webhooks, a server."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from alerts.config import Config
from alerts.db import Database, open_db
from alerts.email.links import Token, TokenKind, make_token, token_key

NOW = "2026-01-01T00:00:00Z"
LINK_URL = "https://example.org/act"
OTHER_CAMPAIGN_URL = "https://example.org/other"
SCRIPT_NAME = "<script>alert(1)</script>"


def seed(db: Database) -> None:
    """Two subscribers, two campaigns; campaign 1 has links 1 and 3, campaign 2 has link 2."""
    for sid, email, name in ((1, "ada@example.org", SCRIPT_NAME), (2, "bob@example.org", "Bob")):
        db.execute(
            "INSERT INTO subscribers (id, email, email_key, first_name, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [sid, email, email, name, NOW, NOW],
        )
    for cid in (1, 2):
        db.execute(
            "INSERT INTO campaigns (id, slug, kind, subject, created_at) VALUES (?, ?, ?, ?, ?)",
            [cid, f"c{cid}", "update", f"Campaign {cid}", NOW],
        )
    links = ((1, 1, LINK_URL), (2, 2, OTHER_CAMPAIGN_URL), (3, 1, "javascript:alert(1)"))
    for lid, cid, url in links:
        db.execute("INSERT INTO links (id, campaign_id, url) VALUES (?, ?, ?)", [lid, cid, url])
    db.conn.commit()


def seed_file(path: Path) -> None:
    db = open_db(path)
    seed(db)
    db.close()


def token(
    config: Config, kind: TokenKind, campaign: int = 1, subscriber: int = 1, link: int = 0
) -> str:
    return make_token(token_key(config.require("secret")), Token(kind, campaign, subscriber, link))


def tamper(text: str) -> str:
    """The same token with one character changed."""
    middle = len(text) // 2
    return text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]


def rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query the database through a separate connection, as another process would."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


def status_of(path: Path, subscriber: int) -> str:
    return rows(path, "SELECT status FROM subscribers WHERE id = ?", (subscriber,))[0][0]


class Signer:
    """A P-256 key pair standing in for SendGrid's webhook signing key."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode("ascii")

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.private.sign(stamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }


def sg_event(n: int, event: str = "delivered", **fields: Any) -> dict[str, Any]:
    """A SendGrid event for subscriber 1 of campaign 1, as the sender tags them."""
    base = {
        "email": "ada@example.org",
        "timestamp": 1_767_225_600 + n,
        "event": event,
        "sg_event_id": f"evt-{n}",
        "sg_message_id": f"msg-{n}.filter",
        "alerts_campaign": "1",
        "alerts_recipient": "1",
    }
    base.update(fields)
    return base


def payload(events: list[dict[str, Any]]) -> bytes:
    return (json.dumps(events) + "\r\n").encode("utf-8")


def alerts_command() -> list[str]:
    return [str(Path(sys.executable).with_name("alerts"))]


@contextmanager
def live_server(
    folder: Path, port: int, *args: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`alerts serve` as a real process in `folder`; yields its base URL and stops it after.

    The process sees none of our ALERTS_* and SENDGRID_* variables, only `env`'s.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTS_", "SENDGRID_"))}
    env = {**clean, **(env or {})}
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        [*alerts_command(), "serve", "--port", str(port), *args],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"alerts serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError("alerts serve did not answer /healthz within 30 s")
