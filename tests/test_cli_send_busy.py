"""`alerts send` stopped by another process holding the database: the summary still comes first."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from send_helpers import UPDATE, add_subscribers, use_fake

from alerts.delivery.providers.sendgrid.standin import FakeSendGrid, Fault

SUMMARY_KEYS = ["sent", "failed", "unknown", "skipped", "seconds"]


def hold_the_write_lock(database: Path, fake: FakeSendGrid, stop: threading.Event) -> None:
    """Once the first batch has reached SendGrid, take the write lock until told to stop."""
    connect = sqlite3.connect.__wrapped__  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while len(fake.deliveries()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    other = connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    stop.wait(20)
    other.execute("ROLLBACK")
    other.close()


def test_a_send_stopped_by_a_locked_database_prints_its_summary_first(cli, project, monkeypatch):
    add_subscribers(cli, project, 6)
    original = sqlite3.connect

    def impatient(*args: object, **options: object) -> sqlite3.Connection:
        options["timeout"] = 0.3  # give up on a lock quickly, not after 30 s
        return original(*args, **options)  # type: ignore[arg-type]

    impatient.__wrapped__ = original  # type: ignore[attr-defined]
    monkeypatch.setattr(sqlite3, "connect", impatient)
    stop = threading.Event()
    with FakeSendGrid() as fake:
        use_fake(monkeypatch, fake, batch_size="2", concurrency="1")
        fake.inject(Fault("slow", delay=1.0, times=5))
        holder = threading.Thread(
            target=hold_the_write_lock, args=(project / "subscribers.db", fake, stop)
        )
        holder.start()
        try:
            result = cli("send", UPDATE, "--yes", "--format", "json", ok=False)
        finally:
            stop.set()
            holder.join()
        summary = json.loads(result.stdout)
        assert list(summary) == SUMMARY_KEYS
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and errors[0].startswith("Error: database is busy")
        assert f"run `alerts send {UPDATE}` again to continue" in errors[0]
        assert summary["sent"] <= len(fake.deliveries()) < 6
