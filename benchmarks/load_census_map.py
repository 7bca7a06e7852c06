"""Benchmark: load a national Census relationship file and re-resolve 1,000,000 subscribers.

Target (issue 12): loading a Census-layout file of 46,000 rows (the roster with it)
and re-resolving 1,000,000 subscribers takes at most 1.5 times loading zccd.csv the
same way, measured in the same run on the same database.

The Census file is synthetic but shaped like tab20_cd11920_zcta520_natl.txt: the
(state, ZIP, district) rows of the real zccd.csv with made-up land and water areas,
less the smallest part of a fifth of the split ZIPs (zccd.csv, built from tracts,
lists about 7,300 split ZIPs where the Census file has about 5,900), plus district
remainders in no ZIP, ZZ parts and water-only parts, to 46,000 rows, pipe-delimited
UTF-8 with a byte-order mark. The loads alternate between the two
maps, so each one moves the subscribers the other moved back; the first load is a
warm-up. With --baseline-commit REV, the same zccd.csv load is also timed with
the code of that commit (say, the last one before issue 12), from `git archive`,
on a copy of the database.

Run: python benchmarks/load_census_map.py [--subscribers N] [--rounds N] [--fresh]
     [--baseline-commit REV]
Needs the public files in ../shared/data. The database is kept in
benchmarks/.work/census/ and reused by later runs unless --fresh is given.
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _common import REPO, header, load_average, peak_rss_mib, workdir
from resolve_districts import fake_subscribers, zip_rows

from alerts.db import Database, open_db
from alerts.targets import roster

SHARED = REPO.parent / "shared" / "data"
CENSUS_ROWS = 46_000
ZZ_ROWS = 50
SLIVERS_LEFT_OUT = 0.2  # of the split ZIPs, those whose smallest part zccd.csv alone lists
COLUMNS = (
    "OID_CD119_20", "GEOID_CD119_20", "NAMELSAD_CD119_20", "AREALAND_CD119_20",
    "AREAWATER_CD119_20", "MTFCC_CD119_20", "FUNCSTAT_CD119_20", "OID_ZCTA5_20",
    "GEOID_ZCTA5_20", "NAMELSAD_ZCTA5_20", "AREALAND_ZCTA5_20", "AREAWATER_ZCTA5_20",
    "MTFCC_ZCTA5_20", "CLASSFP_ZCTA5_20", "FUNCSTAT_ZCTA5_20", "AREALAND_PART", "AREAWATER_PART",
)  # fmt: skip
DELEGATE_STATES = {"DC", "PR"}
ZZ_STATES = ("09", "17", "33")  # CT, IL and NH have parts in no district


def district_code(state: str, district: int) -> str:
    if district == 0:
        return "98" if state in DELEGATE_STATES else "00"
    return f"{district:02d}"


def census_row(geoid: str, zcta: str, zip_land: int, land: int, water: int) -> list[str]:
    undefined = geoid.endswith("ZZ")
    name = "Congressional Districts not defined" if undefined else "Congressional District"
    status = "F" if undefined else "N"
    district = [f"2119035{geoid}", geoid, name, "900000000", "9000000", "G5200", status]
    if not zcta:
        return [*district, *[""] * 8, str(land), str(water)]
    place = [f"22170{zcta}", zcta, f"ZCTA5 {zcta}", str(zip_land), "100000", "G6350", "B5", "S"]
    return [*district, *place, str(land), str(water)]


def write_census_file(path: Path) -> int:
    """A national Census-layout file of CENSUS_ROWS rows built on zccd.csv's real rows."""
    rnd = random.Random(12)
    by_zip: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    with (SHARED / "zccd.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            by_zip[row["zcta"]].append((row["state_fips"], row["state_abbr"], int(row["cd"])))
    rows: list[list[str]] = []
    geoids = set()
    for zcta, parts in by_zip.items():
        zip_land = rnd.randint(1_000_000, 900_000_000)
        weights = [rnd.random() + 0.01 for _ in parts]
        if len(parts) > 1 and rnd.random() < SLIVERS_LEFT_OUT:
            smallest = weights.index(min(weights))
            del parts[smallest], weights[smallest]
        for (fips, state, district), weight in zip(parts, weights, strict=True):
            geoid = fips + district_code(state, district)
            geoids.add(geoid)
            land = max(1, int(zip_land * weight / sum(weights)))
            rows.append(census_row(geoid, zcta, zip_land, land, rnd.randint(0, 50_000)))
    rows += [census_row(g, "", 0, rnd.randint(1, 10**8), 0) for g in sorted(geoids)]
    zips = list(by_zip)
    rows += [
        census_row(rnd.choice(ZZ_STATES) + "ZZ", rnd.choice(zips), 10**7, 0, 10**6)
        for _ in range(ZZ_ROWS)
    ]
    while len(rows) < CENSUS_ROWS:  # water-only parts of districts beside a ZIP
        geoid = rnd.choice(sorted(geoids))
        rows.append(census_row(geoid, rnd.choice(zips), 10**7, 0, rnd.randint(1, 10**6)))
    rnd.shuffle(rows)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write("|".join(COLUMNS) + "\n")
        out.writelines("|".join(row) + "\n" for row in rows)
    return len(rows)


def prepare(path: Path, count: int, fresh: bool) -> Database:
    if fresh:
        for old in path.parent.glob(path.name + "*"):
            old.unlink()
    database = open_db(path)
    if database["subscribers"].count != count:
        database["subscribers"].delete_where()
        database["subscribers"].insert_all(fake_subscribers(count, zip_rows()), batch_size=10_000)
        database.conn.commit()
    return database


def load(database: Database, zip_map: Path, congress: int | None) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    diff = roster.load_roster(
        database,
        SHARED / "legislators-current.yaml",
        zip_map,
        SHARED / "legislators-social-media.yaml",
        congress=congress,
    )
    moved = sum(change.subscribers_moved for change in diff.maps)
    return time.perf_counter() - wall, time.process_time() - cpu, moved


BASELINE_LOAD = """
import sys, time
from alerts.db import open_db
try:
    from alerts.targets.roster import load_roster
except ImportError:  # before the roster had a module of its own
    from alerts.targets.lookup import load_roster
db = open_db(sys.argv[1])
shared = sys.argv[2]
wall, cpu = time.perf_counter(), time.process_time()
load_roster(db, shared + "/legislators-current.yaml", shared + "/zccd.csv",
            shared + "/legislators-social-media.yaml")
print(f"{time.perf_counter() - wall:.3f} {time.process_time() - cpu:.3f}")
"""


def baseline_zccd_load(database_path: Path, work: Path, commit: str) -> tuple[float, float] | None:
    """(wall, CPU) of the zccd.csv load with the code of `commit`, on a copy of the database."""
    with tempfile.TemporaryDirectory(prefix="alerts-baseline-") as folder:
        archive = Path(folder) / "baseline.tar"
        with archive.open("wb") as out:
            subprocess.run(["git", "-C", str(REPO), "archive", commit, "alerts"], stdout=out,
                           check=True)  # fmt: skip
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        copy = work / "baseline-copy.db"
        shutil.copyfile(database_path, copy)
        result = subprocess.run(
            [sys.executable, "-c", BASELINE_LOAD, str(copy), str(SHARED)],
            cwd=folder,  # so that `import alerts` finds the archived package first
            env={"PYTHONPATH": folder, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        copy.unlink()
    if result.returncode != 0:
        print(f"baseline load failed: {result.stderr.strip().splitlines()[-1:]}")
        return None
    wall, cpu = result.stdout.split()
    return float(wall), float(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="timed loads of each map")
    parser.add_argument("--fresh", action="store_true", help="rebuild the database")
    parser.add_argument("--baseline-commit", metavar="REV", help="also time that commit's code")
    args = parser.parse_args()
    if not (SHARED / "zccd.csv").exists():
        print(f"public data files not found in {SHARED}", file=sys.stderr)
        return 1

    header("load_census_map")
    print(f"load average before: {load_average()}")
    work = workdir("census")
    census = work / "tab20_cd11920_zcta520_natl.txt"
    rows = write_census_file(census)
    print(f"synthetic Census file: {rows:,} rows, {census.stat().st_size:,} bytes")
    database = prepare(work / "census.db", args.subscribers, args.fresh)
    count = database["subscribers"].count
    zccd = SHARED / "zccd.csv"
    wall, _, _ = load(database, zccd, 119)
    print(f"warm-up: zccd.csv load, {count:,} subscribers: {wall:.2f} s")

    times: dict[str, list[float]] = {"census": [], "zccd": []}
    cpu_times: dict[str, list[float]] = {"census": [], "zccd": []}
    for round_number in range(1, args.rounds + 1):
        for name, path, congress in (("census", census, None), ("zccd", zccd, 119)):
            wall, cpu, moved = load(database, path, congress)
            times[name].append(wall)
            cpu_times[name].append(cpu)
            print(
                f"round {round_number}: {name} load + re-resolve {count:,}: {wall:.2f} s wall,"
                f" {cpu:.2f} s CPU, {moved:,} subscribers moved"
            )
    census_median, zccd_median = (statistics.median(times[n]) for n in ("census", "zccd"))
    census_cpu, zccd_cpu = (statistics.median(cpu_times[n]) for n in ("census", "zccd"))
    print(f"median wall: Census file {census_median:.2f} s, zccd.csv {zccd_median:.2f} s")
    print(f"median CPU: Census file {census_cpu:.2f} s, zccd.csv {zccd_cpu:.2f} s")
    ratio = census_median / zccd_median
    print(f"ratio Census / zccd.csv (median wall): {ratio:.2f}x (target: at most 1.5x)")
    print(f"ratio Census / zccd.csv (median CPU): {census_cpu / zccd_cpu:.2f}x")
    if args.baseline_commit:
        load(database, census, None)  # the copy then moves back to zccd.csv like the others
        database.close()
        commit = args.baseline_commit
        before = baseline_zccd_load(work / "census.db", work, commit)
        if before is not None:
            wall, cpu = before
            print(f"zccd.csv load with the code of {commit}: {wall:.2f} s wall, {cpu:.2f} s CPU")
            print(
                f"ratio Census (this code) / zccd.csv ({commit}): {census_median / wall:.2f}x"
                f" wall, {census_cpu / cpu:.2f}x CPU"
            )
    else:
        database.close()
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
