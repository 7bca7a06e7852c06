"""Letter pages per second from `alerts serve`, against a no-op endpoint on the same stack.

Each `GET /a/<token>` reads the subscriber, their members of Congress and the
letters already sent, renders the campaign's letter for each of them (here the
representative and both senators: three letters a page), commits a
letter_visit row through the group committer, and only then answers.
Baseline, measured in the same run: GET /healthz on the same server, same
load generator, same settings. letter_visit rows must equal pages served.

The issue sets no figure for this page. The bar used here: 100 pages per second
with p99 at most 250 ms on this 2-core machine, far above what a campaign's
readers make (100,000 recipients of whom 10% act within the first hour is
under 3 pages per second).

Usage: python benchmarks/serve_letters.py [--connections C] [--seconds S]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
from pathlib import Path

from _common import header, workdir
from serve_clicks import against_noop, report, write_load

from alerts.campaigns import files as campaigns
from alerts.config import Config, new_secret
from alerts.db import campaigns as campaigns_db
from alerts.db import open_db
from alerts.db.districts import resolve_districts
from alerts.email.links import Token, TokenKind, make_token, token_key
from alerts.targets.roster import load_roster, sample_files

SUBSCRIBERS = 20_000
# ZIP codes of the sample roster with exactly one House district, and their states.
HOMES = (("05401", "VT"), ("94110", "CA"), ("97201", "OR"), ("78701", "TX"))
CAMPAIGN = """\
---
subject: "Write to {{ representative.full_name }}"
kind: action
letter:
  to: [house, senate]
  subject: "Please cosponsor the Ending Qualified Immunity Act"
  topic: "Civil Rights"
  body: |
    Dear {{ target.title }} {{ target.last_name }},

    As your constituent in {{ subscriber.city }}, I ask you to cosponsor the Ending
    Qualified Immunity Act, which makes clear that qualified immunity is no defence
    to liability under 42 U.S.C. 1983.

    Sincerely,
    {{ subscriber.full_name }}
    {{ subscriber.city }}, {{ subscriber.state }} {{ subscriber.zip }}
  call_script: |
    Hello, my name is {{ subscriber.full_name }} and I live in {{ subscriber.city }}.
    Please ask {{ target.title }} {{ target.last_name }} to cosponsor the bill.
  tweet: "{{ target.title }} {{ target.last_name }}, please end qualified immunity."
  text_code: "JUSTICE to 50409"
---
Hi {{ subscriber.first_name }}.
"""


def seed(folder: Path) -> list[str]:
    """A project with the sample roster, subscribers and an action campaign; letter tokens."""
    for name in ("subscribers.db", "subscribers.db-wal", "subscribers.db-shm"):
        (folder / name).unlink(missing_ok=True)
    (folder / "alerts.toml").write_text(
        f'base_url = "https://act.example.org"\nsecret = "{new_secret()}"\n'
        'org_name = "Bench"\npostal_address = "1 Bench Street"\n',
        encoding="utf-8",
    )
    (folder / "campaigns").mkdir(exist_ok=True)
    path = folder / "campaigns" / "bench.md"
    path.write_text(CAMPAIGN, encoding="utf-8")
    db = open_db(folder / "subscribers.db")
    files = sample_files()
    load_roster(db, files["legislators"], files["zip_districts"], files["social"], congress=119)
    now = "2026-01-01T00:00:00Z"
    db["subscribers"].insert_all(
        {"email": f"s{n}@example.org", "email_key": f"s{n}@example.org"}
        | {"first_name": f"Sam{n}", "last_name": "Reader"}
        | {"city": "Springfield", "zip": HOMES[n % 4][0], "state": HOMES[n % 4][1]}
        | {"created_at": now, "updated_at": now}
        for n in range(1, SUBSCRIBERS + 1)
    )
    with db.conn:
        resolve_districts(db)
    sha = campaigns.load_campaign(path).source_sha256
    campaign_id = campaigns_db.register_campaign(db, "bench", "action", "Bench", sha)
    db.conn.commit()
    db.close()
    key = token_key(Config.load(folder / "alerts.toml").require("secret"))
    tokens = [
        make_token(key, Token(TokenKind.LETTER, campaign_id, subscriber))
        for subscriber in range(1, SUBSCRIBERS + 1)
    ]
    random.Random(6).shuffle(tokens)
    return tokens


def visit_rows(folder: Path) -> int:
    with sqlite3.connect(folder / "subscribers.db") as conn:
        query = "SELECT COUNT(*) FROM events WHERE kind = 'letter_visit'"
        return conn.execute(query).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    header("alerts serve: letter pages vs a no-op endpoint")
    folder = workdir("serve_letters")
    tokens = seed(folder)
    script = write_load(folder, tokens)
    print(
        f"1 worker, wrk 1 thread, {args.connections} connections, "
        f"{len(tokens):,} letter tokens, 3 letters a page"
    )
    log = folder / "server.log"
    pages, noop = against_noop(folder, 1, script, args.seconds, args.connections, "/a/")

    page_rate = report("letters GET /a/<token>", pages)
    noop_rate = report("no-op   GET /healthz  ", noop)
    rows = visit_rows(folder)
    served = log.read_text(encoding="utf-8").count("GET /a/{token} 200")
    print(
        f"pages served (server log) {served:,}, counted by wrk {pages['requests']:,}, "
        f"letter_visit rows {rows:,}: {'equal' if rows == served else 'NOT EQUAL'}"
    )
    print(f"ratio letter pages / no-op: {page_rate / noop_rate:.3f}")
    ok = page_rate >= 100 and pages["p99_us"] <= 250_000 and rows == served
    ok = ok and pages["bad_status"] == 0
    print(f"bar (>= 100/s, p99 <= 250 ms, rows == pages): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
