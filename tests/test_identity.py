"""One email identity: two addresses are one person when normalise.email_key says so.

The key folds letter case for every script, so what a person types in any case
finds them, and the database is unique on it. Migration 80 gave older databases
the key and merged the rows that were one person under it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from send_helpers import UPDATE, project_db, use_fake

from alerts.db import Database, open_db
from alerts.db import migrations as migrations_db
from alerts.delivery.providers.sendgrid.standin import FakeSendGrid
from alerts.subscribers.normalise import email_key, lookup_key, same_person


@pytest.fixture
def fake() -> Any:
    with FakeSendGrid() as server:
        yield server


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def listed(cli: Any, *options: str) -> list[dict[str, Any]]:
    result = cli("subscribers", "list", "--format", "json", *options)
    people: list[dict[str, Any]] = json.loads(result.stdout)
    return people


def send_update(cli: Any, fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Send the project's update campaign; the addresses the provider was asked to mail.

    Addresses with accents before the @ are sent (allow_smtputf8), so that whoever
    is not mailed is left out for who they are, not for their letters.
    """
    use_fake(monkeypatch, fake)
    monkeypatch.setenv("ALERTS_ALLOW_SMTPUTF8", "true")
    cli("send", UPDATE, "--yes")
    return [delivery.email for delivery in fake.deliveries()]


# --------------------------------------------------------------------------
# The key


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("JOSÉ@example.org", "José@example.org"),
        ("HÉLÈNE@example.org", "hélène@example.org"),
        ("e\u0301mile@example.org", "Émile@example.org"),  # decomposed and composed é
        ("ΟΔΥΣΣΕΑΣ@example.org", "οδυσσεας@example.org"),  # final sigma
        ("STRASSE@example.de", "straße@example.de"),
        ("ДМИТРИЙ@example.org", "дмитрий@example.org"),
        ("Ana@EXAMPLE.org", "ana@example.org"),
        (" ana@example.org ", "ana@example.org"),
        ("a@xn--bcher-kva.de", "a@BÜCHER.de"),  # one domain, as punycode and as typed
    ],
)
def test_the_same_person_whatever_the_case_or_spelling(one, other):
    assert same_person(one, other)
    assert lookup_key(one) == lookup_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("jose@example.org", "josé@example.org"),
        ("ana@example.org", "ana@example.com"),
        ("a.b@example.org", "ab@example.org"),
    ],
)
def test_different_letters_are_different_people(one, other):
    assert not same_person(one, other)


@given(st.text(min_size=1, max_size=30))
@example("ǰ@example.org")  # casefolds to j + combining caron: the key is NFC again
@example("ﬁ@example.org")
def test_the_key_is_stable_and_composed(text):
    key = email_key(text)
    assert email_key(key) == key
    assert unicodedata.is_normalized("NFC", key)


@given(st.text(max_size=30))
def test_migration_80_stored_the_key_the_live_rule_computes(text):
    # If the rule changes, stored keys need a new migration that recomputes them.
    assert migrations_db._m080_email_key(text) == email_key(text)


# --------------------------------------------------------------------------
# As people hit the defects


def test_forget_finds_someone_whose_address_has_a_capital_accent(cli, project, fake, monkeypatch):
    cli("import", str(write(project / "a.csv", "email\nÉmile@example.org\nzoe@example.org\n")))
    result = cli("subscribers", "forget", "Émile@example.org")
    assert "Forgotten: their data is erased" in result.stdout
    assert [p["email"] for p in listed(cli)] == ["zoe@example.org"]
    assert send_update(cli, fake, monkeypatch) == ["zoe@example.org"]


def test_an_unsubscribed_person_reimported_in_other_letters_stays_unsubscribed(
    cli, project, fake, monkeypatch
):
    cli("import", str(write(project / "a.csv", "email\nHÉLÈNE@example.org\nzoe@example.org\n")))
    assert (
        "Unsubscribed HÉLÈNE@example.org"
        in cli("subscribers", "unsubscribe", "HÉLÈNE@example.org").stdout
    )
    again = cli(
        "import", str(write(project / "b.csv", "email\nhélène@example.org\n")), "--format", "json"
    )
    assert json.loads(again.stdout)["suppressed"] == 1
    assert [(p["email"], p["status"]) for p in listed(cli, "--status", "unsubscribed")] == [
        ("HÉLÈNE@example.org", "unsubscribed")
    ]
    assert send_update(cli, fake, monkeypatch) == ["zoe@example.org"]


