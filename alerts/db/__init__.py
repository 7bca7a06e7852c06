"""The database: the only package that speaks SQL.

`open_db` opens (or creates) an SQLite file in WAL mode and applies every
migration it has not seen yet (`migrations.py`), so an old subscribers.db
upgrades itself. `connection.py` holds what every query shares (transactions,
busy errors, timestamps); each other module holds the queries of one table family.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from alerts.db.connection import (
    Database,
    checkpoint_truncate,
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
    "checkpoint_truncate",
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


def _create_private(path: Path) -> None:
    """An empty file readable by its owner only, when there is none yet.

    SQLite gives the -wal and -shm files it makes beside a database the database
    file's permissions, so they are private too.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return
    except OSError as exc:
        raise InputFileError(f"{path}: cannot create the database ({exc.strerror})") from None
    os.chmod(path, 0o600)  # whatever the umask


def open_db(path: Path | str, *, migrate: bool = True) -> Database:
    """Open the database at `path`, creating it if needed, and migrate it."""
    path = Path(path)
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not a database file")
    if not path.parent.exists():
        raise InputFileError(f"{path}: folder {path.parent} does not exist")
    _create_private(path)
    try:
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        db = Database(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Deleted and overwritten content is zeroed, not left in free space (forget).
        conn.execute("PRAGMA secure_delete=ON")
        if migrate:
            apply_migrations(db)
    except sqlite3.DatabaseError as exc:
        if primary_error_code(exc) not in _UNUSABLE_FILE_CODES:
            raise
        raise InputFileError(f"{path}: not a usable SQLite database ({exc})") from None
    return db
