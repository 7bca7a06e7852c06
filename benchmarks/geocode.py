"""Benchmark: `alerts targets geocode` of 100,000 subscribers, the geocoder 2 s a batch away.

Target (issue 13): reading the answers and storing them (each batch's geocodes and
its subscribers' districts resolved again, one commit a batch) takes at most 10%
of the wall time. The Census Geocoder is the local stand-in, in its own process,
with 2 s added to every batch (--latency).

Measured in the same run:
- baseline: the latency-only wall time, the same batches' requests, built in
  advance, posted one after another with nothing done with the answers;
- `alerts targets geocode --format json` in its own process (the command as staff
  run it, start-up included): the wall time, and its excess over the baseline;
- the same run in this process, with the time spent waiting on each HTTP answer
  measured: the rest (choosing who is sent, building each request, reading the
  answer, storing) is the work, as a share of the wall time.

    python benchmarks/geocode.py [--subscribers 100000] [--latency 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from _common import header, load_average, peak_rss_mib, workdir

from alerts.config import data_file
from alerts.db import Database, open_db
from alerts.db import geocodes as geocodes_db
from alerts.db.districts import resolve_districts
from alerts.targets.blocks import load_blocks
from alerts.targets.geocoder import AddressQuery
from alerts.targets.geocoder.census import client as census_client
from alerts.targets.geocoder.census import wire
from alerts.targets.geocoding import run_geocode
from alerts.targets.roster import load_roster, sample_files

NOW = "2026-01-01T00:00:00Z"
# Blocks the stand-in gives addresses it does not know, as a city's would spread.
BLOCKS = ["360610103001000", "360610093001001", "360610099001002", "170310709001000"]
STREETS = ("Main St", "Elm St", "Oak Ave", "Broadway", "Park Pl", "Lincoln Ave")


def build_database(path: Path, count: int) -> None:
    """The sample roster, ZIP map and block file, and `count` people in a split ZIP code."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = open_db(path)
    try:
        files = sample_files()
        load_roster(db, files["legislators"], files["zip_districts"], None, congress=119)
        load_blocks(db, [data_file("sample-blocks-119.txt")], congress=119)
    finally:
        db.close()
    rows = (
        (f"p{n}@example.org", f"p{n}@example.org", f"{n % 9000 + 1} {STREETS[n % 6]}",
         "New York", "NY", "10001", NOW, NOW)
        for n in range(count)
    )  # fmt: skip
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO subscribers (email, email_key, street, city, state, zip, cd_confidence,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'ambiguous', ?, ?)",
            rows,
        )
    db = open_db(path)
    try:
        resolve_districts(db)
    finally:
        db.close()


def start_standin(latency: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "alerts.targets.geocoder.census.standin",
         "--latency", str(latency), "--match-unknown", ",".join(BLOCKS)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    line = process.stdout.readline() if process.stdout else ""
    return process, line.rsplit(" ", 1)[-1].strip()


def latency_only(url: str, path: Path) -> float:
    """The same batches' requests, prepared first, posted one after another: the baseline."""
    db = open_db(path)
    try:
        addresses = [
            AddressQuery.of(n, street, city, state, zip_code)
            for n, street, city, state, zip_code in db.execute(
                "SELECT id, street, city, state, zip FROM subscribers ORDER BY id"
            )
        ]
    finally:
        db.close()
    bodies = []
    for start in range(0, len(addresses), wire.MAX_BATCH):
        chunk = addresses[start : start + wire.MAX_BATCH]
        rows = [wire.AddressRow(str(i), q.street, q.city, q.state, q.zip)
                for i, q in enumerate(chunk, 1)]  # fmt: skip
        bodies.append(wire.form_body(wire.address_file(rows), "benchmarkboundary"))
    started = time.perf_counter()
    for body in bodies:
        request = urllib.request.Request(
            url + wire.BATCH_PATH,
            data=body,
            headers={"Content-Type": wire.form_type("benchmarkboundary")},
        )
        with urllib.request.urlopen(request, timeout=600) as answer:
            answer.read()
    return time.perf_counter() - started


def command_run(url: str, path: Path) -> tuple[float, dict[str, int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
    env["ALERTS_GEOCODER_URL"] = url
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "alerts", "--db", str(path), "targets", "geocode",
         "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started, json.loads(result.stdout)


class TimedClient(census_client.CensusGeocoder):
    """The client, adding up the time each batch's HTTP request and answer took."""

    waiting = 0.0

    def _post(self, file: bytes) -> bytes:
        started = time.perf_counter()
        try:
            return super()._post(file)
        finally:
            self.waiting += time.perf_counter() - started


def in_process_run(url: str, path: Path) -> tuple[float, float, int, float, float]:
    """(wall, waiting on HTTP, matched, time in store_rows, CPU seconds) of a run here."""
    client = TimedClient(url)
    storing = [0.0]
    store = geocodes_db.store_rows

    def timed_store(db: Database, rows: Sequence[geocodes_db.GeocodeRow]) -> None:
        started = time.perf_counter()
        store(db, rows)
        storing[0] += time.perf_counter() - started

    geocodes_db.store_rows = timed_store
    db = open_db(path)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        summary = run_geocode(db, client)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        db.close()
        geocodes_db.store_rows = store
    return wall, client.waiting, summary.matched, storing[0], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=2.0, help="seconds added per batch")
    args = parser.parse_args()
    header(f"alerts targets geocode: {args.subscribers:,} subscribers, {args.latency:g} s a batch")
    folder = workdir("geocode")
    fresh = folder / "fresh.db"
    build_database(fresh, args.subscribers)
    for name in ("command.db", "in-process.db"):
        shutil.copyfile(fresh, folder / name)
    process, url = start_standin(args.latency)
    try:
        print(f"load average before: {load_average()}")
        baseline = latency_only(url, fresh)
        command_wall, summary = command_run(url, folder / "command.db")
        wall, waiting, matched, storing, cpu = in_process_run(url, folder / "in-process.db")
        print(f"load average after: {load_average()}")
    finally:
        process.terminate()
        process.wait(timeout=10)
    batches = -(-args.subscribers // wire.MAX_BATCH)
    excess = command_wall - baseline
    work = wall - waiting
    print(f"batches: {batches}; command's JSON: {json.dumps(summary)}")
    print(f"baseline (latency only, {batches} requests): {baseline:.2f} s")
    print(
        f"`alerts targets geocode` (own process): {command_wall:.2f} s wall;"
        f" {excess:.2f} s over the baseline = {excess / command_wall:.1%} of the wall time"
    )
    print(
        f"in process: {wall:.2f} s wall, {waiting:.2f} s waiting on HTTP answers;"
        f" work {work:.2f} s = {work / wall:.1%} of the wall time ({matched:,} matched)"
    )
    print(
        f"  storing (geocodes and districts, one commit a batch): {storing:.2f} s, most of it"
        " while the next batch is out (only the last batch's is not overlapped)"
    )
    print(
        f"  CPU time of the run in process: {cpu:.2f} s = {cpu / wall:.1%} of its wall time"
        " (what the work costs on a machine with a core to spare)"
    )
    print(
        f"target: work at most 10% of the wall time: {'met' if work / wall <= 0.10 else 'MISSED'}"
    )
    print(f"peak RSS of this process: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
