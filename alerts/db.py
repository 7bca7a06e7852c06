"""The database: the only module that speaks SQL.

`open_db` opens (or creates) an SQLite file in WAL mode and applies every
numbered migration it has not seen yet, so an old subscribers.db upgrades
itself. Migrations are functions registered with @migration(N); each runs in
its own transaction and is recorded in the `migrations` table.

Functions below are grouped by the domain module they serve.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from alerts.errors import (
    InputFileError,
    LookupFailed,
    NotFoundError,
)
from alerts.models import (
    SENDGRID_KINDS,
    SUBSCRIBER_FIELDS,
    AllOf,
    AnyOf,
    CampaignRecord,
    DeliveryState,
    DistrictIn,
    Engaged,
    Engagement,
    Event,
    EventTotals,
    Member,
    Not,
    Segment,
    SendSummary,
    SignedUp,
    SourceIn,
    StateIn,
    Subscriber,
    SubscriberFilter,
    TagIn,
)

Database = sqlite_utils.Database
# Raised by SQLite when the file is locked, read-only or otherwise unusable mid-command;
# entry points report it in one line.
DatabaseBusyError = sqlite3.OperationalError
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


@migration(40)
def m040_send_run_owner(db: Database) -> None:
    # pid and host name the process running a send, so a second `alerts send` of the
    # same campaign refuses while the first is alive. outcome is completed, stopped,
    # interrupted or crashed (NULL while running); message says why it stopped.
    _run(
        db,
        """
        ALTER TABLE send_runs ADD COLUMN pid INTEGER;
        ALTER TABLE send_runs ADD COLUMN host TEXT;
        ALTER TABLE send_runs ADD COLUMN outcome TEXT;
        ALTER TABLE send_runs ADD COLUMN message TEXT
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


# --------------------------------------------------------------------------
# members of Congress and districts

