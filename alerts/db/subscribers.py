"""subscribers"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from alerts.db.connection import _IN_IDS, Database, _json_ids, utc_now
from alerts.errors import (
    NotFoundError,
)
from alerts.models import (
    Subscriber,
    SubscriberFilter,
)

SUBSCRIBER_COLUMNS = (
    "id, email, first_name, last_name, street, city, state, zip, phone, status,"
    " source, tags, extra, consent_at, created_at, updated_at"
)


def row_to_subscriber(row: sqlite3.Row | tuple[Any, ...]) -> Subscriber:
    (id_, email, first, last, street, city, state, zip_, phone, status, source, tags, extra,
     consent_at, created_at, updated_at) = row[:16]  # fmt: skip
    return Subscriber(
        id=id_,
        email=email,
        first_name=first,
        last_name=last,
        street=street,
        city=city,
        state=state,
        zip=zip_,
        phone=phone,
        status=status,
        source=source,
        tags=json.loads(tags or "[]"),
        extra=json.loads(extra or "{}"),
        consent_at=consent_at,
        created_at=created_at,
        updated_at=updated_at,
    )


def get_subscriber(db: Database, subscriber_id: int) -> Subscriber:
    found = subscriber_or_none(db, subscriber_id)
    if found is None:
        raise NotFoundError(f"no subscriber with id {subscriber_id}")
    return found


def subscriber_or_none(db: Database, subscriber_id: int) -> Subscriber | None:
    row = db.execute(
        f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = ?", [subscriber_id]
    ).fetchone()
    return row_to_subscriber(row) if row else None


def find_subscriber(db: Database, email: str) -> Subscriber | None:
    row = db.execute(
        f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE email = ?", [email.strip()]
    ).fetchone()
    return row_to_subscriber(row) if row else None


def change_status(
    db: Database, subscriber_id: int, status: str, from_statuses: tuple[str, ...]
) -> bool:
    """Set a subscriber's status if it is one of `from_statuses`. True if it changed."""
    marks = ", ".join("?" for _ in from_statuses)
    now = utc_now()
    cursor = db.execute(
        f"UPDATE subscribers SET status = ?, status_changed_at = ?, updated_at = ?"
        f" WHERE id = ? AND status IN ({marks})",
        [status, now, now, subscriber_id, *from_statuses],
    )
    return cursor.rowcount == 1


def subscriber_contact(
    db: Database, subscriber_id: int
) -> tuple[str | None, str | None, str] | None:
    """(email, first_name, status) of a subscriber, or None if there is no such id."""
    row = db.execute(
        "SELECT email, first_name, status FROM subscribers WHERE id = ?", [subscriber_id]
    ).fetchone()
    return (row[0], row[1], row[2]) if row else None


def subscriber_id_for_email(db: Database, email: str) -> int | None:
    row = db.execute("SELECT id FROM subscribers WHERE email = ?", [email.strip()]).fetchone()
    return row[0] if row else None


def _has_forgotten(db: Database) -> bool:
    return db.execute("SELECT 1 FROM forgotten LIMIT 1").fetchone() is not None


def is_forgotten(db: Database, email_hash: str) -> bool:
    row = db.execute("SELECT 1 FROM forgotten WHERE email_hash = ?", [email_hash]).fetchone()
    return row is not None


def add_forgotten(db: Database, email_hash: str, now: str) -> None:
    db.execute(
        "INSERT OR IGNORE INTO forgotten (email_hash, forgotten_at) VALUES (?, ?)",
        [email_hash, now],
    )


def erase_subscriber(db: Database, subscriber_id: int, now: str) -> None:
    """Blank every personal field and mark the row forgotten; the id stays for the stats."""
    db.execute(
        "UPDATE subscribers SET email = NULL, first_name = NULL, last_name = NULL,"
        " street = NULL, city = NULL, state = NULL, zip = NULL, phone = NULL,"
        " source = NULL, tags = '[]', extra = '{}', consent_at = NULL,"
        " cd_state = NULL, cd_district = NULL, cd_confidence = 'unknown', cd_flags = NULL,"
        " cd_choice = NULL, status = 'forgotten', status_changed_at = :now, updated_at = :now"
        " WHERE id = :id",
        {"now": now, "id": subscriber_id},
    )
    # Their browser's user agent and SendGrid's delivery details are about them too.
    db.execute(
        "UPDATE events SET user_agent = NULL, detail = NULL WHERE subscriber_id = ?",
        [subscriber_id],
    )
    db.execute(
        "UPDATE send_ledger SET reason = NULL WHERE subscriber_id = ? AND reason IS NOT NULL",
        [subscriber_id],
    )


def set_subscriber_status(db: Database, subscriber_id: int, status: str, now: str) -> None:
    db.execute(
        "UPDATE subscribers SET status = ?, status_changed_at = ?, updated_at = ? WHERE id = ?",
        [status, now, now, subscriber_id],
    )


def _filter_sql(where: SubscriberFilter, *, with_email: bool = True) -> tuple[str, list[Any]]:
    """WHERE clause and parameters; `with_email` leaves out forgotten rows (no address)."""
    clauses, params = ["email IS NOT NULL" if with_email else "1"], []
    if where.status:
        clauses.append("status = ?")
        params.append(where.status)
    if where.state:
        clauses.append("state = ?")
        params.append(where.state)
    if where.tag:
        clauses.append("EXISTS (SELECT 1 FROM json_each(subscribers.tags) WHERE value = ?)")
        params.append(where.tag)
    return " AND ".join(clauses), params


def count_by_status(db: Database, where: SubscriberFilter) -> dict[str, int]:
    """Subscribers matching `where`, counted by status (forgotten ones included)."""
    sql, params = _filter_sql(where, with_email=False)
    rows = db.execute(
        f"SELECT status, count(*) FROM subscribers WHERE {sql} GROUP BY status", params
    ).fetchall()
    return dict(rows)


def iter_subscribers(
    db: Database, where: SubscriberFilter, limit: int | None = None
) -> Iterator[Subscriber]:
    """Subscribers matching `where` in id order, read in batches (memory stays flat)."""
    sql, params = _filter_sql(where)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    cursor = db.execute(f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE {sql}", params)
    while batch := cursor.fetchmany(1000):
        yield from (row_to_subscriber(row) for row in batch)


def extra_keys(db: Database, where: SubscriberFilter) -> list[str]:
    """Keys of the extra fields of the subscribers matching `where`, first seen first."""
    sql, params = _filter_sql(where)
    rows = db.execute(
        "SELECT key FROM subscribers, json_each(subscribers.extra)"
        f" WHERE {sql} GROUP BY key ORDER BY min(subscribers.id), key",
        params,
    ).fetchall()
    return [row[0] for row in rows]


def subscribers_by_ids(db: Database, ids: Sequence[int]) -> list[Subscriber]:
    """The subscribers with these ids (those that exist), in id order."""
    rows = db.execute(
        f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id {_IN_IDS} ORDER BY id",
        [_json_ids(ids)],
    ).fetchall()
    return [row_to_subscriber(row) for row in rows]
