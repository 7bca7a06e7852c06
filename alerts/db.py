"""The database: the only module that speaks SQL.

`open_db` opens (or creates) an SQLite file in WAL mode and applies every
numbered migration it has not seen yet, so an old subscribers.db upgrades
itself. Migrations are functions registered with @migration(N); each runs in
its own transaction and is recorded in the `migrations` table.

Functions below are grouped by the domain module they serve.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from alerts.errors import InputFileError, NotFoundError
from alerts.models import Event, Member, Subscriber

Database = sqlite_utils.Database
Migration = Callable[[Database], None]

MIGRATIONS: dict[int, Migration] = {}


def migration(number: int) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        if number in MIGRATIONS:
            raise RuntimeError(f"migration {number} registered twice")
        MIGRATIONS[number] = fn
        return fn

    return register


def utc_now() -> str:
    """The current time as ISO 8601 UTC with seconds, e.g. 2026-11-21T05:29:00Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------
# Opening and migrating


def open_db(path: Path | str, *, migrate: bool = True) -> Database:
    """Open the database at `path`, creating it if needed, and migrate it."""
    path = Path(path)
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not a database file")
    if not path.parent.exists():
        raise InputFileError(f"{path}: folder {path.parent} does not exist")
    try:
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        db = Database(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        if migrate:
            apply_migrations(db)
    except sqlite3.DatabaseError as exc:
        raise InputFileError(f"{path}: not a usable SQLite database ({exc})") from None
    return db


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, rolls back on any error.

    Used where a read decides what to write, so two processes cannot interleave.
    """
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()


def apply_migrations(db: Database) -> list[int]:
    """Apply the migrations not yet recorded, in number order. Returns their numbers."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations ("
        " id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    db.conn.commit()
    if not _pending_migrations(db):
        return []
    applied = []
    with write_transaction(db):
        for number in _pending_migrations(db):
            fn = MIGRATIONS[number]
            fn(db)
            db.execute(
                "INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)",
                [number, fn.__name__, utc_now()],
            )
            applied.append(number)
    return applied


def _pending_migrations(db: Database) -> list[int]:
    done = {row[0] for row in db.execute("SELECT id FROM migrations").fetchall()}
    return sorted(n for n in MIGRATIONS if n not in done)


def _run(db: Database, statements: str) -> None:
    """Run `;`-separated DDL inside the caller's transaction (executescript would commit)."""
    for statement in statements.split(";"):
        if statement.strip():
            db.execute(statement)


# --------------------------------------------------------------------------
# Schema. Numbers are stable once landed; add new ones, never edit old ones.


@migration(1)
def m001_subscribers(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            email TEXT COLLATE NOCASE UNIQUE,
            first_name TEXT,
            last_name TEXT,
            street TEXT,
            city TEXT,
            state TEXT,
            zip TEXT,
            phone TEXT,
            status TEXT NOT NULL DEFAULT 'subscribed' CHECK (status IN
                ('subscribed', 'unsubscribed', 'bounced', 'complained', 'forgotten')),
            source TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            extra TEXT NOT NULL DEFAULT '{}',
            consent_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            status_changed_at TEXT
        );
        CREATE INDEX subscribers_status ON subscribers (status);
        CREATE TABLE forgotten (
            email_hash TEXT PRIMARY KEY,
            forgotten_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE import_runs (
            id INTEGER PRIMARY KEY,
            file_name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            source TEXT,
            rows INTEGER NOT NULL DEFAULT 0,
            added INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            suppressed INTEGER NOT NULL DEFAULT 0,
            warnings INTEGER NOT NULL DEFAULT 0,
            started_at TEXT NOT NULL,
            finished_at TEXT
        )
        """,
    )


@migration(2)
def m002_roster(db: Database) -> None:
    # members: one row per sitting member; a seat with no row is vacant.
    # zip_districts: ZCTA -> (state, district), one row per pair; district 0 is at-large.
    # On subscribers, cd_* hold the resolved district: cd_state is the state whose
    # members apply, cd_district the House district when known (exact, or chosen by the
    # subscriber among the candidates in cd_choice), cd_confidence exact/ambiguous/unknown,
    # cd_flags a comma-separated list such as state_mismatch.
    _run(
        db,
        """
        CREATE TABLE roster_versions (
            id INTEGER PRIMARY KEY,
            loaded_at TEXT NOT NULL,
            legislators_file TEXT NOT NULL,
            legislators_sha256 TEXT NOT NULL,
            social_file TEXT,
            social_sha256 TEXT,
            zip_file TEXT NOT NULL,
            zip_sha256 TEXT NOT NULL,
            members INTEGER NOT NULL,
            zip_rows INTEGER NOT NULL,
            changes TEXT
        );
        CREATE TABLE members (
            bioguide TEXT PRIMARY KEY,
            chamber TEXT NOT NULL CHECK (chamber IN ('house', 'senate')),
            state TEXT NOT NULL,
            district INTEGER,
            title TEXT NOT NULL,
            full_name TEXT NOT NULL,
            first_name TEXT,
            last_name TEXT NOT NULL,
            party TEXT,
            phone TEXT,
            contact_url TEXT,
            website TEXT,
            twitter TEXT,
            state_rank TEXT,
            senate_class INTEGER
        );
        CREATE INDEX members_seat ON members (state, chamber, district);
        CREATE TABLE zip_districts (
            zip TEXT NOT NULL,
            state TEXT NOT NULL,
            district INTEGER NOT NULL,
            PRIMARY KEY (zip, state, district)
        ) WITHOUT ROWID;
        ALTER TABLE subscribers ADD COLUMN cd_state TEXT;
        ALTER TABLE subscribers ADD COLUMN cd_district INTEGER;
        ALTER TABLE subscribers ADD COLUMN cd_confidence TEXT NOT NULL DEFAULT 'unknown'
            CHECK (cd_confidence IN ('exact', 'ambiguous', 'unknown'));
        ALTER TABLE subscribers ADD COLUMN cd_flags TEXT;
        ALTER TABLE subscribers ADD COLUMN cd_choice INTEGER
        """,
    )


@migration(3)
def m003_campaigns(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('update', 'action')),
            subject TEXT NOT NULL,
            source_sha256 TEXT,
            created_at TEXT NOT NULL,
            send_started_at TEXT,
            send_finished_at TEXT
        );
        CREATE TABLE links (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            url TEXT NOT NULL,
            UNIQUE (campaign_id, url)
        )
        """,
    )


@migration(4)
def m004_send_ledger(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE send_ledger (
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            subscriber_id INTEGER NOT NULL REFERENCES subscribers (id),
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                ('pending', 'in_flight', 'sent', 'failed', 'unknown', 'skipped')),
            message_id TEXT,
            reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT,
            PRIMARY KEY (campaign_id, subscriber_id)
        ) WITHOUT ROWID;
        CREATE INDEX send_ledger_state ON send_ledger (campaign_id, state);
        CREATE TABLE send_runs (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            started_at TEXT NOT NULL,
            finished_at TEXT,
            sent INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            unknown INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0
        )
        """,
    )


@migration(5)
def m005_events(db: Database) -> None:
    # `at` is Unix seconds: compact and fast to bucket for reports of millions of rows.
    # `machine` flags opens and clicks that were probably made by a proxy or scanner.
    _run(
        db,
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER REFERENCES campaigns (id),
            subscriber_id INTEGER,
            kind TEXT NOT NULL,
            link_id INTEGER REFERENCES links (id),
            target TEXT,
            at INTEGER NOT NULL,
            user_agent TEXT,
            machine INTEGER NOT NULL DEFAULT 0,
            sg_event_id TEXT UNIQUE,
            detail TEXT
        );
        CREATE INDEX events_campaign_kind ON events (campaign_id, kind, subscriber_id)
        """,
    )


