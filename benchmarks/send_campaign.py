"""`alerts send` end to end: the example action alert to 100,000 subscribers.

Target (issue 5): at most 30 s on this 2-core machine, ledger writes included, both
with no added latency and with 50 ms added to every request. The subscribers are
generated with ZIPs from the sample ZIP map and their districts resolved against
the sample roster, so every message names the subscriber's own representative.

Each run times `alerts send end-qualified-immunity-act --yes --format json` as a
subprocess, from its start to its exit (loading, compiling the campaign once,
freezing the ledger, building every request, sending, recording). Baseline, same
run and same fake: a 2,000-recipient slice sent the naive way, one `Mail` per
recipient and one request after another through the same client, each message
personalised from the same compiled campaign and the ledger row updated after each.

The fake SendGrid runs in its own process, as SendGrid would be elsewhere.

    python benchmarks/send_campaign.py [--recipients 100000] [--slice 2000] [--latency 0 50]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import header, load_average, peak_rss_mib, start_fake_sendgrid, workdir
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail

from alerts import pipeline
from alerts.campaigns import files as campaigns
from alerts.config import Config, data_file
from alerts.db import Database, open_db, utc_now
from alerts.db import districts as districts_db
from alerts.db import ledger as ledger_db
from alerts.db import segments as segments_db
from alerts.db import subscribers as subscribers_db
from alerts.delivery.providers.sendgrid.standin import stats as fake_stats
from alerts.email import personalise
from alerts.models import Subscriber
from alerts.targets import lookup as targets
from alerts.targets import roster

SLUG = "end-qualified-immunity-act"
NAIVE_SLUG = "naive-slice"
SETTINGS = """
org_name = "Citizens Against Qualified Immunity"
postal_address = "1 Test Street, Springfield, IL 62701"
from_email = "updates@example.org"
from_name = "End QI"
reply_to = "team@example.org"
base_url = "https://act.example.org"
"""
FIRST = ["Ana", "Zoë", "", "María José", "O'Neil", "<b>Sam</b>", "Đorđe", "Li", "Tom & Jerry"]
LAST = ["Pérez", "Ñúñez", "", "Smith-Jones", "van der Berg", "李", "O'Hara"]
API_KEY = "SG.benchmark"


def make_project(folder: Path, recipients: int) -> Path:
    """A project with the sample roster and `recipients` subscribers; returns its database."""
    if folder.exists():
        shutil.rmtree(folder)
    subprocess.run([sys.executable, "-m", "alerts", "init", str(folder)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    config = folder / "alerts.toml"
    config.write_text(config.read_text() + SETTINGS)
    naive = (folder / "campaigns" / f"{SLUG}.md").read_text()
    (folder / "campaigns" / f"{NAIVE_SLUG}.md").write_text(naive)
    db = open_db(folder / "subscribers.db")
    files = roster.sample_files()
    roster.load_roster(
        db, files["legislators"], files["zip_districts"], files["social"], congress=119
    )
    with open(data_file("sample-zccd.csv"), newline="") as rows:
        zips = sorted({row["zcta"] for row in csv.DictReader(rows)})
    now = utc_now()
    db["subscribers"].insert_all(
        (
            {
                "email": f"supporter{i}@example.org",
                "email_key": f"supporter{i}@example.org",
                "first_name": FIRST[i % len(FIRST)],
                "last_name": LAST[i % len(LAST)],
                "zip": zips[i % len(zips)],
                "status": "subscribed",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(recipients)
        ),
        batch_size=5000,
    )
    db.conn.commit()
    districts_db.resolve_districts(db)
    db.conn.commit()
    db.close()
    return folder / "subscribers.db"


def fresh_copy(database: Path, folder: Path) -> None:
    """The prepared database, with an empty ledger, as the project's subscribers.db."""
    target = folder / "subscribers.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(database, target)


