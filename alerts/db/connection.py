"""connection"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlite_utils

Database = sqlite_utils.Database


# Raised by SQLite when the file is locked, read-only or otherwise unusable mid-command;
# entry points report it in one line.
DatabaseBusyError = sqlite3.OperationalError


def utc_now() -> str:
    """The current time as ISO 8601 UTC with seconds, e.g. 2026-11-21T05:29:00Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def meta_get(db: Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def meta_set(db: Database, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


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


# Ledger updates name their rows as one JSON array parameter: a single statement per
# batch instead of one per recipient.
_IN_IDS = "IN (SELECT value FROM json_each(?))"


def _json_ids(ids: Iterable[int]) -> str:
    return json.dumps([int(i) for i in ids])