# --------------------------------------------------------------------------
# meta: small key/value facts about this database


def meta_get(db: Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def meta_set(db: Database, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


# --------------------------------------------------------------------------
# subscribers

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
    row = db.execute(
        f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = ?", [subscriber_id]
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no subscriber with id {subscriber_id}")
    return row_to_subscriber(row)


def find_subscriber(db: Database, email: str) -> Subscriber | None:
    row = db.execute(
        f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE email = ?", [email.strip()]
    ).fetchone()
    return row_to_subscriber(row) if row else None


# --------------------------------------------------------------------------
# members of Congress and districts

MEMBER_COLUMNS = (
    "bioguide, chamber, state, district, title, full_name, last_name, party, phone,"
    " contact_url, twitter, first_name, website"
)


def _row_to_member(row: tuple[Any, ...]) -> Member:
    return Member(*row)


def members_for_seat(db: Database, state: str, district: int) -> list[Member]:
    rows = db.execute(
        f"SELECT {MEMBER_COLUMNS} FROM members"
        " WHERE chamber = 'house' AND state = ? AND district = ?",
        [state, district],
    ).fetchall()
    return [_row_to_member(row) for row in rows]


def senators_for_state(db: Database, state: str) -> list[Member]:
    rows = db.execute(
        f"SELECT {MEMBER_COLUMNS} FROM members WHERE chamber = 'senate' AND state = ?"
        " ORDER BY CASE state_rank WHEN 'senior' THEN 0 ELSE 1 END, last_name",
        [state],
    ).fetchall()
    return [_row_to_member(row) for row in rows]


def zip_districts_for(db: Database, zip_code: str) -> list[tuple[str, int]]:
    """(state, district) pairs the ZIP map gives for a ZIP, in order."""
    rows = db.execute(
        "SELECT state, district FROM zip_districts WHERE zip = ? ORDER BY state, district",
        [zip_code],
    ).fetchall()
    return [(state, district) for state, district in rows]


def subscriber_district(db: Database, subscriber_id: int) -> tuple[Any, ...]:
    """(zip, state, cd_state, cd_district, cd_confidence, cd_flags, cd_choice) of a subscriber."""
    row = db.execute(
        "SELECT zip, state, cd_state, cd_district, cd_confidence, cd_flags, cd_choice"
        " FROM subscribers WHERE id = ?",
        [subscriber_id],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no subscriber with id {subscriber_id}")
    return tuple(row)


# --------------------------------------------------------------------------
# tracking: events, redirect targets and the status changes they cause


def set_durable(db: Database) -> None:
    """Make every COMMIT on this connection reach the disk (fsync) before it returns.

    In WAL mode the default (NORMAL) survives a process crash but may lose the
    last commits on power loss; the tracking server acknowledges an event only
    once it is committed, so its writer connection asks for FULL.
    """
    db.execute("PRAGMA synchronous=FULL")


@contextmanager
def savepoint(db: Database, name: str = "job") -> Iterator[None]:
    """A nested transaction: on error only the work done inside it is undone."""
    db.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        db.execute(f"ROLLBACK TO {name}")
        db.execute(f"RELEASE {name}")
        raise
    db.execute(f"RELEASE {name}")


def insert_event(db: Database, event: Event) -> bool:
    """Insert one event; False when its sg_event_id is already stored (a retry)."""
    cursor = db.execute(
        "INSERT INTO events (kind, campaign_id, subscriber_id, at, link_id, target,"
        " user_agent, machine, sg_event_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (sg_event_id) DO NOTHING",
        [
            event.kind,
            event.campaign_id,
            event.subscriber_id,
            event.at,
            event.link_id,
            event.target,
            event.user_agent,
            1 if event.machine else 0,
            event.sg_event_id,
            event.detail,
        ],
    )
    return cursor.rowcount == 1


def link_url(db: Database, campaign_id: int, link_id: int) -> str | None:
    """The URL of a link, only if that link belongs to that campaign."""
    row = db.execute(
        "SELECT url FROM links WHERE id = ? AND campaign_id = ?", [link_id, campaign_id]
    ).fetchone()
    return row[0] if row else None


def campaign_exists(db: Database, campaign_id: int) -> bool:
    return db.execute("SELECT 1 FROM campaigns WHERE id = ?", [campaign_id]).fetchone() is not None


def delivery_time(db: Database, campaign_id: int, subscriber_id: int) -> int | None:
    """When the campaign reached the subscriber (Unix seconds), as best we know.

    SendGrid's `delivered` event when we have it, else the moment the send
    ledger marked the message sent (handed to SendGrid, a little earlier).
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
