"""Migrations: every schema change, in number order, as the SQL that landed.

A landed migration is never edited and never builds its SQL from code that may
change later: the schema a database gets from migration N today is the one it
got the day N shipped (tests/test_schema.py holds every migration to that).
A schema change is a new `@migration(N)` function at the end of this module;
`apply_migrations` runs those a database has not seen yet, in one transaction,
and records each in the `migrations` table.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import unicodedata
from collections.abc import Callable

from alerts.db.connection import Database, utc_now, write_transaction

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
    """Run `;`-separated SQL inside the caller's transaction (executescript would commit).

    A `;` inside a trigger body or a string literal does not end its statement.
    """
    statement = ""
    for piece in statements.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                db.execute(statement)
            statement = ""
    if statement.strip(" \n;"):
        raise ValueError(f"incomplete SQL statement in a migration: {statement.strip()!r}")


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


@migration(20)
def m020_zip_districts_by_seat(db: Database) -> None:
    # Which states a roster knows, which are at-large and which seats are vacant are
    # asked per state; the primary key starts with the ZIP.
    db.execute("CREATE INDEX zip_districts_seat ON zip_districts (state, district)")


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
    # The triggers that keep the summaries, then the summaries of the events recorded
    # before: one line of SQL each, as they were generated the day this shipped.
    # Migration 90 replaces the triggers.
    db.execute(
        "CREATE TRIGGER stats_event_added AFTER INSERT ON events "
        "BEGIN INSERT INTO stats_kind_totals (campaign_id, kind, human_events, machine_events, "
        "human_people, people) SELECT NEW.campaign_id, NEW.kind, (NEW.machine = 0), "
        "(NEW.machine <> 0), (NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id "
        "AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id "
        "AND e.id <> NEW.id AND e.machine = 0)), (NEW.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id "
        "AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id "
        "AND e.id <> NEW.id)) WHERE NEW.campaign_id IS NOT NULL "
        "AND 1 ON CONFLICT (campaign_id, kind) DO UPDATE SET "
        "human_events = human_events + excluded.human_events, "
        "machine_events = machine_events + excluded.machine_events, "
        "human_people = human_people + excluded.human_people, people = people + "
        "excluded.people; "
        "INSERT INTO stats_detail_totals (campaign_id, kind, link_id, target, human_events, "
        "machine_events, human_people) SELECT NEW.campaign_id, NEW.kind, COALESCE(NEW.link_id, "
        "0), COALESCE(NEW.target, ''), (NEW.machine = 0), (NEW.machine <> 0), (NEW.machine = 0 "
        "AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id "
        "AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id "
        "AND e.id <> NEW.id AND e.link_id IS NEW.link_id "
        "AND e.target IS NEW.target AND e.machine = 0)) WHERE NEW.campaign_id IS NOT NULL "
        "AND (NEW.link_id IS NOT NULL OR NEW.target IS NOT NULL) "
        "ON CONFLICT (campaign_id, kind, link_id, target) "
        "DO UPDATE SET human_events = human_events + excluded.human_events, "
        "machine_events = machine_events + excluded.machine_events, "
        "human_people = human_people + excluded.human_people; "
        "INSERT INTO stats_state_totals (campaign_id, kind, state, human_people) "
        "SELECT NEW.campaign_id, NEW.kind, COALESCE((SELECT s.state "
        "FROM subscribers AS s WHERE s.id = NEW.subscriber_id), ''), 1 "
        "WHERE NEW.campaign_id IS NOT NULL AND NEW.kind IN ('delivered', 'open', 'click', "
        "'letter_sent') AND (NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id "
        "AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id "
        "AND e.id <> NEW.id AND e.machine = 0)) ON CONFLICT (campaign_id, kind, state) "
        "DO UPDATE SET human_people = human_people + excluded.human_people; "
        "INSERT INTO stats_hourly (campaign_id, kind, hour, human_events, machine_events) "
        "SELECT NEW.campaign_id, NEW.kind, CAST(NEW.at AS INTEGER) / 3600, (NEW.machine = 0), "
        "(NEW.machine <> 0) WHERE NEW.campaign_id IS NOT NULL "
        "AND NEW.kind IN ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed', "
        "'unsubscribe') ON CONFLICT (campaign_id, kind, hour) "
        "DO UPDATE SET human_events = human_events + excluded.human_events, "
        "machine_events = machine_events + excluded.machine_events; "
        "END"
    )
    db.execute(
        "CREATE TRIGGER stats_event_removed AFTER DELETE ON events "
        "BEGIN UPDATE stats_kind_totals SET human_events = human_events - (OLD.machine = 0), "
        "machine_events = machine_events - (OLD.machine <> 0), human_people = human_people - "
        "(OLD.machine = 0 AND OLD.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id "
        "AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id "
        "AND e.id <> OLD.id AND e.machine = 0)), people = people - "
        "(OLD.subscriber_id IS NOT NULL AND NOT EXISTS (SELECT 1 "
        "FROM events AS e WHERE e.campaign_id = OLD.campaign_id "
        "AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id "
        "AND e.id <> OLD.id)) WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND OLD.campaign_id IS NOT NULL "
        "AND 1; "
        "DELETE FROM stats_kind_totals WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND human_events = 0 AND machine_events = 0; "
        "UPDATE stats_detail_totals SET human_events = human_events - (OLD.machine = 0), "
        "machine_events = machine_events - (OLD.machine <> 0), human_people = human_people - "
        "(OLD.machine = 0 AND OLD.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id "
        "AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id "
        "AND e.id <> OLD.id AND e.link_id IS OLD.link_id "
        "AND e.target IS OLD.target AND e.machine = 0)) WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND link_id = COALESCE(OLD.link_id, 0) "
        "AND target = COALESCE(OLD.target, '') AND OLD.campaign_id IS NOT NULL "
        "AND (OLD.link_id IS NOT NULL OR OLD.target IS NOT NULL); "
        "DELETE FROM stats_detail_totals WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND link_id = COALESCE(OLD.link_id, 0) "
        "AND target = COALESCE(OLD.target, '') AND human_events = 0 "
        "AND machine_events = 0; "
        "UPDATE stats_state_totals SET human_people = human_people - 1 "
        "WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind "
        "AND state = COALESCE((SELECT s.state FROM subscribers AS s "
        "WHERE s.id = OLD.subscriber_id), '') AND OLD.campaign_id IS NOT NULL "
        "AND OLD.kind IN ('delivered', 'open', 'click', 'letter_sent') "
        "AND (OLD.machine = 0 AND OLD.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id "
        "AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id "
        "AND e.id <> OLD.id AND e.machine = 0)); "
        "DELETE FROM stats_state_totals WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND state = COALESCE((SELECT s.state "
        "FROM subscribers AS s WHERE s.id = OLD.subscriber_id), '') "
        "AND human_people = 0; "
        "UPDATE stats_hourly SET human_events = human_events - (OLD.machine = 0), "
        "machine_events = machine_events - (OLD.machine <> 0) "
        "WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind "
        "AND hour = CAST(OLD.at AS INTEGER) / 3600 AND OLD.campaign_id IS NOT NULL "
        "AND OLD.kind IN ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed', "
        "'unsubscribe'); "
        "DELETE FROM stats_hourly WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND hour = CAST(OLD.at AS INTEGER) / 3600 "
        "AND human_events = 0 AND machine_events = 0; "
        "END"
    )
    db.execute(
        "CREATE TRIGGER stats_event_changed AFTER UPDATE OF campaign_id, subscriber_id, kind, "
        "link_id, target, at, machine ON events BEGIN UPDATE stats_kind_totals "
        "SET human_events = human_events - (OLD.machine = 0), machine_events = machine_events - "
        "(OLD.machine <> 0), human_people = human_people - (OLD.machine = 0 "
        "AND OLD.subscriber_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id "
        "AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id "
        "AND e.id <> OLD.id AND e.machine = 0)), people = people - "
        "(OLD.subscriber_id IS NOT NULL AND NOT EXISTS (SELECT 1 "
        "FROM events AS e WHERE e.campaign_id = OLD.campaign_id "
        "AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id "
        "AND e.id <> OLD.id)) WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND OLD.campaign_id IS NOT NULL "
        "AND 1; "
        "DELETE FROM stats_kind_totals WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND human_events = 0 AND machine_events = 0; "
        "UPDATE stats_detail_totals SET human_events = human_events - (OLD.machine = 0), "
        "machine_events = machine_events - (OLD.machine <> 0), human_people = human_people - "
        "(OLD.machine = 0 AND OLD.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id "
        "AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id "
        "AND e.id <> OLD.id AND e.link_id IS OLD.link_id "
        "AND e.target IS OLD.target AND e.machine = 0)) WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND link_id = COALESCE(OLD.link_id, 0) "
        "AND target = COALESCE(OLD.target, '') AND OLD.campaign_id IS NOT NULL "
        "AND (OLD.link_id IS NOT NULL OR OLD.target IS NOT NULL); "
        "DELETE FROM stats_detail_totals WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND link_id = COALESCE(OLD.link_id, 0) "
        "AND target = COALESCE(OLD.target, '') AND human_events = 0 "
        "AND machine_events = 0; "
        "UPDATE stats_state_totals SET human_people = human_people - 1 "
        "WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind "
        "AND state = COALESCE((SELECT s.state FROM subscribers AS s "
        "WHERE s.id = OLD.subscriber_id), '') AND OLD.campaign_id IS NOT NULL "
        "AND OLD.kind IN ('delivered', 'open', 'click', 'letter_sent') "
        "AND (OLD.machine = 0 AND OLD.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id "
        "AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id "
        "AND e.id <> OLD.id AND e.machine = 0)); "
        "DELETE FROM stats_state_totals WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND state = COALESCE((SELECT s.state "
        "FROM subscribers AS s WHERE s.id = OLD.subscriber_id), '') "
        "AND human_people = 0; "
        "UPDATE stats_hourly SET human_events = human_events - (OLD.machine = 0), "
        "machine_events = machine_events - (OLD.machine <> 0) "
        "WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind "
        "AND hour = CAST(OLD.at AS INTEGER) / 3600 AND OLD.campaign_id IS NOT NULL "
        "AND OLD.kind IN ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed', "
        "'unsubscribe'); "
        "DELETE FROM stats_hourly WHERE campaign_id = OLD.campaign_id "
        "AND kind = OLD.kind AND hour = CAST(OLD.at AS INTEGER) / 3600 "
        "AND human_events = 0 AND machine_events = 0; "
        "INSERT INTO stats_kind_totals (campaign_id, kind, human_events, machine_events, "
        "human_people, people) SELECT NEW.campaign_id, NEW.kind, (NEW.machine = 0), "
        "(NEW.machine <> 0), (NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id "
        "AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id "
        "AND e.id <> NEW.id AND e.machine = 0)), (NEW.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id "
        "AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id "
        "AND e.id <> NEW.id)) WHERE NEW.campaign_id IS NOT NULL "
        "AND 1 ON CONFLICT (campaign_id, kind) DO UPDATE SET "
        "human_events = human_events + excluded.human_events, "
        "machine_events = machine_events + excluded.machine_events, "
        "human_people = human_people + excluded.human_people, people = people + "
        "excluded.people; "
        "INSERT INTO stats_detail_totals (campaign_id, kind, link_id, target, human_events, "
        "machine_events, human_people) SELECT NEW.campaign_id, NEW.kind, COALESCE(NEW.link_id, "
        "0), COALESCE(NEW.target, ''), (NEW.machine = 0), (NEW.machine <> 0), (NEW.machine = 0 "
        "AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id "
        "AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id "
        "AND e.id <> NEW.id AND e.link_id IS NEW.link_id "
        "AND e.target IS NEW.target AND e.machine = 0)) WHERE NEW.campaign_id IS NOT NULL "
        "AND (NEW.link_id IS NOT NULL OR NEW.target IS NOT NULL) "
        "ON CONFLICT (campaign_id, kind, link_id, target) "
        "DO UPDATE SET human_events = human_events + excluded.human_events, "
        "machine_events = machine_events + excluded.machine_events, "
        "human_people = human_people + excluded.human_people; "
        "INSERT INTO stats_state_totals (campaign_id, kind, state, human_people) "
        "SELECT NEW.campaign_id, NEW.kind, COALESCE((SELECT s.state "
        "FROM subscribers AS s WHERE s.id = NEW.subscriber_id), ''), 1 "
        "WHERE NEW.campaign_id IS NOT NULL AND NEW.kind IN ('delivered', 'open', 'click', "
        "'letter_sent') AND (NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id "
        "AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id "
        "AND e.id <> NEW.id AND e.machine = 0)) ON CONFLICT (campaign_id, kind, state) "
        "DO UPDATE SET human_people = human_people + excluded.human_people; "
        "INSERT INTO stats_hourly (campaign_id, kind, hour, human_events, machine_events) "
        "SELECT NEW.campaign_id, NEW.kind, CAST(NEW.at AS INTEGER) / 3600, (NEW.machine = 0), "
        "(NEW.machine <> 0) WHERE NEW.campaign_id IS NOT NULL "
        "AND NEW.kind IN ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed', "
        "'unsubscribe') ON CONFLICT (campaign_id, kind, hour) "
        "DO UPDATE SET human_events = human_events + excluded.human_events, "
        "machine_events = machine_events + excluded.machine_events; "
        "END"
    )
    db.execute(
        "INSERT INTO stats_kind_totals (campaign_id, kind, human_events, machine_events, "
        "human_people, people) SELECT campaign_id, kind, SUM(h), SUM(m), SUM(known "
        "AND h > 0), SUM(known) FROM (SELECT X.campaign_id AS campaign_id, X.kind AS kind, "
        "X.subscriber_id IS NOT NULL AS known, SUM(X.machine = 0) AS h, "
        "SUM(X.machine <> 0) AS m FROM events AS X WHERE X.campaign_id IS NOT NULL "
        "AND 1 GROUP BY campaign_id, kind, X.subscriber_id) "
        "GROUP BY campaign_id, kind"
    )
    db.execute(
        "INSERT INTO stats_detail_totals (campaign_id, kind, link_id, target, human_events, "
        "machine_events, human_people) SELECT campaign_id, kind, link_id, target, SUM(h), "
        "SUM(m), SUM(known AND h > 0) FROM (SELECT X.campaign_id AS campaign_id, "
        "X.kind AS kind, COALESCE(X.link_id, 0) AS link_id, COALESCE(X.target, '') AS target, "
        "X.subscriber_id IS NOT NULL AS known, SUM(X.machine = 0) AS h, "
        "SUM(X.machine <> 0) AS m FROM events AS X WHERE X.campaign_id IS NOT NULL "
        "AND (X.link_id IS NOT NULL OR X.target IS NOT NULL) "
        "GROUP BY campaign_id, kind, link_id, target, X.subscriber_id) "
        "GROUP BY campaign_id, kind, link_id, target"
    )
    db.execute(
        "INSERT INTO stats_state_totals (campaign_id, kind, state, human_people) "
        "SELECT campaign_id, kind, state, SUM(known AND h > 0) "
        "FROM (SELECT X.campaign_id AS campaign_id, X.kind AS kind, COALESCE((SELECT s.state "
        "FROM subscribers AS s WHERE s.id = X.subscriber_id), '') AS state, "
        "X.subscriber_id IS NOT NULL AS known, SUM(X.machine = 0) AS h, "
        "SUM(X.machine <> 0) AS m FROM events AS X WHERE X.campaign_id IS NOT NULL "
        "AND X.kind IN ('delivered', 'open', 'click', 'letter_sent') "
        "GROUP BY campaign_id, kind, state, X.subscriber_id) "
        "GROUP BY campaign_id, kind, state HAVING SUM(known "
        "AND h > 0) > 0"
    )
    db.execute(
        "INSERT INTO stats_hourly (campaign_id, kind, hour, human_events, machine_events) "
        "SELECT campaign_id, kind, hour, SUM(h), SUM(m) FROM "
        "(SELECT X.campaign_id AS campaign_id, X.kind AS kind, CAST(X.at AS INTEGER) / "
        "3600 AS hour, X.subscriber_id IS NOT NULL AS known, SUM(X.machine = 0) AS h, "
        "SUM(X.machine <> 0) AS m FROM events AS X WHERE X.campaign_id IS NOT NULL "
        "AND X.kind IN ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed', "
        "'unsubscribe') GROUP BY campaign_id, kind, hour) "
        "GROUP BY campaign_id, kind, hour"
    )


@migration(70)
def m070_event_providers(db: Database) -> None:
    # An event from a delivery provider names that provider beside the provider's own
    # id of the event, unique per provider (every such event so far was SendGrid's, with
    # its id in sg_event_id), and is stored under the project's kind rather than the
    # provider's name for it. SQLite cannot change a column's UNIQUE constraint in
    # place, so the table is made again (sqlite.org/lang_altertable.html, "Making Other
    # Kinds Of Table Schema Changes"); its indexes and triggers are created again from
    # the SQL the database stored for them. The stats summaries keyed on a renamed kind
    # follow it.
    kept = [
        row[0]
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'events'"
            " AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name"
        )
    ]
    triggers = db.execute(
        "SELECT name FROM sqlite_master WHERE tbl_name = 'events' AND type = 'trigger'"
    ).fetchall()
    for (name,) in triggers:
        db.execute(f'DROP TRIGGER "{name}"')
    renamed = """
        CASE kind
            WHEN 'processed' THEN 'accepted'
            WHEN 'spamreport' THEN 'complaint'
            WHEN 'sg_open' THEN 'provider_open'
            WHEN 'sg_click' THEN 'provider_click'
            WHEN 'sg_unsubscribe' THEN 'provider_unsubscribe'
            ELSE kind
        END"""
    _run(
        db,
        f"""
        ALTER TABLE events RENAME TO events_before_m070;
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
            provider TEXT,
            provider_event_id TEXT,
            detail TEXT,
            UNIQUE (provider, provider_event_id),
            CHECK ((provider IS NULL) = (provider_event_id IS NULL))
        );
        INSERT INTO events (id, campaign_id, subscriber_id, kind, link_id, target, at,
            user_agent, machine, provider, provider_event_id, detail)
        SELECT id, campaign_id, subscriber_id, {renamed}, link_id, target, at,
            user_agent, machine, CASE WHEN sg_event_id IS NOT NULL THEN 'sendgrid' END,
            sg_event_id, detail
        FROM events_before_m070;
        DROP TABLE events_before_m070;
        UPDATE stats_kind_totals SET kind = {renamed};
        UPDATE stats_detail_totals SET kind = {renamed};
        UPDATE stats_state_totals SET kind = {renamed};
        UPDATE stats_hourly SET kind = {renamed}
        """,
    )
    for sql in kept:
        db.execute(sql)


def _m080_email_key(address: str) -> str:
    """The email identity as migration 80 stored it: canonical caseless matching.

    subscribers/normalise.py email_key is the live rule; tests hold the two equal,
    so a change there comes with a migration that recomputes the keys.
    """
    if address.isascii():
        return address.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", address).casefold())


# How much a ledger row says about what reached the inbox, when two rows of one
# person for one campaign are merged: the row that says more is kept.
_M080_LEDGER_RANK = (
    "CASE {row}.state WHEN 'sent' THEN 6 WHEN 'unknown' THEN 5 WHEN 'in_flight' THEN 4"
    " WHEN 'failed' THEN 3 WHEN 'skipped' THEN 2 ELSE 1 END"
)
_M080_STATUS_RANK = {
    "subscribed": 0,
    "unsubscribed": 1,
    "bounced": 2,
    "complained": 3,
    "forgotten": 4,
}


@migration(80)
def m080_email_identity(db: Database) -> None:
    # email_key is who an address belongs to, folded for every letter; it is unique.
    # `email` keeps the address as typed, and its COLLATE NOCASE (ASCII letters only)
    # no longer decides who is who. People that were two rows under NOCASE (José@,
    # JOSÉ@) become one. subscriber_merges remembers the ids merged away, for the
    # unsubscribe links of mail already sent to them.
    db.conn.create_function("m080_email_key", 1, _m080_email_key, deterministic=True)
    _run(
        db,
        """
        ALTER TABLE subscribers ADD COLUMN email_key TEXT;
        UPDATE subscribers SET email_key = m080_email_key(email) WHERE email IS NOT NULL;
        CREATE TABLE subscriber_merges (
            merged_id INTEGER PRIMARY KEY,
            subscriber_id INTEGER NOT NULL REFERENCES subscribers (id)
        )
        """,
    )
    _m080_erase_the_forgotten(db)
    duplicated = db.execute(
        "SELECT email_key FROM subscribers WHERE email_key IS NOT NULL"
        " GROUP BY email_key HAVING count(*) > 1"
    ).fetchall()
    for (key,) in duplicated:
        _m080_merge_person(db, key)
    db.execute("CREATE UNIQUE INDEX subscribers_email_key ON subscribers (email_key)")


def _m080_erase_the_forgotten(db: Database) -> None:
    """Erase the people `forget` missed: their address matched the hash but not NOCASE.

    `forget ÉMILE@…` recorded the hash of the lower-cased address, then looked for
    the row under COLLATE NOCASE, which did not find Émile@…: only the hash was kept.
    """
    salt = db.execute("SELECT value FROM meta WHERE key = 'forget_key'").fetchone()
    if salt is None:
        return
    now = utc_now()
    rows = db.execute(
        "SELECT id, email, email_key FROM subscribers WHERE email GLOB '*[^ -~]*'"
    ).fetchall()
    for subscriber_id, email, key in rows:
        hashes = [
            hmac.new(salt[0].encode(), text.encode(), hashlib.sha256).hexdigest()
            for text in (email.lower(), key)
        ]
        found = db.execute("SELECT 1 FROM forgotten WHERE email_hash IN (?, ?)", hashes).fetchone()
        if found is None:
            continue
        params = {"id": subscriber_id, "now": now}
        _run_with(
            db,
            """
            UPDATE subscribers SET email = NULL, email_key = NULL, first_name = NULL,
                last_name = NULL, street = NULL, city = NULL, state = NULL, zip = NULL,
                phone = NULL, source = NULL, tags = '[]', extra = '{}', consent_at = NULL,
                cd_state = NULL, cd_district = NULL, cd_confidence = 'unknown',
                cd_flags = NULL, cd_choice = NULL, status = 'forgotten',
                status_changed_at = :now, updated_at = :now
            WHERE id = :id;
            UPDATE events SET user_agent = NULL, detail = NULL WHERE subscriber_id = :id;
            UPDATE send_ledger SET reason = NULL WHERE subscriber_id = :id
            """,
            params,
        )


def _m080_merge_person(db: Database, key: str) -> None:
    """Make the rows with this email key one: the oldest, with all their history.

    It gets the most restrictive status of them (forgotten, complained, bounced,
    unsubscribed, subscribed), every tag, the earliest consent and creation times,
    and the fields it lacks from the others (the postal address and its district
    as one). Events and ledger rows move to it.
    """
    columns = (
        "id, status, status_changed_at, first_name, last_name, phone, source, tags, extra,"
        " consent_at, created_at, street, city, state, zip, cd_state, cd_district,"
        " cd_confidence, cd_flags, cd_choice"
    )
    cursor = db.execute(f"SELECT {columns} FROM subscribers WHERE email_key = ? ORDER BY id", [key])
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    kept, merged = rows[0], rows[1:]
    strictest = max(rows, key=lambda row: _M080_STATUS_RANK[row["status"]])
    extra: dict[str, str] = {}
    for row in rows:
        for name, value in json.loads(row["extra"]).items():
            extra.setdefault(name, value)
    values = {
        "id": kept["id"],
        "status": strictest["status"],
        "status_changed_at": strictest["status_changed_at"],
        "tags": json.dumps(
            list(dict.fromkeys(tag for row in rows for tag in json.loads(row["tags"]))),
            ensure_ascii=False,
            separators=(",", ":"),
        ),
        "extra": json.dumps(extra, ensure_ascii=False, separators=(",", ":")),
        "consent_at": min((r["consent_at"] for r in rows if r["consent_at"]), default=None),
        "created_at": min(row["created_at"] for row in rows),
        "updated_at": utc_now(),
    }
    for name in ("first_name", "last_name", "phone", "source"):
        values[name] = next((row[name] for row in rows if row[name] is not None), None)
    address = ("street", "city", "state", "zip")
    home = next((row for row in rows if any(row[name] for name in address)), kept)
    for name in (*address, "cd_state", "cd_district", "cd_confidence", "cd_flags", "cd_choice"):
        values[name] = home[name]
    for row in merged:
        _run_with(
            db,
            f"""
            DELETE FROM send_ledger AS k WHERE k.subscriber_id = :kept AND EXISTS (
                SELECT 1 FROM send_ledger AS m WHERE m.subscriber_id = :merged
                AND m.campaign_id = k.campaign_id
                AND {_M080_LEDGER_RANK.format(row="m")} > {_M080_LEDGER_RANK.format(row="k")});
            DELETE FROM send_ledger AS m WHERE m.subscriber_id = :merged AND EXISTS (
                SELECT 1 FROM send_ledger AS k WHERE k.subscriber_id = :kept
                AND k.campaign_id = m.campaign_id);
            UPDATE send_ledger SET subscriber_id = :kept WHERE subscriber_id = :merged;
            UPDATE events SET subscriber_id = :kept WHERE subscriber_id = :merged;
            INSERT INTO subscriber_merges (merged_id, subscriber_id) VALUES (:merged, :kept);
            DELETE FROM subscribers WHERE id = :merged
            """,
            {"kept": kept["id"], "merged": row["id"]},
        )
    assignments = ", ".join(f"{name} = :{name}" for name in values if name != "id")
    db.execute(f"UPDATE subscribers SET {assignments} WHERE id = :id", values)


def _run_with(db: Database, statements: str, params: dict[str, object]) -> None:
    """Like _run, with named parameters (each statement uses those it names)."""
    for statement in statements.split(";"):
        if statement.strip():
            db.execute(statement, params)


@migration(90)
def m090_stats_state_at_send(db: Database) -> None:
    # send_ledger.subscriber_state is the subscriber's state when the campaign froze its
    # recipients; rows frozen before this migration get the state their subscriber has
    # now. stats_state_totals is keyed on it instead of the live subscriber record, which
    # a re-import or `forget` changes after the events were counted. The triggers on
    # events are those of migration 60 with that key; the triggers on send_ledger move a
    # recipient's counts when their row, or the state in it, comes, changes or goes. An
    # update of an event withdraws the old row, then applies the new one: right whether
    # or not a key changed.
    event_added = """\
            INSERT INTO stats_kind_totals
                (campaign_id, kind, human_events, machine_events, human_people, people)
            SELECT NEW.campaign_id, NEW.kind, (NEW.machine = 0), (NEW.machine <> 0),
                (NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id AND e.machine = 0)),
                (NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id))
            WHERE NEW.campaign_id IS NOT NULL
            ON CONFLICT (campaign_id, kind) DO UPDATE SET
                human_events = human_events + excluded.human_events,
                machine_events = machine_events + excluded.machine_events,
                human_people = human_people + excluded.human_people,
                people = people + excluded.people;
            INSERT INTO stats_detail_totals
                (campaign_id, kind, link_id, target, human_events, machine_events, human_people)
            SELECT NEW.campaign_id, NEW.kind, COALESCE(NEW.link_id, 0), COALESCE(NEW.target, ''),
                (NEW.machine = 0), (NEW.machine <> 0),
                (NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id AND e.link_id IS NEW.link_id
                    AND e.target IS NEW.target AND e.machine = 0))
            WHERE NEW.campaign_id IS NOT NULL
                AND (NEW.link_id IS NOT NULL OR NEW.target IS NOT NULL)
            ON CONFLICT (campaign_id, kind, link_id, target) DO UPDATE SET
                human_events = human_events + excluded.human_events,
                machine_events = machine_events + excluded.machine_events,
                human_people = human_people + excluded.human_people;
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT NEW.campaign_id, NEW.kind, COALESCE((
                    SELECT l.subscriber_state FROM send_ledger AS l
                    WHERE l.campaign_id = NEW.campaign_id
                    AND l.subscriber_id = NEW.subscriber_id), ''), 1
            WHERE NEW.campaign_id IS NOT NULL
                AND NEW.kind IN ('delivered', 'open', 'click', 'letter_sent')
                AND NEW.machine = 0 AND NEW.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.kind = NEW.kind AND e.subscriber_id = NEW.subscriber_id
                    AND e.id <> NEW.id AND e.machine = 0)
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET
                human_people = human_people + excluded.human_people;
            INSERT INTO stats_hourly (campaign_id, kind, hour, human_events, machine_events)
            SELECT NEW.campaign_id, NEW.kind, CAST(NEW.at AS INTEGER) / 3600,
                (NEW.machine = 0), (NEW.machine <> 0)
            WHERE NEW.campaign_id IS NOT NULL AND NEW.kind IN
                ('open', 'click', 'letter_visit', 'letter_sent', 'letter_emailed', 'unsubscribe')
            ON CONFLICT (campaign_id, kind, hour) DO UPDATE SET
                human_events = human_events + excluded.human_events,
                machine_events = machine_events + excluded.machine_events;
