"""The geocode columns of `subscribers`: geo_block, geo_outcome, geo_address_sha256, geo_at.

A subscriber's last geocode: the census block their street address matched
(NULL when it did not), the outcome, when, and the fingerprint of the address
it was made from. Never coordinates. Storing a batch re-resolves the districts
of its subscribers in the same transaction (districts.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from alerts.db.connection import Database, write_transaction
from alerts.db.districts import resolve_districts
from alerts.db.id_lists import IN_ID_LIST, id_list
from alerts.db.subscribers import sendable

_PAGE = 5000
_COLUMNS = "id, street, city, state, zip, cd_confidence, geo_address_sha256, geo_at, geo_typed"
# Someone campaigns go to, with something in the street field.
_HAS_STREET = f"{sendable('subscribers')} AND trim(coalesce(street, '')) <> ''"
_IDS_TABLE = "_geocoded_ids"


@dataclass(frozen=True)
class StoredAddress:
    """A subscriber's address as stored, with their district confidence and last geocode."""

    id: int
    street: str | None
    city: str | None
    state: str | None
    zip: str | None
    confidence: str
    address_sha256: str | None  # of the address last geocoded; None: never geocoded
    geocoded_at: str | None
    typed: bool = False  # the last geocode was of an address they typed on their letter page


@dataclass(frozen=True)
class Geocode:
    """One answer to store."""

    subscriber_id: int
    outcome: str  # matched, no_match or tie
    block: str | None
    address_sha256: str
    at: str
    typed: bool = False  # an address the subscriber typed, not the one on record


def _where(ids: Sequence[int] | None) -> tuple[str, list[str]]:
    if ids is None:
        return _HAS_STREET, []
    return f"{_HAS_STREET} AND id {IN_ID_LIST}", [id_list(ids)]


def addresses(db: Database, ids: Sequence[int] | None = None) -> Iterator[StoredAddress]:
    """Subscribed people with a street address (among `ids`, if given), in id order.

    Read a page at a time by id, so memory stays flat and writes between pages
    (a batch stored) are fine.
    """
    where, extra = _where(ids)
    after = -1
    while True:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE {where} AND id > ? ORDER BY id LIMIT ?",
            [*extra, after, _PAGE],
        ).fetchall()
        yield from (StoredAddress(*row) for row in rows)
        if len(rows) < _PAGE:
            return
        after = rows[-1][0]


def address_count(db: Database, ids: Sequence[int] | None = None) -> int:
    """How many rows `addresses` reads."""
    where, extra = _where(ids)
    return int(db.execute(f"SELECT count(*) FROM subscribers WHERE {where}", extra).fetchone()[0])


def store_geocodes(db: Database, geocodes: Sequence[Geocode]) -> None:
    """Store a batch's answers and resolve those subscribers' districts again, in one commit."""
    with write_transaction(db):
        rows = [
            [g.subscriber_id, g.block, g.outcome, g.address_sha256, g.at, int(g.typed)]
            for g in geocodes
        ]
        db.execute(
            "UPDATE subscribers AS s SET geo_block = json_extract(g.value, '$[1]'),"
            " geo_outcome = json_extract(g.value, '$[2]'),"
            " geo_address_sha256 = json_extract(g.value, '$[3]'),"
            " geo_at = json_extract(g.value, '$[4]'), geo_typed = json_extract(g.value, '$[5]')"
            " FROM json_each(?) AS g WHERE s.id = json_extract(g.value, '$[0]')",
            [json.dumps(rows)],
        )
        db.execute(f"DROP TABLE IF EXISTS temp.{_IDS_TABLE}")
        db.execute(f"CREATE TEMP TABLE {_IDS_TABLE} (id INTEGER PRIMARY KEY)")
        db.execute(
            f"INSERT OR IGNORE INTO temp.{_IDS_TABLE} (id) SELECT value FROM json_each(?)",
            [id_list(g.subscriber_id for g in geocodes)],
        )
        resolve_districts(db, _IDS_TABLE)
        db.execute(f"DROP TABLE temp.{_IDS_TABLE}")
