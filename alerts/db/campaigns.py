"""The campaigns table family: `campaigns` (one row per campaign file ever prepared)
and `links` (each campaign's tracked links, whose ids the click tokens carry).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerts.db.connection import Database, utc_now, write_transaction
from alerts.models import CampaignRecord

CAMPAIGN_COLUMNS = (
    "id, slug, kind, subject, source_sha256, created_at, send_started_at, send_finished_at"
)


def register_campaign(db: Database, slug: str, kind: str, subject: str, source_sha256: str) -> int:
    """The id of the campaign named `slug`, adding its row on first use.

    Until its sending starts, the row follows the file (kind, subject, hash);
    after that it is left as it was sent.
    """
    with write_transaction(db):
        db.execute(
            "INSERT INTO campaigns (slug, kind, subject, source_sha256, created_at)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (slug) DO UPDATE SET kind = excluded.kind,"
            " subject = excluded.subject, source_sha256 = excluded.source_sha256"
            " WHERE campaigns.send_started_at IS NULL",
            [slug, kind, subject, source_sha256, utc_now()],
        )
        row = db.execute("SELECT id FROM campaigns WHERE slug = ?", [slug]).fetchone()
    return int(row[0])


def register_links(db: Database, campaign_id: int, urls: list[str] | tuple[str, ...]) -> list[int]:
    """Ids of a campaign's links, in the order of `urls`, adding the new ones."""
    with write_transaction(db):
        db.conn.executemany(
            "INSERT OR IGNORE INTO links (campaign_id, url) VALUES (?, ?)",
            [(campaign_id, url) for url in urls],
        )
        rows = db.execute(
            "SELECT url, id FROM links WHERE campaign_id = ?", [campaign_id]
        ).fetchall()
    ids = dict(rows)
    return [int(ids[url]) for url in urls]


def _row_to_campaign(row: tuple[Any, ...]) -> CampaignRecord:
    return CampaignRecord(*row)


def campaign_records(db: Database) -> list[CampaignRecord]:
    rows = db.execute(f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY slug").fetchall()
    return [_row_to_campaign(row) for row in rows]


def campaign_record(db: Database, slug: str) -> CampaignRecord | None:
    row = db.execute(f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE slug = ?", [slug]).fetchone()
    return _row_to_campaign(row) if row else None


def campaign_record_by_id(db: Database, campaign_id: int) -> CampaignRecord | None:
    row = db.execute(
        f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?", [campaign_id]
    ).fetchone()
    return _row_to_campaign(row) if row else None


def link_url(db: Database, campaign_id: int, link_id: int) -> str | None:
    """The URL of a link, only if that link belongs to that campaign."""
    row = db.execute(
        "SELECT url FROM links WHERE id = ? AND campaign_id = ?", [link_id, campaign_id]
    ).fetchone()
    return row[0] if row else None


def campaign_exists(db: Database, campaign_id: int) -> bool:
    return db.execute("SELECT 1 FROM campaigns WHERE id = ?", [campaign_id]).fetchone() is not None


def record_deadline(db: Database, campaign_id: int, deadline: datetime | None) -> None:
    """Keep the campaign file's deadline as of its last send (ISO 8601, its own offset)."""
    with write_transaction(db):
        db.execute(
            "UPDATE campaigns SET deadline = ? WHERE id = ?",
            [deadline.isoformat() if deadline else None, campaign_id],
        )


def campaign_deadline(db: Database, campaign_id: int) -> datetime | None:
    """The deadline recorded for the campaign, or None."""
    row = db.execute("SELECT deadline FROM campaigns WHERE id = ?", [campaign_id]).fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None