MEMBER_COLUMNS = (
    "bioguide, chamber, state, district, title, full_name, last_name, party, phone,"
    " contact_url, twitter, first_name, website, state_rank, senate_class"
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
# campaigns and links (campaigns.py, render.py, pipeline.py)

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


# Segments: each rule becomes a WHERE clause over `subscribers s`.

ENGAGEMENT_KINDS = {
    Engagement.OPENED: ("open", "sg_open", "click", "sg_click"),
    Engagement.CLICKED: ("click", "sg_click"),
    Engagement.ACTED: ("letter_sent",),
}
SECONDS_PER_DAY = 86400


def _in_list(expression: str, values: tuple[Any, ...]) -> str:
    return f"{expression} IN ({', '.join('?' for _ in values)})"


@dataclass(frozen=True)
class _SegmentScope:
    now: datetime
    exclude_campaign_id: int | None  # the campaign being sent is not a "recent" one


def segment_where(
    segment: Segment | None,
    now: datetime | None = None,
    exclude_campaign_id: int | None = None,
) -> tuple[str, list[Any]]:
    """SQL condition over `subscribers s` for a segment; `subscribed` is always required."""
    if segment is None:
        return "s.status = 'subscribed'", []
    scope = _SegmentScope(now or datetime.now(UTC), exclude_campaign_id)
    clause, params = _segment_sql(segment, scope)
    return f"s.status = 'subscribed' AND ({clause})", params


def _segment_sql(segment: Segment, scope: _SegmentScope) -> tuple[str, list[Any]]:
    if isinstance(segment, AllOf | AnyOf):
        joiner = " AND " if isinstance(segment, AllOf) else " OR "
        parts = [_segment_sql(part, scope) for part in segment.parts]
        return joiner.join(f"({sql})" for sql, _ in parts), [p for _, ps in parts for p in ps]
    if isinstance(segment, Not):
        sql, params = _segment_sql(segment.part, scope)
        return f"NOT ({sql})", params
    if isinstance(segment, TagIn):
        tags = tuple(tag.lower() for tag in segment.tags)
        return (
            "EXISTS (SELECT 1 FROM json_each(s.tags) WHERE "
            + _in_list("lower(json_each.value)", tags)
            + ")",
            list(tags),
        )
    if isinstance(segment, StateIn):
        return _in_list("upper(COALESCE(s.cd_state, s.state))", segment.states), list(
            segment.states
        )
    if isinstance(segment, SourceIn):
        sources = tuple(source.lower() for source in segment.sources)
        return _in_list("lower(s.source)", sources), list(sources)
    if isinstance(segment, DistrictIn):
        return _district_sql(segment)
    if isinstance(segment, SignedUp):
        return _signed_up_sql(segment, scope.now)
    if isinstance(segment, Engaged):
        return _engaged_sql(segment, scope)
    raise TypeError(f"unknown segment rule {segment!r}")


def _district_sql(segment: DistrictIn) -> tuple[str, list[Any]]:
    # A known district: exact, or picked by the subscriber among the ZIP's candidates.
    one = (
        "(upper(s.cd_state) = ? AND COALESCE(s.cd_district,"
        " CASE WHEN s.cd_confidence = 'ambiguous' THEN s.cd_choice END) = ?)"
    )
    return " OR ".join(one for _ in segment.districts), [
        value for pair in segment.districts for value in pair
    ]


def _signed_up_sql(segment: SignedUp, now: datetime) -> tuple[str, list[Any]]:
    # ISO 8601 text compares in time order, so dates compare with timestamps directly.
    signed = "COALESCE(s.consent_at, s.created_at)"
    clauses: list[str] = []
    params: list[Any] = []
    if segment.after:
        clauses.append(f"{signed} >= ?")
        params.append(segment.after)
    if segment.before:
        clauses.append(f"{signed} < ?")
        params.append(segment.before)
    if segment.within_days:
        since = now.timestamp() - segment.within_days * SECONDS_PER_DAY
        clauses.append(f"{signed} >= ?")
        params.append(datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return " AND ".join(clauses), params


def _engaged_sql(segment: Engaged, scope: _SegmentScope) -> tuple[str, list[Any]]:
    kinds = ENGAGEMENT_KINDS[segment.what]
    sql = (
        "EXISTS (SELECT 1 FROM events e WHERE e.subscriber_id = s.id AND e.machine = 0 AND "
        + _in_list("e.kind", kinds)
    )
    params: list[Any] = list(kinds)
    if segment.last_campaigns:
        sql += (
            " AND e.campaign_id IN (SELECT id FROM campaigns WHERE send_started_at IS NOT NULL"
            " AND id IS NOT ? ORDER BY send_started_at DESC, id DESC LIMIT ?)"
        )
        params += [scope.exclude_campaign_id, segment.last_campaigns]
    if segment.within_days:
        sql += " AND e.at >= ?"
        params.append(int(scope.now.timestamp()) - segment.within_days * SECONDS_PER_DAY)
    return sql + ")", params


def segment_subscriber_ids(
    db: Database,
    segment: Segment | None,
    now: datetime | None = None,
    exclude_campaign_id: int | None = None,
) -> list[int]:
    """Ids of the subscribed people a segment selects, in id order.

    `exclude_campaign_id` (the campaign being sent) never counts among the
    "last N campaigns" of an engagement rule.
    """
    where, params = segment_where(segment, now, exclude_campaign_id)
    rows = db.execute(f"SELECT s.id FROM subscribers s WHERE {where} ORDER BY s.id", params)
    return [row[0] for row in rows.fetchall()]


def segment_count(
    db: Database,
    segment: Segment | None,
    now: datetime | None = None,
    exclude_campaign_id: int | None = None,
) -> int:
    where, params = segment_where(segment, now, exclude_campaign_id)
    return int(
        db.execute(f"SELECT count(*) FROM subscribers s WHERE {where}", params).fetchone()[0]
    )


# targets: the roster, the ZIP map and each subscriber's district
#
# One SQL text decides every district (RESOLVE_SQL below), whether it runs over a
# million subscribers or over the single ZIP and state of `alerts targets lookup`.

_DIGIT = "[0-9]"


def _zip_key_sql(column: str) -> str:
    """SQL for the 5-digit ZIP map key of a free-text ZIP, or NULL when it cannot be one.

    ZIP+4 is cut to five digits; ZIPs that lost their leading zeros in a spreadsheet
    (three or four digits) are padded.
    """
    z = f"trim({column})"
    return (
        f"CASE WHEN {z} GLOB '{_DIGIT * 5}' THEN {z}"
        f" WHEN {z} GLOB '{_DIGIT * 5}-{_DIGIT * 4}' OR {z} GLOB '{_DIGIT * 9}'"
        f" THEN substr({z}, 1, 5)"
        f" WHEN {z} GLOB '{_DIGIT * 4}' THEN '0' || {z}"
        f" WHEN {z} GLOB '{_DIGIT * 3}' THEN '00' || {z} END"
    )


def _flag_sql(condition: str, flag: str) -> str:
    return f"CASE WHEN {condition} THEN '{flag},' ELSE '' END"


_SEAT_IS_EMPTY = (
    "district IS NOT NULL AND NOT EXISTS (SELECT 1 FROM members m WHERE m.chamber = 'house'"
    " AND m.state = home_state AND m.district = decided.district)"
)


@migration(20)
def m020_zip_districts_by_seat(db: Database) -> None:
    # Which states a roster knows, which are at-large and which seats are vacant are
    # asked per state; the primary key starts with the ZIP.
    db.execute("CREATE INDEX zip_districts_seat ON zip_districts (state, district)")


# The key a district depends on: (ZIP map key or '', ZIP missing, given state, choice).
def _key_expressions(prefix: str = "") -> dict[str, str]:
    return {
        "z": f"coalesce({_zip_key_sql(prefix + 'zip')}, '')",
        "no_zip": f"nullif(trim(coalesce({prefix}zip, '')), '') IS NULL",
        "given": f"upper(trim(coalesce({prefix}state, '')))",
        "choice": f"coalesce({prefix}cd_choice, -1)",
    }


def _key_columns_sql(prefix: str = "") -> str:
    return ", ".join(f"{sql} AS {name}" for name, sql in _key_expressions(prefix).items())


# From rows of `{keys}` (z, no_zip, given, choice): the home state, district, confidence
# and flags. What depends only on a state (is it known, is it at-large) or only on a
# ZIP (which states it spans) is worked out once per state and once per ZIP, then
# joined: a million subscribers have hundreds of thousands of keys but only a few
# dozen states.
FACTS_SQL = f"""
WITH keys AS MATERIALIZED ({{keys}}),
zips AS MATERIALIZED (
    SELECT k.z, count(DISTINCT zd.state) AS zip_states, min(zd.state) AS zip_state
    FROM (SELECT DISTINCT z FROM keys) AS k LEFT JOIN zip_districts AS zd ON zd.zip = k.z
    GROUP BY k.z
),
-- The states these keys can involve: the given ones, and those of their ZIPs.
named_states AS MATERIALIZED (
    SELECT given AS state FROM keys WHERE given GLOB '[A-Z][A-Z]'
    UNION SELECT zip_state FROM zips WHERE zip_state IS NOT NULL
),
known_states AS MATERIALIZED (
    SELECT state,
        NOT EXISTS (SELECT 1 FROM zip_districts zd INDEXED BY zip_districts_seat
                    WHERE zd.state = s.state AND zd.district <> 0)
        AND NOT EXISTS (SELECT 1 FROM members m WHERE m.state = s.state
                        AND m.chamber = 'house' AND m.district <> 0)
        AND (EXISTS (SELECT 1 FROM zip_districts zd INDEXED BY zip_districts_seat
                     WHERE zd.state = s.state)
             OR EXISTS (SELECT 1 FROM members m WHERE m.state = s.state
                        AND m.chamber = 'house')) AS at_large
    FROM named_states AS s
    WHERE EXISTS (SELECT 1 FROM members m WHERE m.state = s.state)
        OR EXISTS (SELECT 1 FROM zip_districts zd INDEXED BY zip_districts_seat
                   WHERE zd.state = s.state)
),
places AS MATERIALIZED (
    SELECT zd.zip AS z, zd.state, count(*) AS here, min(zd.district) AS first_here
    FROM zip_districts AS zd WHERE zd.zip IN (SELECT z FROM zips)
    GROUP BY zd.zip, zd.state
),
home AS (
    SELECT keys.*, own.state AS own_state, zips.zip_states, zips.zip_state,
        coalesce(own.state, CASE WHEN zips.zip_states = 1 THEN zips.zip_state END)
            AS home_state
    FROM keys
    JOIN zips ON zips.z = keys.z
    LEFT JOIN known_states AS own ON own.state = keys.given AND keys.given GLOB '[A-Z][A-Z]'
),
seat AS (
    SELECT home.*, coalesce(places.here, 0) AS here, places.first_here,
        coalesce(st.at_large, 0) AS at_large
    FROM home
    LEFT JOIN places ON places.z = home.z AND places.state = home.home_state
    LEFT JOIN known_states AS st ON st.state = home.home_state
),
decided AS (
    SELECT seat.*,
        CASE WHEN at_large THEN 0 WHEN here = 1 THEN first_here
             WHEN here > 1 AND EXISTS (SELECT 1 FROM zip_districts zd WHERE zd.zip = z
                 AND zd.state = home_state AND zd.district = choice) THEN choice
        END AS district,
        CASE WHEN at_large OR here = 1 THEN 'exact' WHEN here > 1 THEN 'ambiguous'
             ELSE 'unknown' END AS confidence
    FROM seat
)
SELECT z, no_zip, given, choice, home_state, district, confidence, nullif(rtrim(
    {_flag_sql("no_zip", "zip_missing")}
    || {_flag_sql("NOT no_zip AND z = ''", "zip_invalid")}
    || {_flag_sql("z <> '' AND zip_states = 0", "zip_unknown")}
    || {_flag_sql("given <> '' AND own_state IS NULL", "state_invalid")}
    || {_flag_sql("own_state IS NULL AND home_state IS NOT NULL", "state_from_zip")}
    || {_flag_sql("own_state IS NOT NULL AND zip_states > 0 AND here = 0", "state_mismatch")}
    || {_flag_sql("own_state IS NULL AND zip_states > 1", "zip_multi_state")}
    || {_flag_sql("here > 1 AND district IS NOT NULL", "chosen")}
    || {_flag_sql(_SEAT_IS_EMPTY, "vacant")}, ','), '') AS flags
FROM decided
"""

# Subscribers are resolved in three steps: their distinct raw (zip, state, choice)
# values, the facts of each distinct key those values normalize to, then one UPDATE
# that finds each row's facts by its raw values through an index.
_RAW_KEYS = """
CREATE TEMP TABLE _district_raw AS
SELECT DISTINCT coalesce(zip, '') AS zip, coalesce(state, '') AS state,
    coalesce(cd_choice, -1) AS cd_choice
FROM {source}
"""


# Keyed by the raw values themselves (WITHOUT ROWID), so the UPDATE's lookup for each
# subscriber is one B-tree search that lands on the answer.
_RAW_FACTS_TABLE = """
CREATE TEMP TABLE _district_map (
    zip TEXT NOT NULL, state TEXT NOT NULL, cd_choice INTEGER NOT NULL,
    home_state TEXT, district INTEGER, confidence TEXT NOT NULL, flags TEXT,
    PRIMARY KEY (zip, state, cd_choice)
) WITHOUT ROWID
"""

_RAW_FACTS = f"""
INSERT INTO temp._district_map
SELECT r.zip, r.state, r.cd_choice, f.home_state, f.district, f.confidence, f.flags
FROM (SELECT zip, state, cd_choice, {_key_columns_sql()} FROM temp._district_raw) AS r
JOIN temp._district_facts AS f
    ON f.z = r.z AND f.no_zip = r.no_zip AND f.given = r.given AND f.choice = r.choice
"""

_RESOLVE_UPDATE = """
UPDATE subscribers AS sub SET cd_state = m.home_state, cd_district = m.district,
    cd_confidence = m.confidence, cd_flags = m.flags
FROM temp._district_map AS m
WHERE m.zip = coalesce(sub.zip, '') AND m.state = coalesce(sub.state, '')
    AND m.cd_choice = coalesce(sub.cd_choice, -1) {and_where}
    AND (sub.cd_state IS NOT m.home_state OR sub.cd_district IS NOT m.district
        OR sub.cd_confidence IS NOT m.confidence OR sub.cd_flags IS NOT m.flags)
"""

_RESOLVE_TEMP_TABLES = ("_district_raw", "_district_facts", "_district_map")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def resolve_districts(db: Database, ids_table: str | None = None) -> int:
    """Recompute cd_state, cd_district, cd_confidence and cd_flags from the ZIP map.

    Every subscriber, or only those whose id is in the temp table `ids_table`
    (column `id`). Runs inside the caller's transaction when there is one.
    Returns how many subscribers changed.
    """
    where = and_where = ""
    if ids_table is not None:
        if not _IDENTIFIER.fullmatch(ids_table) or not _temp_table_exists(db, ids_table):
            raise ValueError(f"resolve_districts: no temp table named {ids_table!r}")
        where = f'WHERE id IN (SELECT id FROM temp."{ids_table}")'
        and_where = f'AND sub.id IN (SELECT id FROM temp."{ids_table}")'
    with write_transaction(db):
        _build_district_map(db, f"subscribers {where}")
        before = db.conn.total_changes
        db.execute(_RESOLVE_UPDATE.replace("{and_where}", and_where))
        changed = db.conn.total_changes - before
        _drop_resolve_tables(db)
    return changed


def _build_district_map(db: Database, source: str) -> None:
    """temp._district_map: the answer for each distinct raw (zip, state, cd_choice) of `source`.

    `source` is SQL for a table (and WHERE clause) with columns zip, state and cd_choice.
    """
    _drop_resolve_tables(db)
    db.execute(_RAW_KEYS.replace("{source}", source))
    _build_district_facts(db, f"SELECT DISTINCT {_key_columns_sql()} FROM temp._district_raw")
    db.execute(_RAW_FACTS_TABLE)
    db.execute(_RAW_FACTS)


def _build_district_facts(db: Database, keys: str) -> None:
    """temp._district_facts: the answer for each distinct key that `keys` selects."""
    db.execute("CREATE TEMP TABLE _district_facts AS " + FACTS_SQL.replace("{keys}", keys))
    db.execute(
        "CREATE UNIQUE INDEX temp._district_facts_key ON _district_facts (z, no_zip, given, choice)"
    )


def _drop_resolve_tables(db: Database) -> None:
    for name in _RESOLVE_TEMP_TABLES:
        db.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _temp_table_exists(db: Database, name: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM temp.sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return row is not None


def resolve_zip(db: Database, zip_code: str, state: str | None) -> tuple[Any, ...]:
    """(home state, district, confidence, flags) for one ZIP and state, by the same rules."""
    given = "(SELECT ? AS zip, ? AS state, NULL AS cd_choice) AS p"
    keys = f"SELECT {_key_columns_sql('p.')} FROM {given}"
    sql = FACTS_SQL.replace("{keys}", keys)
    row = db.execute(sql, [zip_code, state or ""]).fetchone()
    return tuple(row[4:])


def district_candidates(db: Database, zip_code: str, state: str) -> list[int]:
    """The districts the ZIP map gives for a (free-text) ZIP within one state."""
    rows = db.execute(
        f"SELECT district FROM zip_districts WHERE zip = {_zip_key_sql(':zip')}"
        " AND state = :state ORDER BY district",
        {"zip": zip_code, "state": state},
    ).fetchall()
    return [row[0] for row in rows]


def set_district_choice(db: Database, subscriber_id: int, district: int) -> None:
    """Store the district a subscriber picked among the candidates of their ambiguous ZIP."""
    zip_code, _, cd_state, _, confidence, _, _ = subscriber_district(db, subscriber_id)
    if confidence != "ambiguous" or not cd_state:
        raise LookupFailed(
            f"subscriber {subscriber_id}: district is {confidence}, not ambiguous: nothing to pick"
        )
    candidates = district_candidates(db, zip_code or "", cd_state)
    if district not in candidates:
        listed = ", ".join(str(d) for d in candidates)
        raise LookupFailed(
            f"district: {district} is not a district of ZIP {zip_code} in {cd_state} ({listed})"
        )
    with write_transaction(db):
        db.execute("UPDATE subscribers SET cd_choice = ? WHERE id = ?", [district, subscriber_id])
        db.execute("DROP TABLE IF EXISTS temp._choice_ids")
        db.execute("CREATE TEMP TABLE _choice_ids (id INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO temp._choice_ids (id) VALUES (?)", [subscriber_id])
        resolve_districts(db, "_choice_ids")
        db.execute("DROP TABLE temp._choice_ids")


def roster_loaded(db: Database) -> bool:
    return db.execute("SELECT EXISTS (SELECT 1 FROM members)").fetchone()[0] == 1


def roster_members(db: Database) -> list[Member]:
    rows = db.execute(f"SELECT {MEMBER_COLUMNS} FROM members ORDER BY bioguide").fetchall()
    return [_row_to_member(row) for row in rows]


def replace_roster(
    db: Database, members: Iterable[Member], zip_rows: Iterable[tuple[str, str, int]]
) -> None:
    """Delete the old roster and ZIP map and write the new ones (in the caller's transaction)."""
    columns = [c.strip() for c in MEMBER_COLUMNS.split(",")]
    placeholders = ", ".join("?" for _ in columns)
    db.execute("DELETE FROM members")
    db.execute("DELETE FROM zip_districts")
    db.conn.executemany(
        f"INSERT INTO members ({MEMBER_COLUMNS}) VALUES ({placeholders})",
        ([getattr(m, c) for c in columns] for m in members),
    )
    db.conn.executemany(
        "INSERT OR IGNORE INTO zip_districts (zip, state, district) VALUES (?, ?, ?)", zip_rows
    )


def vacant_house_seats(db: Database) -> list[tuple[str, int]]:
    """House seats of the ZIP map that no member of the roster holds."""
    rows = db.execute(
        "SELECT DISTINCT z.state, z.district FROM zip_districts z INDEXED BY zip_districts_seat"
        " WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.chamber = 'house'"
        " AND m.state = z.state AND m.district = z.district) ORDER BY z.state, z.district"
    ).fetchall()
    return [(state, district) for state, district in rows]


def record_roster_version(
    db: Database,
    *,
    legislators: tuple[str, str],
    social: tuple[str, str] | None,
    zip_districts: tuple[str, str],
    members: int,
    zip_rows: int,
    changes: dict[str, Any],
) -> int:
    """Record a roster load: (name, sha256) of each file. Returns the version number."""
    cursor = db.execute(
        "INSERT INTO roster_versions (loaded_at, legislators_file, legislators_sha256,"
        " social_file, social_sha256, zip_file, zip_sha256, members, zip_rows, changes)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            utc_now(),
            *legislators,
            *(social or (None, None)),
            *zip_districts,
            members,
            zip_rows,
            json.dumps(changes, ensure_ascii=False),
        ],
    )
    return int(cursor.lastrowid or 0)


def latest_roster_version(db: Database) -> dict[str, Any] | None:
    cursor = db.execute(
        "SELECT id, loaded_at, legislators_file, legislators_sha256, social_file,"
        " social_sha256, zip_file, zip_sha256, members, zip_rows"
        " FROM roster_versions ORDER BY id DESC LIMIT 1"
    )
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def member_counts(db: Database) -> dict[str, int]:
    """Members by salutation title: Senator, Representative, Delegate, Resident Commissioner."""
    rows = db.execute("SELECT title, count(*) FROM members GROUP BY title ORDER BY title")
    return {title: count for title, count in rows.fetchall()}


def zip_code_count(db: Database) -> int:
    return db.execute("SELECT count(DISTINCT zip) FROM zip_districts").fetchone()[0]


def district_confidence_counts(db: Database) -> dict[str, int]:
    rows = db.execute(
        "SELECT cd_confidence, count(*) FROM subscribers GROUP BY cd_confidence"
    ).fetchall()
    counts = dict.fromkeys(("exact", "ambiguous", "unknown"), 0)
    counts.update({confidence: count for confidence, count in rows})
    return counts


def district_flag_counts(db: Database) -> dict[str, int]:
    """Subscribers by each flag in cd_flags (a subscriber may count under several)."""
    counts: dict[str, int] = {}
    rows = db.execute(
        "SELECT cd_flags, count(*) FROM subscribers WHERE cd_flags IS NOT NULL GROUP BY cd_flags"
    )
    for flags, count in rows.fetchall():
        for flag in flags.split(","):
            counts[flag] = counts.get(flag, 0) + count
    return dict(sorted(counts.items()))


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


# --------------------------------------------------------------------------
# letter pages (tracking.py and pipeline.py for `GET|POST /a/<token>`, issue 6 part 2)


@migration(55)
def m055_letter_copies_index(db: Database) -> None:
    # "Email me a copy" is rate-limited per subscriber across campaigns: this partial
    # index finds a subscriber's recent copies without scanning every event, and costs
    # other inserts only the evaluation of its WHERE.
    _run(
        db,
        "CREATE INDEX events_letter_copies ON events (subscriber_id, at)"
        " WHERE kind = 'letter_emailed'",
    )


def letter_targets_sent(db: Database, campaign_id: int, subscriber_id: int) -> set[str]:
    """The members (bioguide ids) a subscriber said they wrote to in a campaign."""
    rows = db.execute(
        "SELECT DISTINCT target FROM events WHERE campaign_id = ? AND kind = 'letter_sent'"
        " AND subscriber_id = ? AND target IS NOT NULL",
        [campaign_id, subscriber_id],
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


# importer: staging signup rows, merging them into subscribers, the list itself
#
# An import streams its rows into temp.import_people (one row per person, keyed
# by the lower-cased email) inside the import transaction, then merges them with
# set-based SQL. New people get their district as they are inserted;
# temp.import_touched collects the ids of existing subscribers that changed, so
# their districts can be resolved again before the commit.

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
    """Add the new people, each with their district already resolved.

    Resolving here, from the distinct (zip, state) values of the new people, spares
    a second write of every new row; the answers are those resolve_districts gives.
    """
    # Staged values are normalised (a 5-digit ZIP or NULL, a USPS code or NULL), so they
    # are their own keys: the key expressions of _key_expressions would return them as
    # they are. New people have no district choice yet.
    _drop_resolve_tables(db)
    _build_district_facts(
        db,
        "SELECT DISTINCT coalesce(zip, '') AS z, coalesce(zip, '') = '' AS no_zip,"
        " coalesce(state, '') AS given, -1 AS choice"
        " FROM temp.import_people WHERE outcome IS NULL",
    )
    columns = ", ".join(STAGED_COLUMNS[:9])
    db.execute(
        f"INSERT INTO subscribers ({columns}, status, source, tags, extra, created_at,"
        " updated_at, status_changed_at, cd_state, cd_district, cd_confidence, cd_flags)"
        f" SELECT {', '.join('p.' + c for c in STAGED_COLUMNS[:9])},"
        " coalesce(p.status, 'subscribed'), :source, coalesce(p.tags, '[]'),"
        " coalesce(p.extra, '{}'), :now, :now,"
        " CASE WHEN coalesce(p.status, 'subscribed') <> 'subscribed' THEN :now END,"
        " f.home_state, f.district, coalesce(f.confidence, 'unknown'), f.flags"
        " FROM temp.import_people AS p LEFT JOIN temp._district_facts AS f"
        " ON f.z = coalesce(p.zip, '') AND f.no_zip = (coalesce(p.zip, '') = '')"
        " AND f.given = coalesce(p.state, '') AND f.choice = -1"
        " WHERE p.outcome IS NULL"
        # In staging-key (email) order, so the email index is filled in order: no sort.
        " ORDER BY p.email_key",
        {"now": now, "source": source},
    )
    _drop_resolve_tables(db)


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


# send ledger and send runs (alerts/send.py)
#
# Every function that writes commits before it returns: a claim must be on disk
# before its request goes out, and a batch's outcome as soon as it is known.

CONFIRMED_BY_EVENT = "confirmed by a SendGrid event after the request's answer was lost"
_FREEZE = (
    "INSERT OR IGNORE INTO send_ledger (campaign_id, subscriber_id, state, updated_at)"
    " SELECT ?, id, 'pending', ? FROM subscribers WHERE status = 'subscribed'"
)
# Ledger updates name their rows as one JSON array parameter: a single statement per
# batch instead of one per recipient.
_IN_IDS = "IN (SELECT value FROM json_each(?))"


def _json_ids(ids: Iterable[int]) -> str:
    return json.dumps([int(i) for i in ids])


def ledger_freeze(db: Database, campaign_id: int, subscriber_ids: Iterable[int]) -> int:
    """Add the subscribed people among `subscriber_ids` as pending; returns how many were new.

    Recipients already in the ledger keep their state, so freezing again is harmless.
    """
    return ledger_freeze_query(
        db, campaign_id, "SELECT value FROM json_each(?)", [_json_ids(subscriber_ids)]
    )


def ledger_freeze_query(
    db: Database, campaign_id: int, id_query: str, params: Sequence[Any] = ()
) -> int:
    """Like ledger_freeze, for the ids an SQL `SELECT id ...` (a segment's query) returns."""
    with write_transaction(db):
        before = db.conn.total_changes
        db.execute(f"{_FREEZE} AND id IN ({id_query})", [campaign_id, utc_now(), *params])
        return db.conn.total_changes - before


def ledger_recover(db: Database, campaign_id: int, *, retry_unknown: bool) -> tuple[int, int]:
    """Start of a run: in_flight rows (left by a run that died) become unknown.

    Unknown rows for whom SendGrid's Event Webhook has since reported an event of
    this campaign (processed, delivered...) were accepted: they become sent. With
    `retry_unknown`, every other unknown row then goes back to pending.
    Returns (rows made unknown, rows made pending).
    """
    now = utc_now()
    with write_transaction(db):
        lost = db.execute(
            "UPDATE send_ledger SET state = 'unknown', updated_at = ?,"
            " reason = 'a previous send stopped while its request was out'"
            " WHERE campaign_id = ? AND state = 'in_flight'",
            [now, campaign_id],
        ).rowcount
        _confirm_unknown_by_events(db, campaign_id, now)
        requeued = 0
        if retry_unknown:
            requeued = db.execute(
                "UPDATE send_ledger SET state = 'pending', updated_at = ?"
                " WHERE campaign_id = ? AND state = 'unknown'",
                [now, campaign_id],
            ).rowcount
    return lost, requeued


# The events index is (campaign_id, kind, subscriber_id): naming every kind lets
# SQLite probe it for each unknown recipient instead of scanning the campaign's events.
_CONFIRM_UNKNOWN = (
    "UPDATE send_ledger SET state = 'sent', updated_at = ?, reason = ?"
    " WHERE campaign_id = ? AND state = 'unknown' AND subscriber_id IN ("
    " SELECT e.subscriber_id FROM events e WHERE e.campaign_id = ?"
    f" AND e.kind IN ({', '.join('?' for _ in SENDGRID_KINDS)})"
    " AND e.subscriber_id IN ("
    "  SELECT subscriber_id FROM send_ledger WHERE campaign_id = ? AND state = 'unknown'))"
)


def _confirm_unknown_by_events(db: Database, campaign_id: int, now: str) -> int:
    """Unknown recipients SendGrid reported an event for were sent after all."""
    kinds = [str(kind) for kind in SENDGRID_KINDS]
    params = [now, CONFIRMED_BY_EVENT, campaign_id, campaign_id, *kinds, campaign_id]
    return db.execute(_CONFIRM_UNKNOWN, params).rowcount


def ledger_claim(
    db: Database, campaign_id: int, size: int
) -> tuple[list[Subscriber], list[tuple[int, str]]]:
    """Take up to `size` pending recipients, lowest id first, and commit them as in_flight.

    Those no longer subscribed (or forgotten) are marked skipped instead. Returns
    (claimed subscribers, [(subscriber id, reason skipped)]).
    """
    now = utc_now()
    with write_transaction(db):
        rows = db.execute(
            f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id IN ("
            " SELECT subscriber_id FROM send_ledger WHERE campaign_id = ? AND state = 'pending'"
            " ORDER BY subscriber_id LIMIT ?) ORDER BY id",
            [campaign_id, size],
        ).fetchall()
        claimed: list[Subscriber] = []
        skipped: list[tuple[int, str]] = []
        for person in map(row_to_subscriber, rows):
            if person.status == "subscribed" and person.email:
                claimed.append(person)
            else:
                skipped.append((int(person.id or 0), f"status is {person.status}"))
        db.execute(
            "UPDATE send_ledger SET state = 'in_flight', attempts = attempts + 1, updated_at = ?"
            f" WHERE campaign_id = ? AND subscriber_id {_IN_IDS}",
            [now, campaign_id, _json_ids(p.id or 0 for p in claimed)],
        )
        _set_states(db, campaign_id, DeliveryState.SKIPPED, skipped, now, was=("pending",))
    return claimed, skipped


def _grouped(pairs: Iterable[tuple[int, str]]) -> dict[str, list[int]]:
    """{value: [ids]} from (id, value) pairs, so each distinct value is one statement."""
    groups: dict[str, list[int]] = {}
    for sid, value in pairs:
        groups.setdefault(value, []).append(sid)
    return groups


def _set_states(
    db: Database,
    campaign_id: int,
    state: DeliveryState,
    reasons: Iterable[tuple[int, str]],
    now: str,
    was: tuple[str, ...] = ("in_flight", "unknown"),
) -> None:
    """Set `state` and its reason on rows now in one of the states `was`."""
    marks = ", ".join("?" * len(was))
    for reason, ids in _grouped(reasons).items():
        db.execute(
            "UPDATE send_ledger SET state = ?, reason = ?, updated_at = ?"
            f" WHERE campaign_id = ? AND state IN ({marks}) AND subscriber_id {_IN_IDS}",
            [state.value, reason, now, campaign_id, *was, _json_ids(ids)],
        )


def ledger_record(
    db: Database,
    campaign_id: int,
    *,
    sent: Iterable[tuple[int, str]] = (),
    failed: Iterable[tuple[int, str]] = (),
    unknown: Iterable[tuple[int, str]] = (),
    skipped: Iterable[tuple[int, str]] = (),
    released: Iterable[int] = (),
) -> None:
    """Record what became of claimed recipients, in one transaction.

    sent: (id, X-Message-Id); failed/unknown/skipped: (id, reason); released: ids whose
    request never reached SendGrid, back to pending.
    """
    now = utc_now()
    with write_transaction(db):
        for message_id, ids in _grouped(sent).items():
            db.execute(
                "UPDATE send_ledger SET state = 'sent', message_id = ?, reason = NULL,"
                " updated_at = ? WHERE campaign_id = ? AND state IN ('in_flight', 'unknown')"
                f" AND subscriber_id {_IN_IDS}",
                [message_id, now, campaign_id, _json_ids(ids)],
            )
        _set_states(db, campaign_id, DeliveryState.FAILED, failed, now)
        _set_states(db, campaign_id, DeliveryState.UNKNOWN, unknown, now)
        _set_states(db, campaign_id, DeliveryState.SKIPPED, skipped, now)
        db.execute(
            "UPDATE send_ledger SET state = 'pending', updated_at = ?"
            f" WHERE campaign_id = ? AND state = 'in_flight' AND subscriber_id {_IN_IDS}",
            [now, campaign_id, _json_ids(released)],
        )


def ledger_counts(db: Database, campaign_id: int) -> dict[str, int]:
    """Recipients per ledger state, every state present (zero when none)."""
    counts = {state.value: 0 for state in DeliveryState}
    rows = db.execute(
        "SELECT state, COUNT(*) FROM send_ledger WHERE campaign_id = ? GROUP BY state",
        [campaign_id],
    ).fetchall()
    counts.update({state: n for state, n in rows})
    return counts


def ledger_reasons(
    db: Database, campaign_id: int, state: str = DeliveryState.FAILED
) -> list[tuple[str, int]]:
    """(reason, recipients) for a state, most frequent first."""
    rows = db.execute(
        "SELECT COALESCE(reason, ''), COUNT(*) AS n FROM send_ledger"
        " WHERE campaign_id = ? AND state = ? GROUP BY 1 ORDER BY n DESC, 1",
        [campaign_id, str(state)],
    ).fetchall()
    return [(reason, n) for reason, n in rows]


def ledger_recipients(
    db: Database, campaign_id: int, state: str, limit: int | None = None
) -> list[tuple[int, str | None, str | None]]:
    """(subscriber id, email, reason) of the recipients in a state, by id."""
    rows = db.execute(
        "SELECT l.subscriber_id, s.email, l.reason FROM send_ledger l"
        " JOIN subscribers s ON s.id = l.subscriber_id"
        " WHERE l.campaign_id = ? AND l.state = ? ORDER BY l.subscriber_id LIMIT ?",
        [campaign_id, str(state), -1 if limit is None else limit],
    ).fetchall()
    return [(sid, email, reason) for sid, email, reason in rows]


def send_runs_open(db: Database, campaign_id: int) -> list[tuple[int, int | None, str | None]]:
    """(run id, pid, host) of the runs of a campaign that never finished."""
    rows = db.execute(
        "SELECT id, pid, host FROM send_runs WHERE campaign_id = ? AND finished_at IS NULL",
        [campaign_id],
    ).fetchall()
    return [(run_id, pid, host) for run_id, pid, host in rows]


def send_run_begin(db: Database, campaign_id: int, pid: int, host: str) -> int:
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO send_runs (campaign_id, started_at, pid, host) VALUES (?, ?, ?, ?)",
            [campaign_id, utc_now(), pid, host],
        )
        return int(cursor.lastrowid or 0)


def send_run_end(
    db: Database, run_id: int, outcome: str, summary: SendSummary, message: str | None = None
) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE send_runs SET finished_at = ?, outcome = ?, message = ?,"
            " sent = ?, failed = ?, unknown = ?, skipped = ? WHERE id = ?",
            [
                utc_now(),
                outcome,
                message,
                summary.sent,
                summary.failed,
                summary.unknown,
                summary.skipped,
                run_id,
            ],
        )


# --------------------------------------------------------------------------
# pipeline: starting and finishing a send, dry runs, targets in bulk, status
# (issue 5, part 2)


def ledger_freeze_segment(
    db: Database, campaign_id: int, segment: Segment | None, now: datetime | None = None
) -> int:
    """Freeze the segment's subscribed people into the ledger and mark the send started.

    One transaction: a send is either not started, or started with its recipients
    frozen. Returns how many recipients were added.
    """
    where, params = segment_where(segment, now, campaign_id)
    with write_transaction(db):
        frozen = ledger_freeze_query(
            db, campaign_id, f"SELECT s.id FROM subscribers s WHERE {where}", params
        )
        db.execute(
            "UPDATE campaigns SET send_started_at = ? WHERE id = ? AND send_started_at IS NULL",
            [utc_now(), campaign_id],
        )
    return frozen


def campaign_send_finished(db: Database, campaign_id: int) -> bool:
    """Record the end of sending when nobody is pending or in flight; True if so."""
    with write_transaction(db):
        left = db.execute(
            "SELECT COUNT(*) FROM send_ledger WHERE campaign_id = ?"
            " AND state IN ('pending', 'in_flight')",
            [campaign_id],
        ).fetchone()[0]
        if left:
            return False
        db.execute(
            "UPDATE campaigns SET send_finished_at = ? WHERE id = ?", [utc_now(), campaign_id]
        )
    return True


def ledger_ids(db: Database, campaign_id: int, states: Iterable[str]) -> list[int]:
    """Ids of the recipients in any of `states`, in id order."""
    wanted = [str(state) for state in states]
    rows = db.execute(
        "SELECT subscriber_id FROM send_ledger WHERE campaign_id = ?"
        f" AND state IN ({', '.join('?' for _ in wanted)}) ORDER BY subscriber_id",
        [campaign_id, *wanted],
    ).fetchall()
    return [row[0] for row in rows]


def subscribers_by_ids(db: Database, ids: Sequence[int]) -> list[Subscriber]:
    """The subscribers with these ids (those that exist), in id order."""
    rows = db.execute(
        f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id {_IN_IDS} ORDER BY id",
        [_json_ids(ids)],
    ).fetchall()
    return [row_to_subscriber(row) for row in rows]


def subscriber_districts(db: Database, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """(id, zip, state, cd_state, cd_district, cd_confidence, cd_flags, cd_choice) per id."""
    rows = db.execute(
        "SELECT id, zip, state, cd_state, cd_district, cd_confidence, cd_flags, cd_choice"
        f" FROM subscribers WHERE id {_IN_IDS}",
        [_json_ids(ids)],
    ).fetchall()
    return [tuple(row) for row in rows]


def send_run_history(db: Database, campaign_id: int) -> list[dict[str, Any]]:
    """Every run of a campaign's send, oldest first."""
    rows = db.execute(
        "SELECT id, started_at, finished_at, outcome, message, sent, failed, unknown, skipped"
        " FROM send_runs WHERE campaign_id = ? ORDER BY id",
        [campaign_id],
    ).fetchall()
    columns = ("id", "started_at", "finished_at", "outcome", "message")
    columns += ("sent", "failed", "unknown", "skipped")
    return [dict(zip(columns, row, strict=True)) for row in rows]
