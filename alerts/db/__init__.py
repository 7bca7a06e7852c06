"""The database: the only package that speaks SQL.

`open_db` opens (or creates) an SQLite file in WAL mode and applies every
migration it has not seen yet (`migrations.py`), so an old subscribers.db
upgrades itself. `connection.py` holds what every query shares (transactions,
busy errors, timestamps); each other module holds the queries of one table family.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alerts.db.connection import (
    Database,
    is_busy,
    meta_get,
    meta_set,
    primary_error_code,
    savepoint,
    set_durable,
    utc_now,
    write_transaction,
)
from alerts.db.migrations import apply_migrations
from alerts.errors import InputFileError

__all__ = [
    "Database",
    "is_busy",
    "meta_get",
    "meta_set",
    "open_db",
    "savepoint",
    "set_durable",
    "utc_now",
    "write_transaction",
]

# What SQLite answers for a file that is not a database, is damaged, or may not be
# opened or written: the user's file is at fault, not the code.
_UNUSABLE_FILE_CODES = frozenset(
    {
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_PERM,
    }
)


def open_db(path: Path | str, *, migrate: bool = True) -> Database:
    """Open the database at `path`, creating it if needed, and migrate it."""
    path = Path(path)
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not a database file")
    if not path.parent.exists():
        raise InputFileError(f"{path}: folder {path.parent} does not exist")
    try:
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        db = Database(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        if migrate:
            apply_migrations(db)
    except sqlite3.DatabaseError as exc:
        if primary_error_code(exc) not in _UNUSABLE_FILE_CODES:
            raise
        raise InputFileError(f"{path}: not a usable SQLite database ({exc})") from None
    return db
