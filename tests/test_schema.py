"""The schema: a new database, and one upgraded from the previous release, match schema.sql.

tests/schema.sql is the `sqlite_master` of a new database (every table, index
and trigger, with the SQL SQLite stored for it). A change to the schema is a new
migration; after adding one, regenerate the file and review its diff:

    python tests/test_schema.py

tests/fixtures/release-0.1.0.sql is a database made by the previous release's
own code (see its header); it is never regenerated. Upgrading it must give the
very schema a new database gets, and keep its rows.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

from alerts.db import Database, open_db
from alerts.db.migrations import MIGRATIONS

TESTS = Path(__file__).resolve().parent
SCHEMA_FILE = TESTS / "schema.sql"
RELEASE_0_1_0 = TESTS / "fixtures" / "release-0.1.0.sql"

_HEADER = """\
-- The schema of a new database: every row of sqlite_master, by table, then
-- tables before indexes before triggers, then name. Checked by tests/test_schema.py;
-- after adding a migration, regenerate it with `python tests/test_schema.py`.
"""

_SQLITE_MASTER = """
SELECT type, name, tbl_name, sql FROM sqlite_master
ORDER BY tbl_name, CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'trigger' THEN 2
    ELSE 3 END, type, name
"""


def schema_of(db: Database) -> str:
    """sqlite_master as schema.sql writes it: a comment naming each entry, then its SQL."""
    entries = []
    for kind, name, table, sql in db.execute(_SQLITE_MASTER).fetchall():
        # SQLite's own indexes for UNIQUE and PRIMARY KEY constraints have no SQL.
        statement = f"{sql};" if sql is not None else "-- (made by SQLite for a constraint)"
        entries.append(f"-- {kind} {name} on {table}\n{statement}\n")
    return _HEADER + "\n" + "\n".join(entries)


def new_database_schema(folder: Path) -> str:
    db = open_db(folder / "new.db")
    try:
        return schema_of(db)
    finally:
        db.close()


def from_release_0_1_0(path: Path) -> None:
    """A database file holding the 0.1.0 fixture, as that release left it."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(RELEASE_0_1_0.read_text(encoding="utf-8"))
    finally:
        conn.close()


def schema_file_lines() -> list[str]:
    return SCHEMA_FILE.read_text(encoding="utf-8").splitlines()


def test_a_new_database_has_the_schema_of_schema_sql(tmp_path: Path) -> None:
    assert new_database_schema(tmp_path).splitlines() == schema_file_lines(), (
        "the schema changed: run `python tests/test_schema.py` and review the diff"
    )


def test_the_previous_release_upgrades_to_schema_sql(tmp_path: Path) -> None:
    path = tmp_path / "release-0.1.0.db"
    from_release_0_1_0(path)
    with sqlite3.connect(path) as conn:
        before = dict(conn.execute("SELECT id, applied_at FROM migrations").fetchall())
    db = open_db(path)
    try:
        upgraded = schema_of(db)
        after = dict(db.execute("SELECT id, applied_at FROM migrations").fetchall())
    finally:
        db.close()
    assert upgraded.splitlines() == schema_file_lines()
    assert sorted(after) == sorted(MIGRATIONS)
    assert {n: after[n] for n in before} == before  # what 0.1.0 applied is not applied again


def test_the_upgrade_keeps_the_rows_of_the_previous_release(tmp_path: Path) -> None:
    path = tmp_path / "release-0.1.0.db"
    from_release_0_1_0(path)
    db = open_db(path)
    try:
        counts = {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("members", "zip_districts", "roster_versions", "import_runs",
                          "campaigns", "links", "send_ledger", "send_runs", "events",
                          "forgotten")
        }  # fmt: skip
        chosen = db.execute(
            "SELECT email, cd_state, cd_district, cd_choice FROM subscribers WHERE id = 12"
        ).fetchone()
        statuses = dict(db.execute("SELECT status, count(*) FROM subscribers GROUP BY status"))
        forget_key = db.execute("SELECT value FROM meta WHERE key = 'forget_key'").fetchone()
    finally:
        db.close()
    assert counts == {
        "members": 34,
        "zip_districts": 15,
        "roster_versions": 1,
        "import_runs": 1,
        "campaigns": 1,
        "links": 1,
        "send_ledger": 40,
        "send_runs": 1,
        "events": 47,
        "forgotten": 1,
    }
    assert chosen == ("fatima.haddad@example.com", "NY", 12, 12)
    assert statuses == {"subscribed": 38, "unsubscribed": 1, "forgotten": 1}
    assert forget_key is not None


def write_schema_file() -> None:
    with tempfile.TemporaryDirectory() as folder:
        SCHEMA_FILE.write_text(new_database_schema(Path(folder)), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}", file=sys.stderr)


if __name__ == "__main__":
    write_schema_file()
