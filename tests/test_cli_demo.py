"""`alerts demo`: the README's first command, run as a newcomer runs it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def demo(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTS_", "SENDGRID_"))}
    env["TMPDIR"] = str(tmp)
    return subprocess.run(
        [str(Path(sys.executable).parent / "alerts"), "demo", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_demo_runs_the_whole_pipeline_and_says_where_everything_is(tmp_path):
    folder = tmp_path / "kept"
    result = demo("--dir", str(folder), tmp=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    out = result.stdout
    steps = (
        "alerts init",
        "alerts import",
        "alerts targets load",
        "alerts targets geocode",
        "NY-10 or NY-12 by ZIP; NY-12 by street address",  # a split ZIP made exact
        "alerts send",
        "alerts serve",
        "alerts stats",
        "opens the letter page",
        'presses "I sent it"',
        "unsubscribes",
        "ALERTS_TODAY=2027-01-05 alerts send",  # the dress rehearsal of the changeover
        "out-of-date targets",
        "Roster: the 120th Congress",
        "now addressed to Representative Marisol Trialdale",
    )
    for step in steps:
        assert step in out, step
    for artefact in ("alerts.toml", "subscribers.db", "preview.html", "outbox.mbox", "report.html"):
        assert (folder / artefact).exists(), artefact
        assert str(folder / artefact) in out
    assert "SENDGRID_API_KEY" in out and "alerts targets update" in out and "base_url" in out

    with sqlite3.connect(folder / "subscribers.db") as db:
        kinds = dict(
            db.execute("SELECT kind, COUNT(*) FROM events WHERE machine = 0 GROUP BY kind")
        )
        sent = db.execute("SELECT COUNT(*) FROM send_ledger WHERE state = 'sent'").fetchone()[0]
    assert sent == 40
    assert kinds["open"] == 2 and kinds["click"] == 1 and kinds["letter_sent"] == 1
    assert kinds["unsubscribe"] == 1 and kinds["delivered"] == 40
    report = (folder / "report.html").read_text()
    assert "<svg" in report and "http://" not in report.split("<body", 1)[1][:200]


def test_demo_refuses_a_folder_with_things_in_it(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    result = demo("--dir", str(tmp_path / "busy"), tmp=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'busy'}: not empty; give --dir a new or empty folder"
    ]
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
