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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from alerts.errors import InputFileError, NotFoundError
from alerts.models import SUBSCRIBER_FIELDS, Member, Subscriber, SubscriberFilter

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
# importer: staging signup rows, merging them into subscribers, the list itself
#
# An import streams its rows into temp.import_people (one row per person, keyed
# by the lower-cased email) inside the import transaction, then merges them with
# set-based SQL. temp.import_touched collects the ids of subscribers added or
# changed, so districts can be resolved for exactly those before the commit.

# Staged columns besides email_key, in the order the importer passes them.
STAGED_COLUMNS = (*SUBSCRIBER_FIELDS, "consent_at", "status", "tags", "extra")
_STAGED_FIELDS = STAGED_COLUMNS[1:8]  # the plain text fields: later non-blank wins

# A JSON array holding the values of two JSON arrays, each once, first one's order first.
_TAG_UNION = (
    "(SELECT json_group_array(value) FROM ("
    " SELECT value FROM json_each({a})"
    " UNION ALL SELECT value FROM json_each({b})"
    " WHERE value NOT IN (SELECT value FROM json_each({a}))))"
)


_IMPORT_CACHE_KIB = 65536  # a 1,000,000-row import outgrows SQLite's default 2 MB cache


@contextmanager
def import_caches(db: Database) -> Iterator[None]:
    """Larger page caches while an import runs; the connection's own sizes after it."""
    # The temp schema reports 0 until it is first used; it then takes main's size.
    (size,) = db.execute("PRAGMA main.cache_size").fetchone()
    for schema in ("main", "temp"):
        db.execute(f"PRAGMA {schema}.cache_size = -{_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        for schema in ("main", "temp"):
            db.execute(f"PRAGMA {schema}.cache_size = {int(size)}")


def import_begin(db: Database) -> None:
    """Fresh temp tables for one import command (call inside its transaction)."""
    db.execute("DROP TABLE IF EXISTS temp.import_touched")
    db.execute("CREATE TEMP TABLE import_touched (id INTEGER PRIMARY KEY)")


def stage_begin(db: Database) -> None:
    """An empty staging table for the next file."""
    db.execute("DROP TABLE IF EXISTS temp.import_people")
    db.execute(
        "CREATE TEMP TABLE import_people ("
        " email_key TEXT PRIMARY KEY, email TEXT NOT NULL, first_name TEXT, last_name TEXT,"
        " street TEXT, city TEXT, state TEXT, zip TEXT, phone TEXT, consent_at TEXT,"
        " status TEXT, tags TEXT, extra TEXT, existing_id INTEGER, outcome TEXT) WITHOUT ROWID"
    )


def stage_rows(db: Database, rows: Iterable[tuple[Any, ...]]) -> None:
    """Upsert (email_key, *STAGED_COLUMNS) tuples: a person's later non-blank values win.

    `rows` may be a generator: sqlite3 consumes it lazily, so memory stays flat.
    """
    columns = ("email_key", *STAGED_COLUMNS)
    later_wins = ", ".join(f"{c} = coalesce(excluded.{c}, {c})" for c in _STAGED_FIELDS)
    tags = _TAG_UNION.format(a="tags", b="excluded.tags")
    db.conn.executemany(
        f"INSERT INTO temp.import_people ({', '.join(columns)})"
        f" VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT (email_key) DO UPDATE SET {later_wins},"
        " consent_at = coalesce(excluded.consent_at, consent_at),"
        # A row saying `subscribed` never undoes an unsubscribe earlier in the same file.
        " status = CASE WHEN excluded.status = 'subscribed' AND status IS NOT NULL"
        " THEN status ELSE coalesce(excluded.status, status) END,"
        " tags = CASE WHEN excluded.tags IS NULL OR excluded.tags = tags THEN tags"
        f" WHEN tags IS NULL THEN excluded.tags ELSE {tags} END,"
        " extra = CASE WHEN excluded.extra IS NULL THEN extra"
        " WHEN extra IS NULL THEN excluded.extra ELSE json_patch(extra, excluded.extra) END",
        rows,
    )


def _changed_condition() -> str:
    """SQL true when staged person p would change subscriber s."""
    fields = [f"(p.{c} IS NOT NULL AND p.{c} IS NOT s.{c})" for c in _STAGED_FIELDS]
    fields += [
        "(p.consent_at IS NOT NULL AND (s.consent_at IS NULL OR p.consent_at < s.consent_at))",
        "(p.status IS NOT NULL AND p.status <> s.status)",
        "(p.tags IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(p.tags) AS t"
        " WHERE t.value NOT IN (SELECT value FROM json_each(s.tags))))",
        "(p.extra IS NOT NULL AND json_patch(s.extra, p.extra) <> json(s.extra))",
    ]
    return " OR ".join(fields)


def merge_staged(
    db: Database,
    *,
    source: str,
    now: str,
    email_hash: Callable[[str], str] | None = None,
) -> dict[str, int]:
    """Merge temp.import_people into subscribers. Returns counts by outcome.

    Existing subscribed people get blanks filled, changed values updated and new
    tags added; anyone not `subscribed` is left alone (suppressed). New people
    are added unless `email_hash` of their key is in `forgotten`.
    """
    db.execute(
        "UPDATE temp.import_people AS p SET existing_id = s.id, outcome = CASE"
        " WHEN s.status <> 'subscribed' THEN 'suppressed'"
        f" WHEN {_changed_condition()} THEN 'updated' ELSE 'unchanged' END"
        " FROM subscribers AS s WHERE s.email = p.email"
    )
    # From here on a NULL outcome means the person is new: added below.
    if email_hash is not None and _has_forgotten(db):
        db.conn.create_function("alerts_email_hash", 1, email_hash, deterministic=True)
        db.execute(
            "UPDATE temp.import_people SET outcome = 'suppressed' WHERE outcome IS NULL"
            " AND alerts_email_hash(email_key) IN (SELECT email_hash FROM forgotten)"
        )
    _update_existing(db, source=source, now=now)
    _insert_new(db, source=source, now=now)
    counts = db.execute(
        "SELECT coalesce(outcome, 'added'), count(*) FROM temp.import_people GROUP BY outcome"
    ).fetchall()
    return dict(counts)


def _update_existing(db: Database, *, source: str, now: str) -> None:
    fields = ", ".join(f"{c} = coalesce(p.{c}, s.{c})" for c in _STAGED_FIELDS)
    status_changes = "p.status IS NOT NULL AND p.status <> s.status"
    tags = _TAG_UNION.format(a="s.tags", b="p.tags")
    db.execute(
        f"UPDATE subscribers AS s SET {fields},"
        " consent_at = CASE WHEN s.consent_at IS NULL OR p.consent_at < s.consent_at"
        " THEN coalesce(p.consent_at, s.consent_at) ELSE s.consent_at END,"
        f" status = CASE WHEN {status_changes} THEN p.status ELSE s.status END,"
        f" status_changed_at = CASE WHEN {status_changes} THEN :now ELSE s.status_changed_at END,"
        " source = coalesce(s.source, :source),"
        f" tags = CASE WHEN p.tags IS NULL THEN s.tags ELSE {tags} END,"
        " extra = CASE WHEN p.extra IS NULL THEN s.extra ELSE json_patch(s.extra, p.extra) END,"
        " updated_at = :now"
        " FROM temp.import_people AS p WHERE p.outcome = 'updated' AND s.id = p.existing_id",
        {"now": now, "source": source},
    )
    db.execute(
        "INSERT OR IGNORE INTO temp.import_touched (id)"
        " SELECT existing_id FROM temp.import_people WHERE outcome = 'updated'"
    )


def _insert_new(db: Database, *, source: str, now: str) -> None:
    (last_id,) = db.execute("SELECT coalesce(max(id), 0) FROM subscribers").fetchone()
    columns = ", ".join(STAGED_COLUMNS[:9])
    db.execute(
        f"INSERT INTO subscribers ({columns}, status, source, tags, extra, created_at,"
        " updated_at, status_changed_at)"
        f" SELECT {columns}, coalesce(status, 'subscribed'), :source, coalesce(tags, '[]'),"
        " coalesce(extra, '{}'), :now, :now,"
        " CASE WHEN coalesce(status, 'subscribed') <> 'subscribed' THEN :now END"
        # In staging-key (email) order, so the email index is filled in order: no sort.
        " FROM temp.import_people WHERE outcome IS NULL",
        {"now": now, "source": source},
    )
    # New rows take ids above the old maximum (INTEGER PRIMARY KEY without AUTOINCREMENT).
    db.execute(
        "INSERT OR IGNORE INTO temp.import_touched (id) SELECT id FROM subscribers WHERE id > ?",
        [last_id],
    )


def import_run_start(
    db: Database, *, file_name: str, sha256: str, source: str, started_at: str
) -> int:
    cursor = db.execute(
        "INSERT INTO import_runs (file_name, sha256, source, started_at) VALUES (?, ?, ?, ?)",
        [file_name, sha256, source, started_at],
    )
    return int(cursor.lastrowid or 0)


def import_run_finish(db: Database, run_id: int, counts: dict[str, int], finished_at: str) -> None:
    names = ("rows", "added", "updated", "unchanged", "rejected", "suppressed", "warnings")
    db.execute(
        f"UPDATE import_runs SET {', '.join(f'{n} = :{n}' for n in names)},"
        " finished_at = :finished_at WHERE id = :id",
        {**{n: counts.get(n, 0) for n in names}, "finished_at": finished_at, "id": run_id},
    )


def import_runs(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The latest import runs, newest first."""
    cursor = db.execute("SELECT * FROM import_runs ORDER BY id DESC LIMIT ?", [limit])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


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