def test_one_person_in_two_files_is_one_subscriber_mailed_once(cli, project, fake, monkeypatch):
    cli("import", str(write(project / "a.csv", "email,first_name\nJOSÉ@example.org,José\n")))
    second = cli(
        "import", str(write(project / "b.csv", "email,city\nJosé@example.org,Austin\n")),
        "--format", "json",
    )  # fmt: skip
    assert json.loads(second.stdout) == dict(
        added=0, updated=1, unchanged=0, rejected=0, suppressed=0
    )
    assert [(p["email"], p["first_name"], p["city"]) for p in listed(cli)] == [
        ("JOSÉ@example.org", "José", "Austin")
    ]
    assert send_update(cli, fake, monkeypatch) == ["JOSÉ@example.org"]


def test_show_and_unsubscribe_find_the_person_in_any_case(cli, project):
    cli("import", str(write(project / "a.csv", "email\nДмитрий@example.org\n")))
    shown = json.loads(cli("subscribers", "show", "ДМИТРИЙ@EXAMPLE.ORG", "--format", "json").stdout)
    assert shown["email"] == "Дмитрий@example.org"
    assert "Unsubscribed" in cli("subscribers", "unsubscribe", "дмитрий@example.org").stdout


def test_a_bounce_reported_in_other_letters_stops_the_mail(cli, project):
    cli("import", str(write(project / "a.csv", "email\nJosé@example.org\n")))
    bounce = {
        "event": "bounce",
        "type": "bounce",
        "email": "JOSÉ@example.org",
        "timestamp": 1767225600,
        "sg_event_id": "bounce-1",
    }
    cli("events", "ingest", str(write(project / "events.json", json.dumps([bounce]))))
    assert [p["status"] for p in listed(cli)] == ["bounced"]


# --------------------------------------------------------------------------
# Migration 80 on a database from before it

BEFORE_80 = {n: fn for n, fn in migrations_db.MIGRATIONS.items() if n < 80}
SALT = "0" * 64


