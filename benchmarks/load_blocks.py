"""Benchmark: load a 700,000-row census block file, against `sqlite-utils insert` of it.

Target (issue 13): `alerts targets load-blocks` of a 700,000-row block file is faster
than `sqlite-utils insert` of the same file, measured in the same run.

The file is synthetic but shaped like a state file of the Census Bureau's Block
Equivalency Files (Texas has 668,757 blocks): `GEOID,CDFP`, CRLF, GEOIDs in order,
two-character district codes, a few ZZ rows. Both sides run as commands, so each pays
for starting Python: `alerts targets load-blocks FILE --congress 119` in a project
folder (first into an empty table, then again, replacing the state's blocks) and
`sqlite-utils insert DB TABLE FILE --csv` into a new table of a fresh database each
round. The rounds alternate; the median of each is compared.

Run: python benchmarks/load_blocks.py [--rows N] [--rounds N]
The files are kept in benchmarks/.work/blocks/.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import header, load_average, workdir

STATE_FIPS = "48"
ZZ_EVERY = 5_000


def block_file(path: Path, rows: int) -> None:
    """`rows` blocks of one state, in GEOID order, across 38 districts."""
    lines = ["GEOID,CDFP"]
    for n in range(rows):
        county, rest = divmod(n, 20_000)
        tract, block = divmod(rest, 400)
        code = "ZZ" if n % ZZ_EVERY == ZZ_EVERY - 1 else f"{1 + (n // 18_000) % 38:02d}"
        lines.append(f"{STATE_FIPS}{1 + 2 * county:03d}{tract * 100:06d}{1000 + block:04d},{code}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))


def run(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=700_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    header(f"load_blocks: {args.rows:,} rows")
    folder = workdir("blocks")
    data = folder / f"blocks-{args.rows}.txt"
    if not data.exists():
        block_file(data, args.rows)
    project = folder / "project"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir()
    alerts = [sys.executable, "-m", "alerts"]
    subprocess.run([*alerts, "init"], cwd=project, check=True, stdout=subprocess.DEVNULL)
    load = [*alerts, "targets", "load-blocks", str(data), "--congress", "119"]
    sqlite_utils = shutil.which("sqlite-utils", path=str(Path(sys.executable).parent))
    if sqlite_utils is None:
        sys.exit("sqlite-utils is not installed beside this Python")
    first = run(load, project)
    ours, theirs = [], []
    for round_number in range(args.rounds):
        baseline_db = folder / "sqlite-utils.db"
        baseline_db.unlink(missing_ok=True)
        theirs.append(
            run([sqlite_utils, "insert", str(baseline_db), "blocks", str(data), "--csv"], folder)
        )
        ours.append(run(load, project))
        print(f"round {round_number + 1}: load-blocks {ours[-1]:.2f} s,"
              f" sqlite-utils insert {theirs[-1]:.2f} s")  # fmt: skip
    mine, baseline = statistics.median(ours), statistics.median(theirs)
    print(f"load-blocks into an empty table: {first:.2f} s")
    print(f"load-blocks replacing the state (median): {mine:.2f} s")
    print(f"sqlite-utils insert (median): {baseline:.2f} s")
    print(f"ratio: {mine / baseline:.2f} (target: below 1)")
    print(f"load average: {load_average()}")


if __name__ == "__main__":
    main()
