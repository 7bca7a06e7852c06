"""Benchmark: `alerts stats` on one huge campaign and on the all-campaigns table.

    python benchmarks/stats.py [--rebuild]

Targets (issue 7): one campaign with 1,000,000 recipients and 5,000,000 events in
at most 2 s; the all-campaigns table for 200 campaigns in at most 2 s. The 200
campaigns are each sent to a list of 10,000 subscribers (a mid-sized advocacy
list), with the same event mix as the big campaign (about 3.7 events a
recipient): 2,000,000 ledger rows and about 7,400,000 events.

Baseline, measured in the same run: the straightforward queries (COUNT(DISTINCT)
and GROUP BY over the events table, joined to the ledger) that compute the same
figures without the summaries of migration 60; the script checks that both give
the same figures. It also measures what the summary triggers add to inserting an
event, the cost the tracking server pays (it must record >= 2,000 clicks/s).

The databases are generated once into benchmarks/.work/ and reused (--rebuild
makes them anew); generation loads events with the summaries paused and
rebuilds them once, which tests/test_stats.py proves equal to the triggers' work.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import string
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _common import header, workdir

from alerts.db import Database, meta_set, open_db
from alerts.db import stats as stats_db
from alerts.reports.figures import all_campaigns, campaign_stats
from alerts.reports.report import report_html

DATA_VERSION = "4"
BIG_RECIPIENTS = 1_000_000
BIG_EVENTS = 5_000_000
CAMPAIGNS = 200
LIST_SIZE = 10_000
LINKS = 8
T0 = 1_790_000_000
STATES = {  # rough shares of a national list, per mille
    "CA": 118, "TX": 90, "FL": 67, "NY": 59, "PA": 39, "IL": 38, "OH": 35, "GA": 33,
    "NC": 32, "MI": 30, "NJ": 28, "VA": 26, "WA": 24, "AZ": 23, "MA": 21, "TN": 21,
    "IN": 20, "MD": 19, "MO": 18, "WI": 18, "CO": 18, "MN": 17, "SC": 16, "AL": 15,
    "LA": 14, "KY": 13, "OR": 13, "OK": 12, "CT": 11, "UT": 10, "IA": 10, "NV": 10,
    "AR": 9, "MS": 9, "KS": 9, "NM": 6, "NE": 6, "ID": 6, "WV": 5, "HI": 4, "NH": 4,
    "ME": 4, "MT": 3, "RI": 3, "DE": 3, "SD": 3, "ND": 2, "AK": 2, "DC": 2, "VT": 2,
    "WY": 2,
}  # fmt: skip
AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
)
EVENT_SQL = (
    "INSERT INTO events (campaign_id, subscriber_id, kind, link_id, target, at, user_agent,"
    " machine, provider_event_id, provider) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
    " CASE WHEN ?9 IS NULL THEN NULL ELSE 'sendgrid' END)"
)
Event = tuple[int, int, str, int | None, str | None, int, str | None, int, str | None]


# --------------------------------------------------------------------------
# Generating the data


def sg_id(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=22))


def recipient_events(
    rng: random.Random, campaign: int, person: int, state: str, links: list[int], start: int
) -> Iterator[Event]:
    """One sent recipient's events, in a realistic mix (see the module docstring)."""
    sent = start + rng.randrange(2400)
    yield (campaign, person, "accepted", None, None, sent, None, 0, sg_id(rng))
    fate = rng.random()
    if fate < 0.018:
        yield (campaign, person, "bounce", None, None, sent + 5, None, 0, sg_id(rng))
        return
    if fate < 0.025:
        yield (campaign, person, "dropped", None, None, sent + 1, None, 0, sg_id(rng))
        return
    if rng.random() < 0.05:
        yield (campaign, person, "deferred", None, None, sent + 60, None, 0, sg_id(rng))
    delivered = sent + rng.randrange(5, 900)
    yield (campaign, person, "delivered", None, None, delivered, None, 0, sg_id(rng))
    if rng.random() < 0.45:  # a privacy proxy fetches the pixel, sometimes again later
        for n in range(rng.choice((1, 1, 2, 3))):
            at = delivered + 30 + n * 3600 * rng.randrange(1, 30)
            yield (campaign, person, "open", None, None, at, AGENTS[2], 1, None)
    if rng.random() < 0.03:  # a mail scanner follows every link
        for link in links:
            yield (campaign, person, "click", link, None, delivered + 20, AGENTS[1], 1, None)
    if rng.random() < 0.30:
        yield from human_events(rng, campaign, person, state, links, delivered)
    if rng.random() < 0.0015:
        yield (campaign, person, "unsubscribe", None, None, delivered + 7200, AGENTS[0], 0, None)
    if rng.random() < 0.0005:
        kind = rng.choice(("group_unsubscribe", "complaint"))
        yield (campaign, person, kind, None, None, delivered + 9000, None, 0, sg_id(rng))