def _old_database(path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setattr(migrations_db, "MIGRATIONS", BEFORE_80)
    db = open_db(path)
    monkeypatch.undo()
    return db


def _add(db: Database, email: str | None, status: str, **fields: Any) -> int:
    row = {
        "email": email,
        "status": status,
        "tags": "[]",
        "extra": "{}",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        **fields,
    }
    return int(db["subscribers"].insert(row).last_pk)


def _old_forget_hash(address: str) -> str:
    """What `forget` recorded before migration 80: the hash of the lower-cased address."""
    return hmac.new(SALT.encode(), address.lower().encode(), hashlib.sha256).hexdigest()


def test_migration_80_merges_one_person_s_rows_keeping_all_history(tmp_path, monkeypatch):
    db = _old_database(tmp_path / "old.db", monkeypatch)
    jose = _add(db, "José@example.org", "subscribed", first_name="José", tags='["a"]',
                consent_at="2025-03-01T00:00:00Z")  # fmt: skip
    upper = _add(db, "JOSÉ@example.org", "unsubscribed", phone="555-0100", tags='["b", "a"]',
                 consent_at="2025-02-01T00:00:00Z", status_changed_at="2025-04-01T00:00:00Z",
                 zip="05401", state="VT", cd_state="VT", cd_district=0,
                 cd_confidence="exact")  # fmt: skip
    # Decomposed é: COLLATE NOCASE (bytes, ASCII folded) told it apart from both.
    third = _add(db, "jose\u0301@example.org", "subscribed", extra='{"notes": "third"}')
    zoe = _add(db, "zoe@example.org", "subscribed")
    for number, slug in ((1, "first"), (2, "second")):
        db.execute(
            "INSERT INTO campaigns (id, slug, kind, subject, created_at)"
            " VALUES (?, ?, 'update', 'News', '2025-05-01T00:00:00Z')",
            [number, slug],
        )
    ledger = [
        (1, jose, "sent"), (1, upper, "sent"), (1, zoe, "sent"),  # mailed twice: keep one
        (2, jose, "pending"), (2, upper, "sent"), (2, third, "skipped"),  # sent wins
    ]  # fmt: skip
    db.conn.executemany(
        "INSERT INTO send_ledger (campaign_id, subscriber_id, state) VALUES (?, ?, ?)", ledger
    )
    events = [(1, jose, "open"), (1, upper, "open"), (2, upper, "click"), (1, zoe, "open")]
    db.conn.executemany(
        "INSERT INTO events (campaign_id, subscriber_id, kind, at) VALUES (?, ?, ?, 1)", events
    )
    db.conn.commit()
    db.close()

    db = open_db(tmp_path / "old.db")
    rows = db.execute(
        "SELECT id, email, email_key, status, status_changed_at, first_name, phone, tags,"
        " extra, consent_at, zip, cd_state, cd_district FROM subscribers ORDER BY id"
    ).fetchall()
    assert [tuple(row) for row in rows] == [
        (jose, "José@example.org", "josé@example.org", "unsubscribed", "2025-04-01T00:00:00Z",
         "José", "555-0100", '["a","b"]', '{"notes":"third"}', "2025-02-01T00:00:00Z",
         "05401", "VT", 0),
        (zoe, "zoe@example.org", "zoe@example.org", "subscribed", None, None, None, "[]", "{}",
         None, None, None, None),
    ]  # fmt: skip
    ledger_now = db.execute(
        "SELECT campaign_id, subscriber_id, state FROM send_ledger ORDER BY 1, 2"
    ).fetchall()
    assert [tuple(r) for r in ledger_now] == [
        (1, jose, "sent"),
        (1, zoe, "sent"),
        (2, jose, "sent"),
    ]
    events_now = db.execute(
        "SELECT campaign_id, subscriber_id, kind FROM events ORDER BY id"
    ).fetchall()
    assert [tuple(e) for e in events_now] == [
        (1, jose, "open"), (1, jose, "open"), (2, jose, "click"), (1, zoe, "open")
    ]  # fmt: skip
    merges = db.execute("SELECT merged_id, subscriber_id FROM subscriber_merges ORDER BY 1")
    assert [tuple(m) for m in merges] == [(upper, jose), (third, jose)]
    people = db.execute("SELECT human_people FROM stats_kind_totals WHERE kind = 'open'")
    assert people.fetchone()[0] == 2  # José and Zoe, each once


def test_migration_80_erases_people_forget_missed(tmp_path, monkeypatch):
    db = _old_database(tmp_path / "old.db", monkeypatch)
    emile = _add(db, "Émile@example.org", "subscribed", first_name="Émile")
    kept = _add(db, "Zoë@example.org", "subscribed")
    db.execute("INSERT INTO meta (key, value) VALUES ('forget_key', ?)", [SALT])
    db.execute(
        "INSERT INTO forgotten (email_hash, forgotten_at) VALUES (?, '2025-06-01T00:00:00Z')",
        [_old_forget_hash("ÉMILE@example.org")],
    )
    db.conn.commit()
    db.close()

    db = open_db(tmp_path / "old.db")
    rows = db.execute("SELECT id, email, email_key, first_name, status FROM subscribers")
    assert [tuple(r) for r in rows.fetchall()] == [
        (emile, None, None, None, "forgotten"),
        (kept, "Zoë@example.org", "zoë@example.org", None, "subscribed"),
    ]


def test_an_address_forgotten_before_migration_80_is_never_imported_again(
    cli, project, monkeypatch
):
    # Hashes of that time are of the lower-cased address: for ß that is not the key.
    db = project_db(project)
    db.execute("INSERT INTO meta (key, value) VALUES ('forget_key', ?)", [SALT])
    db.execute(
        "INSERT INTO forgotten (email_hash, forgotten_at) VALUES (?, '2025-06-01T00:00:00Z')",
        [_old_forget_hash("straße@example.de")],
    )
    db.conn.commit()
    db.close()
    result = cli(
        "import", str(write(project / "a.csv", "email\nStraße@example.de\n")), "--format", "json"
    )
    assert json.loads(result.stdout)["suppressed"] == 1
    assert listed(cli) == []


def test_the_database_refuses_a_second_row_for_one_person(db):
    db.execute(
        "INSERT INTO subscribers (email, email_key, created_at, updated_at)"
        " VALUES ('JOSÉ@example.org', ?, '', '')",
        [email_key("JOSÉ@example.org")],
    )
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        db.execute(
            "INSERT INTO subscribers (email, email_key, created_at, updated_at)"
            " VALUES ('José@example.org', ?, '', '')",
            [email_key("José@example.org")],
        )
