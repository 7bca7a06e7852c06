"""The send's freeze with and without the bill's stances, for 1,000,000 recipients.

Target (issue 16): freezing the recipients of a campaign that names a bill, its
stances resolved and frozen with them, takes at most 10% longer than freezing those
of a campaign without one (today's freeze), measured in the same run.

One database: the sample roster, `--recipients` subscribers, and a bill fetch with a
full cosponsor list (`--members` members named: a sponsor, cosponsors, some who
withdrew) and a CSV's stances. Each round freezes the whole list for a new campaign
without a bill (`ledger_freeze`, as `alerts send` does), then for one with the bill
(`stance_freeze`, then `ledger_freeze` with the stances, as `alerts send` does now);
the order alternates between rounds, and the medians are compared. The stance_text
sentences a send then renders for every member are timed on their own.

    python benchmarks/freeze_stances.py [--recipients 1000000] [--members 540] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

from _common import header, load_average, peak_rss_mib, workdir

from alerts.bills import frozen
from alerts.campaigns import files as campaigns
from alerts.db import Database, open_db, utc_now
from alerts.db import bills as bills_db
from alerts.db import campaigns as campaigns_db
from alerts.db import ledger as ledger_db
from alerts.db import roster as roster_db
from alerts.db.bills import StanceOverride
from alerts.email.stance_text import render_stance_texts
from alerts.models import BillDetails, BillId, Campaign, Sponsorship, Stance
from alerts.targets import roster

BILL = BillId(119, "hr", 1234)
CAMPAIGN = """\
---
subject: "Write to {{{{ representative.full_name }}}}"
kind: action
{bill}stance_text:
  cosponsor: "{{{{ target.title }}}} {{{{ target.last_name }}}} cosponsors it: thank them."
  unknown: "{{{{ target.title }}}} {{{{ target.last_name }}}} has not said."
letter:
  to: [house, senate]
  subject: "Please cosponsor"
  body: "Dear {{{{ target.last_name }}}}, please cosponsor."
  variants:
    cosponsor:
      subject: "Thank you"
---
Hi {{{{ subscriber.first_name }}}}.
"""


def make_database(folder: Path, recipients: int, members: int) -> tuple[Database, Campaign]:
    """The roster, the subscribers, the bill's fetch and CSV; returns the campaign with a bill."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "campaigns").mkdir(parents=True)
    db = open_db(folder / "subscribers.db")
    files = roster.sample_files()
    roster.load_roster(
        db, files["legislators"], files["zip_districts"], files["social"], congress=119
    )
    now = utc_now()
    db.table("subscribers").insert_all(
        (
            {
                "email": f"supporter{i}@example.org",
                "email_key": f"supporter{i}@example.org",
                "first_name": "Ana",
                "zip": "05401",
                "status": "subscribed",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(recipients)
        ),
        batch_size=10_000,
    )
    db.conn.commit()
    path = folder / "campaigns" / "with-bill.md"
    path.write_text(CAMPAIGN.format(bill=f"bill: {BILL.name}\n"), encoding="utf-8")
    campaign = campaigns.load_campaign(path)
    bills_db.record_fetch(db, campaign.slug, BillDetails(BILL, "A bill", sponsorships(db, members)))
    overrides = [StanceOverride(f"X{n:06d}", Stance.OPPOSES, n + 2) for n in range(20)]
    bills_db.replace_stance_overrides(db, campaign.slug, overrides, "stances.csv")
    return db, campaign


def sponsorships(db: Database, count: int) -> tuple[Sponsorship, ...]:
    """The roster's members and made-up ones up to `count`: one sponsor, the rest cosponsors,
    one in ten of them withdrawn."""
    ids = [member.bioguide for member in roster_db.roster_members(db)]
    ids += [f"Y{n:06d}" for n in range(count - len(ids))]
    return tuple(
        Sponsorship(
            bioguide=bioguide,
            name=f"Rep. Member {n}",
            is_sponsor=n == 0,
            sponsorship_date="2025-03-04",
            is_original=n < 50,
            withdrawn_date="2025-04-01" if n and n % 10 == 0 else None,
        )
        for n, bioguide in enumerate(ids)
    )


def freeze_without(db: Database, slug: str) -> float:
    campaign_id = campaigns_db.register_campaign(db, slug, "action", "Write", "benchmark")
    started = time.perf_counter()
    added = ledger_db.ledger_freeze(db, campaign_id, None)
    seconds = time.perf_counter() - started
    assert added
    return seconds


def freeze_with(db: Database, campaign: Campaign, slug: str) -> tuple[float, float]:
    """Seconds for the whole freeze, and for resolving the stances alone (within it)."""
    campaign_id = campaigns_db.register_campaign(db, slug, "action", "Write", "benchmark")
    started = time.perf_counter()
    stances = frozen.stance_freeze(db, campaign)
    resolved = time.perf_counter() - started
    added = ledger_db.ledger_freeze(db, campaign_id, None, stances=stances)
    seconds = time.perf_counter() - started
    assert added and stances is not None
    assert frozen.send_stances(db, campaign, campaign_id).of("Y000001") is Stance.COSPONSOR
    return seconds, resolved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=540)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    header(f"the send's freeze with the bill's stances: {args.recipients:,} recipients")
    started = time.perf_counter()
    db, campaign = make_database(
        workdir("freeze_stances") / "project", args.recipients, args.members
    )
    print(f"setup (not timed): {time.perf_counter() - started:.1f} s")
    print(f"load average before: {load_average()}")
    without: list[float] = []
    with_bill: list[tuple[float, float]] = []
    for round_ in range(args.rounds):
        if round_ % 2 == 0:
            without.append(freeze_without(db, f"plain-{round_}"))
            with_bill.append(freeze_with(db, campaign, f"billed-{round_}"))
        else:
            with_bill.append(freeze_with(db, campaign, f"billed-{round_}"))
            without.append(freeze_without(db, f"plain-{round_}"))
        print(
            f"round {round_ + 1}: without {without[-1]:.2f} s, with the bill"
            f" {with_bill[-1][0]:.2f} s (stances resolved in {with_bill[-1][1] * 1000:.0f} ms)"
        )
    members = roster_db.roster_members(db)
    stances = frozen.send_stances(db, campaign, None)
    rendering = time.perf_counter()
    texts = render_stance_texts(campaign, members, stances.of)
    rendering = time.perf_counter() - rendering
    base = statistics.median(without)
    billed = statistics.median(seconds for seconds, _ in with_bill)
    over = (billed - base) / base * 100
    target = "met" if over <= 10 else "NOT met"
    print(f"freeze without a bill (median): {base:.2f} s")
    print(f"freeze with the bill and its stances (median): {billed:.2f} s ({over:+.1f}%)")
    frozen_rows = db.execute("SELECT count(*) FROM campaign_stances").fetchone()[0]
    print(f"stance rows frozen per campaign: {frozen_rows // args.rounds:,}")
    print(f"stance_text for {len(texts)} members rendered in {rendering * 1000:.1f} ms")
    print(f"target (at most 10% over): {target}; load average after: {load_average()}")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    db.close()


if __name__ == "__main__":
    main()