"""
    event_removed = """\
            UPDATE stats_kind_totals SET
                human_events = human_events - (OLD.machine = 0),
                machine_events = machine_events - (OLD.machine <> 0),
                human_people = human_people - (OLD.machine = 0
                    AND OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id AND e.machine = 0)),
                people = people - (OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id))
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind;
            DELETE FROM stats_kind_totals
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND human_events = 0 AND machine_events = 0;
            UPDATE stats_detail_totals SET
                human_events = human_events - (OLD.machine = 0),
                machine_events = machine_events - (OLD.machine <> 0),
                human_people = human_people - (OLD.machine = 0
                    AND OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id AND e.link_id IS OLD.link_id
                    AND e.target IS OLD.target AND e.machine = 0))
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND link_id = COALESCE(OLD.link_id, 0) AND target = COALESCE(OLD.target, '')
                AND (OLD.link_id IS NOT NULL OR OLD.target IS NOT NULL);
            DELETE FROM stats_detail_totals
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND link_id = COALESCE(OLD.link_id, 0) AND target = COALESCE(OLD.target, '')
                AND human_events = 0 AND machine_events = 0;
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND state = COALESCE((
                    SELECT l.subscriber_state FROM send_ledger AS l
                    WHERE l.campaign_id = OLD.campaign_id
                    AND l.subscriber_id = OLD.subscriber_id), '')
                AND OLD.kind IN ('delivered', 'open', 'click', 'letter_sent')
                AND OLD.machine = 0 AND OLD.subscriber_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.kind = OLD.kind AND e.subscriber_id = OLD.subscriber_id
                    AND e.id <> OLD.id AND e.machine = 0);
            DELETE FROM stats_state_totals
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind AND human_people = 0;
            UPDATE stats_hourly SET
                human_events = human_events - (OLD.machine = 0),
                machine_events = machine_events - (OLD.machine <> 0)
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND hour = CAST(OLD.at AS INTEGER) / 3600;
            DELETE FROM stats_hourly
            WHERE campaign_id = OLD.campaign_id AND kind = OLD.kind
                AND hour = CAST(OLD.at AS INTEGER) / 3600
                AND human_events = 0 AND machine_events = 0;
