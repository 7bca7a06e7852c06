import sqlite3

import pytest

from alerts.db import migrations as migrations_db
from alerts.db import open_db
from alerts.db.migrations import MIGRATIONS, apply_migrations
from alerts.errors import InputFileError


def test_new_database_is_wal_and_fully_migrated(tmp_path):
    database = open_db(tmp_path / "new.db")
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [row[0] for row in database.execute("SELECT id FROM migrations ORDER BY id")]
    assert applied == sorted(MIGRATIONS)
    for table in ("subscribers", "import_runs", "campaigns", "links", "send_ledger", "events"):
        assert database[table].exists()


def test_reopening_applies_nothing_twice(tmp_path):
    path = tmp_path / "a.db"
    open_db(path).close()
    database = open_db(path)
    assert apply_migrations(database) == []
    count = database.execute("SELECT count(*) FROM migrations").fetchone()[0]
    assert count == len(MIGRATIONS)


def test_old_database_upgrades_itself(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    first = min(MIGRATIONS)
    monkeypatch.setattr(migrations_db, "MIGRATIONS", {first: MIGRATIONS[first]})
    old = open_db(path)
    old.execute(
        "INSERT INTO subscribers (email, created_at, updated_at) VALUES ('a@b.org', 'x', 'x')"
    )
    old.conn.commit()
    old.close()
    monkeypatch.undo()

    upgraded = open_db(path)
    applied = [row[0] for row in upgraded.execute("SELECT id FROM migrations ORDER BY id")]
    assert applied == sorted(MIGRATIONS)
    assert upgraded.execute("SELECT email FROM subscribers").fetchone()[0] == "a@b.org"


def test_failed_migration_leaves_database_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "f.db"
    open_db(path).close()

    def broken(database):
        database.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setitem(migrations_db.MIGRATIONS, 999, broken)
    with pytest.raises(RuntimeError):
        open_db(path)
    monkeypatch.undo()
    database = open_db(path)
    assert not database["half_done"].exists()
    assert 999 not in [row[0] for row in database.execute("SELECT id FROM migrations")]


def test_email_is_unique_case_insensitively(db):
    db.execute(
        "INSERT INTO subscribers (email, created_at, updated_at) VALUES ('Ann@X.org', '', '')"
    )
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO subscribers (email, created_at, updated_at) VALUES ('ann@x.ORG', '', '')"
        )


def test_status_is_constrained(db):
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO subscribers (email, status, created_at, updated_at)"
            " VALUES ('a@x.org', 'maybe', '', '')"
        )


@pytest.mark.parametrize("content", [b"not a database at all" * 100, b"\x00\x01\x02" * 4000])
def test_garbage_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "junk.db"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=r"junk\.db: not a usable SQLite database"):
        open_db(path)


def test_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="is a folder"):
        open_db(tmp_path)
    with pytest.raises(InputFileError, match="does not exist"):
        open_db(tmp_path / "missing" / "x.db")