def human_events(
    rng: random.Random, campaign: int, person: int, state: str, links: list[int], delivered: int
) -> Iterator[Event]:
    """An opener: opens over the following days, maybe clicks, visits and letters."""
    agent = rng.choice(AGENTS[:2])
    first = delivered + int(rng.expovariate(1 / 28_800))
    for n in range(1 + int(rng.expovariate(1 / 1.5))):
        yield (campaign, person, "open", None, None, first + n * 5400, agent, 0, None)
    if rng.random() > 0.15:
        return
    for n in range(rng.choice((1, 1, 2, 3))):
        link = links[min(int(rng.expovariate(1 / 1.5)), len(links) - 1)]
        yield (campaign, person, "click", link, None, first + 60 + n * 30, agent, 0, None)
    if rng.random() > 0.6:
        return
    yield (campaign, person, "letter_visit", None, None, first + 70, agent, 0, None)
    if rng.random() > 0.55:
        return
    for target in (f"S{state}1", f"S{state}2", f"H{state}{person % 5}"):
        yield (campaign, person, "letter_sent", None, target, first + 300, agent, 0, None)


def add_subscribers(conn: sqlite3.Connection, count: int, rng: random.Random) -> list[str]:
    states = rng.choices(list(STATES), weights=list(STATES.values()), k=count)
    conn.executemany(
        "INSERT INTO subscribers (id, email, email_key, first_name, last_name, city, state,"
        " zip, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (n, f"supporter{n}@example.org", f"supporter{n}@example.org", "Jordan", "Rivera",
             "Springfield", state, f"{rng.randrange(1000, 99999):05d}", "2026-01-01T00:00:00Z",
             "2026-01-01T00:00:00Z")
            for n, state in enumerate(states, start=1)
        ),
    )  # fmt: skip
    members = [
        (f"S{s}{n}", "senate", s, None, "Senator", f"Senator {s}{n}", f"{s}{n}")
        for s in STATES
        for n in (1, 2)
    ] + [
        (f"H{s}{n}", "house", s, n, "Representative", f"Representative {s}{n}", f"{s}{n}")
        for s in STATES
        for n in range(5)
    ]
    conn.executemany(
        "INSERT INTO members (bioguide, chamber, state, district, title, full_name, last_name)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        members,
    )
    return states