"""
    _run(
        db,
        f"""
        DROP TRIGGER IF EXISTS stats_event_added;
        DROP TRIGGER IF EXISTS stats_event_removed;
        DROP TRIGGER IF EXISTS stats_event_changed;
        ALTER TABLE send_ledger ADD COLUMN subscriber_state TEXT;
        UPDATE send_ledger SET subscriber_state =
            (SELECT s.state FROM subscribers AS s WHERE s.id = send_ledger.subscriber_id);

        CREATE TRIGGER stats_event_added AFTER INSERT ON events
        BEGIN
{event_added}        END;

        CREATE TRIGGER stats_event_removed AFTER DELETE ON events
        BEGIN
{event_removed}        END;

        CREATE TRIGGER stats_event_changed AFTER UPDATE OF
            campaign_id, subscriber_id, kind, link_id, target, at, machine ON events
        BEGIN
{event_removed}{event_added}        END;

        CREATE TRIGGER stats_ledger_added AFTER INSERT ON send_ledger
        WHEN COALESCE(NEW.subscriber_state, '') <> '' AND EXISTS (
            SELECT 1 FROM stats_state_totals WHERE campaign_id = NEW.campaign_id AND state = '')
        BEGIN
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = NEW.campaign_id AND state = ''
                AND kind IN (
                    SELECT e.kind FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.subscriber_id = NEW.subscriber_id AND e.machine = 0
                    AND e.kind IN ('delivered', 'open', 'click', 'letter_sent'));
            DELETE FROM stats_state_totals
            WHERE campaign_id = NEW.campaign_id AND human_people = 0
                AND state = '';
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT DISTINCT NEW.campaign_id, e.kind, NEW.subscriber_state, 1
            FROM events AS e
            WHERE e.campaign_id = NEW.campaign_id AND e.subscriber_id = NEW.subscriber_id
                AND e.machine = 0 AND e.kind IN ('delivered', 'open', 'click', 'letter_sent')
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET human_people = human_people + 1;
        END;

        CREATE TRIGGER stats_ledger_removed AFTER DELETE ON send_ledger
        WHEN COALESCE(OLD.subscriber_state, '') <> ''
        BEGIN
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = OLD.campaign_id AND state = OLD.subscriber_state
                AND kind IN (
                    SELECT e.kind FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.subscriber_id = OLD.subscriber_id AND e.machine = 0
                    AND e.kind IN ('delivered', 'open', 'click', 'letter_sent'));
            DELETE FROM stats_state_totals
            WHERE campaign_id = OLD.campaign_id AND human_people = 0
                AND state = OLD.subscriber_state;
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT DISTINCT OLD.campaign_id, e.kind, '', 1
            FROM events AS e
            WHERE e.campaign_id = OLD.campaign_id AND e.subscriber_id = OLD.subscriber_id
                AND e.machine = 0 AND e.kind IN ('delivered', 'open', 'click', 'letter_sent')
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET human_people = human_people + 1;
        END;

        CREATE TRIGGER stats_ledger_changed
        AFTER UPDATE OF campaign_id, subscriber_id, subscriber_state ON send_ledger
        WHEN OLD.campaign_id <> NEW.campaign_id OR OLD.subscriber_id <> NEW.subscriber_id
            OR COALESCE(OLD.subscriber_state, '') <> COALESCE(NEW.subscriber_state, '')
        BEGIN
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = OLD.campaign_id AND state = COALESCE(OLD.subscriber_state, '')
                AND kind IN (
                    SELECT e.kind FROM events AS e WHERE e.campaign_id = OLD.campaign_id
                    AND e.subscriber_id = OLD.subscriber_id AND e.machine = 0
                    AND e.kind IN ('delivered', 'open', 'click', 'letter_sent'));
            DELETE FROM stats_state_totals
            WHERE campaign_id = OLD.campaign_id AND human_people = 0
                AND state = COALESCE(OLD.subscriber_state, '');
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT DISTINCT OLD.campaign_id, e.kind, '', 1
            FROM events AS e
            WHERE e.campaign_id = OLD.campaign_id AND e.subscriber_id = OLD.subscriber_id
                AND e.machine = 0 AND e.kind IN ('delivered', 'open', 'click', 'letter_sent')
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET human_people = human_people + 1;
            UPDATE stats_state_totals SET human_people = human_people - 1
            WHERE campaign_id = NEW.campaign_id AND state = ''
                AND kind IN (
                    SELECT e.kind FROM events AS e WHERE e.campaign_id = NEW.campaign_id
                    AND e.subscriber_id = NEW.subscriber_id AND e.machine = 0
                    AND e.kind IN ('delivered', 'open', 'click', 'letter_sent'));
            DELETE FROM stats_state_totals
            WHERE campaign_id = NEW.campaign_id AND human_people = 0
                AND state = '';
            INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
            SELECT DISTINCT NEW.campaign_id, e.kind, COALESCE(NEW.subscriber_state, ''), 1
            FROM events AS e
            WHERE e.campaign_id = NEW.campaign_id AND e.subscriber_id = NEW.subscriber_id
                AND e.machine = 0 AND e.kind IN ('delivered', 'open', 'click', 'letter_sent')
            ON CONFLICT (campaign_id, kind, state) DO UPDATE SET human_people = human_people + 1;
        END;

        DELETE FROM stats_state_totals;
        INSERT INTO stats_state_totals (campaign_id, kind, state, human_people)
        SELECT campaign_id, kind, state, COUNT(*)
        FROM (
            SELECT DISTINCT e.campaign_id, e.kind, e.subscriber_id,
                COALESCE(l.subscriber_state, '') AS state
            FROM events AS e LEFT JOIN send_ledger AS l
                ON l.campaign_id = e.campaign_id AND l.subscriber_id = e.subscriber_id
            WHERE e.campaign_id IS NOT NULL AND e.subscriber_id IS NOT NULL
                AND e.machine = 0 AND e.kind IN ('delivered', 'open', 'click', 'letter_sent')
        )
        GROUP BY campaign_id, kind, state
        """,
    )


@migration(100)
def m100_bills(db: Database) -> None:
    # The bill each campaign names, keyed on the campaign's slug (a file names its bill,
    # and the bill is fetched, before the campaign is prepared), pointing at its latest
    # fetch. Every fetch of the sponsor and cosponsors is kept whole, so a fetch can be
    # compared with the one before; the fetch keeps its own bill, since a campaign may
    # change bill. Stances loaded from a CSV win over Congress.gov's answer.
    _run(
        db,
        """
        CREATE TABLE bill_fetches (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL,
            congress INTEGER NOT NULL,
            type TEXT NOT NULL CHECK (type IN
                ('hr', 's', 'hjres', 'sjres', 'hconres', 'sconres', 'hres', 'sres')),
            number INTEGER NOT NULL,
            title TEXT,
            fetched_at TEXT NOT NULL
        );
        CREATE INDEX bill_fetches_slug ON bill_fetches (slug, id);
        CREATE TABLE bill_sponsors (
            fetch_id INTEGER NOT NULL REFERENCES bill_fetches (id),
            bioguide TEXT NOT NULL,
            name TEXT NOT NULL,
            is_sponsor INTEGER NOT NULL DEFAULT 0,
            party TEXT,
            state TEXT,
            district INTEGER,
            sponsorship_date TEXT,
            is_original INTEGER NOT NULL DEFAULT 0,
            withdrawn_date TEXT,
            PRIMARY KEY (fetch_id, bioguide)
        ) WITHOUT ROWID;
        CREATE TABLE bills (
            slug TEXT PRIMARY KEY,
            congress INTEGER NOT NULL,
            type TEXT NOT NULL,
            number INTEGER NOT NULL,
            title TEXT,
            fetched_at TEXT NOT NULL,
            fetch_id INTEGER NOT NULL REFERENCES bill_fetches (id)
        );
        CREATE TABLE bill_stance_overrides (
            slug TEXT NOT NULL,
            bioguide TEXT NOT NULL,
            stance TEXT NOT NULL CHECK (stance IN
                ('sponsor', 'cosponsor', 'supports', 'opposes', 'unknown')),
            source TEXT NOT NULL,
            line INTEGER NOT NULL,
            loaded_at TEXT NOT NULL,
            PRIMARY KEY (slug, bioguide)
        ) WITHOUT ROWID
        """,
    )


@migration(110)
def m110_terms_and_map_vintages(db: Database) -> None:
    # Members keep their current term's first and last days, so a roster left unchanged
    # past a term's end never addresses a former member. Each roster load records the
    # Congress it describes and the redrawn-states file it used; each state's ZIP map
    # records the Congress of its districts (zip_maps; NULL for maps loaded before this
    # migration, which said nothing about it) and each row its share of the ZIP's land.
    # redrawn_states lists the states whose districts are new in a Congress.
    _run(
        db,
        """
        ALTER TABLE members ADD COLUMN term_start TEXT;
        ALTER TABLE members ADD COLUMN term_end TEXT;
        ALTER TABLE roster_versions ADD COLUMN congress INTEGER;
        ALTER TABLE roster_versions ADD COLUMN redrawn_file TEXT;
        ALTER TABLE roster_versions ADD COLUMN redrawn_sha256 TEXT;
        ALTER TABLE zip_districts ADD COLUMN share REAL;
        CREATE TABLE zip_maps (
            state TEXT PRIMARY KEY,
            congress INTEGER,
            source_file TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            loaded_at TEXT NOT NULL,
            roster_version INTEGER REFERENCES roster_versions (id)
        ) WITHOUT ROWID;
        INSERT INTO zip_maps (state, congress, source_file, source_sha256, loaded_at,
            roster_version)
        SELECT DISTINCT z.state, NULL, v.zip_file, v.zip_sha256, v.loaded_at, v.id
        FROM zip_districts AS z
        JOIN (SELECT id, zip_file, zip_sha256, loaded_at FROM roster_versions
              ORDER BY id DESC LIMIT 1) AS v;
        CREATE TABLE redrawn_states (
            congress INTEGER NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (congress, state)
        ) WITHOUT ROWID
        """,
    )


@migration(120)
def m120_geocodes_and_blocks(db: Database) -> None:
    # A subscriber's last geocode: the 15-digit census block it matched (NULL when it
    # did not), its outcome, when, and the SHA-256 of the normalised address it was
    # made from, so a changed address is geocoded again. Never the coordinates.
    # census_blocks holds the block assignment files: each block's district in one
    # Congress (district 0 is at-large); block_files records each state's loaded file.
    _run(
        db,
        """
        ALTER TABLE subscribers ADD COLUMN geo_block TEXT;
        ALTER TABLE subscribers ADD COLUMN geo_outcome TEXT
            CHECK (geo_outcome IN ('matched', 'no_match', 'tie'));
        ALTER TABLE subscribers ADD COLUMN geo_address_sha256 TEXT;
        ALTER TABLE subscribers ADD COLUMN geo_at TEXT;
        CREATE TABLE census_blocks (
            congress INTEGER NOT NULL,
            geoid TEXT NOT NULL,
            district INTEGER NOT NULL,
            PRIMARY KEY (congress, geoid)
        ) WITHOUT ROWID;
        CREATE TABLE block_files (
            congress INTEGER NOT NULL,
            state TEXT NOT NULL,
            source_file TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            blocks INTEGER NOT NULL,
            loaded_at TEXT NOT NULL,
            PRIMARY KEY (congress, state)
        ) WITHOUT ROWID
        """,
    )


@migration(121)
def m121_block_file_states_and_addressed_by(db: Database) -> None:
    # block_files.state_fips is the state's two-digit FIPS code, the first two digits of
    # each of its blocks' GEOIDs, so a geocoded subscriber's block finds its file.
    # The partial index finds the geocoded subscribers, often few, without a scan.
    # send_ledger.addressed_by freezes, when a campaign's recipients are chosen, how
    # each recipient's House district was known: from their street address (a block
    # file), their ZIP, their own pick, or not at all. Rows frozen before are filled
    # from the subscribers as they are now.
    _run(
        db,
        """
        ALTER TABLE block_files ADD COLUMN state_fips TEXT;
        CREATE INDEX subscribers_geo_block ON subscribers (geo_block) WHERE geo_block IS NOT NULL;
        ALTER TABLE send_ledger ADD COLUMN addressed_by TEXT
            CHECK (addressed_by IN ('address', 'zip', 'chosen', 'unknown'));
        UPDATE send_ledger SET addressed_by = (
            SELECT CASE
                WHEN ',' || coalesce(s.cd_flags, '') || ',' LIKE '%,chosen,%' THEN 'chosen'
                WHEN ',' || coalesce(s.cd_flags, '') || ',' LIKE '%,address,%' THEN 'address'
                WHEN s.cd_district IS NOT NULL THEN 'zip'
                ELSE 'unknown' END
            FROM subscribers AS s WHERE s.id = send_ledger.subscriber_id)
        """,
    )


@migration(130)
def m130_rate_limits_and_signups(db: Database) -> None:
    # rate_limits counts uses per fixed window; the key is an HMAC under a salt in
    # `meta`, never the address itself. signups holds the people who asked to join
    # and have not confirmed yet, apart from subscribers: once confirmed or expired
    # a row keeps only its attribution and dates (the personal fields are blanked).
    # signup_mail is the queue of confirmation messages the server sends: a row is
    # claimed ('sending'), sent, then marked 'sent' exactly once.
    _run(
        db,
        """
        CREATE TABLE rate_limits (
            bucket TEXT NOT NULL,
            key_hash TEXT NOT NULL,
            window_end INTEGER NOT NULL,
            used INTEGER NOT NULL,
            PRIMARY KEY (bucket, key_hash)
        ) WITHOUT ROWID;
        CREATE INDEX rate_limits_window_end ON rate_limits (window_end);
        CREATE TABLE signups (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'confirmed', 'refused', 'expired')),
            email TEXT,
            email_key TEXT,
            first_name TEXT,
            last_name TEXT,
            street TEXT,
            city TEXT,
            state TEXT,
            zip TEXT,
            source TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            campaign TEXT,
            consent TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            confirmed_at TEXT,
            subscriber_id INTEGER REFERENCES subscribers (id),
            previous_status TEXT
        );
        CREATE INDEX signups_email_key ON signups (email_key);
        CREATE INDEX signups_status_expires ON signups (status, expires_at);
        CREATE TABLE signup_mail (
            id INTEGER PRIMARY KEY,
            signup_id INTEGER NOT NULL REFERENCES signups (id),
            state TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'dropped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at INTEGER NOT NULL,
            claimed_at INTEGER,
            sent_at TEXT,
            message_id TEXT,
            error TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX signup_mail_due ON signup_mail (state, next_at)
        """,
    )


@migration(131)
def m131_one_pending_signup_per_address(db: Database) -> None:
    # An address has one pending signup: a unique index now keeps that (older duplicates,
    # if any, are expired with their personal fields blanked), so storing a signup is one
    # upsert. The rate limiter's salt is made here, once, so every connection reads the
    # same committed salt and may keep it.
    _run(
        db,
        """
        UPDATE signups SET status = 'expired', email = NULL, email_key = NULL,
            first_name = NULL, last_name = NULL, street = NULL, city = NULL, state = NULL,
            zip = NULL
        WHERE status = 'pending' AND id NOT IN (
            SELECT max(id) FROM signups WHERE status = 'pending' GROUP BY email_key);
        CREATE UNIQUE INDEX signups_pending_key ON signups (email_key) WHERE status = 'pending';
        INSERT OR IGNORE INTO meta (key, value)
            VALUES ('rate_limit_key', lower(hex(randomblob(32))))
        """,
    )


@migration(140)
def m140_visitors_and_shares(db: Database) -> None:
    # People who use a campaign's public letter page (/act/<slug>) are kept apart from
    # subscribers: `visitors` (one row per email key, their details as last typed) is
    # never mailed a campaign. public_visits counts each visitor's views of a campaign's
    # page and public_letters their "I sent it" per member; forgetting a visitor
    # deletes the row and leaves these counts with visitor_id NULL. share_clicks counts
    # the share links of letter pages per campaign, network and UTC day: no person.
    _run(
        db,
        """
        CREATE TABLE visitors (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL UNIQUE,
            first_name TEXT,
            last_name TEXT,
            street TEXT,
            city TEXT,
            state TEXT,
            zip TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE public_visits (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            visitor_id INTEGER REFERENCES visitors (id),
            first_at INTEGER NOT NULL,
            last_at INTEGER NOT NULL,
            views INTEGER NOT NULL,
            UNIQUE (campaign_id, visitor_id)
        );
        CREATE TABLE public_letters (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            visitor_id INTEGER REFERENCES visitors (id),
            target TEXT NOT NULL,
            at INTEGER NOT NULL,
            UNIQUE (campaign_id, visitor_id, target)
        );
        CREATE INDEX public_visits_visitor ON public_visits (visitor_id);
        CREATE INDEX public_letters_visitor ON public_letters (visitor_id);
        CREATE TABLE share_clicks (
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            network TEXT NOT NULL,
            day TEXT NOT NULL,
            clicks INTEGER NOT NULL,
            PRIMARY KEY (campaign_id, network, day)
        ) WITHOUT ROWID
        """,
    )


@migration(150)
def m150_frozen_stances(db: Database) -> None:
    # Where each member stood on a campaign's bill when the campaign's send first froze
    # its recipients: the send's emails, its letter pages and its stats keep to these.
    # campaign_stance_freezes records that a campaign froze them, the bill, the fetch
    # they came from (NULL: before any fetch, from the CSV alone) and when;
    # campaign_stances holds every member of the roster then and every member the
    # bill's data names, each with their stance.
    _run(
        db,
        """
        CREATE TABLE campaign_stance_freezes (
            campaign_id INTEGER PRIMARY KEY REFERENCES campaigns (id),
            congress INTEGER NOT NULL,
            type TEXT NOT NULL,
            number INTEGER NOT NULL,
            fetch_id INTEGER REFERENCES bill_fetches (id),
            frozen_at TEXT NOT NULL
        );
        CREATE TABLE campaign_stances (
            campaign_id INTEGER NOT NULL REFERENCES campaign_stance_freezes (campaign_id),
            bioguide TEXT NOT NULL,
            stance TEXT NOT NULL CHECK (stance IN
                ('sponsor', 'cosponsor', 'supports', 'opposes', 'unknown')),
            PRIMARY KEY (campaign_id, bioguide)
        ) WITHOUT ROWID
        """,
    )


@migration(160)
def m160_follow_ups_and_deadlines(db: Database) -> None:
    # A letter sent from a follow-up's email (a campaign with `letter_campaign`) is
    # recorded for the campaign whose letter it is, with the follow-up in
    # via_campaign_id; `late` marks a letter said to be sent after the deadline.
    # campaigns.deadline is the campaign file's deadline as last prepared (ISO 8601
    # with its offset), so that stats can split letters at it.
    _run(
        db,
        """
        ALTER TABLE events ADD COLUMN via_campaign_id INTEGER REFERENCES campaigns (id);
        ALTER TABLE events ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX events_via_campaign ON events (via_campaign_id, kind, subscriber_id)
            WHERE via_campaign_id IS NOT NULL;
        ALTER TABLE campaigns ADD COLUMN deadline TEXT
        """,
    )


@migration(180)
def m180_late_public_letters(db: Database) -> None:
    # `late` marks a public page's "I sent it" said after the campaign's deadline, as
    # events.late (migration 160) marks a subscriber's.
    _run(db, "ALTER TABLE public_letters ADD COLUMN late INTEGER NOT NULL DEFAULT 0")


@migration(185)
def m185_a_move_forgets_the_block(db: Database) -> None:
    # A geocode belongs to the address it was made from. When any part of a
    # subscriber's postal address changes (an import, a confirmed signup, the letter
    # page filling a missing field), the block no longer says where they live, so it
    # must stop deciding their district at once, not at the next `targets geocode`.
    # The fingerprint and the time stay: they mark the person as geocoded before,
    # with an address that has changed since. geo_typed marks a geocode of an address
    # the subscriber typed on their letter page: a batch run leaves it alone until
    # their record's address changes.
    _run(
        db,
        """
        ALTER TABLE subscribers ADD COLUMN geo_typed INTEGER NOT NULL DEFAULT 0;
        CREATE TRIGGER subscribers_address_moved
        AFTER UPDATE OF street, city, state, zip ON subscribers
        WHEN NEW.geo_outcome IS NOT NULL AND (
            OLD.street IS NOT NEW.street OR OLD.city IS NOT NEW.city
            OR OLD.state IS NOT NEW.state OR OLD.zip IS NOT NEW.zip)
        BEGIN
            UPDATE subscribers SET geo_block = NULL, geo_outcome = NULL, geo_typed = 0
            WHERE id = NEW.id;
        END
        """,
    )


@migration(186)
def m186_geocode_journal(db: Database) -> None:
    # A batch's answers, kept the moment they arrive and deleted in the commit that
    # stores them: `targets geocode` stores one batch while the next is out, and a run
    # killed in between stores the kept answers at its next start, so the kill still
    # loses at most the batch in flight. Rows hold subscriber ids, blocks, outcomes
    # and fingerprints: never an address.
    _run(
        db,
        """
        CREATE TABLE geocode_journal (
            id INTEGER PRIMARY KEY,
            rows TEXT NOT NULL,
            received_at TEXT NOT NULL
        )
        """,
    )
