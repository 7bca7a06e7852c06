"""The send engine: 100,000 recipients to the fake SendGrid, ledger writes included.

Runs twice: with no added latency and with 50 ms added to every request (a real
round trip to SendGrid). Each run also sends a 2,000-recipient slice the naive way
(one Mail per recipient, one request after another, through the same client, the
ledger row updated after each) and prints the per-recipient ratio.

The fake runs in its own process, as SendGrid would be on another machine. The
message bodies are built as the pipeline will build them (per-recipient signed
tokens for the open pixel, letter and unsubscribe links, an 8 KB message), but
without the campaign renderer of issue 4: the end-to-end benchmark comes with it.

    python benchmarks/send_engine.py [--recipients 100000] [--slice 2000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _common import header, load_average, peak_rss_mib, start_fake_sendgrid, workdir
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail

from alerts.db import Database, open_db, utc_now
from alerts.db import ledger as ledger_db
from alerts.db import subscribers as subscribers_db
from alerts.delivery.engine import send_campaign
from alerts.delivery.provider import Batch, Content, Recipient, SendSettings
from alerts.delivery.providers.sendgrid import SendGridProvider
from alerts.email.links import Token, TokenKind, make_token, token_key
from alerts.models import Subscriber

BASE_URL = "https://act.example.org"
KEY = token_key("benchmark-secret")
PARAGRAPH = (
    "Qualified immunity shields officials from accountability even when they violate "
    "constitutional rights. Your member of Congress can co-sponsor the bill to end it. "
)
HTML = (
    "<html><body>"
    + "<p>Dear -first-,</p>"
    + f"<p>{PARAGRAPH}</p>" * 40
    + (
        '<p><a href="-letter-">Write to -member-</a></p><img src="-open-" width="1" height="1">'
        '<p><a href="-unsubscribe-">Unsubscribe</a></p></body></html>'
    )
)
TEXT = "Dear -first-,\n\n" + PARAGRAPH * 20 + "\n\nWrite: -letter-\nUnsubscribe: -unsubscribe-\n"


def links_for(campaign_id: int, person: Subscriber) -> dict[str, str]:
    def url(kind: TokenKind, path: str) -> str:
        return f"{BASE_URL}/{path}/{make_token(KEY, Token(kind, campaign_id, int(person.id or 0)))}"

    return {
        "-open-": url(TokenKind.OPEN, "o"),
        "-letter-": url(TokenKind.LETTER, "l"),
        "-unsubscribe-": url(TokenKind.UNSUBSCRIBE, "u"),
    }


CONTENT = Content(
    from_email="alerts@example.org",
    from_name="End QI",
    subject="-first-, one letter can end qualified immunity",
    html=HTML,
    text=TEXT,
    categories=("action", "bench"),
)


def builder(campaign_id: int) -> Any:
    def build(recipients: list[Subscriber]) -> Batch:
        items = []
        for person in recipients:
            links = links_for(campaign_id, person)
            subs = {"-first-": person.first_name or "friend", "-member-": "Rep. Example", **links}
            headers = {
                "List-Unsubscribe": f"<{links['-unsubscribe-']}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
            items.append(Recipient.of(person, subs, headers))
        return Batch(CONTENT, tuple(items))

    return build


def make_db(path: Path, recipients: int) -> tuple[Database, int, int]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = open_db(path)
    now = utc_now()
    db["subscribers"].insert_all(
        (
            {
                "email": f"supporter{i}@example.org",
                "email_key": f"supporter{i}@example.org",
                "first_name": f"Sam{i}",
                "last_name": "Supporter",
                "zip": "62701",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(recipients)
        ),
        batch_size=5000,
    )
    for slug in ("engine", "naive"):
        db["campaigns"].insert({"slug": slug, "kind": "action", "subject": "s", "created_at": now})
    db.conn.commit()
    return db, 1, 2


def run_engine(db: Database, campaign: int, recipients: int, host: str) -> tuple[float, float]:
    """(seconds to freeze the ledger, seconds to send), sent count checked."""
    started = time.perf_counter()
    ledger_db.ledger_freeze_segment(db, campaign, None)
    frozen = time.perf_counter()
    provider = SendGridProvider("SG.bench", host)
    summary = send_campaign(db, campaign, builder(campaign), provider, SendSettings(timeout=60))
    assert summary.sent == recipients, summary
    return frozen - started, time.perf_counter() - frozen


def run_naive(db: Database, campaign: int, count: int, host: str) -> float:
    """One Mail per recipient, one request after another; the ledger row updated after each."""
    ids = [r[0] for r in db.execute("SELECT id FROM subscribers ORDER BY id LIMIT ?", [count])]
    ledger_db.ledger_freeze_segment(db, campaign, None)  # the first `count` are sent below
    client = SendGridAPIClient(api_key="SG.bench", host=host)
    client.client.timeout = 60
    started = time.perf_counter()
    for person in [subscribers_db.get_subscriber(db, i) for i in ids]:
        links = links_for(campaign, person)
        subs = {"-first-": person.first_name or "friend", "-member-": "Rep. Example", **links}
        html, text, subject = HTML, TEXT, "-first-, one letter can end qualified immunity"
        for key, value in subs.items():
            html, text, subject = (s.replace(key, value) for s in (html, text, subject))
        mail = Mail(
            from_email="alerts@example.org",
            to_emails=str(person.email),
            subject=subject,
            plain_text_content=text,
            html_content=html,
        )
        response = client.send(mail)
        message_id = response.headers["X-Message-Id"]
        ledger_db.ledger_claim(db, campaign, 1)
        ledger_db.ledger_record(db, campaign, sent=[(int(person.id or 0), message_id)])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--slice", type=int, default=2000)
    parser.add_argument("--latency", type=int, nargs="*", default=[0, 50])
    args = parser.parse_args()
    header("send engine: 100,000 recipients to the fake SendGrid")
    for latency in args.latency:
        db, engine_campaign, naive_campaign = make_db(
            workdir("send_engine") / "bench.db", args.recipients
        )
        fake, host = start_fake_sendgrid(latency)
        try:
            print(f"\n## +{latency} ms per request (load average before: {load_average()})")
            freeze, send = run_engine(db, engine_campaign, args.recipients, host)
            naive = run_naive(db, naive_campaign, args.slice, host)
        finally:
            fake.terminate()
            fake.wait()
            db.close()
        engine_each = (freeze + send) / args.recipients
        naive_each = naive / args.slice
        print(f"engine: {args.recipients} recipients in {freeze + send:.2f} s")
        print(f"  freeze {freeze:.2f} s, send {send:.2f} s; {engine_each * 1e6:.0f} us each")
        print(f"naive: {args.slice} recipients in {naive:.2f} s; {naive_each * 1e6:.0f} us each")
        print(f"ratio naive/engine per recipient: {naive_each / engine_each:.1f}x")
        print(f"load average after: {load_average()}")
    print(f"\npeak RSS of this process: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
