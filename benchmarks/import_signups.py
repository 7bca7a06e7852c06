"""Benchmark: `alerts import` of a generated 1,000,000-row signup export.

Target (issue 2): at most 20 s and 300 MB peak memory on the 2-core machine,
faster than the baseline `sqlite-utils insert DB TABLE FILE --csv` on the same
file, which validates and de-duplicates nothing.

The file looks like a Gravity Forms export: 5% of the rows repeat an earlier
email in other letter cases, 1% have an invalid email, some ZIPs lost their
leading zero or carry a +4, some states are spelled out.

As in real use, the roster of Congress and the ZIP map are loaded first (not
timed): the public files in ../shared/data when present, else the sample ones.
So the import resolves every new subscriber's district, as it always does.

    python benchmarks/import_signups.py [--rows N] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _common import header, workdir

HEADER = [
    "Entry Id",
    "Date Created",
    "Email",
    "Name (First)",
    "Name (Last)",
    "Address (Street Address)",
    "Address (City)",
    "Address (State / Province)",
    "Address (ZIP / Postal Code)",
    "Phone",
]
FIRST = ["Ana", "José", "Mary", "Li", "Chloé", "Omar", "Grace", "Dmitri", "Aisha", "Seán"]
LAST = ["García", "Smith", "O'Neil", "Nguyen", "Müller", "Johnson", "Okafor", "Kowalski"]
CITIES = [("Burlington", "VT"), ("Austin", "Texas"), ("Chicago", "IL"), ("Portland", "OR")]
BAD_EMAILS = ["{n}.example.org", "user{n}@@example.org", "a..b{n}@example.org", "x {n}@example.org"]


def generate(path: Path, rows: int, seed: int = 2) -> None:
    """Write the signup file: deterministic for a given row count and seed."""
    rng = random.Random(seed)
    emails: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            roll = rng.random()
            if roll < 0.01:
                email = rng.choice(BAD_EMAILS).format(n=n)
            elif roll < 0.06 and emails:
                email = _other_case(rng.choice(emails), rng)
            else:
                email = f"supporter{n}.{rng.randrange(10**6)}@example{n % 97}.org"
                emails.append(email)
            city, state = rng.choice(CITIES)
            writer.writerow(
                [
                    n + 1,
                    f"2025-{rng.randrange(1, 13):02}-{rng.randrange(1, 29):02} 10:{n % 60:02}:00",
                    email,
                    rng.choice(FIRST),
                    rng.choice(LAST),
                    f"{rng.randrange(1, 9999)} Main St",
                    city,
                    state,
                    _zip(rng),
                    f"555-{rng.randrange(10000):04}",
                ]
            )


SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def load_roster(db: Path, cwd: Path) -> str:
    """Load the public roster and ZIP map (or the sample ones) into `db`; say which."""
    if (SHARED / "legislators-current.yaml").exists():
        files = {
            "legislators": SHARED / "legislators-current.yaml",
            "social": SHARED / "legislators-social-media.yaml",
            "zip_districts": SHARED / "zccd.csv",
        }
        which = f"the public files in {SHARED}"
    else:
        from alerts.targets.roster import sample_files

        files, which = sample_files(), "the sample files (../shared/data is absent)"
    command = [sys.executable, "-m", "alerts", "--db", str(db), "targets", "load"]
    for option, key in (("--legislators", "legislators"), ("--social", "social")):
        command += [option, str(files[key])]
    command += ["--zip-districts", str(files["zip_districts"]), "--congress", "119"]
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return which


def _other_case(email: str, rng: random.Random) -> str:
    variant = rng.choice([email.upper(), email.title(), email.capitalize()])
    return variant if variant != email else email.upper()


def _zip(rng: random.Random) -> str:
    code = f"{rng.randrange(501, 99951):05}"
    roll = rng.random()
    if roll < 0.05:
        return code.lstrip("0")  # a spreadsheet dropped the leading zeros
    if roll < 0.10:
        return f"{code}-{rng.randrange(10000):04}"
    return code


@dataclass
class Measured:
    wall: float  # seconds
    cpu: float  # user + system seconds of the process and its children
    peak_mib: float  # the most resident memory of the process and its children together
    stdout: str

    def __str__(self) -> str:
        return f"{self.wall:6.1f} s wall, {self.cpu:6.1f} s CPU, peak RSS {self.peak_mib:4.0f} MiB"


def run_measured(command: list[str], cwd: Path) -> Measured:
    """Run a command: wall time, CPU time (its own and its children's, from rusage) and
    peak memory: the largest sum of the resident sizes of it and its children, sampled."""
    errors = cwd / "stderr.txt"
    start = time.perf_counter()
    with errors.open("wb") as stderr:
        child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=stderr)
        sampler = RssSampler(child.pid)
        sampler.start()
        stdout = child.stdout.read() if child.stdout else b""
        sampler.stop = True
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{errors.read_text()}")
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(wall, cpu, max(usage.ru_maxrss / 1024, sampler.peak_mib), stdout.decode())


class RssSampler(threading.Thread):
    """Polls /proc every 20 ms for the resident memory of a process and its children."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_mib = 0.0
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            total = sum(_rss_kib(pid) for pid in [self.pid, *_children(self.pid)])
            self.peak_mib = max(self.peak_mib, total / 1024)
            time.sleep(0.02)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    found = [int(p) for p in text.split()]
    return found + [grandchild for c in found for grandchild in _children(c)]


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    args = parser.parse_args()

    header(f"alerts import, {args.rows:,} rows")
    work = workdir("import_signups")
    source = work / f"signups-{args.rows}.csv"
    if not source.exists():
        started = time.perf_counter()
        generate(source, args.rows)
        print(f"generated {source.name} in {time.perf_counter() - started:.1f} s")
    print(f"file: {source.stat().st_size / 2**20:.0f} MiB; load average: {_loadavg()}")

    bin_dir = Path(sys.executable).parent
    ours_db, base_db = work / "ours.db", work / "baseline.db"
    for path in work.glob("*.db*"):
        path.unlink()

    roster = load_roster(ours_db, work)
    print(f"roster loaded first (not timed): {roster}")
    alerts = [sys.executable, "-m", "alerts", "--db", str(ours_db), "import", str(source)]
    command = [*alerts, "--format", "json", "--rejects", str(work / "rejects.csv")]
    ours = run_measured(command, work)
    print(f"alerts import:        {ours}  {json.loads(ours.stdout)}")
    again = run_measured(command, work)
    print(f"same file again:      {again}  {json.loads(again.stdout)}")

    sqlite_utils = shutil.which("sqlite-utils", path=str(bin_dir)) or "sqlite-utils"
    baseline = [sqlite_utils, "insert", str(base_db), "signups", str(source), "--csv"]
    base = run_measured(baseline, work)
    print(f"sqlite-utils insert:  {base}  (baseline)")
    wall_ratio, cpu_ratio = ours.wall / base.wall, ours.cpu / base.cpu
    print(f"alerts / baseline: {wall_ratio:.2f} (wall time), {cpu_ratio:.2f} (CPU time)")
    met = ours.wall <= 20 and ours.peak_mib <= 300
    print(f"target <= 20 s wall and <= 300 MiB: {'met' if met else 'MISSED'}")
    print(f"load average after: {_loadavg()}")
    if not args.keep:
        source.unlink()
    for path in work.glob("*.db*"):
        path.unlink()


def _loadavg() -> str:
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


if __name__ == "__main__":
    main()
