"""Shared by the benchmark scripts: the machine's description, timing and memory.

Benchmarks are plain scripts (`python benchmarks/NAME.py`), never timed tests.
Each prints its figures and the baseline measured in the same run.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"


def machine() -> str:
    cores = os.cpu_count() or 0
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        kib = int(meminfo.readline().split()[1])
    return (
        f"{date.today().isoformat()}, {cores} cores, {kib / 1024 / 1024:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.machine()}"
    )


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start


def peak_rss_mib(children: bool = False) -> float:
    """Peak resident memory of this process (or its finished children), in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def workdir(name: str) -> Path:
    path = WORK / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def header(title: str) -> None:
    print(f"# {title}")
    print(f"machine: {machine()}")
    sys.stdout.flush()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, printed beside figures from a shared machine."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_fake_sendgrid(latency_ms: int) -> tuple[subprocess.Popen[str], str]:
    """The fake SendGrid in its own process, as SendGrid is elsewhere: (process, its host URL)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alerts.delivery.providers.sendgrid.standin",
            "--latency-ms",
            str(latency_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    return process, line.rsplit(" ", 1)[-1].strip()
