"""roster"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from alerts.db.connection import Database, utc_now
from alerts.models import (
    Member,
)

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
