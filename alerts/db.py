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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from alerts.errors import InputFileError, NotFoundError
from alerts.models import EventTotals, Member, Subscriber

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
# stats: campaign figures, read from summaries kept current by triggers
#
# Counting distinct recipients over millions of events at report time is too
# slow for the all-campaigns table, so migration 60 keeps four summaries that
# triggers on `events` update row by row (insert, delete and update alike):
#   stats_kind_totals    per campaign and kind
#   stats_detail_totals  per campaign, kind and link or target (clicks, letters)
#   stats_state_totals   per campaign, kind and the recipient's state (4 kinds)
#   stats_hourly         per campaign, kind and hour (Unix seconds // 3600), for
#                        the kinds `alerts serve` records
# Each counts human and machine events; all but the hourly one also count the
# recipients with at least one human event (and the kind totals those with any
# event). A recipient is "new" when no other event of theirs has the same key:
# one seek on the index events_campaign_kind. `rebuild_stats_summaries`
# recomputes them all from the events table and always agrees with the triggers.


@dataclass(frozen=True)
class _Summary:
    """One summary table: its key columns as SQL on an event row X, and what it counts."""

    table: str
    keys: dict[str, str]
    people: tuple[str, ...] = ()  # human_people and/or people, besides the event counts
    same_key: str = ""  # what else two events of one recipient share to count once
    counts: str = "1"  # which events it counts, as SQL on X
    # False: it counts human_people only, and its statements run only for an event
    # that makes a recipient new (so an expensive key is computed only then).
    events: bool = True

    @property
    def counters(self) -> list[str]:
        return (["human_events", "machine_events"] if self.events else []) + list(self.people)


_CAMPAIGN_KIND = {"campaign_id": "X.campaign_id", "kind": "X.kind"}
_STATS_SUMMARIES = (
    _Summary("stats_kind_totals", _CAMPAIGN_KIND, ("human_people", "people")),
    _Summary(
        "stats_detail_totals",
        {**_CAMPAIGN_KIND, "link_id": "COALESCE(X.link_id, 0)", "target": "COALESCE(X.target, '')"},
        ("human_people",),
        same_key="e.link_id IS X.link_id AND e.target IS X.target",
        counts="(X.link_id IS NOT NULL OR X.target IS NOT NULL)",
    ),
    _Summary(
        "stats_state_totals",
        {
            **_CAMPAIGN_KIND,
            "state": "COALESCE((SELECT s.state FROM subscribers AS s"
            " WHERE s.id = X.subscriber_id), '')",
        },
        ("human_people",),
        counts="X.kind IN ('delivered', 'open', 'click', 'letter_sent')",
        events=False,
    ),
    _Summary(
        "stats_hourly",
        {**_CAMPAIGN_KIND, "hour": "CAST(X.at AS INTEGER) / 3600"},
        counts="X.kind IN ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed',"
        " 'unsubscribe')",
    ),
)


def _stats_deltas(summary: _Summary) -> list[str]:
    """SQL for how much event X changes each counter (0 or 1): is it a new recipient?"""
    same = (
        "e.campaign_id = X.campaign_id AND e.kind = X.kind"
        " AND e.subscriber_id = X.subscriber_id AND e.id <> X.id"
    )
    if summary.same_key:
        same += " AND " + summary.same_key
    new_person = {
        "human_people": "X.machine = 0 AND X.subscriber_id IS NOT NULL AND NOT EXISTS"
        f" (SELECT 1 FROM events AS e WHERE {same} AND e.machine = 0)",
        "people": "X.subscriber_id IS NOT NULL AND NOT EXISTS"
        f" (SELECT 1 FROM events AS e WHERE {same})",
    }
    events = ["(X.machine = 0)", "(X.machine <> 0)"] if summary.events else []
    return events + [f"({new_person[p]})" for p in summary.people]


def _stats_applies(summary: _Summary) -> str:
    """SQL: event X changes this summary."""
    condition = f"X.campaign_id IS NOT NULL AND {summary.counts}"
    if not summary.events:
        condition += f" AND {_stats_deltas(summary)[0]}"
    return condition


