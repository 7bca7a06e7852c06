"""The connection: the Database type, busy errors, timestamps, transactions and `meta`.

`meta` is the key-value table of facts about the database itself, such as the
secret key that hashes the addresses of forgotten subscribers.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlite_utils

Database = sqlite_utils.Database

# The primary result codes of "another connection holds the lock": waiting and trying
# again would succeed.
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


_STORED_UTC = "%Y-%m-%dT%H:%M:%SZ"


def primary_error_code(exc: BaseException) -> int | None:
    """SQLite's primary result code for an error it raised (SQLITE_BUSY...), else None.

    Extended codes such as SQLITE_BUSY_SNAPSHOT keep the primary one in their low byte.
    """
    code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.Error) else None
    return code & 0xFF if isinstance(code, int) else None


def is_busy(exc: BaseException) -> bool:
    """True if `exc` says the database is locked by another connection, and nothing else.

    Entry points report these in one line; every other SQLite error (no such table,
    a failed constraint) is a bug and keeps its traceback.
    """
    return primary_error_code(exc) in _BUSY_CODES


def utc_now() -> str:
    """The current time as ISO 8601 UTC with seconds, e.g. 2026-11-21T05:29:00Z."""
    return datetime.now(UTC).strftime(_STORED_UTC)


def utc_at(seconds: float) -> str:
    """Unix seconds in the stored UTC form of utc_now (to the second, floored)."""
    return time.strftime(_STORED_UTC, time.gmtime(seconds))


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


def set_durable(db: Database) -> None:
    """Make every COMMIT on this connection reach the disk (fsync) before it returns.

    In WAL mode the default (NORMAL) survives a process crash but may lose the
    last commits on power loss; the tracking server acknowledges an event only
    once it is committed, so its writer connection asks for FULL.
    """
    db.execute("PRAGMA synchronous=FULL")


def checkpoint_truncate(db: Database) -> bool:
    """Copy every committed page from the WAL into the database file, then empty the WAL.

    After an erasure the WAL still holds the pages as they were before it, and the
    database file the pages as they were before the last checkpoint: this leaves
    only the erased versions. It waits (the busy timeout) for other connections'
    reads to end; True if it could finish. Outside a transaction only.
    """
    if db.conn.in_transaction:
        raise RuntimeError("a checkpoint cannot run inside a transaction")
    busy, _log, _copied = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return bool(busy == 0)


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT of one row just gave it."""
    if cursor.lastrowid is None:
        raise RuntimeError("the statement inserted no row")
    return cursor.lastrowid


def meta_get(db: Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def meta_set(db: Database, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )
