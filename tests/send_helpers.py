"""Shared by the tests of `alerts send`: a project with subscribers, and the fake SendGrid."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from alerts.config import data_file
from alerts.db import Database, open_db
from alerts.db import campaigns as campaigns_db
from alerts.db import ledger as ledger_db
from alerts.delivery.providers.sendgrid.standin import Delivery, FakeSendGrid

ACTION = "end-qualified-immunity-act"
UPDATE = "progress-report"
# Names that need escaping in HTML, accents, a blank one (the fallback is used).
FIRST_NAMES = ["Ana", "<b>Sam</b>", "Zoë", "O'Neil", "", "María José", "Tom & Jerry"]
# ZIPs of the sample roster that name exactly one House seat.
ZIPS = ["05401", "94110", "78701", "97201", "20001"]


def email_of(index: int) -> str:
    return f"person{index}@example.org"


def add_subscribers(cli: Any, project: Path, count: int, start: int = 0) -> None:
    """Import `count` people through `alerts import`, with awkward names and real ZIPs."""
    path = project / f"people-{start}.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "first_name", "last_name", "zip"])
        for index in range(start, start + count):
            first = FIRST_NAMES[index % len(FIRST_NAMES)]
            writer.writerow([email_of(index), first, f"Tester{index}", ZIPS[index % len(ZIPS)]])
    cli("import", str(path))


def load_sample_roster(cli: Any) -> None:
    cli(
        "targets",
        "load",
        "--legislators",
        str(data_file("sample-legislators.yaml")),
        "--social",
        str(data_file("sample-legislators-social.yaml")),
        "--zip-districts",
        str(data_file("sample-zccd.csv")),
        "--congress",
        "119",
    )


def use_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeSendGrid, **settings: str) -> None:
    """Point the project at the fake, with a key and short timeouts."""
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
    monkeypatch.setenv("ALERTS_SENDGRID_HOST", fake.url)
    monkeypatch.setenv("ALERTS_SENDGRID_TIMEOUT", "2")
    for name, value in settings.items():
        monkeypatch.setenv(f"ALERTS_SENDGRID_{name.upper()}", value)


def project_db(project: Path) -> Database:
    return open_db(project / "subscribers.db")


def ledger(project: Path, slug: str) -> dict[str, int]:
    """The campaign's non-zero ledger counts ({} when it was never frozen)."""
    db = project_db(project)
    try:
        record = campaigns_db.campaign_record(db, slug)
        if record is None:
            return {}
        return {k: v for k, v in ledger_db.ledger_counts(db, record.id).items() if v}
    finally:
        db.close()


def by_email(deliveries: list[Delivery]) -> dict[str, list[Delivery]]:
    found: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        found.setdefault(delivery.email, []).append(delivery)
    return found
