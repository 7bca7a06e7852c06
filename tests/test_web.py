"""alerts.web: the tracking server's routes, in-process (TestClient) and as a real process."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import sqlite3
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import free_port
from starlette.testclient import TestClient
from tracking_helpers import (
    LINK_URL,
    SCRIPT_NAME,
    Signer,
    alerts_command,
    live_server,
    payload,
    rows,
    seed_file,
    sg_event,
    status_of,
    tamper,
    token,
)

from alerts.config import Config
from alerts.db import open_db
from alerts.email.links import TokenKind
from alerts.subscribers import lifecycle
from alerts.tracking import committer
from alerts.web.app import create_app, route_label
from alerts.web.tracking import PIXEL
from alerts.web.webhooks import WEBHOOK_BODY_LIMIT

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
SETTINGS = {
    "secret": "test-secret-for-tokens",
    "base_url": "https://act.example.org",
    "org_name": "End QI",
    "postal_address": "1 Test Street, Springfield, IL 62701",
}


@dataclass
class Server:
    client: TestClient
    db: Path
    config: Config

    def token(self, kind: TokenKind, campaign: int = 1, subscriber: int = 1, link: int = 0) -> str:
        return token(self.config, kind, campaign, subscriber, link)

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return rows(self.db, "SELECT COUNT(*) FROM events")[0][0]
        return rows(self.db, "SELECT COUNT(*) FROM events WHERE kind = ?", (kind,))[0][0]


def _server(tmp_path: Path, **settings: str) -> Iterator[Server]:
    path = tmp_path / "web.db"
    seed_file(path)
    config = Config({**SETTINGS, **settings})
    with TestClient(create_app(path, config), follow_redirects=False) as client:
        client.headers["User-Agent"] = CHROME
        yield Server(client, path, config)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    yield from _server(tmp_path)


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def signed_server(tmp_path: Path, signer: Signer) -> Iterator[Server]:
    yield from _server(tmp_path, sendgrid_webhook_public_key=signer.public_key)


# --------------------------------------------------------------------------
# Opens


def test_open_pixel_records_an_open_and_is_never_cached(server: Server):
    answer = server.client.get(f"/o/{server.token(TokenKind.OPEN)}.gif")
    assert answer.status_code == 200
    assert answer.content == PIXEL and answer.headers["content-type"] == "image/gif"
    assert "no-store" in answer.headers["cache-control"]
    assert rows(server.db, "SELECT kind, campaign_id, subscriber_id, machine FROM events") == [
        ("open", 1, 1, 0)
    ]


@pytest.mark.parametrize("variant", ["tampered", "click_token", "garbage", "missing_campaign"])
def test_a_bad_open_token_still_gets_the_gif_but_records_nothing(server: Server, variant: str):
    good = server.token(TokenKind.OPEN)
    bad = {
        "tampered": tamper(good),
        "click_token": server.token(TokenKind.CLICK, link=1),
        "garbage": "%00%ff<script>",
        "missing_campaign": server.token(TokenKind.OPEN, campaign=77),
    }[variant]
    answer = server.client.get(f"/o/{bad}.gif")
    assert answer.status_code == 200 and answer.content == PIXEL
    assert server.count() == 0


def test_apple_proxy_opens_are_machine_opens(server: Server):
    server.client.get(
        f"/o/{server.token(TokenKind.OPEN)}.gif", headers={"User-Agent": "Mozilla/5.0"}
    )
    assert rows(server.db, "SELECT machine, detail FROM events") == [
        (1, '{"machine": "apple_privacy_proxy"}')
    ]


# --------------------------------------------------------------------------
# Clicks


def test_click_redirects_to_the_campaign_link_and_records_it(server: Server):
    answer = server.client.get(f"/c/{server.token(TokenKind.CLICK, link=1)}")
    assert answer.status_code == 302 and answer.headers["location"] == LINK_URL
    assert "no-store" in answer.headers["cache-control"]
    assert rows(
        server.db, "SELECT kind, campaign_id, subscriber_id, link_id, machine FROM events"
    ) == [("click", 1, 1, 1, 0)]


def test_the_sample_recipient_of_previews_and_test_sends_is_never_recorded(server: Server):
    # Previews and `alerts send --test` address the made-up subscriber 0: its links
    # work for the staff member trying them, but count in no campaign.
    click = server.client.get(f"/c/{server.token(TokenKind.CLICK, subscriber=0, link=1)}")
    assert click.status_code == 302 and click.headers["location"] == LINK_URL
    pixel = server.client.get(f"/o/{server.token(TokenKind.OPEN, subscriber=0)}.gif")
    assert pixel.status_code == 200 and pixel.content == PIXEL
    assert server.count() == 0


def test_a_forgotten_persons_old_links_work_and_record_nothing(server: Server):
    server.client.get(f"/o/{server.token(TokenKind.OPEN)}.gif")
    assert server.count() == 1
    forget = open_db(server.db)
    lifecycle.forget(forget, "ada@example.org")
    forget.close()
    assert rows(server.db, "SELECT user_agent FROM events") == [(None,)]

    # Ada's email is still in her inbox: she opens it again and clicks its link.
    pixel = server.client.get(f"/o/{server.token(TokenKind.OPEN)}.gif")
    click = server.client.get(f"/c/{server.token(TokenKind.CLICK, link=1)}")
    assert pixel.content == PIXEL
    assert click.status_code == 302 and click.headers["location"] == LINK_URL
    # SendGrid reports its own open of the same message.
    hook = server.client.post(
        "/webhooks/sendgrid", content=payload([sg_event(1, "open", useragent=CHROME)])
    )
    assert hook.status_code == 200 and hook.json()["ignored"] == 1
    assert rows(server.db, "SELECT kind, subscriber_id, user_agent FROM events") == [
        ("open", 1, None)
    ]


def test_head_on_a_click_is_a_machine_click(server: Server):
    answer = server.client.head(f"/c/{server.token(TokenKind.CLICK, link=1)}")
    assert answer.status_code == 302
    assert rows(server.db, "SELECT machine, detail FROM events") == [
        (1, '{"machine": "head_request"}')
    ]


def test_scanner_user_agents_are_machine_clicks(server: Server):
    server.client.get(
        f"/c/{server.token(TokenKind.CLICK, link=1)}",
        headers={"User-Agent": "Mozilla/5.0 (compatible; Mimecast URL protect)"},
    )
    assert rows(server.db, "SELECT machine FROM events") == [(1,)]


@pytest.mark.parametrize(
    "path",
    [
        "/c/{tampered}",
        "/c/{other_campaign}",  # link 2 is campaign 2's: a valid token cannot borrow it
        "/c/{javascript}",  # link 3 holds a javascript: URL
        "/c/{unknown_link}",
        "/c/{open_token}",
        "/c/https://evil.example/",
        "/c/https%3A%2F%2Fevil.example%2F",
        "/c/evil.example",
        "/c/",
    ],
)
def test_no_open_redirect(server: Server, path: str):
    good = server.token(TokenKind.CLICK, link=1)
    url = path.format(
        tampered=tamper(good),
        other_campaign=server.token(TokenKind.CLICK, campaign=1, link=2),
        javascript=server.token(TokenKind.CLICK, link=3),
        unknown_link=server.token(TokenKind.CLICK, link=404),
        open_token=server.token(TokenKind.OPEN),
    )
    answer = server.client.get(url)
    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert server.count() == 0


def test_query_parameters_cannot_choose_the_target(server: Server):
    good = server.token(TokenKind.CLICK, link=1)
    answer = server.client.get(f"/c/{good}?url=https://evil.example/&next=//evil.example")
    assert answer.headers["location"] == LINK_URL


# --------------------------------------------------------------------------
# Unsubscribe


def test_unsubscribe_page_escapes_the_name_and_changes_nothing(server: Server):
    url = f"/u/{server.token(TokenKind.UNSUBSCRIBE)}"
    page = server.client.get(url)
    server.client.head(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert SCRIPT_NAME not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert '<form method="post">' in page.text and "<button" in page.text
    assert "a…@example.org" in page.text and "ada@example.org" not in page.text
    assert "1 Test Street" in page.text  # the organisation's footer
    assert status_of(server.db, 1) == "subscribed" and server.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("List-Unsubscribe=One-Click", "application/x-www-form-urlencoded"),
        (
            '--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click'
            "\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        ("", "application/x-www-form-urlencoded"),
    ],
)
def test_one_click_post_unsubscribes_once(server: Server, body: str, content_type: str):
    url = f"/u/{server.token(TokenKind.UNSUBSCRIBE)}"
    for _ in range(2):
        answer = server.client.post(url, content=body, headers={"Content-Type": content_type})
        assert answer.status_code == 200 and "You are unsubscribed" in answer.text
        assert SCRIPT_NAME not in answer.text
    assert status_of(server.db, 1) == "unsubscribed"
    assert rows(server.db, "SELECT kind, campaign_id, subscriber_id FROM events") == [
        ("unsubscribe", 1, 1)
    ]
    assert "You are unsubscribed" in server.client.get(url).text
    assert status_of(server.db, 2) == "subscribed"


def test_unsubscribe_with_a_bad_token_changes_nothing(server: Server):
    bad = tamper(server.token(TokenKind.UNSUBSCRIBE))
    assert server.client.get(f"/u/{bad}").status_code == 404
    assert server.client.post(f"/u/{bad}", content="List-Unsubscribe=One-Click").status_code == 404
    click = server.token(TokenKind.CLICK, link=1)  # a valid token of another kind
    assert server.client.post(f"/u/{click}").status_code == 404
    assert status_of(server.db, 1) == "subscribed" and server.count() == 0


def test_a_huge_unsubscribe_body_is_refused(server: Server):
    url = f"/u/{server.token(TokenKind.UNSUBSCRIBE)}"
    answer = server.client.post(url, content=b"x" * 100_000)
    assert answer.status_code == 413
    assert status_of(server.db, 1) == "subscribed"


# --------------------------------------------------------------------------
# SendGrid webhook


def test_unsigned_webhook_is_accepted_when_no_key_is_set(server: Server):
    answer = server.client.post("/webhooks/sendgrid", content=payload([sg_event(1, "bounce")]))
    assert answer.status_code == 200
    assert answer.json()["recorded"] == 1 and answer.json()["status_changes"] == 1
    assert status_of(server.db, 1) == "bounced"


def test_signed_webhook_is_verified_and_deduplicated(signed_server: Server, signer: Signer):
    body = payload([sg_event(1, "spamreport"), sg_event(2, "delivered")])
    headers = signer.headers(body)
    first = signed_server.client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert first.status_code == 200 and first.json()["recorded"] == 2
    assert status_of(signed_server.db, 1) == "complained"
    replay = signed_server.client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert replay.status_code == 200 and replay.json()["duplicates"] == 2
    assert signed_server.count() == 2


@pytest.mark.parametrize("attack", ["unsigned", "forged", "stale_replay", "altered_body"])
def test_forged_or_replayed_webhooks_get_403(signed_server: Server, signer: Signer, attack: str):
    body = payload([sg_event(1, "bounce")])
    headers = {
        "unsigned": {},
        "forged": Signer().headers(body),
        "stale_replay": signer.headers(body, timestamp=1_700_000_000),
        "altered_body": signer.headers(payload([sg_event(1, "delivered")])),
    }[attack]
    answer = signed_server.client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert answer.status_code == 403
    assert signed_server.count() == 0 and status_of(signed_server.db, 1) == "subscribed"


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"[{", 400), (b'{"event": "bounce"}', 400), (b"[1, 2]", 400), (b"\xff\xfe", 400)],
)
def test_bad_webhook_bodies_get_400(server: Server, body: bytes, status: int):
    answer = server.client.post("/webhooks/sendgrid", content=body)
    assert answer.status_code == status
    assert answer.text.startswith("webhook body: ")


def test_an_oversized_webhook_is_refused_by_its_length(server: Server):
    answer = server.client.post(
        "/webhooks/sendgrid", content=b"[" + b" " * WEBHOOK_BODY_LIMIT + b"]"
    )
    assert answer.status_code == 413


def test_an_oversized_chunked_webhook_is_refused_while_reading(server: Server):
    def chunks() -> Iterator[bytes]:
        for _ in range(WEBHOOK_BODY_LIMIT // 65536 + 2):
            yield b" " * 65536

    answer = server.client.post("/webhooks/sendgrid", content=chunks())
    assert answer.status_code == 413


def test_a_webhook_batch_of_thousands(server: Server):
    events = [sg_event(n, "delivered") for n in range(6000)]
    events += [sg_event(7000, "bounce", email="bob@example.org", alerts_recipient="2")]
    answer = server.client.post("/webhooks/sendgrid", content=payload(events))
    assert answer.status_code == 200
    assert answer.json() == {"received": 6001, "recorded": 6001, "duplicates": 0, "ignored": 0,
                             "invalid": 0, "status_changes": 1}  # fmt: skip
    assert server.count("delivered") == 6000 and status_of(server.db, 2) == "bounced"


# --------------------------------------------------------------------------
# The rest


def test_healthz_and_unknown_routes(server: Server):
    assert server.client.get("/healthz").text == "ok\n"
    missing = server.client.get("/nothing/here@example.org")
    assert missing.status_code == 404 and "This link does not work" in missing.text
    assert server.client.delete(f"/c/{server.token(TokenKind.CLICK, link=1)}").status_code == 405
    assert server.client.get("/webhooks/sendgrid").status_code == 405
    assert server.client.get("/static/alerts.css").status_code == 200


def test_every_answer_carries_the_security_headers(server: Server):
    for answer in (
        server.client.get("/healthz"),
        server.client.get(f"/u/{server.token(TokenKind.UNSUBSCRIBE)}"),
        server.client.get("/nope"),
    ):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_nothing_is_acknowledged_when_the_database_cannot_commit(server: Server, monkeypatch):
    def locked(db):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(committer, "write_transaction", locked)
    click = server.client.get(f"/c/{server.token(TokenKind.CLICK, link=1)}")
    hook = server.client.post("/webhooks/sendgrid", content=payload([sg_event(1, "bounce")]))
    unsubscribe = server.client.post(f"/u/{server.token(TokenKind.UNSUBSCRIBE)}")
    for answer in (click, hook, unsubscribe):
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert "location" not in click.headers
    assert server.count() == 0


def test_the_access_log_holds_no_tokens_or_addresses(server: Server, caplog):
    caplog.set_level(logging.INFO, logger="alerts")
    click = server.token(TokenKind.CLICK, link=1)
    unsubscribe = server.token(TokenKind.UNSUBSCRIBE)
    server.client.get(f"/c/{click}")
    server.client.post(f"/u/{unsubscribe}")
    server.client.get("/ada@example.org")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /c/{token} 302" in text and "POST /u/{token} 200" in text
    assert "GET (other) 404" in text
    for secret in (click, unsubscribe, "ada@example.org", "testclient"):
        assert secret not in text


@pytest.mark.parametrize(
    ("path", "label"),
    [("/c/abc", "/c/{token}"), ("/o/abc.gif", "/o/{token}"), ("/healthz", "/healthz"),
     ("/me@example.org", "(other)"), ("/healthz/me@example.org", "(other)"),
     ("/static/me@example.org", "/static/{file}")],
)  # fmt: skip
def test_route_label(path: str, label: str):
    assert route_label(path) == label


# --------------------------------------------------------------------------
# A real `alerts serve` process


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Config, Signer]]:
    folder = tmp_path_factory.mktemp("live")
    signer = Signer()
    (folder / "alerts.toml").write_text(
        "\n".join(f'{key} = "{value}"' for key, value in SETTINGS.items())
        + f'\nsendgrid_webhook_public_key = "{signer.public_key}"\n',
        encoding="utf-8",
    )
    seed_file(folder / "subscribers.db")
    config = Config.load(folder / "alerts.toml", env={})
    with live_server(folder, free_port()) as base:
        yield base, folder, config, signer


def _request(base: str, method: str, path: str, body: bytes | None = None, headers=None):
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
    try:
        connection.request(
            method, path, body=body, headers={"User-Agent": CHROME, **(headers or {})}
        )
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


@pytest.mark.slow
def test_live_every_click_is_committed_before_its_redirect(live):
    base, folder, config, _ = live
    db = folder / "subscribers.db"
    path = f"/c/{token(config, TokenKind.CLICK, subscriber=2, link=1)}"
    before = rows(db, "SELECT COUNT(*) FROM events WHERE kind = 'click'")[0][0]
    lock = threading.Lock()
    answered = 0
    shortfalls = []

    def click(_: int) -> None:
        nonlocal answered
        status, headers, _ = _request(base, "GET", path)
        assert status == 302 and headers["location"] == LINK_URL
        with lock:
            answered += 1
            done = answered
        stored = rows(db, "SELECT COUNT(*) FROM events WHERE kind = 'click'")[0][0] - before
        if stored < done:
            shortfalls.append((done, stored))

    with ThreadPoolExecutor(max_workers=24) as pool:
        list(pool.map(click, range(300)))
    assert shortfalls == []
    assert rows(db, "SELECT COUNT(*) FROM events WHERE kind = 'click'")[0][0] - before == 300


@pytest.mark.slow
def test_live_security_cases(live):
    base, folder, config, signer = live
    db = folder / "subscribers.db"
    good = token(config, TokenKind.CLICK, link=1)
    assert _request(base, "GET", f"/c/{tamper(good)}")[0] == 404
    assert _request(base, "GET", "/c/https:%2F%2Fevil.example")[0] == 404
    assert _request(base, "GET", f"/c/{token(config, TokenKind.CLICK, link=2)}")[0] == 404

    unsubscribe = f"/u/{token(config, TokenKind.UNSUBSCRIBE, subscriber=2)}"
    assert _request(base, "GET", unsubscribe)[0] == 200
    assert status_of(db, 2) == "subscribed"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, page = _request(base, "POST", unsubscribe, b"List-Unsubscribe=One-Click", form)
    assert status == 200 and b"You are unsubscribed" in page
    assert status_of(db, 2) == "unsubscribed"

    body = payload([sg_event(501, "delivered")])
    assert _request(base, "POST", "/webhooks/sendgrid", body, Signer().headers(body))[0] == 403
    old = signer.headers(body, timestamp=1_700_000_000)
    assert _request(base, "POST", "/webhooks/sendgrid", body, old)[0] == 403
    status, _, summary = _request(base, "POST", "/webhooks/sendgrid", body, signer.headers(body))
    assert status == 200 and json.loads(summary)["recorded"] == 1


@pytest.mark.slow
def test_live_forget_leaves_no_copy_in_the_database_or_its_wal(project: Path, cli):
    address, device = b"wilhelmina.vanderforget@example.org", "ForgetMeBrowser/7.3 (Pixel 9)"
    (project / "people.csv").write_text(
        "email,first_name,zip\n" + address.decode() + ",Wilhelmina,05401\n", encoding="utf-8"
    )
    cli("import", "people.csv")
    db = project / "subscribers.db"
    with sqlite3.connect(db) as conn:
        (person,) = conn.execute("SELECT id FROM subscribers").fetchone()
        conn.execute(
            "INSERT INTO campaigns (id, slug, kind, subject, created_at)"
            " VALUES (1, 'c1', 'update', 'Campaign 1', '2026-01-01T00:00:00Z')"
        )
        conn.execute("INSERT INTO links (id, campaign_id, url) VALUES (1, 1, ?)", [LINK_URL])
    config = Config.load(project / "alerts.toml", env={})
    with live_server(project, free_port()) as base:
        headers = {"User-Agent": device}
        for kind, path in ((TokenKind.OPEN, "/o/{}.gif"), (TokenKind.CLICK, "/c/{}")):
            link = 1 if kind is TokenKind.CLICK else 0
            path = path.format(token(config, kind, subscriber=person, link=link))
            assert _request(base, "GET", path, headers=headers)[0] in (200, 302)
        events = [sg_event(n, "open", email=address.decode(), alerts_recipient=str(person),
                           useragent=device) for n in range(3)]  # fmt: skip
        assert _request(base, "POST", "/webhooks/sendgrid", payload(events))[0] == 200
        files = (db, db.with_name(db.name + "-wal"))
        assert any(device.encode() in path.read_bytes() for path in files)

        forget = subprocess.run(
            [*alerts_command(), "subscribers", "forget", address.decode()],
            cwd=project, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert forget.returncode == 0 and "Forgotten" in forget.stdout, forget.stderr
        assert "Warning" not in forget.stderr
        # The server is still running, its connections open: search the raw files.
        for path in files:
            content = path.read_bytes() if path.exists() else b""
            assert address not in content and address.upper() not in content, path.name
            assert device.encode() not in content and b"Wilhelmina" not in content, path.name


@pytest.mark.slow
def test_live_malformed_requests_get_4xx_and_the_server_lives_on(live):
    base, *_ = live
    host, port = base.removeprefix("http://").split(":")
    for raw in (
        b"THIS IS NOT HTTP\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"POST /webhooks/sendgrid HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n[",
    ):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(raw)
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 4"), reply[:60]
    with urllib.request.urlopen(base + "/healthz", timeout=10) as answer:
        assert answer.status == 200


@pytest.mark.slow
def test_live_log_has_no_tokens_or_addresses(live):
    base, folder, config, _ = live
    secret = token(config, TokenKind.CLICK, link=1)
    _request(base, "GET", f"/c/{secret}")
    _request(base, "GET", "/someone@example.org")
    log = (folder / "server.log").read_text(encoding="utf-8")
    assert "GET /c/{token} 302" in log
    assert secret not in log and "someone@example.org" not in log
    access = [line for line in log.splitlines() if "alerts.access" in line]
    assert access and not any("127.0.0.1" in line for line in access)


@pytest.mark.slow
@pytest.mark.browser
def test_live_unsubscribe_page_in_a_browser(live, browser, artifacts: Path):
    """On a phone-sized screen: the name stays text, the button works, nothing scrolls sideways."""
    base, folder, config, _ = live
    db = folder / "subscribers.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE subscribers SET status = 'subscribed' WHERE id = 1")
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{base}/u/{token(config, TokenKind.UNSUBSCRIBE, subscriber=1)}")
    assert SCRIPT_NAME in page.inner_text("main")  # shown as text, not run
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(artifacts / "unsubscribe-page.png"), full_page=True)
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_selector("text=You are unsubscribed")
    page.screenshot(path=str(artifacts / "unsubscribed-page.png"), full_page=True)
    context.close()
    assert dialogs == []
    assert status_of(db, 1) == "unsubscribed"
