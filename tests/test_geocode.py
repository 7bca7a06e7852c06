"""`alerts targets geocode` and `alerts import --geocode`, against the local stand-in.

Who is sent, what is stored, what a failed batch leaves, a run killed with
SIGKILL, and what `alerts subscribers forget` erases.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.db import geocodes as geocodes_db
from alerts.db import open_db
from alerts.errors import GeocoderError, LookupFailed
from alerts.targets import geocoding
from alerts.targets.geocoder import AddressQuery, GeoOutcome
from alerts.targets.geocoder.census.client import CensusGeocoder
from alerts.targets.geocoder.census.standin import CensusGeocoderStandin, Fault, KnownAddress
from alerts.targets.roster import sample_files

BLOCK = "360610050001002"
NOW = "2026-01-01T00:00:00Z"
KEYS = ["sent", "matched", "not_matched", "ties", "failed", "skipped"]


@pytest.fixture
def standin() -> Iterator[CensusGeocoderStandin]:
    """Every street "<n> Main St" matches BLOCK; "Tie Rd" ties; anything else does not match."""
    table = [KnownAddress(f"{n} Main St", "New York", "NY", "10001", block=BLOCK)
             for n in range(1, 40)]  # fmt: skip
    table.append(KnownAddress("1 Tie Rd", "New York", "NY", "10001", outcome="Tie"))
    with CensusGeocoderStandin(table=table) as server:
        yield server


@pytest.fixture
def geocoding_on(project: Path, standin: CensusGeocoderStandin, monkeypatch) -> Path:
    monkeypatch.setenv("ALERTS_GEOCODER_URL", standin.url)
    return project


def add(
    project: Path,
    email: str,
    street: str | None,
    *,
    confidence: str = "ambiguous",
    status: str = "subscribed",
    sha: str | None = None,
    block: str | None = None,
    zip_code: str = "10001",
) -> int:
    """A subscriber row as the importer leaves one (in New York, 10001, unless told)."""
    with sqlite3.connect(project / "subscribers.db") as db:
        cursor = db.execute(
            "INSERT INTO subscribers (email, email_key, street, city, state, zip, status,"
            " cd_confidence, geo_address_sha256, geo_block, geo_outcome, geo_at,"
            " created_at, updated_at) VALUES (?, ?, ?, 'New York', 'NY', ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?)",
            [email, email, street, zip_code, status, confidence, sha, block,
             "matched" if block else ("no_match" if sha else None), NOW if sha else None,
             NOW, NOW],
        )  # fmt: skip
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def sha_of(street: str) -> str:
    return AddressQuery.of(0, street, "New York", "NY", "10001").sha256


def geo(project: Path, subscriber_id: int) -> tuple[str | None, ...]:
    with sqlite3.connect(project / "subscribers.db") as db:
        return db.execute(
            "SELECT geo_block, geo_outcome, geo_address_sha256, geo_at FROM subscribers"
            " WHERE id = ?",
            [subscriber_id],
        ).fetchone()


def sent_streets(standin: CensusGeocoderStandin) -> list[str]:
    return [row.street for record in standin.requests for row in record.rows]


def run_json(cli, *args: str, ok: bool | None = True) -> dict[str, int]:
    result = cli("targets", "geocode", "--format", "json", *args, ok=ok)
    return json.loads(result.stdout)


# --------------------------------------------------------------------------
# Who is sent


def test_by_default_only_people_not_exact_whose_address_changed_are_sent(
    geocoding_on, cli, standin
):
    project = geocoding_on
    add(project, "new@x.org", "1 Main St")  # ambiguous, never geocoded: sent
    add(project, "zip@x.org", "2 Main St", confidence="exact")  # exact by ZIP: skipped
    add(project, "nostreet@x.org", None)  # no street: not counted
    add(project, "blank@x.org", "  ,  ")  # nothing a geocoder can use: not counted
    add(project, "same@x.org", "4 Main St", sha=sha_of("4 Main St"))  # unchanged: skipped
    add(project, "moved@x.org", "5 Main St", sha=sha_of("99 Old Rd"))  # moved: sent
    moved_exact = add(
        project, "was@x.org", "6 Main St", confidence="exact", sha=sha_of("98 Old Rd"), block=BLOCK
    )  # exact by an older geocode, moved since: sent
    add(project, "gone@x.org", "7 Main St", status="unsubscribed")  # gets no mail: not counted

    summary = run_json(cli)

    assert list(summary) == KEYS
    assert summary == {"sent": 3, "matched": 3, "not_matched": 0, "ties": 0, "failed": 0,
                       "skipped": 2}  # fmt: skip
    assert sorted(sent_streets(standin)) == ["1 Main St", "5 Main St", "6 Main St"]
    assert geo(project, moved_exact)[:3] == (BLOCK, "matched", sha_of("6 Main St"))


def test_a_street_with_nothing_a_geocoder_can_use_is_never_counted(geocoding_on, cli):
    add(geocoding_on, "blank@x.org", ' ,\u00a0" \t', confidence="exact")  # not counted
    add(geocoding_on, "zip@x.org", "2 Main St", confidence="exact")  # skipped
    assert run_json(cli) == dict.fromkeys(KEYS, 0) | {"skipped": 1}


def test_a_second_run_sends_nothing_and_a_changed_address_is_sent_again(geocoding_on, cli, standin):
    project = geocoding_on
    first = add(project, "a@x.org", "1 Main St")
    add(project, "b@x.org", "1 Tie Rd")
    assert run_json(cli)["sent"] == 2
    assert run_json(cli) == dict.fromkeys(KEYS, 0) | {"skipped": 2}
    with sqlite3.connect(project / "subscribers.db") as db:
        db.execute("UPDATE subscribers SET street = '2 Main St' WHERE id = ?", [first])
    assert run_json(cli)["sent"] == 1
    assert sent_streets(standin)[-1] == "2 Main St"


def test_all_sends_everyone_with_a_street_again(geocoding_on, cli, standin):
    project = geocoding_on
    add(project, "a@x.org", "1 Main St", sha=sha_of("1 Main St"))
    add(project, "b@x.org", "2 Main St", confidence="exact")
    add(project, "c@x.org", None)
    summary = run_json(cli, "--all")
    assert summary["sent"] == 2 and summary["skipped"] == 0
    assert sorted(sent_streets(standin)) == ["1 Main St", "2 Main St"]


def test_limit_stops_after_n_and_the_next_run_goes_on(geocoding_on, cli, standin):
    project = geocoding_on
    for n in range(1, 6):
        add(project, f"{n}@x.org", f"{n} Main St")
    assert run_json(cli, "--limit", "2") == {
        "sent": 2, "matched": 2, "not_matched": 0, "ties": 0, "failed": 0, "skipped": 3,
    }  # fmt: skip
    assert run_json(cli, "--limit", "2")["sent"] == 2
    assert run_json(cli)["sent"] == 1
    assert sent_streets(standin) == [f"{n} Main St" for n in range(1, 6)]


def test_outcomes_are_counted_and_stored_without_coordinates(geocoding_on, cli, standin):
    project = geocoding_on
    matched = add(project, "m@x.org", "1 Main St")
    tie = add(project, "t@x.org", "1 Tie Rd")
    nowhere = add(project, "n@x.org", "1 Nowhere Ln")
    summary = run_json(cli)
    assert summary == {"sent": 3, "matched": 1, "not_matched": 1, "ties": 1, "failed": 0,
                       "skipped": 0}  # fmt: skip
    block, outcome, sha, at = geo(project, matched)
    assert (block, outcome, sha) == (BLOCK, "matched", sha_of("1 Main St")) and at
    assert geo(project, tie)[:3] == (None, "tie", sha_of("1 Tie Rd"))
    assert geo(project, nowhere)[:3] == (None, "no_match", sha_of("1 Nowhere Ln"))
    # The stand-in answered the matches' coordinates (its default "-98.583333,39.833333").
    dump = "\n".join(sqlite3.connect(project / "subscribers.db").iterdump())
    assert "39.833333" not in dump and "98.583333" not in dump


def test_text_output_says_what_was_sent_and_the_districts_after(geocoding_on, cli):
    add(geocoding_on, "a@x.org", "1 Main St")
    out = cli("targets", "geocode").stdout
    assert "Sent 1 address to the geocoder in 1 batch: 1 matched, 0 not matched" in out
    assert "Subscribers' districts:" in out
    assert "No address to send: 1 with a street address" in cli("targets", "geocode").stdout


def test_an_empty_geocoder_url_turns_geocoding_off(project, cli, standin, monkeypatch):
    monkeypatch.setenv("ALERTS_GEOCODER_URL", "")
    person = add(project, "a@x.org", "1 Main St")
    result = cli("targets", "geocode")
    assert result.output.strip() == (
        "Geocoding is off (geocoder_url is empty): no address was sent."
    )
    assert run_json(cli) == dict.fromkeys(KEYS, 0)
    assert standin.requests == [] and geo(project, person) == (None, None, None, None)


# --------------------------------------------------------------------------
# Failures: nothing changes for the batch


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (Fault("status", status=503), "answered HTTP 503"),
        (Fault("malformed"), "the geocoder's answer is malformed: line 1"),
        (Fault("slow", delay=3), "did not answer within 1 s"),
    ],
)
def test_a_failed_batch_is_one_line_and_changes_nothing(geocoding_on, cli, standin, fault, says):
    project = geocoding_on
    people = [add(project, f"{n}@x.org", f"{n} Main St") for n in range(1, 4)]
    standin.inject(fault)
    result = cli("targets", "geocode", "--timeout", "1", "--format", "json", ok=False)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and says in errors[0]
    assert errors[0].startswith("Error: batch 1 (3 addresses): ")
    assert errors[0].endswith("nothing changed for them")
    assert json.loads(result.stdout) == {"sent": 3, "matched": 0, "not_matched": 0, "ties": 0,
                                         "failed": 3, "skipped": 0}  # fmt: skip
    assert all(geo(project, person) == (None, None, None, None) for person in people)
    assert run_json(cli)["matched"] == 3  # the next run sends them again


def test_an_address_left_out_of_the_answer_is_unchanged(geocoding_on, cli, standin):
    project = geocoding_on
    first = add(project, "a@x.org", "1 Main St")
    last = add(project, "b@x.org", "2 Main St")
    standin.inject(Fault("short"))  # the answer (in reverse order) leaves out the first address
    assert run_json(cli)["failed"] == 1
    assert geo(project, first) == (None, None, None, None)
    assert geo(project, last)[1] == "matched"


def test_a_batch_of_10001_addresses_is_sent_as_10000_and_1(project, cli, monkeypatch):
    with sqlite3.connect(project / "subscribers.db") as db:
        db.executemany(
            "INSERT INTO subscribers (email, email_key, street, city, state, zip, cd_confidence,"
            " created_at, updated_at) VALUES (?, ?, ?, 'Austin', 'TX', '78701', 'unknown', ?, ?)",
            [(f"{n}@x.org", f"{n}@x.org", f"{n} Elm St", NOW, NOW) for n in range(10_001)],
        )
    with CensusGeocoderStandin(table=[], match_unknown=[BLOCK]) as server:
        monkeypatch.setenv("ALERTS_GEOCODER_URL", server.url)
        summary = run_json(cli)
        assert [len(record.rows) for record in server.requests] == [10_000, 1]
        assert [record.status for record in server.requests] == [200, 200]
    assert summary["sent"] == summary["matched"] == 10_001
    with sqlite3.connect(project / "subscribers.db") as db:
        stored = db.execute("SELECT count(*) FROM subscribers WHERE geo_block = ?", [BLOCK])
        assert stored.fetchone()[0] == 10_001


def test_an_interrupted_all_run_is_taken_up_where_it_stopped(project, cli, monkeypatch):
    with sqlite3.connect(project / "subscribers.db") as db:
        db.executemany(
            "INSERT INTO subscribers (email, email_key, street, zip, cd_confidence, created_at,"
            " updated_at) VALUES (?, ?, ?, '78701', 'exact', ?, ?)",
            [(f"{n}@x.org", f"{n}@x.org", f"{n} Elm St", NOW, NOW) for n in range(12_000)],
        )
    with CensusGeocoderStandin(table=[], match_unknown=[BLOCK]) as server:
        monkeypatch.setenv("ALERTS_GEOCODER_URL", server.url)
        server.inject(Fault("slow", delay=0), Fault("status", status=502))  # batch 2 fails
        assert run_json(cli, "--all", ok=False)["failed"] == 2_000
        again = run_json(cli, "--all")  # only the failed batch's addresses
        assert again["sent"] == 2_000 and again["skipped"] == 10_000
        assert run_json(cli, "--all")["sent"] == 12_000  # a finished run starts afresh


# --------------------------------------------------------------------------
# kill -9 in the middle of a run


def _stored(db_path: Path) -> int:
    with sqlite3.connect(db_path, timeout=5) as db:
        return db.execute("SELECT count(*) FROM subscribers WHERE geo_at IS NOT NULL").fetchone()[0]


def test_kill_9_loses_at_most_the_batch_in_flight(project, cli, monkeypatch):
    db_path = project / "subscribers.db"
    total = 25_000
    with sqlite3.connect(db_path) as db:
        db.executemany(
            "INSERT INTO subscribers (email, email_key, street, zip, cd_confidence, created_at,"
            " updated_at) VALUES (?, ?, ?, '10001', 'ambiguous', ?, ?)",
            [(f"{n}@x.org", f"{n}@x.org", f"{n} Elm St", NOW, NOW) for n in range(total)],
        )
    with CensusGeocoderStandin(table=[], match_unknown=[BLOCK], latency=1.5) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_")}
        env["ALERTS_GEOCODER_URL"] = server.url
        process = subprocess.Popen(
            [sys.executable, "-m", "alerts", "targets", "geocode"],
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while _stored(db_path) == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
    done, kept = _stored(db_path), _kept(db_path)
    assert done in (10_000, 20_000), done  # whole batches only
    assert kept in (0, 10_000), kept  # and at most one answered batch kept, not yet stored
    with CensusGeocoderStandin(table=[], match_unknown=[BLOCK]) as server:
        monkeypatch.setenv("ALERTS_GEOCODER_URL", server.url)
        summary = run_json(cli)
        again = [len(record.rows) for record in server.requests]
    assert sum(again) == total - done - kept and summary["sent"] == total - done - kept
    assert summary["skipped"] == done + kept
    assert _stored(db_path) == total and _kept(db_path) == 0


def _kept(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT coalesce(sum(json_array_length(rows)), 0) FROM geocode_journal")
        return int(row.fetchone()[0])


def test_answers_kept_by_a_killed_run_are_stored_first_but_never_for_the_forgotten(
    geocoding_on, cli, standin
):
    project = geocoding_on
    kept = add(project, "kept@x.org", "1 Main St")
    gone = add(project, "gone@x.org", "2 Main St")
    with open_db(project / "subscribers.db") as db:
        rows = [(person, BLOCK, "matched", sha_of(street), NOW, 0)
                for person, street in ((kept, "1 Main St"), (gone, "2 Main St"))]  # fmt: skip
        geocodes_db.journal_answers(db, rows)  # as a run killed before storing them leaves it
    cli("subscribers", "forget", "gone@x.org")

    summary = run_json(cli)

    assert summary["sent"] == 0 and standin.requests == []  # the kept answer is not asked again
    assert geo(project, kept)[:3] == (BLOCK, "matched", sha_of("1 Main St"))
    assert geo(project, gone) == (None, None, None, None)
    assert _kept(project / "subscribers.db") == 0


# --------------------------------------------------------------------------
# The districts, the import, the letter page's lookup, forget


def test_a_geocoded_split_zip_subscriber_becomes_exact(geocoding_on, cli, tmp_path):
    project = geocoding_on
    files = sample_files()
    cli("targets", "load", "--legislators", str(files["legislators"]),
        "--zip-districts", str(files["zip_districts"]), "--congress", "119")  # fmt: skip
    blocks = tmp_path / "BlockAssign_ST36_NY_CD.txt"
    blocks.write_text(f"BLOCKID|DISTRICT\n{BLOCK}|12\n", encoding="utf-8")
    cli("targets", "load-blocks", str(blocks), "--congress", "119")
    person = add(project, "a@x.org", "1 Main St")
    cli("targets", "load", "--zip-districts", str(files["zip_districts"]), "--congress", "119")
    with sqlite3.connect(project / "subscribers.db") as db:
        before = db.execute("SELECT cd_confidence FROM subscribers WHERE id = ?", [person])
        assert before.fetchone()[0] == "ambiguous"
    assert run_json(cli)["matched"] == 1
    with sqlite3.connect(project / "subscribers.db") as db:
        row = db.execute(
            "SELECT cd_state, cd_district, cd_confidence, cd_flags FROM subscribers WHERE id = ?",
            [person],
        ).fetchone()
    assert row[:3] == ("NY", 12, "exact") and "address" in row[3].split(",")


def _district(project: Path, subscriber_id: int) -> tuple[object, ...]:
    with sqlite3.connect(project / "subscribers.db") as db:
        return db.execute(
            "SELECT cd_confidence, cd_flags, geo_block, geo_outcome, geo_address_sha256"
            " FROM subscribers WHERE id = ?",
            [subscriber_id],
        ).fetchone()


def test_a_move_stops_the_old_block_deciding_the_district_at_once(geocoding_on, cli, tmp_path):
    project = geocoding_on
    files = sample_files()
    cli("targets", "load", "--legislators", str(files["legislators"]),
        "--zip-districts", str(files["zip_districts"]), "--congress", "119")  # fmt: skip
    blocks = tmp_path / "BlockAssign_ST36_NY_CD.txt"
    blocks.write_text(f"BLOCKID|DISTRICT\n{BLOCK}|12\n", encoding="utf-8")
    cli("targets", "load-blocks", str(blocks), "--congress", "119")
    (project / "first.csv").write_text(
        "email,street,city,state,zip\nmover@x.org,1 Main St,New York,NY,10001\n", encoding="utf-8"
    )
    cli("import", "first.csv", "--geocode")
    person = int(
        json.loads(cli("subscribers", "show", "mover@x.org", "--format", "json").stdout)["id"]
    )
    assert _district(project, person)[:3] == ("exact", "address", BLOCK)

    (project / "moved.csv").write_text(
        "email,street,city,state,zip\nmover@x.org,77 Elsewhere Ave,New York,NY,10001\n",
        encoding="utf-8",
    )
    cli("import", "moved.csv")  # no --geocode: the old block must not decide any more

    confidence, flags, block, outcome, sha = _district(project, person)
    assert (confidence, block, outcome) == ("ambiguous", None, None)
    assert "address" not in (flags or "").split(",")
    assert sha == sha_of("1 Main St")  # geocoded before, with an address that changed since
    assert run_json(cli)["sent"] == 1  # and so the next run sends the new address


def test_a_typed_address_is_left_alone_until_the_record_changes(geocoding_on, cli, standin):
    project = geocoding_on
    person = add(project, "typed@x.org", "1 Main St", confidence="exact", sha=sha_of("9 Main St"),
                 block=BLOCK)  # fmt: skip
    with sqlite3.connect(project / "subscribers.db") as db:
        db.execute("UPDATE subscribers SET geo_typed = 1 WHERE id = ?", [person])
    assert run_json(cli)["sent"] == 0  # what they typed stands over the older street on record
    with sqlite3.connect(project / "subscribers.db") as db:
        db.execute("UPDATE subscribers SET street = '3 Main St' WHERE id = ?", [person])
        typed = db.execute("SELECT geo_typed FROM subscribers WHERE id = ?", [person]).fetchone()
    assert typed == (0,)
    assert run_json(cli)["sent"] == 1
    assert sent_streets(standin) == ["3 Main St"]


SIGNUPS = (
    "email,first_name,street,city,state,zip\n"
    "old@x.org,Old,1 Main St,New York,NY,10001\n"
    "moves@x.org,Moves,2 Main St,New York,NY,10001\n"
    "tags@x.org,Tags,3 Main St,New York,NY,10001\n"
)


def test_import_geocode_sends_the_rows_the_import_added_or_changed(geocoding_on, cli, standin):
    project = geocoding_on
    (project / "first.csv").write_text(SIGNUPS, encoding="utf-8")
    cli("import", "first.csv")
    assert standin.requests == []  # no --geocode: no address leaves
    (project / "second.csv").write_text(
        "email,first_name,street,city,state,zip\n"
        "moves@x.org,Moves,4 Main St,New York,NY,10001\n"  # changed address
        "tags@x.org,Tagged,3 Main St,New York,NY,10001\n"  # changed, same address
        "new@x.org,New,5 Main St,New York,NY,10001\n",  # added
        encoding="utf-8",
    )
    result = cli("import", "second.csv", "--geocode", "--format", "json")
    assert json.loads(result.stdout)["added"] == 1
    assert json.loads(result.stderr[result.stderr.index("{") :]) == {
        "sent": 3, "matched": 3, "not_matched": 0, "ties": 0, "failed": 0, "skipped": 0,
    }  # fmt: skip
    assert sorted(sent_streets(standin)) == ["3 Main St", "4 Main St", "5 Main St"]
    (project / "third.csv").write_text(
        "email,first_name,street,city,state,zip\ntags@x.org,Tags again,3 Main St,New York,NY,"
        "10001\n",
        encoding="utf-8",
    )
    text = cli("import", "third.csv", "--geocode").stdout
    assert "No address to send: 1 with a street address" in text  # address unchanged


def test_import_geocode_commits_the_import_even_when_the_geocoder_fails(geocoding_on, cli, standin):
    project = geocoding_on
    (project / "first.csv").write_text(SIGNUPS, encoding="utf-8")
    standin.inject(Fault("status", status=500))
    result = cli("import", "first.csv", "--geocode", ok=False)
    assert "Imported first.csv (3 rows): 3 added" in result.stdout
    assert "answered HTTP 500" in result.stderr
    with sqlite3.connect(project / "subscribers.db") as db:
        assert db.execute("SELECT count(*) FROM subscribers").fetchone()[0] == 3
        geocoded = db.execute("SELECT count(*) FROM subscribers WHERE geo_at IS NOT NULL")
        assert geocoded.fetchone()[0] == 0
    assert cli("import", "first.csv", "--geocode", "--dry-run").stdout.count("Sent") == 0


def test_the_letter_page_lookup_stores_the_block_and_the_hash(geocoding_on, standin):
    project = geocoding_on
    person = add(project, "a@x.org", None)
    db = open_db(project / "subscribers.db")
    try:
        query = AddressQuery.of(person, "1 Main St", "New York", "NY", "10001")
        answer = geocoding.geocode_typed_address(db, CensusGeocoder(standin.url), person, query)
        assert (answer.outcome, answer.block) == (GeoOutcome.MATCHED, BLOCK)
        assert geo(project, person)[:3] == (BLOCK, "matched", query.sha256)
        standin.inject(Fault("status", status=503))
        other = AddressQuery.of(person, "1 Tie Rd", "New York", "NY", "10001")
        with pytest.raises(GeocoderError):
            geocoding.geocode_typed_address(db, CensusGeocoder(standin.url), person, other)
        assert geo(project, person)[:3] == (BLOCK, "matched", query.sha256)
        with pytest.raises(LookupFailed, match="street"):
            blank = AddressQuery.of(person, " ", "New York")
            geocoding.geocode_typed_address(db, CensusGeocoder(standin.url), person, blank)
    finally:
        db.close()
    assert len(standin.requests) == 2 and len(standin.requests[0].rows) == 1


def test_forget_erases_the_geocode(geocoding_on, cli):
    project = geocoding_on
    person = add(project, "a@x.org", "1 Main St")
    run_json(cli)
    assert geo(project, person)[0] == BLOCK
    cli("subscribers", "forget", "a@x.org")
    assert geo(project, person) == (None, None, None, None)


def test_the_progress_callback_reports_each_batch(project, standin):
    add(project, "a@x.org", "1 Main St")
    add(project, "b@x.org", "2 Main St")
    seen: list[tuple[int, int]] = []
    db = open_db(project / "subscribers.db")
    try:
        geocoding.run_geocode(db, CensusGeocoder(standin.url), progress=lambda *a: seen.append(a))
    finally:
        db.close()
    assert seen == [(0, 2), (2, 2)]


def test_a_run_leaves_the_connections_checkpoint_setting_as_it_was(project, standin):
    add(project, "a@x.org", "1 Main St")
    db = open_db(project / "subscribers.db")
    try:
        db.execute("PRAGMA wal_autocheckpoint = 321")
        assert geocoding.run_geocode(db, CensusGeocoder(standin.url)).matched == 1
        assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 321
    finally:
        db.close()