def _stats_add_sql(summary: _Summary, row: str) -> str:
    keys, counters = ", ".join(summary.keys), summary.counters
    deltas = _stats_deltas(summary) if summary.events else ["1"]
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in counters)
    sql = (
        f"INSERT INTO {summary.table} ({keys}, {', '.join(counters)})"
        f" SELECT {', '.join([*summary.keys.values(), *deltas])} WHERE {_stats_applies(summary)}"
        f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    )
    return sql.replace("X.", f"{row}.")


def _stats_remove_sql(summary: _Summary, row: str) -> list[str]:
    where = " AND ".join(f"{key} = {expr}" for key, expr in summary.keys.items())
    deltas = _stats_deltas(summary) if summary.events else ["1"]
    changes = zip(summary.counters, deltas, strict=True)
    sets = ", ".join(f"{counter} = {counter} - {delta}" for counter, delta in changes)
    empty = " AND ".join(f"{counter} = 0" for counter in summary.counters[:2])
    statements = [
        f"UPDATE {summary.table} SET {sets} WHERE {where} AND {_stats_applies(summary)}",
        f"DELETE FROM {summary.table} WHERE {where} AND {empty}",
    ]
    return [sql.replace("X.", f"{row}.") for sql in statements]


def _stats_trigger_bodies() -> tuple[list[str], list[str]]:
    """(statements applying NEW, statements withdrawing OLD) for every summary."""
    add = [_stats_add_sql(summary, "NEW") for summary in _STATS_SUMMARIES]
    remove = [sql for summary in _STATS_SUMMARIES for sql in _stats_remove_sql(summary, "OLD")]
    return add, remove


def _stats_rebuild_sql(summary: _Summary) -> str:
    keys = list(summary.keys)
    per_key = ", ".join(f"{expr} AS {key}" for key, expr in summary.keys.items())
    group = ", ".join(keys + (["X.subscriber_id"] if summary.people else []))
    totals = {
        "human_people": "SUM(known AND h > 0)",
        "people": "SUM(known)",
    }
    counts = (["SUM(h)", "SUM(m)"] if summary.events else []) + [totals[p] for p in summary.people]
    having = "" if summary.events else f" HAVING {counts[0]} > 0"
    return (
        f"INSERT INTO {summary.table} ({', '.join(keys + summary.counters)})"
        f" SELECT {', '.join(keys + counts)}"
        f" FROM (SELECT {per_key}, X.subscriber_id IS NOT NULL AS known,"
        " SUM(X.machine = 0) AS h, SUM(X.machine <> 0) AS m FROM events AS X"
        f" WHERE X.campaign_id IS NOT NULL AND {summary.counts} GROUP BY {group})"
        f" GROUP BY {', '.join(keys)}{having}"
    )


def _stats_create_triggers(db: Database) -> None:
    add, remove = _stats_trigger_bodies()
    db.execute(
        "CREATE TRIGGER stats_event_added AFTER INSERT ON events BEGIN " + "; ".join(add) + "; END"
    )
    db.execute(
        "CREATE TRIGGER stats_event_removed AFTER DELETE ON events BEGIN "
        + "; ".join(remove)
        + "; END"
    )
    # Withdraw the old row, then apply the new one: right whether or not the key changed.
    db.execute(
        "CREATE TRIGGER stats_event_changed AFTER UPDATE OF"
        " campaign_id, subscriber_id, kind, link_id, target, at, machine ON events BEGIN "
        + "; ".join(remove + add)
        + "; END"
    )


