"""The subscribers table family: `subscribers` (the people and their status) and
`forgotten` (hashes of the addresses of people who asked to be forgotten).

The district columns of `subscribers` (cd_*) are written by districts.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.db.connection import Database, utc_now
from alerts.db.id_lists import IN_ID_LIST, id_list
from alerts.errors import NotFoundError
from alerts.models import Subscriber, SubscriberFilter

# A subscriber id as links in mail carry it: an id that migration 80 merged into
# another row (one person, two rows) stands for the row it was merged into.
_CURRENT_ID = "coalesce((SELECT subscriber_id FROM subscriber_merges WHERE merged_id = :id), :id)"

SUBSCRIBER_COLUMNS = (
    "id, email, first_name, last_name, street, city, state, zip, phone, status,"
    " source, tags, extra, consent_at, created_at, updated_at"
)


def sendable(row: str) -> str:
    """SQL: the `subscribers` row named `row` is someone campaigns go to.

    subscribers/lifecycle.py is_sendable says the same of a Subscriber.
    """
    return f"{row}.status = 'subscribed' AND {row}.email <> ''"


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


def find_subscriber(db: Database, email_key: str) -> Subscriber | None:
    """The subscriber whose address has this key (subscribers/normalise.py email_key)."""
    row = db.execute(
        f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE email_key = ?", [email_key]
    ).fetchone()
    return row_to_subscriber(row) if row else None


def change_status(
    db: Database, subscriber_id: int, status: str, from_statuses: tuple[str, ...]
) -> bool:
    """Set a subscriber's status if it is one of `from_statuses`. True if it changed.

    The id may be one a merge retired (the unsubscribe link of an older message).
    """
    cursor = db.execute(
        "UPDATE subscribers SET status = :status, status_changed_at = :now, updated_at = :now"
        f" WHERE id = {_CURRENT_ID} AND status IN (SELECT value FROM json_each(:from))",
        {
            "status": status,
            "now": utc_now(),
            "id": subscriber_id,
            "from": json.dumps(from_statuses),
        },
    )
    return cursor.rowcount == 1


@dataclass(frozen=True)
class SubscriberContact:
    """What the unsubscribe page and webhook matching need of a subscriber."""

    email: str | None  # None once forgotten
    first_name: str | None
    status: str


def subscriber_contact(db: Database, subscriber_id: int) -> SubscriberContact | None:
    """The address, first name and status of a subscriber, or None if there is no such id.

    Like change_status, it follows an id a merge retired.
    """
    row = db.execute(
        f"SELECT email, first_name, status FROM subscribers WHERE id = {_CURRENT_ID}",
        {"id": subscriber_id},
    ).fetchone()
    return SubscriberContact(*row) if row else None


def subscriber_id_for_key(db: Database, email_key: str) -> int | None:
    row = db.execute("SELECT id FROM subscribers WHERE email_key = ?", [email_key]).fetchone()
    return row[0] if row else None


def has_forgotten(db: Database) -> bool:
    """True once anyone was forgotten: until then an import need not hash any address."""
    return db.execute("SELECT 1 FROM forgotten LIMIT 1").fetchone() is not None


def add_forgotten(db: Database, email_hash: str, now: str) -> None:
    db.execute(
        "INSERT OR IGNORE INTO forgotten (email_hash, forgotten_at) VALUES (?, ?)",
        [email_hash, now],
    )


def erase_subscriber(db: Database, subscriber_id: int, now: str) -> None:
    """Blank every personal field and mark the row forgotten; the id stays for the stats."""
    db.execute(
        "UPDATE subscribers SET email = NULL, email_key = NULL,"
        " first_name = NULL, last_name = NULL, street = NULL, city = NULL, state = NULL,"
        " zip = NULL, phone = NULL,"
        " source = NULL, tags = '[]', extra = '{}', consent_at = NULL,"
        " cd_state = NULL, cd_district = NULL, cd_confidence = 'unknown', cd_flags = NULL,"
        " cd_choice = NULL, geo_block = NULL, geo_outcome = NULL, geo_address_sha256 = NULL,"
        " geo_at = NULL, geo_typed = 0,"
        " status = 'forgotten', status_changed_at = :now, updated_at = :now"
        " WHERE id = :id",
        {"now": now, "id": subscriber_id},
    )
    # Their browser's user agent and the provider's delivery details are about them too.
    db.execute(
        "UPDATE events SET user_agent = NULL, detail = NULL WHERE subscriber_id = ?",
        [subscriber_id],
    )
    db.execute(
        "UPDATE send_ledger SET reason = NULL, subscriber_state = NULL WHERE subscriber_id = ?"
        " AND (reason IS NOT NULL OR subscriber_state IS NOT NULL)",
        [subscriber_id],
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
        f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id {IN_ID_LIST} ORDER BY id",
        [id_list(ids)],
    ).fetchall()
    return [row_to_subscriber(row) for row in rows]


ADDRESS_FIELDS = ("street", "city", "state", "zip")


def fill_missing_address(db: Database, subscriber_id: int, typed: dict[str, str]) -> None:
    """Keep the address fields the subscriber typed (`typed`: ADDRESS_FIELDS) where
    their record has none; a field the record holds stays as it is."""
    given = {name: typed.get(name, "") for name in ADDRESS_FIELDS}
    sets = ", ".join(
        f"{name} = CASE WHEN trim(coalesce({name}, '')) = '' AND :{name} <> '' THEN :{name}"
        f" ELSE {name} END"
        for name in ADDRESS_FIELDS
    )
    missing = " OR ".join(
        f"(trim(coalesce({name}, '')) = '' AND :{name} <> '')" for name in ADDRESS_FIELDS
    )
    db.execute(
        f"UPDATE subscribers SET {sets}, updated_at = :now WHERE id = :id AND ({missing})",
        {**given, "now": utc_now(), "id": subscriber_id},
    )
