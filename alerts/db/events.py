"""The events table: every open, click, letter, unsubscribe and delivery provider's event,
one row each, with `at` in Unix seconds.

The stats summaries that triggers keep from these rows are in stats.py.
"""

from __future__ import annotations

import json

from alerts.db.connection import Database
from alerts.models import Event


def insert_event(db: Database, event: Event) -> bool:
    """Insert one event; False when its provider already reported it (a retry)."""
    cursor = db.execute(
        "INSERT INTO events (kind, campaign_id, subscriber_id, at, link_id, target,"
        " user_agent, machine, provider, provider_event_id, detail, via_campaign_id, late)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (provider, provider_event_id) DO NOTHING",
        [
            event.kind,
            event.campaign_id,
            event.subscriber_id,
            event.at,
            event.link_id,
            event.target,
            event.user_agent,
            1 if event.machine else 0,
            event.provider,
            event.provider_event_id,
            event.detail,
            event.via_campaign_id,
            1 if event.late else 0,
        ],
    )
    return cursor.rowcount == 1


def delivery_time(db: Database, campaign_id: int, subscriber_id: int) -> int | None:
    """When the campaign reached the subscriber (Unix seconds), as best we know.

    The provider's `delivered` event when we have it, else the moment the send
    ledger marked the message sent (handed to the provider, a little earlier).
    """
    row = db.execute(
        "SELECT COALESCE("
        " (SELECT MIN(at) FROM events WHERE campaign_id = ?1 AND kind = 'delivered'"
        "  AND subscriber_id = ?2),"
        " (SELECT CAST(strftime('%s', updated_at) AS INTEGER) FROM send_ledger"
        "  WHERE campaign_id = ?1 AND subscriber_id = ?2 AND state = 'sent'))",
        [campaign_id, subscriber_id],
    ).fetchone()
    return int(row[0]) if row[0] is not None else None


def recent_click_links(db: Database, campaign_id: int, subscriber_id: int, since: int) -> set[int]:
    """The distinct links of a campaign a subscriber clicked at or after `since`."""
    rows = db.execute(
        "SELECT DISTINCT link_id FROM events WHERE campaign_id = ? AND kind = 'click'"
        " AND subscriber_id = ? AND at >= ? AND link_id IS NOT NULL",
        [campaign_id, subscriber_id, since],
    ).fetchall()
    return {row[0] for row in rows}


def flag_machine_clicks(
    db: Database, campaign_id: int, subscriber_id: int, since: int, reason: str
) -> int:
    """Mark a subscriber's clicks in a campaign since `since` as machine-made."""
    cursor = db.execute(
        "UPDATE events SET machine = 1, detail = ? WHERE campaign_id = ? AND kind = 'click'"
        " AND subscriber_id = ? AND at >= ? AND machine = 0",
        [json.dumps({"machine": reason}), campaign_id, subscriber_id, since],
    )
    return cursor.rowcount


def letter_targets_sent(db: Database, campaign_id: int, subscriber_id: int) -> set[str]:
    """The members (bioguide ids) a subscriber said they wrote to in a campaign."""
    rows = db.execute(
        "SELECT DISTINCT target FROM events WHERE campaign_id = ? AND kind = 'letter_sent'"
        " AND subscriber_id = ? AND target IS NOT NULL",
        [campaign_id, subscriber_id],
    ).fetchall()
    return {row[0] for row in rows}


def letter_targets_sent_elsewhere(
    db: Database, campaign_id: int, subscriber_id: int, via_campaign_id: int
) -> set[str]:
    """The members a subscriber wrote to in a campaign other than from one follow-up's email."""
    rows = db.execute(
        "SELECT DISTINCT target FROM events WHERE campaign_id = ? AND kind = 'letter_sent'"
        " AND subscriber_id = ? AND target IS NOT NULL AND via_campaign_id IS NOT ?",
        [campaign_id, subscriber_id, via_campaign_id],
    ).fetchall()
    return {row[0] for row in rows}


def letter_copy_times(db: Database, subscriber_id: int, since: int) -> list[int]:
    """When (Unix seconds, oldest first) a subscriber was emailed letter copies since `since`."""
    rows = db.execute(
        "SELECT at FROM events WHERE subscriber_id = ? AND kind = 'letter_emailed' AND at >= ?"
        " ORDER BY at",
        [subscriber_id, since],
    ).fetchall()
    return [row[0] for row in rows]


def last_event_id(db: Database) -> int:
    """The rowid of the row the connection inserted last."""
    return int(db.execute("SELECT last_insert_rowid()").fetchone()[0])


def delete_letter_copy(db: Database, event_id: int) -> None:
    """Forget a copy that was counted but could not be sent."""
    db.execute("DELETE FROM events WHERE id = ? AND kind = 'letter_emailed'", [event_id])
