"""Benchmark: resolve 1,000,000 subscribers' districts; single ZIP lookups.

Targets (issue 3): resolving 1,000,000 subscribers takes at most 10 s; one lookup
answers in under 1 ms. Baseline, measured in the same run: the naive way, one
lookup and one UPDATE per subscriber in Python, on a slice, scaled up.

Run: python benchmarks/resolve_districts.py [--subscribers N] [--fresh]
Needs the public files in ../shared/data. The database is kept in
benchmarks/.work/resolve/ and reused by later runs unless --fresh is given.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from pathlib import Path

from _common import REPO, header, peak_rss_mib, workdir

from alerts.db import Database, open_db, write_transaction
from alerts.db import districts as districts_db
from alerts.targets import lookup as targets
from alerts.targets import roster

SHARED = REPO.parent / "shared" / "data"
BASELINE_SLICE = 20_000
LOOKUPS = 10_000


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])


def zip_rows() -> list[tuple[str, str]]:
    with (SHARED / "zccd.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["zcta"], row["state_abbr"]) for row in csv.DictReader(handle)]


def fake_subscribers(count: int, rows: list[tuple[str, str]]):
    """Rows like real signup exports: mostly clean, with the usual mistakes mixed in."""
    rnd = random.Random(3)
    for number in range(count):
        zip_code, state = rnd.choice(rows)
        roll = rnd.random()
        if roll < 0.03:
            state = ""
        elif roll < 0.05:
            state = state.lower()
        elif roll < 0.06:
            state = rnd.choice(["XX", "Calif."])
        roll = rnd.random()
        if roll < 0.02:
            zip_code += "-0001"
        elif roll < 0.03:
            zip_code = ""
        elif roll < 0.04:
            zip_code = rnd.choice(["99999", "ABCDE", "123"])
        yield {
            "email": f"person{number}@example.org",
            "email_key": f"person{number}@example.org",
            "first_name": "Sample",
            "last_name": f"Person {number}",
            "street": f"{number % 9999} Main Street",
            "city": "Springfield",
            "state": state,
            "zip": zip_code,
            "phone": "555-0100",
            "created_at": "2026-11-21T00:00:00Z",
            "updated_at": "2026-11-21T00:00:00Z",
        }


def prepare(path: Path, count: int, fresh: bool) -> Database:
    if fresh:
        for old in path.parent.glob(path.name + "*"):
            old.unlink()
    database = open_db(path)
    if database["subscribers"].count != count:
        database["subscribers"].delete_where()
        started = time.perf_counter()
        roster.load_roster(
            database,
            SHARED / "legislators-current.yaml",
            SHARED / "zccd.csv",
            SHARED / "legislators-social-media.yaml",
            congress=119,
        )
        print(f"roster load (empty subscribers): {time.perf_counter() - started:.2f} s")
        database["subscribers"].insert_all(fake_subscribers(count, zip_rows()), batch_size=10_000)
        database.conn.commit()
    return database


def forget_districts(database: Database) -> None:
    database.execute(
        "UPDATE subscribers SET cd_state = NULL, cd_district = NULL,"
        " cd_confidence = 'unknown', cd_flags = NULL"
    )
    database.conn.commit()


def timed_run(label: str, action) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU ({result} changed)")
    return wall, cpu, result


def naive_baseline(database: Database, count: int) -> float:
    """One lookup and one UPDATE per subscriber, in Python, on the first `count` rows."""
    table = database["subscribers"]
    rows = database.execute(
        "SELECT id, zip, state FROM subscribers ORDER BY id LIMIT ?", [count]
    ).fetchall()
    started = time.perf_counter()
    with write_transaction(database):
        for subscriber_id, zip_code, state in rows:
            found = districts_db.resolve_zip(database, zip_code or "", state)
            table.update(
                subscriber_id,
                {"cd_state": found.state, "cd_district": found.district,
                 "cd_confidence": found.confidence, "cd_flags": ",".join(found.flags) or None},
            )  # fmt: skip
    return time.perf_counter() - started


def lookup_latencies(database: Database, rows: list[tuple[str, str]]) -> list[float]:
    rnd = random.Random(5)
    sample = [rnd.choice(rows) for _ in range(LOOKUPS)]
    latencies = []
    for zip_code, state in sample:
        started = time.perf_counter()
        targets.lookup(database, zip_code, state if rnd.random() < 0.5 else None)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="rebuild the database")
    args = parser.parse_args()
    if not (SHARED / "zccd.csv").exists():
        print(f"public data files not found in {SHARED}", file=sys.stderr)
        return 1

    header("resolve_districts")
    print(f"load average before: {load_average()}")
    database = prepare(workdir("resolve") / "resolve.db", args.subscribers, args.fresh)
    count = database["subscribers"].count

    forget_districts(database)
    full_wall, full_cpu, _ = timed_run(
        f"resolve_districts, {count:,} subscribers, all changed",
        lambda: districts_db.resolve_districts(database),
    )
    timed_run(
        f"resolve_districts, {count:,} subscribers, none changed",
        lambda: districts_db.resolve_districts(database),
    )
    database.execute("CREATE TEMP TABLE bench_ids (id INTEGER PRIMARY KEY)")
    database.execute("INSERT INTO bench_ids SELECT id FROM subscribers WHERE id % 100 = 0")
    database.execute("UPDATE subscribers SET cd_flags = 'stale' WHERE id % 100 = 0")
    timed_run("resolve_districts, 1% of ids (import)", lambda: districts_db.resolve_districts(
        database, "bench_ids"))  # fmt: skip

    forget_districts(database)
    slice_seconds = naive_baseline(database, BASELINE_SLICE)
    baseline = slice_seconds * count / BASELINE_SLICE
    print(
        f"baseline, one lookup + UPDATE per subscriber: {slice_seconds:.2f} s for"
        f" {BASELINE_SLICE:,}, scaled to {count:,}: {baseline:.1f} s"
    )
    print(f"ratio baseline / set-based (wall): {baseline / full_wall:.1f}x")

    latencies = lookup_latencies(database, zip_rows())
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"lookup, {LOOKUPS:,} random ZIPs: median {statistics.median(latencies):.3f} ms,"
        f" p99 {p99:.3f} ms"
    )
    print(f"resolve CPU share of wall: {full_cpu / full_wall:.0%}")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    print(f"load average after: {load_average()}")
    database.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