def add_campaign(
    conn: sqlite3.Connection, number: int, states: list[str], rng: random.Random, start: int
) -> list[Event]:
    """Campaign rows, its links and ledger; returns its events for the caller to insert."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    conn.execute(
        "INSERT INTO campaigns (id, slug, kind, subject, created_at, send_started_at,"
        " send_finished_at) VALUES (?, ?, 'action', ?, ?, ?, ?)",
        [number, f"campaign-{number}", f"Campaign {number}", stamp, stamp, stamp],
    )
    links = []
    for n in range(LINKS):
        url = f"https://act.example.org/c{number}/link-{n}"
        links.append(
            conn.execute(
                "INSERT INTO links (campaign_id, url) VALUES (?, ?)", [number, url]
            ).lastrowid
        )
    fates = ["sent"] * 985 + ["failed"] * 10 + ["unknown"] * 2 + ["skipped"] * 3
    ledger = [(number, n, rng.choice(fates), states[n - 1]) for n in range(1, len(states) + 1)]
    conn.executemany(
        "INSERT INTO send_ledger (campaign_id, subscriber_id, state, subscriber_state)"
        " VALUES (?, ?, ?, ?)",
        ledger,
    )
    return [
        event
        for _, person, fate, _state in ledger
        if fate == "sent"
        for event in recipient_events(rng, number, person, states[person - 1], links, start)
    ]


def top_up_opens(rng: random.Random, events: list[Event], count: int) -> Iterator[Event]:
    """Extra human opens by people who already opened, to reach an exact event count."""
    readers = sorted({e[1] for e in events if e[2] == "open" and not e[7]})
    campaign = events[0][0]
    for _ in range(count):
        at = T0 + min(int(rng.expovariate(1 / 86_400)), 30 * 86_400)
        yield (campaign, rng.choice(readers), "open", None, None, at, AGENTS[0], 0, None)


def build(path: Path, campaigns: int, list_size: int, exact_events: int | None) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    rng = random.Random(7)
    db = open_db(path)
    conn = db.conn
    with stats_db.stats_summaries_paused(db):
        with conn:
            states = add_subscribers(conn, list_size, rng)
        for number in range(1, campaigns + 1):
            start = T0 - (campaigns - number) * 7 * 86_400
            with conn:
                events = add_campaign(conn, number, states, rng, start)[:exact_events]
                conn.executemany(EVENT_SQL, events)
                if exact_events is not None:
                    extra = top_up_opens(rng, events, exact_events - len(events))
                    conn.executemany(EVENT_SQL, extra)
        meta_set(db, "benchmark_data", DATA_VERSION)
        conn.commit()
    conn.execute("ANALYZE")
    db.close()
    print(f"  generated {path.name} in {time.perf_counter() - started:.0f} s")


def dataset(name: str, campaigns: int, list_size: int, exact: int | None, fresh: bool) -> Path:
    path = workdir("stats") / f"{name}.db"
    if fresh or not path.exists() or _version(path) != DATA_VERSION:
        build(path, campaigns, list_size, exact)
    return path


def _version(path: Path) -> str | None:
    try:
        conn = sqlite3.connect(path)
        row = conn.execute("SELECT value FROM meta WHERE key = 'benchmark_data'").fetchone()
        conn.close()
        return row[0] if row else None
    except sqlite3.DatabaseError:
        return None


# --------------------------------------------------------------------------
# The baseline: the same figures by the straightforward queries over events


def naive_campaign(conn: sqlite3.Connection, cid: int) -> dict[str, object]:
    q = conn.execute
    figures: dict[str, object] = {
        "ledger": q(
            "SELECT state, COUNT(*) FROM send_ledger WHERE campaign_id = ? GROUP BY state", [cid]
        ).fetchall(),
        "kinds": q(
            "SELECT kind, COUNT(DISTINCT CASE WHEN machine = 0 THEN subscriber_id END),"
            " SUM(machine = 0), SUM(machine <> 0), COUNT(DISTINCT subscriber_id)"
            " FROM events WHERE campaign_id = ? GROUP BY kind",
            [cid],
        ).fetchall(),
        "links": q(
            "SELECT l.url, COUNT(DISTINCT CASE WHEN e.machine = 0 THEN e.subscriber_id END),"
            " SUM(e.machine = 0) FROM links AS l LEFT JOIN events AS e ON e.link_id = l.id"
            " AND e.kind = 'click' WHERE l.campaign_id = ? GROUP BY l.id",
            [cid],
        ).fetchall(),
        "letters": q(
            "SELECT target, COUNT(DISTINCT subscriber_id) FROM events WHERE campaign_id = ?"
            " AND kind = 'letter_sent' AND machine = 0 GROUP BY target",
            [cid],
        ).fetchall(),
        "states": q(
            "SELECT l.subscriber_state, e.kind, COUNT(DISTINCT e.subscriber_id) FROM events AS e"
            " JOIN send_ledger AS l ON l.campaign_id = e.campaign_id"
            " AND l.subscriber_id = e.subscriber_id WHERE e.campaign_id = ?"
            " AND e.machine = 0 AND e.kind IN ('open', 'click', 'letter_sent')"
            " GROUP BY l.subscriber_state, e.kind",
            [cid],
        ).fetchall(),
        "recipients_by_state": q(
            "SELECT subscriber_state, state, COUNT(*) FROM send_ledger WHERE campaign_id = ?"
            " GROUP BY 1, 2",
            [cid],
        ).fetchall(),
        "hours": q(
            "SELECT kind, at / 3600 AS hour, SUM(machine = 0) FROM events WHERE campaign_id = ?"
            " AND kind IN ('open', 'click', 'letter_sent') GROUP BY kind, hour",
            [cid],
        ).fetchall(),
        "unsubscribes": q(
            "SELECT COUNT(DISTINCT subscriber_id) FROM events WHERE campaign_id = ?"
            " AND kind IN ('unsubscribe', 'provider_unsubscribe', 'group_unsubscribe')",
            [cid],
        ).fetchone(),
    }
    return figures


def naive_overview(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT c.slug, l.sent, e.delivered, e.opened, e.clicked, e.letters, e.unsubscribed"
        " FROM campaigns AS c"
        " LEFT JOIN (SELECT campaign_id, SUM(state = 'sent') AS sent FROM send_ledger"
        "   GROUP BY campaign_id) AS l ON l.campaign_id = c.id"
        " LEFT JOIN (SELECT campaign_id,"
        "   COUNT(DISTINCT CASE WHEN kind = 'delivered' THEN subscriber_id END) AS delivered,"
        "   COUNT(DISTINCT CASE WHEN kind = 'open' AND machine = 0 THEN subscriber_id END)"
        "     AS opened,"
        "   COUNT(DISTINCT CASE WHEN kind = 'click' AND machine = 0 THEN subscriber_id END)"
        "     AS clicked,"
        "   COUNT(DISTINCT CASE WHEN kind = 'letter_sent' AND machine = 0"
        "     THEN subscriber_id || ' ' || target END) AS letters,"
        "   COUNT(DISTINCT CASE WHEN kind IN ('unsubscribe', 'provider_unsubscribe',"
        "     'group_unsubscribe') THEN subscriber_id END) AS unsubscribed"
        "   FROM events GROUP BY campaign_id) AS e ON e.campaign_id = c.id"
        " ORDER BY COALESCE(c.send_started_at, c.created_at) DESC, c.id DESC"
    ).fetchall()


# --------------------------------------------------------------------------
# Measuring


def median_time(fn: Callable[[], object], runs: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def check_big(db: Database, naive: dict[str, object]) -> None:
    """The summaries and the straightforward queries must give the same figures."""
    report = campaign_stats(db, "campaign-1")
    kinds = {kind: (hp, he, me, p) for kind, hp, he, me, p in naive["kinds"]}  # type: ignore[misc]
    f = report.funnel
    assert (f.opens.unique, f.opens.total, f.opens.machine) == kinds["open"][:3]
    assert (f.clicks.unique, f.clicks.total, f.clicks.machine) == kinds["click"][:3]
    assert f.delivered == kinds["delivered"][3]
    assert f.letters_sent == sum(n for _, n in naive["letters"])  # type: ignore[union-attr]
    assert f.unsubscribes == naive["unsubscribes"][0]  # type: ignore[index]
    links = {url: (u, t or 0) for url, u, t in naive["links"]}  # type: ignore[union-attr]
    assert {link.url: (link.unique, link.total) for link in report.links} == links


def measure_big(fresh: bool) -> None:
    path = dataset("one-campaign", 1, BIG_RECIPIENTS, BIG_EVENTS, fresh)
    db = open_db(path)
    events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    recipients = db.execute("SELECT COUNT(*) FROM send_ledger").fetchone()[0]
    print(f"\n## One campaign: {recipients:,} recipients, {events:,} events")
    baseline, naive = median_time(lambda: naive_campaign(db.conn, 1), runs=1)
    figures, report = median_time(lambda: campaign_stats(db, "campaign-1"))
    html, page = median_time(lambda: report_html(report))  # type: ignore[arg-type]
    check_big(db, naive)  # type: ignore[arg-type]
    print(f"  baseline (straightforward queries, 1 run): {baseline:.2f} s")
    print(f"  campaign_stats (median of 3):               {figures:.3f} s")
    size = len(page) / 1024  # type: ignore[arg-type]
    print(f"  report_html ({size:.0f} KiB page, median of 3):  {html:.3f} s")
    print(f"  ratio baseline / campaign_stats:            {baseline / figures:.0f}x")
    print("  figures agree with the baseline: yes")
    measure_inserts(db)
    db.close()


def measure_overview(fresh: bool) -> None:
    path = dataset("all-campaigns", CAMPAIGNS, LIST_SIZE, None, fresh)
    db = open_db(path)
    events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    ledger = db.execute("SELECT COUNT(*) FROM send_ledger").fetchone()[0]
    print(f"\n## All campaigns: {CAMPAIGNS} campaigns, {ledger:,} ledger rows, {events:,} events")
    baseline, naive = median_time(lambda: naive_overview(db.conn), runs=1)
    overview, rows = median_time(lambda: all_campaigns(db))
    mine = [
        (r.campaign.slug, r.funnel.sent, r.funnel.delivered, r.funnel.opens.unique,
         r.funnel.clicks.unique, r.funnel.letters_sent, r.funnel.unsubscribes)
        for r in rows  # type: ignore[union-attr]
    ]  # fmt: skip
    assert mine == [(row[0], *(n or 0 for n in row[1:])) for row in naive]  # type: ignore[union-attr]
    print(f"  baseline (straightforward queries, 1 run): {baseline:.2f} s")
    print(f"  all_campaigns (median of 3):                {overview:.3f} s")
    print(f"  ratio baseline / all_campaigns:             {baseline / overview:.0f}x")
    print("  figures agree with the baseline: yes")
    db.close()


def measure_inserts(db: Database, count: int = 20_000) -> None:
    """Cost of recording a click, one INSERT per event as the server does, with and without
    the summary triggers; each run is rolled back so the data stays as generated."""
    rng = random.Random(11)
    clicks = [
        (1, rng.randrange(1, BIG_RECIPIENTS + 1), "click", rng.randrange(1, LINKS + 1), None,
         T0 + rng.randrange(86_400), AGENTS[0], 0, None)
        for _ in range(count)
    ]  # fmt: skip
    results = {}
    for label, triggers in (("without summaries", False), ("with summaries", True)):
        conn = db.conn
        conn.execute("BEGIN IMMEDIATE")
        if not triggers:
            for trigger in stats_db.STATS_TRIGGERS:
                conn.execute(f"DROP TRIGGER {trigger}")
        start = time.perf_counter()
        for row in clicks:
            conn.execute(EVENT_SQL, row)
        results[label] = (time.perf_counter() - start) / count
        conn.rollback()
    print(f"\n## Recording a click ({count:,} INSERTs into the 5M-event table, commits excluded)")
    for label, seconds in results.items():
        print(f"  {label + ':':<20} {seconds * 1e6:6.1f} µs/event  ({1 / seconds:,.0f} events/s)")
    extra = results["with summaries"] - results["without summaries"]
    print(f"  added by the triggers: {extra * 1e6:.1f} µs/event")
    print(f"  = {extra * 2000 * 100:.1f}% of one core at 2,000 clicks/s")


def main() -> None:
    fresh = "--rebuild" in sys.argv
    header("alerts stats")
    with open("/proc/loadavg", encoding="ascii") as load:
        print(f"load average at start: {load.read().split()[:3]}")
    measure_big(fresh)
    measure_overview(fresh)
    with open("/proc/loadavg", encoding="ascii") as load:
        print(f"\nload average at end: {load.read().split()[:3]}")


if __name__ == "__main__":
    main()
