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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from alerts.errors import InputFileError, NotFoundError
from alerts.models import DeliveryState, Member, SendSummary, Subscriber

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
# send ledger and send runs (alerts/send.py)
#
# Every function that writes commits before it returns: a claim must be on disk
# before its request goes out, and a batch's outcome as soon as it is known.

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

    With `retry_unknown`, every unknown row then goes back to pending.
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
        requeued = 0
        if retry_unknown:
            requeued = db.execute(
                "UPDATE send_ledger SET state = 'pending', updated_at = ?"
                " WHERE campaign_id = ? AND state = 'unknown'",
                [now, campaign_id],
            ).rowcount
    return lost, requeued


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