@migration(60)
def m060_stats_summaries(db: Database) -> None:
    events = "human_events INTEGER NOT NULL, machine_events INTEGER NOT NULL"
    people = f"{events}, human_people INTEGER NOT NULL"
    _run(
        db,
        f"""
        CREATE TABLE stats_kind_totals (
            campaign_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            {people},
            people INTEGER NOT NULL,
            PRIMARY KEY (campaign_id, kind)
        ) WITHOUT ROWID;
        CREATE TABLE stats_detail_totals (
            campaign_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            link_id INTEGER NOT NULL,
            target TEXT NOT NULL,
            {people},
            PRIMARY KEY (campaign_id, kind, link_id, target)
        ) WITHOUT ROWID;
        CREATE TABLE stats_state_totals (
            campaign_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            human_people INTEGER NOT NULL,
            PRIMARY KEY (campaign_id, kind, state)
        ) WITHOUT ROWID;
        CREATE TABLE stats_hourly (
            campaign_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            hour INTEGER NOT NULL,
            {events},
            PRIMARY KEY (campaign_id, kind, hour)
        ) WITHOUT ROWID
        """,
    )
    _stats_create_triggers(db)
    rebuild_stats_summaries(db)


def rebuild_stats_summaries(db: Database) -> None:
    """Recompute every stats summary from the events table (in the caller's transaction)."""
    for summary in _STATS_SUMMARIES:
        db.execute(f"DELETE FROM {summary.table}")
        db.execute(_stats_rebuild_sql(summary))


_STATS_TOTALS = "human_events, machine_events, human_people"  # `people`: kind totals only


