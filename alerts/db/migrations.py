"""migrations"""

from __future__ import annotations

from collections.abc import Callable

from alerts.db.connection import Database, utc_now, write_transaction
from alerts.db.stats import _stats_create_triggers, rebuild_stats_summaries

Migration = Callable[[Database], None]


MIGRATIONS: dict[int, Migration] = {}


def migration(number: int) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        if number in MIGRATIONS:
            raise RuntimeError(f"migration {number} registered twice")
        MIGRATIONS[number] = fn
        return fn

    return register


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


@migration(20)
def m020_zip_districts_by_seat(db: Database) -> None:
    # Which states a roster knows, which are at-large and which seats are vacant are
    # asked per state; the primary key starts with the ZIP.
    db.execute("CREATE INDEX zip_districts_seat ON zip_districts (state, district)")


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
