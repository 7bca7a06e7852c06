"""The geocode columns of `subscribers`: geo_block, geo_outcome, geo_address_sha256, geo_at.

A subscriber's last geocode: the census block their street address matched
(NULL when it did not), the outcome, when, and the fingerprint of the address
it was made from. Never coordinates. Storing a batch re-resolves the districts
of its subscribers in the same transaction (districts.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from alerts.db.connection import Database, inserted_id, utc_now, write_transaction
from alerts.db.districts import store_geocoded
from alerts.db.id_lists import IN_ID_LIST, id_list
from alerts.db.subscribers import sendable

_PAGE = 5000
# A candidate: id, street, city, state, zip, fingerprint of the last geocode, its time.
Candidate = tuple[int, str | None, str | None, str | None, str | None, str | None, str | None]
_COLUMNS = "id, street, city, state, zip, geo_address_sha256, geo_at"
# Who a default run may have to send (the others it never does): not someone whose
# last geocode was of an address they typed, and either not exact or geocoded before.
_MAY_NEED = "geo_typed = 0 AND (cd_confidence <> 'exact' OR geo_address_sha256 IS NOT NULL)"
# A row of the batch stored: id, block, outcome, fingerprint, time, typed (0 or 1).
GeocodeRow = tuple[int, str | None, str, str, str, int]
_GEOCODED = "_geocoded"


@dataclass(frozen=True)
class Geocode:
    """One answer to store."""

    subscriber_id: int
    outcome: str  # matched, no_match or tie
    block: str | None
    address_sha256: str
    at: str
    typed: bool = False  # an address the subscriber typed, not the one on record

    def row(self) -> GeocodeRow:
        return (self.subscriber_id, self.block, self.outcome, self.address_sha256, self.at,
                int(self.typed))  # fmt: skip


def _where(ids: Sequence[int] | None, blank: str) -> tuple[str, list[object]]:
    """Someone campaigns go to whose street has a character other than those in `blank`."""
    where = f"{sendable('subscribers')} AND trim(coalesce(street, ''), ?) <> ''"
    if ids is None:
        return where, [blank]
    return f"{where} AND id {IN_ID_LIST}", [blank, id_list(ids)]


def candidates(
    db: Database, ids: Sequence[int] | None, *, blank: str, everyone: bool
) -> Iterator[list[Candidate]]:
    """Pages of the rows `address_count` counts (among `ids`, if given), in id order.

    Without `everyone`, only those _MAY_NEED a geocode: the rest never need one.
    Read a page at a time by id, so memory stays flat and writes between pages
    (a batch stored) are fine.
    """
    where, extra = _where(ids, blank)
    if not everyone:
        where += f" AND {_MAY_NEED}"
    after = -1
    while True:
        rows: list[Candidate] = db.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE {where} AND id > ? ORDER BY id LIMIT ?",
            [*extra, after, _PAGE],
        ).fetchall()
        if rows:
            yield rows
        if len(rows) < _PAGE:
            return
        after = rows[-1][0]


def address_count(
    db: Database, ids: Sequence[int] | None = None, *, blank: str, up_to: int | None = None
) -> int:
    """How many people campaigns go to have a street (among `ids`; with an id up to `up_to`)."""
    where, extra = _where(ids, blank)
    if up_to is not None:
        where, extra = f"{where} AND id <= ?", [*extra, up_to]
    return int(db.execute(f"SELECT count(*) FROM subscribers WHERE {where}", extra).fetchone()[0])


def store_geocodes(db: Database, geocodes: Sequence[Geocode]) -> None:
    """Store these answers and resolve those subscribers' districts again, in one commit."""
    store_rows(db, [geocode.row() for geocode in geocodes])


def store_rows(db: Database, rows: Sequence[GeocodeRow]) -> None:
    """store_geocodes of a batch's rows: each row written once, with its district, in one commit."""
    with write_transaction(db):
        db.execute(f"DROP TABLE IF EXISTS temp.{_GEOCODED}")
        db.execute(
            f"CREATE TEMP TABLE {_GEOCODED} (id INTEGER PRIMARY KEY, geo_block TEXT,"
            " geo_outcome TEXT, geo_address_sha256 TEXT, geo_at TEXT, geo_typed INTEGER)"
        )
        db.conn.executemany(f"INSERT OR REPLACE INTO temp.{_GEOCODED} VALUES (?, ?, ?, ?, ?, ?)",
                            rows)  # fmt: skip
        store_geocoded(db, _GEOCODED)
        db.execute(f"DROP TABLE temp.{_GEOCODED}")


def journal_answers(db: Database, rows: Sequence[GeocodeRow]) -> int:
    """Keep a batch's answers durably, before they are stored (one small commit): their id."""
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO geocode_journal (rows, received_at) VALUES (?, ?)",
            [json.dumps(rows), utc_now()],
        )
        return inserted_id(cursor)


def store_journaled(db: Database, journal_id: int, rows: Sequence[GeocodeRow]) -> None:
    """store_rows of kept answers, their journal entry deleted in the same commit.

    Someone forgotten since the answers came is left out: nothing of theirs is stored.
    """
    with write_transaction(db):
        forgotten = {
            row[0]
            for row in db.execute(
                f"SELECT id FROM subscribers WHERE status = 'forgotten' AND id {IN_ID_LIST}",
                [id_list(r[0] for r in rows)],
            )
        }
        store_rows(db, [r for r in rows if r[0] not in forgotten])
        db.execute("DELETE FROM geocode_journal WHERE id = ?", [journal_id])


def journaled(db: Database) -> list[tuple[int, list[GeocodeRow]]]:
    """Answers kept but not stored (a run was killed between the two), oldest first."""
    return [
        (journal_id, [_row(item) for item in json.loads(text)])
        for journal_id, text in db.execute("SELECT id, rows FROM geocode_journal ORDER BY id")
    ]


def _row(item: list[object]) -> GeocodeRow:
    id, block, outcome, sha256, at, typed = item
    return (int(str(id)), None if block is None else str(block), str(outcome), str(sha256),
            str(at), int(str(typed)))  # fmt: skip


@contextmanager
def checkpoints_when_asked(db: Database) -> Iterator[None]:
    """No automatic WAL checkpoint at this connection's commits meanwhile: `checkpoint` does it.

    A run that waits on the network between commits checkpoints while it waits,
    not in the middle of storing. Only this connection's setting changes.
    """
    before = int(db.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    db.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        yield
    finally:
        db.execute(f"PRAGMA wal_autocheckpoint = {before}")


def checkpoint(db: Database) -> None:
    """Copy what the WAL holds into the database file, as far as readers allow (PASSIVE)."""
    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
