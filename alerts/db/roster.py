"""The roster table family: `members` (the sitting members of Congress, with their current
term; a seat with no row is vacant) and `roster_versions` (one row per load of the roster
or of a ZIP map: the files in force after it, and the Congress the roster describes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from alerts.db.connection import Database, inserted_id, utc_now
from alerts.models import HouseSeat, Member

MEMBER_COLUMNS = (
    "bioguide, chamber, state, district, title, full_name, last_name, party, phone,"
    " contact_url, twitter, first_name, website, state_rank, senate_class, term_start, term_end"
)


def row_to_member(row: tuple[Any, ...]) -> Member:
    """A Member from the MEMBER_COLUMNS of a row."""
    return Member(*row)


def members_for_seat(db: Database, state: str, district: int) -> list[Member]:
    rows = db.execute(
        f"SELECT {MEMBER_COLUMNS} FROM members"
        " WHERE chamber = 'house' AND state = ? AND district = ?",
        [state, district],
    ).fetchall()
    return [row_to_member(row) for row in rows]


def senators_for_state(db: Database, state: str) -> list[Member]:
    rows = db.execute(
        f"SELECT {MEMBER_COLUMNS} FROM members WHERE chamber = 'senate' AND state = ?"
        " ORDER BY CASE state_rank WHEN 'senior' THEN 0 ELSE 1 END, last_name",
        [state],
    ).fetchall()
    return [row_to_member(row) for row in rows]


def roster_loaded(db: Database) -> bool:
    return bool(db.execute("SELECT EXISTS (SELECT 1 FROM members)").fetchone()[0])


def roster_members(db: Database) -> list[Member]:
    rows = db.execute(f"SELECT {MEMBER_COLUMNS} FROM members ORDER BY bioguide").fetchall()
    return [row_to_member(row) for row in rows]


def replace_members(db: Database, members: Iterable[Member]) -> None:
    """Delete the old roster and write the new one (in the caller's transaction)."""
    columns = [c.strip() for c in MEMBER_COLUMNS.split(",")]
    placeholders = ", ".join("?" for _ in columns)
    db.execute("DELETE FROM members")
    db.conn.executemany(
        f"INSERT INTO members ({MEMBER_COLUMNS}) VALUES ({placeholders})",
        ([getattr(m, c) for c in columns] for m in members),
    )


def members_with_terms_ended(db: Database, day: date) -> list[Member]:
    """Members whose current term ended before `day`, by state and seat."""
    rows = db.execute(
        f"SELECT {MEMBER_COLUMNS} FROM members WHERE term_end < ?"
        " ORDER BY state, chamber DESC, district, last_name",
        [day.isoformat()],
    ).fetchall()
    return [row_to_member(row) for row in rows]


def vacant_house_seats(db: Database) -> list[HouseSeat]:
    """House seats of the ZIP map that no member of the roster holds."""
    rows = db.execute(
        "SELECT DISTINCT z.state, z.district FROM zip_districts z INDEXED BY zip_districts_seat"
        " WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.chamber = 'house'"
        " AND m.state = z.state AND m.district = z.district) ORDER BY z.state, z.district"
    ).fetchall()
    return [HouseSeat(state, district) for state, district in rows]


@dataclass(frozen=True)
class RosterVersion:
    """What a load leaves in force: the files, as (name, sha256), and the roster's Congress.

    A load of a ZIP map alone keeps the roster files of the version before it, and a
    load of the roster alone its map file.
    """

    legislators: tuple[str, str]
    social: tuple[str, str] | None
    zip_districts: tuple[str, str]
    redrawn: tuple[str, str] | None  # None: loaded before loads recorded it
    congress: int | None
    members: int
    zip_rows: int


def record_roster_version(db: Database, version: RosterVersion) -> int:
    """Record a load (its changes come later: record_changes). Returns the version number."""
    cursor = db.execute(
        "INSERT INTO roster_versions (loaded_at, legislators_file, legislators_sha256,"
        " social_file, social_sha256, zip_file, zip_sha256, members, zip_rows,"
        " congress, redrawn_file, redrawn_sha256)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            utc_now(),
            *version.legislators,
            *(version.social or (None, None)),
            *version.zip_districts,
            version.members,
            version.zip_rows,
            version.congress,
            *(version.redrawn or (None, None)),
        ],
    )
    return inserted_id(cursor)


def record_changes(db: Database, version_id: int, changes: dict[str, Any]) -> None:
    """Store what a load changed, once it is known (after re-resolving the subscribers)."""
    db.execute(
        "UPDATE roster_versions SET changes = ? WHERE id = ?",
        [json.dumps(changes, ensure_ascii=False), version_id],
    )


_VERSION_COLUMNS = (
    "id, loaded_at, legislators_file, legislators_sha256, social_file, social_sha256,"
    " zip_file, zip_sha256, members, zip_rows, congress, redrawn_file, redrawn_sha256"
)


def latest_roster_version(db: Database) -> dict[str, Any] | None:
    cursor = db.execute(f"SELECT {_VERSION_COLUMNS} FROM roster_versions ORDER BY id DESC LIMIT 1")
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def latest_files(db: Database) -> RosterVersion | None:
    """The files and counts in force, as the latest version recorded them."""
    version = latest_roster_version(db)
    if version is None:
        return None
    social, redrawn = version["social_file"], version["redrawn_file"]
    return RosterVersion(
        legislators=(version["legislators_file"], version["legislators_sha256"]),
        social=(social, version["social_sha256"]) if social else None,
        zip_districts=(version["zip_file"], version["zip_sha256"]),
        redrawn=(redrawn, version["redrawn_sha256"]) if redrawn else None,
        congress=version["congress"],
        members=version["members"],
        zip_rows=version["zip_rows"],
    )


def roster_congress(db: Database) -> int | None:
    """The Congress the roster in force describes (None: not known, or no roster)."""
    row = db.execute("SELECT congress FROM roster_versions ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else row[0]


def member_count(db: Database) -> int:
    return int(db.execute("SELECT count(*) FROM members").fetchone()[0])


def member_counts(db: Database) -> dict[str, int]:
    """Members by salutation title: Senator, Representative, Delegate, Resident Commissioner."""
    rows = db.execute("SELECT title, count(*) FROM members GROUP BY title ORDER BY title")
    return {title: count for title, count in rows.fetchall()}