def run_send(folder: Path, host: str, recipients: int) -> float:
    """Seconds for `alerts send SLUG --yes` from start to exit; every recipient checked sent."""
    env = {**os.environ, "SENDGRID_API_KEY": API_KEY, "ALERTS_SENDGRID_HOST": host}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "alerts", "send", SLUG, "--yes", "--format", "json"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"alerts send failed: {done.stderr}")
    summary = json.loads(done.stdout)
    assert summary["sent"] == recipients, summary
    assert fake_stats(host)["messages"] == recipients
    return seconds


def run_naive(folder: Path, host: str, count: int) -> float:
    """One Mail per recipient, one request after another, the ledger row updated after each."""
    config = Config.load(folder / "alerts.toml", env={})
    db = open_db(folder / "subscribers.db")
    campaign = campaigns.find_campaign(folder / "campaigns", NAIVE_SLUG)
    compiled = pipeline.compile_campaign(
        campaign, pipeline.site_settings(config), folder / "templates"
    )
    prepared = pipeline.prepare_campaign(
        db, compiled, secret=config.require("secret"), base_url=config.require("base_url")
    )
    client = SendGridAPIClient(api_key=API_KEY, host=host)
    client.client.timeout = 60
    ids = segments_db.segment_subscriber_ids(db, None)[:count]
    ledger_db.ledger_freeze_segment(db, prepared.campaign_id, None)  # the first `count` are sent
    started = time.perf_counter()
    for subscriber_id in ids:
        _send_one(db, client, prepared, subscribers_db.get_subscriber(db, subscriber_id))
    seconds = time.perf_counter() - started
    assert ledger_db.ledger_counts(db, prepared.campaign_id)["sent"] == count
    db.close()
    return seconds


def _send_one(
    db: Database,
    client: SendGridAPIClient,
    prepared: personalise.PreparedCampaign,
    person: Subscriber,
) -> None:
    sid = int(person.id or 0)
    message = personalise.build_message(prepared, person, targets.targets_for(db, sid))
    mail = Mail(
        from_email=("updates@example.org", "End QI"),
        to_emails=str(person.email),
        subject=message.subject,
        plain_text_content=message.text,
        html_content=message.html,
    )
    response = client.send(mail)
    ledger_db.ledger_claim(db, prepared.campaign_id, 1)
    ledger_db.ledger_record(
        db, prepared.campaign_id, sent=[(sid, response.headers["X-Message-Id"])]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--slice", type=int, default=2000)
    parser.add_argument("--latency", type=int, nargs="*", default=[0, 50])
    args = parser.parse_args()
    header(f"alerts send: the example action alert to {args.recipients:,} subscribers")
    folder = workdir("send_campaign") / "project"
    started = time.perf_counter()
    prepared_db = make_project(folder, args.recipients)
    keep = prepared_db.with_name("prepared.db")
    shutil.move(prepared_db, keep)
    print(f"setup (not timed): {time.perf_counter() - started:.1f} s")
    for latency in args.latency:
        fresh_copy(keep, folder)
        fake, host = start_fake_sendgrid(latency)
        try:
            print(f"\n## +{latency} ms per request (load average before: {load_average()})")
            sent = run_send(folder, host, args.recipients)
            naive = run_naive(folder, host, args.slice)
        finally:
            fake.terminate()
            fake.wait()
        each, naive_each = sent / args.recipients, naive / args.slice
        target = "met" if sent * 100_000 / args.recipients <= 30 else "NOT met"
        print(f"alerts send: {args.recipients:,} in {sent:.2f} s ({each * 1e6:.0f} µs each)")
        print(f"naive: {args.slice:,} in {naive:.2f} s ({naive_each * 1e6:.0f} µs each)")
        print(f"ratio naive/alerts send per recipient: {naive_each / each:,.1f}x")
        print(f"target (100,000 in <= 30 s): {target}; load average after: {load_average()}")
    print(f"\npeak RSS of a child process (alerts send, the fake): {peak_rss_mib(True):.0f} MiB")


if __name__ == "__main__":
    main()
