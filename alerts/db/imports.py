"""The imports table family: `import_runs` (one row per file imported) and the
temporary tables an import stages its rows in (`import_people`, `import_touched`)
before merging them into `subscribers` in one statement per step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alerts.db.connection import Database, inserted_id
from alerts.db.districts import build_district_facts, drop_resolve_tables
from alerts.db.subscribers import has_forgotten
from alerts.models import SUBSCRIBER_FIELDS

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


@dataclass(frozen=True)
class MergeRules:
    """What the subscriber lifecycle says about an import, for the SQL that merges it."""

    changeable: tuple[str, ...]  # statuses of the existing people an import may change
    # (status so far or None, a row's status or None) -> the status after that row
    status_after: Callable[[str | None, str | None], str | None]
    # The hashes a forgotten (normalised) address may be recorded under; None: nobody
    # was ever forgotten (there is no salt yet).
    forgotten_hashes: Callable[[str], list[str]] | None


def import_begin(db: Database, rules: MergeRules) -> None:
    """Fresh temp tables and the lifecycle's SQL functions for one import command.

    Call inside its transaction; stage_rows and merge_staged use what this sets up.
    """
    db.execute("DROP TABLE IF EXISTS temp.import_touched")
    db.execute("CREATE TEMP TABLE import_touched (id INTEGER PRIMARY KEY)")
    db.execute("DROP TABLE IF EXISTS temp.import_added")
    db.execute("CREATE TEMP TABLE import_added (id INTEGER PRIMARY KEY)")
    db.execute("DROP TABLE IF EXISTS temp.import_changeable")
    db.execute("CREATE TEMP TABLE import_changeable (status TEXT PRIMARY KEY)")
    db.conn.executemany(
        "INSERT INTO temp.import_changeable (status) VALUES (?)",
        [(status,) for status in rules.changeable],
    )
    db.conn.create_function("alerts_status_after", 2, rules.status_after, deterministic=True)
    forgotten = rules.forgotten_hashes or (lambda email: [])
    db.conn.create_function(
        "alerts_forgotten_hashes", 1, lambda email: json.dumps(forgotten(email)), deterministic=True
    )


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
        # The lifecycle's rules: a later row saying `subscribed` never undoes an earlier
        # unsubscribe, and a later unsubscribe does not undo a complaint.
        " status = alerts_status_after(status, excluded.status),"
        " tags = CASE WHEN excluded.tags IS NULL OR excluded.tags = tags THEN tags"
        f" WHEN tags IS NULL THEN excluded.tags ELSE {tags} END,"
        " extra = CASE WHEN excluded.extra IS NULL THEN extra"
        " WHEN extra IS NULL THEN excluded.extra ELSE json_patch(extra, excluded.extra) END",
        rows,
    )


# A row's status changes the stored one (a status never changes itself: a quick test first).
_STATUS_CHANGES = (
    "p.status IS NOT NULL AND p.status <> s.status"
    " AND alerts_status_after(s.status, p.status) <> s.status"
)


def _changed_condition() -> str:
    """SQL true when staged person p would change subscriber s."""
    fields = [f"(p.{c} IS NOT NULL AND p.{c} IS NOT s.{c})" for c in _STAGED_FIELDS]
    fields += [
        "(p.consent_at IS NOT NULL AND (s.consent_at IS NULL OR p.consent_at < s.consent_at))",
        f"({_STATUS_CHANGES})",
        "(p.tags IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(p.tags) AS t"
        " WHERE t.value NOT IN (SELECT value FROM json_each(s.tags))))",
        "(p.extra IS NOT NULL AND json_patch(s.extra, p.extra) <> json(s.extra))",
    ]
    return " OR ".join(fields)


def merge_staged(db: Database, *, source: str, now: str) -> dict[str, int]:
    """Merge temp.import_people into subscribers, by email key. Returns counts by outcome.

    Existing people whose status the rules let an import change get blanks filled,
    changed values updated and new tags added; anyone else is left alone
    (suppressed). New people are added unless their address was forgotten.
    """
    db.execute(
        "UPDATE temp.import_people AS p SET existing_id = s.id, outcome = CASE"
        " WHEN s.status NOT IN (SELECT status FROM temp.import_changeable) THEN 'suppressed'"
        f" WHEN {_changed_condition()} THEN 'updated' ELSE 'unchanged' END"
        " FROM subscribers AS s WHERE s.email_key = p.email_key"
    )
    # From here on a NULL outcome means the person is new: added below.
    if has_forgotten(db):
        db.execute(
            "UPDATE temp.import_people AS p SET outcome = 'suppressed' WHERE outcome IS NULL"
            " AND EXISTS (SELECT 1 FROM json_each(alerts_forgotten_hashes(p.email)) AS h"
            " JOIN forgotten AS f ON f.email_hash = h.value)"
        )
    _update_existing(db, source=source, now=now)
    _insert_new(db, source=source, now=now)
    counts = db.execute(
        "SELECT coalesce(outcome, 'added'), count(*) FROM temp.import_people GROUP BY outcome"
    ).fetchall()
    return dict(counts)


def _update_existing(db: Database, *, source: str, now: str) -> None:
    fields = ", ".join(f"{c} = coalesce(p.{c}, s.{c})" for c in _STAGED_FIELDS)
    status_changes = _STATUS_CHANGES
    tags = _TAG_UNION.format(a="s.tags", b="p.tags")
    db.execute(
        f"UPDATE subscribers AS s SET {fields},"
        " consent_at = CASE WHEN s.consent_at IS NULL OR p.consent_at < s.consent_at"
        " THEN coalesce(p.consent_at, s.consent_at) ELSE s.consent_at END,"
        f" status = CASE WHEN {status_changes} THEN alerts_status_after(s.status, p.status)"
        " ELSE s.status END,"
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
    # are their own keys: districts.py's key expressions would return them as they are.
    # New people have no district choice yet.
    drop_resolve_tables(db)
    build_district_facts(
        db,
        "SELECT DISTINCT coalesce(zip, '') AS z, coalesce(zip, '') = '' AS no_zip,"
        " coalesce(state, '') AS given, -1 AS choice"
        " FROM temp.import_people WHERE outcome IS NULL",
    )
    columns = ("email_key", *STAGED_COLUMNS[:9])
    db.execute(
        f"INSERT INTO subscribers ({', '.join(columns)}, status, source, tags, extra, created_at,"
        " updated_at, status_changed_at, cd_state, cd_district, cd_confidence, cd_flags)"
        f" SELECT {', '.join('p.' + c for c in columns)},"
        " coalesce(p.status, 'subscribed'), :source, coalesce(p.tags, '[]'),"
        " coalesce(p.extra, '{}'), :now, :now,"
        " CASE WHEN coalesce(p.status, 'subscribed') <> 'subscribed' THEN :now END,"
        " f.home_state, f.district, coalesce(f.confidence, 'unknown'), f.flags"
        " FROM temp.import_people AS p LEFT JOIN temp._district_facts AS f"
        " ON f.z = coalesce(p.zip, '') AND f.no_zip = (coalesce(p.zip, '') = '')"
        " AND f.given = coalesce(p.state, '') AND f.choice = -1"
        " WHERE p.outcome IS NULL"
        # In email key order, so the key index is filled in order: no sort.
        " ORDER BY p.email_key",
        {"now": now, "source": source},
    )
    drop_resolve_tables(db)


def note_added(db: Database) -> None:
    """Remember the ids of the people the last merge added (temp.import_added)."""
    db.execute(
        "INSERT OR IGNORE INTO temp.import_added (id) SELECT s.id FROM temp.import_people AS p"
        " JOIN subscribers AS s ON s.email_key = p.email_key WHERE p.outcome IS NULL"
    )


def touched_ids(db: Database) -> list[int]:
    """The ids of the people this import command added (note_added) or changed, in order."""
    rows = db.execute(
        "SELECT id FROM temp.import_touched UNION SELECT id FROM temp.import_added ORDER BY id"
    ).fetchall()
    return [row[0] for row in rows]


def import_run_start(
    db: Database, *, file_name: str, sha256: str, source: str, started_at: str
) -> int:
    cursor = db.execute(
        "INSERT INTO import_runs (file_name, sha256, source, started_at) VALUES (?, ?, ?, ?)",
        [file_name, sha256, source, started_at],
    )
    return inserted_id(cursor)


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
