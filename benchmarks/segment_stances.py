"""Segments by members' stances and by one campaign, beside the rules of the same shape.

`member_stance` costs, per subscriber, a lookup of their members in the roster's
index and a test against the bill's stances, which SQLite reads once per query;
`{campaign: SLUG}` probes the events index for one campaign. Each is timed
against the rule that did the same kind of work before: `district` (a test of the
subscriber's district) and `{last_campaigns: 1}` (a probe of the events of the
last campaign), in the same run, as `segment_count` (what `alerts campaigns check`
and `alerts send` run).

One database: the sample roster, `--subscribers` subscribers spread over the
sample ZIPs (districts resolved as an import does), a bill fetch naming every
member of the roster, a sent campaign with opens for half the subscribers,
clicks for a fifth and letters for a twentieth.

    python benchmarks/segment_stances.py [--subscribers 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

from _common import header, load_average, workdir

from alerts.campaigns import files as campaigns
from alerts.db import Database, open_db, utc_now
from alerts.db import bills as bills_db
from alerts.db import campaigns as campaigns_db
from alerts.db import roster as roster_db
from alerts.db import segments as segments_db
from alerts.db.districts import resolve_districts
from alerts.models import BillDetails, BillId, Segment, Sponsorship
from alerts.targets import roster

BILL = BillId(119, "hr", 1234)
ZIPS = ["05401", "94110", "78701", "97201", "20001", "10001", "60614", "30303", "02138"]
SENT = "first-alert"
SEGMENTS = {
    "district: [VT-AL, CA-11, TX-37]": "  district: [VT-AL, CA-11, TX-37]\n",
    "member_stance: {house: [unknown, opposes]}": "  member_stance: {house: [unknown, opposes]}\n",
    "member_stance: {any: [cosponsor]}": "  member_stance: {any: [cosponsor]}\n",
    "clicked: {last_campaigns: 1} + not acted": (
        "  clicked: {last_campaigns: 1}\n  not: {acted: {last_campaigns: 1}}\n"
    ),
    "clicked: {campaign: SLUG} + not acted": (
        f"  clicked: {{campaign: {SENT}}}\n  not: {{acted: {{campaign: {SENT}}}}}\n"
    ),
}
BASELINES = {
    "member_stance: {house: [unknown, opposes]}": "district: [VT-AL, CA-11, TX-37]",
    "member_stance: {any: [cosponsor]}": "district: [VT-AL, CA-11, TX-37]",
    "clicked: {campaign: SLUG} + not acted": "clicked: {last_campaigns: 1} + not acted",
}


def make_database(folder: Path, count: int) -> Database:
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "campaigns").mkdir(parents=True)
    db = open_db(folder / "subscribers.db")
    files = roster.sample_files()
    roster.load_roster(
        db, files["legislators"], files["zip_districts"], files["social"], congress=119
    )
    now = utc_now()
    db["subscribers"].insert_all(
        (
            {
                "email": f"supporter{i}@example.org",
                "email_key": f"supporter{i}@example.org",
                "zip": ZIPS[i % len(ZIPS)],
                "status": "subscribed",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(count)
        ),
        batch_size=10_000,
    )
    with db.conn:
        resolve_districts(db)
    members = [m.bioguide for m in roster_db.roster_members(db)]
    named = tuple(
        Sponsorship(b, f"Member {n}", n == 0, sponsorship_date="2025-03-04")
        for n, b in enumerate(members[::2])
    )
    bills_db.record_fetch(db, "probe", BillDetails(BILL, "A bill", named))
    cid = campaigns_db.register_campaign(db, SENT, "action", "Write", None)
    db.execute("UPDATE campaigns SET send_started_at = ? WHERE id = ?", [now, cid])
    for kind, every in (("open", 2), ("click", 5), ("letter_sent", 20)):
        db.execute(
            "INSERT INTO events (kind, campaign_id, subscriber_id, at)"
            f" SELECT ?, ?, id, 1 FROM subscribers WHERE id % {every} = 0",
            [kind, cid],
        )
    db.conn.commit()
    (folder / "campaigns" / f"{SENT}.md").write_text("---\nsubject: S\nkind: update\n---\nB\n")
    return db


def segment_of(folder: Path, rules: str) -> Segment | None:
    path = folder / "campaigns" / "probe.md"
    path.write_text(
        "---\nsubject: S\nkind: action\nbill: hr1234-119\nsegment:\n"
        + rules
        + "letter:\n  to: [house]\n  subject: S\n  body: B\n---\nB\n",
        encoding="utf-8",
    )
    return campaigns.load_campaign(path).segment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    header(f"Segments by stance and by campaign, {args.subscribers:,} subscribers")
    folder = workdir("segment_stances")
    started = time.perf_counter()
    db = make_database(folder, args.subscribers)
    print(f"database built in {time.perf_counter() - started:.1f} s")
    medians: dict[str, float] = {}
    for label, rules in SEGMENTS.items():
        segment = segment_of(folder, rules)
        times, selected = [], 0
        for _ in range(args.rounds):
            started = time.perf_counter()
            selected = segments_db.segment_count(db, segment)
            times.append(time.perf_counter() - started)
        medians[label] = statistics.median(times)
        print(f"{label:45} {medians[label] * 1000:8.1f} ms  ({selected:,} selected)")
    for label, baseline in BASELINES.items():
        ratio = medians[label] / medians[baseline]
        print(f"{label} / {baseline}: {ratio:.2f}x")
    print(f"load average: {load_average()}")
    db.close()


if __name__ == "__main__":
    main()