def stats_campaigns(db: Database, slug: str | None = None) -> list[dict[str, Any]]:
    """Campaigns (all, or the one named `slug`), newest first by send start or creation."""
    where, params = ("WHERE slug = ?", [slug]) if slug is not None else ("", [])
    rows = db.execute(
        "SELECT id, slug, kind, subject, created_at, send_started_at, send_finished_at"
        f" FROM campaigns {where}"
        " ORDER BY COALESCE(send_started_at, created_at) DESC, id DESC",
        params,
    ).fetchall()
    keys = ("id", "slug", "kind", "subject", "created_at", "send_started_at", "send_finished_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def stats_ledger_counts(db: Database, campaign_id: int | None = None) -> dict[int, dict[str, int]]:
    """{campaign id: {ledger state: recipients}} for one campaign or all of them."""
    where, params = ("WHERE campaign_id = ?", [campaign_id]) if campaign_id else ("", [])
    counts: dict[int, dict[str, int]] = {}
    for cid, state, n in db.execute(
        f"SELECT campaign_id, state, COUNT(*) FROM send_ledger {where} GROUP BY campaign_id, state",
        params,
    ):
        counts.setdefault(cid, {})[state] = n
    return counts


def stats_kind_totals(
    db: Database, campaign_id: int | None = None
) -> dict[int, dict[str, EventTotals]]:
    """{campaign id: {event kind: totals}} from the summary, for one campaign or all."""
    where, params = ("WHERE campaign_id = ?", [campaign_id]) if campaign_id else ("", [])
    totals: dict[int, dict[str, EventTotals]] = {}
    for cid, kind, *counts in db.execute(
        f"SELECT campaign_id, kind, {_STATS_TOTALS}, people FROM stats_kind_totals {where}",
        params,
    ):
        totals.setdefault(cid, {})[kind] = EventTotals(*counts)
    return totals


def stats_people_with_any(
    db: Database, kinds: list[str], campaign_id: int | None = None
) -> dict[int, int]:
    """{campaign id: recipients with at least one event of any of `kinds`} (each counted once)."""
    marks = ", ".join("?" for _ in kinds)
    where, params = ("WHERE c.id = ?", [campaign_id]) if campaign_id else ("", [])
    rows = db.execute(
        "SELECT c.id, (SELECT COUNT(DISTINCT e.subscriber_id) FROM events AS e"
        f" WHERE e.campaign_id = c.id AND e.kind IN ({marks})) FROM campaigns AS c {where}",
        [*kinds, *params],
    ).fetchall()
    return {cid: n for cid, n in rows if n}


def stats_link_totals(db: Database, campaign_id: int) -> list[tuple[str, EventTotals]]:
    """(url, click totals) for every link of the campaign, clicked or not, in link order."""
    rows = db.execute(
        f"SELECT l.url, {', '.join(f'COALESCE(t.{c}, 0)' for c in _STATS_TOTALS.split(', '))}"
        " FROM links AS l LEFT JOIN stats_detail_totals AS t"
        " ON t.campaign_id = l.campaign_id AND t.kind = 'click' AND t.link_id = l.id"
        " AND t.target = '' WHERE l.campaign_id = ? ORDER BY l.id",
        [campaign_id],
    ).fetchall()
    return [(url, EventTotals(*counts)) for url, *counts in rows]


def stats_target_totals(
    db: Database, campaign_id: int, kind: str
) -> list[tuple[str, Member | None, EventTotals]]:
    """(target, its member or None, totals) for events of `kind` that name a target."""
    rows = db.execute(
        "SELECT target, SUM(human_events), SUM(machine_events), SUM(human_people)"
        " FROM stats_detail_totals"
        " WHERE campaign_id = ? AND kind = ? AND target <> '' GROUP BY target",
        [campaign_id, kind],
    ).fetchall()
    members = {
        row[0]: _row_to_member(row)
        for row in db.execute(
            f"SELECT {MEMBER_COLUMNS} FROM members WHERE bioguide IN"
            " (SELECT target FROM stats_detail_totals WHERE campaign_id = ? AND kind = ?)",
            [campaign_id, kind],
        )
    }
    return [(target, members.get(target), EventTotals(*counts)) for target, *counts in rows]


def stats_state_people(db: Database, campaign_id: int) -> dict[str, dict[str, int]]:
    """{subscriber state ('' when unknown): {event kind: recipients with a human event}}.

    Kept for delivered, open, click and letter_sent only.
    """
    people: dict[str, dict[str, int]] = {}
    for state, kind, n in db.execute(
        "SELECT state, kind, human_people FROM stats_state_totals WHERE campaign_id = ?",
        [campaign_id],
    ):
        people.setdefault(state, {})[kind] = n
    return people


def stats_ledger_by_state(db: Database, campaign_id: int) -> dict[str, dict[str, int]]:
    """{subscriber state ('' when unknown): {ledger state: recipients}} for one campaign."""
    counts: dict[str, dict[str, int]] = {}
    for state, ledger_state, n in db.execute(
        "SELECT COALESCE(s.state, ''), l.state, COUNT(*) FROM send_ledger AS l"
        " LEFT JOIN subscribers AS s ON s.id = l.subscriber_id"
        " WHERE l.campaign_id = ? GROUP BY 1, 2",
        [campaign_id],
    ):
        counts.setdefault(state, {})[ledger_state] = n
    return counts


def stats_hourly(
    db: Database, campaign_id: int, kinds: list[str]
) -> list[tuple[str, int, int, int]]:
    """(kind, hour, human events, machine events) rows; hour is Unix seconds // 3600."""
    marks = ", ".join("?" for _ in kinds)
    return [
        tuple(row)
        for row in db.execute(
            "SELECT kind, hour, human_events, machine_events FROM stats_hourly"
            f" WHERE campaign_id = ? AND kind IN ({marks}) ORDER BY hour",
            [campaign_id, *kinds],
        )
    ]


def stats_letters_sent(db: Database) -> dict[int, int]:
    """{campaign id: letters sent}: recipients counted once per member they wrote to."""
    rows = db.execute(
        "SELECT campaign_id, SUM(human_people) FROM stats_detail_totals"
        " WHERE kind = 'letter_sent' AND target <> '' GROUP BY campaign_id"
    ).fetchall()
    return {cid: n for cid, n in rows}


STATS_TRIGGERS = ("stats_event_added", "stats_event_removed", "stats_event_changed")


@contextmanager
def stats_summaries_paused(db: Database) -> Iterator[Database]:
    """Load many events without row-by-row summary upkeep; rebuild the summaries once after.

    For bulk loads of millions of events, where one rebuild is far cheaper than the
    triggers. Events other processes add meanwhile are counted by the rebuild too.
    """
    with write_transaction(db):
        for trigger in STATS_TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    try:
        yield db
    finally:
        with write_transaction(db):
            rebuild_stats_summaries(db)
            _stats_create_triggers(db)
