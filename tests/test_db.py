import sqlite3

import pytest
from click.testing import CliRunner

from alerts.cli import main
from alerts.db import is_busy, open_db
from alerts.db import migrations as migrations_db
from alerts.db.migrations import MIGRATIONS, apply_migrations
from alerts.errors import InputFileError, LookupFailed
from alerts.targets.roster import sample_files


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


def test_a_migration_bug_is_not_reported_as_an_unusable_file(tmp_path, monkeypatch):
    def broken(database):
        database.execute("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setitem(migrations_db.MIGRATIONS, 999, broken)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        open_db(tmp_path / "bug.db")


# --------------------------------------------------------------------------
# Busy databases: one line; every other SQLite error keeps its traceback


def locked_error(path) -> sqlite3.OperationalError:
    holder, waiter = sqlite3.connect(path), sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    try:
        waiter.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        holder.rollback()
        holder.close()
        waiter.close()
    raise AssertionError("the second writer was not refused")


def test_only_a_lock_held_elsewhere_is_busy(tmp_path, db):
    assert is_busy(locked_error(tmp_path / "locked.db"))
    with pytest.raises(sqlite3.OperationalError, match="no such table") as missing:
        db.execute("SELECT * FROM no_such_table")
    with pytest.raises(sqlite3.IntegrityError) as constraint:
        db.execute("INSERT INTO meta (key, value) VALUES ('k', NULL)")
    for error in (missing.value, constraint.value, RuntimeError("database is locked")):
        assert not is_busy(error)


@pytest.fixture
def locked_project(tmp_path, monkeypatch, cli):
    """A project whose database another connection is writing to, with a short busy wait."""
    monkeypatch.chdir(tmp_path)
    cli("init")
    real_connect = sqlite3.connect

    def impatient(*args, **kwargs):
        return real_connect(*args, **{**kwargs, "timeout": 0.1})

    monkeypatch.setattr(sqlite3, "connect", impatient)
    holder = real_connect(tmp_path / "subscribers.db")
    holder.execute("BEGIN IMMEDIATE")
    yield
    holder.rollback()
    holder.close()


def load_sample_args() -> list[str]:
    files = sample_files()
    return [
        "targets", "load",
        "--legislators", str(files["legislators"]),
        "--zip-districts", str(files["zip_districts"]),
        "--congress", "119",
    ]  # fmt: skip


def test_a_locked_database_is_one_line(locked_project, cli):
    result = cli(*load_sample_args(), ok=False)
    assert result.output.strip().splitlines() == [
        "Error: database is busy: database is locked; try again"
    ]


def test_alerts_debug_shows_the_traceback_of_a_locked_database(locked_project, monkeypatch):
    monkeypatch.setenv("ALERTS_DEBUG", "1")
    result = CliRunner().invoke(main, load_sample_args())
    assert isinstance(result.exception, sqlite3.OperationalError) and is_busy(result.exception)


def test_alerts_debug_shows_the_traceback_of_an_expected_error(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALERTS_DEBUG", "1")
    result = CliRunner().invoke(main, ["targets", "lookup", "1"])
    assert isinstance(result.exception, LookupFailed)


def test_a_missing_table_is_a_bug_with_a_traceback(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    cli("init")
    with sqlite3.connect(tmp_path / "subscribers.db") as conn:
        conn.execute("DROP TABLE roster_versions")
    result = CliRunner().invoke(main, ["targets", "status"])
    assert isinstance(result.exception, sqlite3.OperationalError)
    assert "no such table: roster_versions" in str(result.exception)
    assert "Error:" not in result.output
