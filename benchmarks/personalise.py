"""Personalising the example action alert: 100,000 messages, against the naive way.

Target (issue 4): 100,000 messages (HTML and text) personalised in at most 5 s on
one core. Baseline, measured in the same run: the naive way, which runs Jinja,
MJML and premailer for each recipient, on 1,000 recipients.

    python benchmarks/personalise.py [--messages N] [--naive N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

from _common import REPO, header, peak_rss_mib, workdir

sys.path.insert(0, str(REPO))

from alerts import pipeline
from alerts.campaigns import files as campaigns
from alerts.db import open_db
from alerts.email import personalise
from alerts.models import Confidence, Member, SiteSettings, Subscriber, Targets

SITE = SiteSettings(
    org_name="Citizens Against Qualified Immunity",
    postal_address="1 Test Street, Springfield, IL 62701",
    from_email="updates@example.org",
    from_name="End QI",
    reply_to="team@example.org",
)
BASE_URL = "https://act.example.org"
FIRST = ["Alex", "Zoë", "", "María José", "O'Neil", "<b>Sam</b>", "Đorđe", "Li", None, "Ana 🎉"]
LAST = ["Doe", "Ñúñez", "", "Smith-Jones", None, "van der Berg", "李", "O'Hara"]


def load_average() -> str:
    with open("/proc/loadavg", encoding="ascii") as stream:
        return " ".join(stream.read().split()[:3])


def recipients(count: int) -> list[tuple[Subscriber, Targets]]:
    reps = [
        Member(f"B{n:06d}", "house", "CA", n, "Representative", f"Member {n}", f"Member{n}")
        for n in range(1, 53)
    ]
    out = []
    for n in range(count):
        subscriber = Subscriber(
            id=n + 1,
            email=f"person{n}@example.org",
            first_name=FIRST[n % len(FIRST)],
            last_name=LAST[n % len(LAST)],
        )
        rep = reps[n % len(reps)] if n % 5 else None  # one in five has no known district
        targets = Targets(
            state="CA",
            confidence=Confidence.EXACT if rep else Confidence.UNKNOWN,
            house=[rep] if rep else [],
            district=rep.district if rep else None,
        )
        out.append((subscriber, targets))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=1_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # one core
    header("personalise: the example action alert")
    print(f"load average before: {load_average()}")

    templates = REPO / "templates"
    campaign = campaigns.find_campaign(REPO / "campaigns", "end-qualified-immunity-act")
    db_path = workdir("personalise") / "bench.db"
    db_path.unlink(missing_ok=True)
    db = open_db(db_path)

    start = time.perf_counter()
    compiled = pipeline.compile_campaign(campaign, SITE, templates)
    prepared = pipeline.prepare_campaign(db, compiled, secret="bench secret", base_url=BASE_URL)
    compile_s = time.perf_counter() - start
    print(
        f"compile once: {compile_s * 1000:.1f} ms; HTML {len(compiled.html):,} chars, "
        f"text {len(compiled.text):,} chars, {len(compiled.keys)} placeholders"
    )

    people = recipients(args.messages)

    # The fast way: substitution map (tokens, escaping) and substitution, per recipient.
    total_bytes = 0
    start = time.perf_counter()
    for subscriber, targets in people:
        message = personalise.build_message(prepared, subscriber, targets)
        total_bytes += len(message.html) + len(message.text)
    fast_s = time.perf_counter() - start

    # The same, substitution alone (values made beforehand), to show where time goes.
    sample_values = [personalise.recipient_values(prepared, s, t) for s, t in people[:1000]]
    start = time.perf_counter()
    for n in range(args.messages):
        personalise.personalise(compiled, sample_values[n % len(sample_values)])
    substitute_s = time.perf_counter() - start

    # The naive way: Jinja, MJML and premailer for every recipient.
    start = time.perf_counter()
    for subscriber, targets in people[: args.naive]:
        again = pipeline.compile_campaign(campaign, SITE, templates)
        one = dataclasses.replace(prepared, compiled=again)
        personalise.build_message(one, subscriber, targets)
    naive_s = time.perf_counter() - start

    fast_per = fast_s / args.messages
    naive_per = naive_s / args.naive
    print(
        f"fast:  {args.messages:,} messages in {fast_s:.2f} s "
        f"({fast_per * 1e6:.1f} µs each, {total_bytes / 1e6:,.0f} MB of HTML and text)"
    )
    print(
        f"       of which substitution alone: {substitute_s:.2f} s "
        f"({substitute_s / args.messages * 1e6:.1f} µs each)"
    )
    print(f"naive: {args.naive:,} messages in {naive_s:.2f} s ({naive_per * 1e3:.2f} ms each)")
    print(f"ratio: the naive way takes {naive_per / fast_per:,.0f} times as long per message")
    target = "met" if fast_s * 100_000 / args.messages <= 5 else "NOT met"
    print(f"target (100,000 in <= 5 s on one core): {target}")
    print(f"peak memory: {peak_rss_mib():.0f} MiB")
    print(f"load average after: {load_average()}")
    db.close()


if __name__ == "__main__":
    main()
