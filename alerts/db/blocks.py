"""The block table family: `census_blocks` (each census block's House district in one
Congress; district 0 is at-large or a delegate) and `block_files` (the file each state's
blocks of a Congress came from). A state's blocks are the GEOIDs that start with its
two-digit FIPS code, so one state's rows are one range of the primary key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alerts.db.connection import Database

BLOCK_IDS_TABLE = "_block_subscribers"


@dataclass(frozen=True)
class BlockFileRecord:
    """Where one state's blocks of one Congress came from."""

    congress: int
    state: str  # USPS code
    state_fips: str
    source_file: str
    source_sha256: str
    blocks: int
    loaded_at: str


def _fips_range(fips: str) -> tuple[str, str]:
    """The GEOIDs of a state: from its FIPS code up to the next code (exclusive)."""
    return fips, f"{int(fips) + 1:02d}"


def delete_state_blocks(db: Database, congress: int, fips: str) -> None:
    """Remove a state's blocks of one Congress (in the caller's transaction)."""
    low, high = _fips_range(fips)
    db.execute(
        "DELETE FROM census_blocks WHERE congress = ? AND geoid >= ? AND geoid < ?",
        [congress, low, high],
    )


def insert_blocks(db: Database, congress: int, rows: Iterable[tuple[str, int]]) -> int:
    """Add (GEOID, district) rows to one Congress's blocks (in the caller's transaction).

    A block already there is left as it is; returns how many rows were added.
    """
    cursor = db.conn.executemany(
        "INSERT INTO census_blocks (congress, geoid, district)"
        f" VALUES ({int(congress)}, ?, ?) ON CONFLICT DO NOTHING",
        rows,
    )
    return int(cursor.rowcount)


def record_block_files(db: Database, records: Iterable[BlockFileRecord]) -> None:
    """Record each state's file for its Congress, replacing the one recorded before."""
    db.conn.executemany(
        "INSERT INTO block_files (congress, state, state_fips, source_file, source_sha256,"
        " blocks, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (congress, state)"
        " DO UPDATE SET state_fips = excluded.state_fips, source_file = excluded.source_file,"
        " source_sha256 = excluded.source_sha256, blocks = excluded.blocks,"
        " loaded_at = excluded.loaded_at",
        (
            (r.congress, r.state, r.state_fips, r.source_file, r.source_sha256, r.blocks,
             r.loaded_at)
            for r in records
        ),
    )  # fmt: skip


def block_file_records(db: Database) -> list[BlockFileRecord]:
    """Every state's block files, by state and Congress."""
    rows = db.execute(
        "SELECT congress, state, state_fips, source_file, source_sha256, blocks, loaded_at"
        " FROM block_files ORDER BY state, congress"
    ).fetchall()
    return [BlockFileRecord(*row) for row in rows]


def subscriber_places(db: Database) -> tuple[set[str], set[str]]:
    """Where subscribers (not forgotten) live: their states (USPS) and their blocks' FIPS codes."""
    states = {
        state
        for (state,) in db.execute(
            "SELECT DISTINCT cd_state FROM subscribers"
            " WHERE cd_state IS NOT NULL AND status <> 'forgotten'"
        )
    }
    fips = {
        code
        for (code,) in db.execute(
            "SELECT DISTINCT substr(geo_block, 1, 2) FROM subscribers"
            " WHERE geo_block IS NOT NULL AND status <> 'forgotten'"
        )
    }
    return states, fips


def mark_geocoded_in(db: Database, fips_codes: Sequence[str]) -> str:
    """A temp table of the ids of subscribers whose block is in these states; its name."""
    db.execute(f"DROP TABLE IF EXISTS temp.{BLOCK_IDS_TABLE}")
    db.execute(f"CREATE TEMP TABLE {BLOCK_IDS_TABLE} (id INTEGER PRIMARY KEY)")
    for fips in fips_codes:
        low, high = _fips_range(fips)
        db.execute(
            f"INSERT INTO temp.{BLOCK_IDS_TABLE} (id) SELECT id FROM subscribers"
            " WHERE geo_block IS NOT NULL AND geo_block >= ? AND geo_block < ?",
            [low, high],
        )
    return BLOCK_IDS_TABLE


def drop_marked(db: Database) -> None:
    db.execute(f"DROP TABLE IF EXISTS temp.{BLOCK_IDS_TABLE}")


@dataclass(frozen=True)
class BlockDistrict:
    """The House seat a census block is in, by the roster's Congress."""

    state: str  # USPS code
    district: int


def block_district(db: Database, geoid: str) -> BlockDistrict | None:
    """The district of one block in the roster's Congress, as geocoded subscribers get it.

    None when its state has no block file of that Congress, or the file lacks the block.
    """
    row = db.execute(
        "SELECT bf.state, cb.district"
        " FROM (SELECT congress FROM roster_versions ORDER BY id DESC LIMIT 1) AS rv"
        " JOIN block_files AS bf ON bf.congress = rv.congress AND bf.state_fips = substr(?1, 1, 2)"
        " JOIN census_blocks AS cb ON cb.congress = rv.congress AND cb.geoid = ?1",
        [geoid],
    ).fetchone()
    return BlockDistrict(row[0], int(row[1])) if row is not None else None
