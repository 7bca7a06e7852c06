"""A small rate limiter kept in the database: so many takes per key per window.

`take(db, bucket, key, limit, window_seconds)` counts one use of `key` (a client
address, an email address...) in `bucket` (what is limited, e.g. "join.client")
and says whether it is still within `limit` uses in the current fixed window of
`window_seconds`. The key is never stored as given: only an HMAC-SHA256 of the
bucket and key under a random salt kept in `meta` (made by migration 131, read
once per connection), so the table holds no personal data. Windows are fixed
(they start at multiples of `window_seconds` since the epoch); rows whose window
has ended are purged as `take` goes.

It runs inside the caller's transaction (a server's group-commit job, or a
command's write transaction) and commits nothing itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from weakref import WeakKeyDictionary

from alerts.db.connection import Database, meta_get, meta_set

SALT_KEY = "rate_limit_key"  # meta key: random salt of the key hashes
_PURGE_EVERY = 256  # takes between two purges of ended windows

_takes = [0]
# Per connection, the HMAC keyed with the salt as read from `meta`: the salt never
# changes once it is there, so it is read once, not on every take.
_keyed: WeakKeyDictionary[Database, hmac.HMAC] = WeakKeyDictionary()


def key_hash(db: Database, bucket: str, key: str) -> str:
    """The stored form of `key` in `bucket`: it cannot be read back, only matched."""
    kept = _keyed.get(db)
    mac = _keyed_hmac(db) if kept is None else kept.copy()
    mac.update(f"{bucket}\0{key}".encode())
    return mac.hexdigest()


def _keyed_hmac(db: Database) -> hmac.HMAC:
    """The salt's HMAC, kept for this connection when the salt was already stored.

    A salt made here (a database without migration 131's) is not kept: the
    transaction that stores it may yet roll back.
    """
    salt = meta_get(db, SALT_KEY)
    if salt is None:
        salt = secrets.token_hex(32)
        meta_set(db, SALT_KEY, salt)
        return hmac.new(salt.encode(), digestmod=hashlib.sha256)
    mac = hmac.new(salt.encode(), digestmod=hashlib.sha256)
    _keyed[db] = mac
    return mac.copy()


def take(
    db: Database,
    bucket: str,
    key: str,
    limit: int,
    window_seconds: int,
    *,
    now: float | None = None,
) -> bool:
    """Count one use of `key` in `bucket`; True while it is within `limit` uses this window.

    A use beyond the limit is counted too, so hammering does not reopen the window.
    """
    if limit < 1 or window_seconds < 1:
        raise ValueError("a rate limit needs a limit and a window of at least 1")
    at = int(time.time() if now is None else now)
    window_end = at - at % window_seconds + window_seconds
    row = db.execute(
        "INSERT INTO rate_limits (bucket, key_hash, window_end, used) VALUES (?, ?, ?, 1)"
        " ON CONFLICT (bucket, key_hash) DO UPDATE SET"
        "   used = CASE WHEN window_end = excluded.window_end THEN used + 1 ELSE 1 END,"
        "   window_end = excluded.window_end"
        " RETURNING used",
        [bucket, key_hash(db, bucket, key), window_end],
    ).fetchone()
    _purge_now_and_then(db, at)
    return bool(row[0] <= limit)


def _purge_now_and_then(db: Database, at: int) -> None:
    _takes[0] += 1
    if _takes[0] % _PURGE_EVERY == 1:
        purge(db, now=at)


def purge(db: Database, *, now: float | None = None) -> int:
    """Delete the counts of windows that have ended. Returns how many rows went."""
    at = int(time.time() if now is None else now)
    cursor = db.execute("DELETE FROM rate_limits WHERE window_end <= ?", [at])
    return cursor.rowcount
