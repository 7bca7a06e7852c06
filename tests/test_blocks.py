"""Census block files: loading them, and the exact districts they give geocoded subscribers.

The files are written here in the Census Bureau's layouts, with made-up blocks: the
per-state Block Assignment Files (`BLOCKID|DISTRICT`, an empty district for a block in
none) and the Block Equivalency Files of a Congress (`cd119.zip`: `NationalCD119.txt`
and a state file per state that redrew, `GEOID,CDFP`, CRLF). The roster and ZIP map
are the changeover fixtures: ZIP 90210 spans CA-30, CA-32 and CA-36; 84101 is UT-2.
Subscribers' blocks are set directly, as a geocode would store them.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from stats_data import add_campaign

from alerts.db import districts as districts_db
from alerts.db import open_db
from alerts.db.geocodes import Geocode, store_geocodes
from alerts.db.ledger import ledger_freeze
from alerts.errors import RosterError
from alerts.reports.figures import campaign_stats
from alerts.subscribers.normalise import lookup_key
from alerts.targets.blocks import load_blocks
from alerts.targets.districts import choose_district
from alerts.targets.roster import load_roster

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "changeover"
ROSTER_119 = FIXTURES / "legislators-119.yaml"
ROSTER_120 = FIXTURES / "legislators-120.yaml"
CENSUS_119 = FIXTURES / "tab20_cd11920_zcta520_natl.txt"
UTAH_120 = FIXTURES / "tab20_cd12020_zcta520_st49.txt"

# Made-up blocks: state FIPS (06 CA, 49 UT, 11 DC, 46 SD), county, tract, block.
CA_36, CA_30 = "060372627001000", "060372627001001"
CA_WATER, CA_NOWHERE, CA_MISSING = "060379800001000", "060379800001001", "060379999999999"
UT_BLOCK = "490351140001000"
DC_BLOCK, SD_BLOCK = "110010001001000", "460930001001000"

CA_BAF = f"BLOCKID|DISTRICT\n{CA_36}|36\n{CA_30}|30\n{CA_WATER}|ZZ\n{CA_NOWHERE}|\n"
UT_BAF_119 = f"BLOCKID|DISTRICT\n{UT_BLOCK}|03\n"
UT_BAF_120 = f"BLOCKID|DISTRICT\n{UT_BLOCK}|04\n"
NATIONAL_119 = "\r\n".join(
    ["GEOID,CDFP", f"{CA_36},32", f"{CA_30},30", f"{DC_BLOCK},98", f"{UT_BLOCK},02",
     f"{SD_BLOCK},00", ""]
)  # fmt: skip
CA_STATE_119 = f"GEOID,CDFP\r\n{CA_36},36\r\n"  # the state file corrects the national rows


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_bytes(text.encode("utf-8"))
    return path


def national_zip(folder: Path, name: str = "cd119.zip") -> Path:
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("06_CA_CD119.txt", CA_STATE_119)  # before the national file on purpose
        archive.writestr("NationalCD119.txt", NATIONAL_119)
        archive.writestr("README.txt", "not a block file")
    return path


def person(db, zip_code, state, block=None, email=None):
    email = email or f"{zip_code}-{state}-{db['subscribers'].count}@example.org"
    row = {
        "email": email,
        "email_key": lookup_key(email),
        "zip": zip_code,
        "state": state,
        "geo_block": block,
        "geo_outcome": "matched" if block else None,
        "geo_at": "2026-05-01T00:00:00Z" if block else None,
        "created_at": "",
        "updated_at": "",
    }
    return db["subscribers"].insert(row).last_pk


def resolved(db, subscriber_id):
    stored = districts_db.subscriber_district(db, subscriber_id).resolved
    return stored.state, stored.district, stored.confidence, stored.flags


def blocks_in(db, congress=119):
    rows = db.execute(
        "SELECT geoid, district FROM census_blocks WHERE congress = ? ORDER BY geoid", [congress]
    ).fetchall()
    return dict(rows)


@pytest.fixture
def congress_119(db):
    load_roster(db, ROSTER_119, CENSUS_119)
    return db


# --------------------------------------------------------------------------
# Layouts


def test_a_block_assignment_file_makes_a_split_zip_exact(congress_119, tmp_path):
    split = person(congress_119, "90210", "CA", CA_36)
    unknown_block = person(congress_119, "90210", "CA", CA_MISSING)
    not_geocoded = person(congress_119, "90210", "CA")
    districts_db.resolve_districts(congress_119)
    assert resolved(congress_119, split)[2] == "ambiguous"
    found = load_blocks(
        congress_119, [write(tmp_path, "BlockAssign_ST06_CA_CD.txt", CA_BAF)], congress=119
    )
    assert found.states == {"CA": 2} and found.dropped == {"not_a_district": 2}
    assert found.subscribers_changed == 1
    assert blocks_in(congress_119) == {CA_36: 36, CA_30: 30}
    assert resolved(congress_119, split) == ("CA", 36, "exact", ("address",))
    assert resolved(congress_119, unknown_block)[2:] == ("ambiguous", ())  # the ZIP rules
    assert resolved(congress_119, not_geocoded)[2:] == ("ambiguous", ())


def test_the_national_equivalency_zip_with_its_state_files(congress_119, tmp_path):
    dc = person(congress_119, "20001", "DC", DC_BLOCK)
    sd = person(congress_119, "57717", "SD", SD_BLOCK)
    found = load_blocks(congress_119, [national_zip(tmp_path)], congress=119)
    assert [f["file"] for f in found.files] == [
        f"{tmp_path / 'cd119.zip'} (NationalCD119.txt)",
        f"{tmp_path / 'cd119.zip'} (06_CA_CD119.txt)",
    ]
    assert found.files[1]["states"] == ["CA"] and found.files[0]["states"] == [
        "CA", "DC", "SD", "UT"]  # fmt: skip
    # 98 (DC's delegate) and 00 (at-large) are district 0, as in the ZIP maps.
    assert blocks_in(congress_119) == {
        CA_36: 36, DC_BLOCK: 0, UT_BLOCK: 2, SD_BLOCK: 0}  # fmt: skip
    assert found.states == {"CA": 1, "DC": 1, "SD": 1, "UT": 1}
    assert resolved(congress_119, dc) == ("DC", 0, "exact", ("address",))
    assert resolved(congress_119, sd) == ("SD", 0, "exact", ("address",))
    record = congress_119.execute(
        "SELECT source_file, state_fips, blocks FROM block_files WHERE state = 'CA'"
    ).fetchone()
    assert record == (f"{tmp_path / 'cd119.zip'} (06_CA_CD119.txt)", "06", 1)


def test_a_later_file_replaces_an_earlier_ones_state(congress_119, tmp_path):
    national = write(tmp_path, "NationalCD119.txt", NATIONAL_119)
    state = write(tmp_path, "06_CA_CD119.txt", CA_STATE_119)
    load_blocks(congress_119, [national, state], congress=119)
    assert blocks_in(congress_119)[CA_36] == 36 and CA_30 not in blocks_in(congress_119)
    load_blocks(congress_119, [state, national], congress=119)
    assert blocks_in(congress_119)[CA_36] == 32 and blocks_in(congress_119)[CA_30] == 30


def test_other_spellings_of_the_layouts(congress_119, tmp_path):
    spaced = write(tmp_path, "06_CA_CD118.txt", f"\ufeffGEOID, CDFP\n{CA_36}, 36\n")
    named = write(tmp_path, "49_UT_CD119.txt", f"BLOCKID,CD119FP\n{UT_BLOCK},01\n")
    load_blocks(congress_119, [spaced, named], congress=119)
    assert blocks_in(congress_119) == {CA_36: 36, UT_BLOCK: 1}


def test_loading_a_state_again_replaces_its_blocks_only(congress_119, tmp_path):
    load_blocks(congress_119, [national_zip(tmp_path)], congress=119)
    load_blocks(congress_119, [write(tmp_path, "ca.txt", CA_BAF)], congress=119)
    assert blocks_in(congress_119) == {
        CA_36: 36, CA_30: 30, DC_BLOCK: 0, UT_BLOCK: 2, SD_BLOCK: 0}  # fmt: skip
    load_blocks(congress_119, [write(tmp_path, "ut.txt", UT_BAF_120)], congress=120)
    assert blocks_in(congress_119, 120) == {UT_BLOCK: 4}
    assert blocks_in(congress_119)[UT_BLOCK] == 2  # each Congress keeps its own


def test_states_limits_what_is_loaded(cli, project, tmp_path):
    zipped = national_zip(tmp_path)
    result = cli("targets", "load-blocks", str(zipped), "--congress", "119", "--states", "ut,dc")
    assert "Loaded block files for the 119th Congress: DC 1, UT 1." in result.stdout
    db = open_db(project / "subscribers.db")
    assert blocks_in(db) == {DC_BLOCK: 0, UT_BLOCK: 2}
    missing = cli("targets", "load-blocks", str(zipped), "--congress", "119",
                  "--states", "NV", ok=False)  # fmt: skip
    assert missing.stderr.strip().splitlines()[-1].endswith(": no blocks of NV (--states)")


def test_load_blocks_prints_json(cli, project, tmp_path):
    path = write(tmp_path, "BlockAssign_ST06_CA_CD.txt", CA_BAF)
    result = cli("targets", "load-blocks", str(path), "--congress", "119", "--format", "json")
    data = json.loads(result.stdout)
    assert data["congress"] == 119 and data["states"] == {"CA": 2}
    assert data["dropped"] == {"not_a_district": 2} and data["subscribers_changed"] == 0
    assert data["files"][0]["file"] == str(path) and len(data["files"][0]["sha256"]) == 64
    text = cli("targets", "load-blocks", str(path), "--congress", "119").stdout
    assert "Blocks left out: 2 in no district (ZZ)." in text


# --------------------------------------------------------------------------
# Bad files: one line naming the file and line; nothing changes


NOT_A_CODE = "is not a district code (01-53, 00 at-large, 98 delegate or ZZ)"
BAD_FILES = [
    ("", "bad.txt: empty file: expected a header such as GEOID,CDFP"),
    ("GEOID|ZONE\n060372627001000|01\n",
     "bad.txt: line 1: missing a district column (DISTRICT, CDFP or CD<NNN>)"),
    ("BLOCK,CDFP\n060372627001000,01\n",
     "bad.txt: line 1: missing a block column (BLOCKID or GEOID)"),
    ("BLOCKID,CD113\n060372627001000,01\n",
     "bad.txt: line 1: its districts are the 113th Congress's (CD113), not the 119th's as"
     " --congress says"),
    ("GEOID,CDFP\n060372627001000,01\n06037262700100,01\n",
     "bad.txt: line 3: block '06037262700100' is not a 15-digit census block GEOID"),
    ("GEOID,CDFP\n06037262700100X,01\n",
     "bad.txt: line 2: block '06037262700100X' is not a 15-digit census block GEOID"),
    ("GEOID,CDFP\n030372627001000,01\n",
     "bad.txt: line 2: block 030372627001000: 03 is not a state FIPS code"),
    ("GEOID,CDFP\n060372627001000,54\n",
     f"bad.txt: line 2: district '54' {NOT_A_CODE}"),
    ("GEOID,CDFP\n060372627001000,7\n",
     f"bad.txt: line 2: district '7' {NOT_A_CODE}"),
    ("GEOID,CDFP\n060372627001000,01,x\n", "bad.txt: line 2: 3 fields, the header has 2"),
    ("GEOID,CDFP\n060372627001000,01\n060372627001001,02\n060372627001000,03\n",
     "bad.txt: line 4: block 060372627001000 is listed twice"),
    ("GEOID,CDFP\nZZ,ZZ\n", "bad.txt: line 2: block 'ZZ' is not a 15-digit census block GEOID"),
    ("GEOID,CDFP\n", "bad.txt: no blocks after the header (line 1)"),
    ("GEOID,CDFP\n\n\n", "bad.txt: no blocks after the header (line 1)"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_a_bad_file_is_one_line_and_changes_nothing(cli, project, tmp_path, content, message):
    good = write(tmp_path, "good.txt", UT_BAF_119)
    cli("targets", "load-blocks", str(write(tmp_path, "ca.txt", CA_BAF)), "--congress", "119")
    bad = write(tmp_path, "bad.txt", content)
    result = cli("targets", "load-blocks", str(good), str(bad), "--congress", "119", ok=False)
    assert result.stderr.strip().splitlines() == [f"Error: {tmp_path / message}"]
    db = open_db(project / "subscribers.db")
    assert blocks_in(db) == {CA_36: 36, CA_30: 30}  # the good file's UT is not loaded either
    assert [row[0] for row in db.execute("SELECT state FROM block_files")] == ["CA"]


def test_text_that_is_not_utf8_is_refused(congress_119, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"GEOID,CDFP\n060372627001000,01\n06037262700100\xe9,01\n")
    with pytest.raises(RosterError, match=r"latin1.txt: line 3: not UTF-8 text"):
        load_blocks(congress_119, [path], congress=119)


def test_missing_files_and_zips_without_block_files(cli, project, tmp_path):
    gone = cli("targets", "load-blocks", str(tmp_path / "gone.txt"), "--congress", "119", ok=False)
    assert gone.stderr.strip() == f"Error: {tmp_path / 'gone.txt'}: file not found"
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("BlockAssign_ST06_CA_SLDU.txt", "BLOCKID|DISTRICT\n")
    result = cli("targets", "load-blocks", str(other), "--congress", "119", ok=False)
    assert result.stderr.strip() == (
        f"Error: {other}: no congressional district block file in the zip"
    )
    needs = cli("targets", "load-blocks", str(other), ok=False)
    assert "Missing option '--congress'" in needs.stderr


# --------------------------------------------------------------------------
# Status


def test_status_lists_each_states_block_files(cli, project, tmp_path):
    cli("targets", "load", "--legislators", str(ROSTER_119), "--zip-districts", str(CENSUS_119))
    before = json.loads(cli("targets", "status", "--format", "json").stdout)
    assert before["blocks"] == {}
    cli("targets", "load-blocks", str(national_zip(tmp_path)), "--congress", "119")
    cli("targets", "load-blocks", str(write(tmp_path, "ut.txt", UT_BAF_120)), "--congress", "120")
    after = json.loads(cli("targets", "status", "--format", "json").stdout)
    assert after["blocks"] == {"CA": [119], "DC": [119], "SD": [119], "UT": [119, 120]}
    assert set(after) == set(before)  # the existing keys stay
    text = cli("targets", "status").stdout
    assert "Block files: the 119th Congress: CA, DC, SD, UT; the 120th Congress: UT" in text


# --------------------------------------------------------------------------
# Downloading


@pytest.fixture
def subscribed(cli, project):
    """The 119th roster, and people in CA (one geocoded) and UT."""
    cli("targets", "load", "--legislators", str(ROSTER_119), "--zip-districts", str(CENSUS_119))
    db = open_db(project / "subscribers.db")
    ids = {"ca": person(db, "90210", "CA", CA_36), "ut": person(db, "84101", "UT")}
    districts_db.resolve_districts(db)
    db.conn.commit()
    db.close()
    return ids


def test_update_downloads_each_subscriber_states_file(cli, project, subscribed, file_server):
    base, folder = file_server
    write(folder, "BlockAssign_ST06_CA_CD.txt", CA_BAF)
    write(folder, "BlockAssign_ST49_UT_CD.txt", UT_BAF_119)
    write(folder, "BlockAssign_ST11_DC_CD.txt", f"BLOCKID|DISTRICT\n{DC_BLOCK}|98\n")
    url = base + "/BlockAssign_ST{fips}_{state}_CD.txt"
    result = cli("targets", "update", "--blocks", "--blocks-url", url)
    assert result.stderr.splitlines() == [
        f"Downloading {base}/BlockAssign_ST06_CA_CD.txt",
        f"Downloading {base}/BlockAssign_ST49_UT_CD.txt",
    ]  # the roster's Congress, for the states that have subscribers only
    assert "Loaded block files for the 119th Congress: CA 2, UT 1." in result.stdout
    db = open_db(project / "subscribers.db")
    assert resolved(db, subscribed["ca"]) == ("CA", 36, "exact", ("address",))
    names = [row[0] for row in db.execute("SELECT source_file FROM block_files ORDER BY state")]
    assert names == [f"{base}/BlockAssign_ST06_CA_CD.txt", f"{base}/BlockAssign_ST49_UT_CD.txt"]


def test_update_downloads_a_national_file_once(cli, project, subscribed, file_server):
    base, folder = file_server
    national_zip(folder / "..", "served/cd120.zip")
    result = cli("targets", "update", "--blocks", "--congress", "120",
                 "--blocks-url", base + "/cd{congress}.zip", "--format", "json")  # fmt: skip
    assert result.stderr.splitlines() == [f"Downloading {base}/cd120.zip"]
    data = json.loads(result.stdout)
    assert data["congress"] == 120 and data["states"] == {"CA": 1, "UT": 1}  # not DC nor SD
    assert [f["file"] for f in data["files"]] == [
        f"{base}/cd120.zip (NationalCD119.txt)", f"{base}/cd120.zip (06_CA_CD119.txt)"]  # fmt: skip


def test_a_failed_download_changes_nothing(cli, project, subscribed, file_server):
    base, folder = file_server
    write(folder, "BlockAssign_ST06_CA_CD.txt", CA_BAF)
    url = base + "/BlockAssign_ST{fips}_{state}_CD.txt"
    result = cli("targets", "update", "--blocks", "--blocks-url", url, ok=False)
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {base}/BlockAssign_ST49_UT_CD.txt: download failed (HTTP 404 File not found)"
    )
    db = open_db(project / "subscribers.db")
    assert blocks_in(db) == {} and db.execute("SELECT count(*) FROM block_files").fetchone() == (0,)
    bad = cli("targets", "update", "--blocks", "--blocks-url", base + "/{county}.txt", ok=False)
    assert "--blocks-url " + base + "/{county}.txt: only {fips}, {state}, {congress}" in bad.stderr


def test_update_options_that_do_not_go_together(cli, project):
    alone = cli("targets", "update", "--blocks-url", "http://127.0.0.1:9/x", ok=False)
    assert "--blocks-url needs --blocks" in alone.stderr
    mixed = cli("targets", "update", "--blocks", "--legislators-url", "http://x/l.yaml", ok=False)
    assert "--legislators-url updates the roster: it does not go with --blocks" in mixed.stderr
    nothing = cli("targets", "update", "--blocks", ok=False)  # no roster, so no Congress
    assert "give --congress N" in nothing.stderr


# --------------------------------------------------------------------------
# Precedence: the subscriber's own pick, then the block file, then the ZIP


def test_a_pick_wins_over_the_block_and_the_block_over_the_zip(congress_119, tmp_path):
    picked = person(congress_119, "90210", "CA", CA_36)
    districts_db.resolve_districts(congress_119)
    choose_district(congress_119, picked, 30)
    assert resolved(congress_119, picked) == ("CA", 30, "ambiguous", ("chosen",))
    load_blocks(congress_119, [write(tmp_path, "ca.txt", CA_BAF)], congress=119)
    assert resolved(congress_119, picked) == ("CA", 30, "ambiguous", ("chosen",))
    districts_db.store_district_choice(congress_119, picked, None)
    assert resolved(congress_119, picked) == ("CA", 36, "exact", ("address",))
    congress_119.execute("UPDATE subscribers SET geo_block = NULL WHERE id = ?", [picked])
    districts_db.resolve_districts(congress_119)
    assert resolved(congress_119, picked) == ("CA", None, "ambiguous", ())


def test_a_stored_batch_of_geocodes_keeps_the_precedence(congress_119, tmp_path):
    load_blocks(congress_119, [write(tmp_path, "ca.txt", CA_BAF)], congress=119)
    picked, other, missed = (person(congress_119, "90210", "CA") for _ in range(3))
    districts_db.resolve_districts(congress_119)
    choose_district(congress_119, picked, 30)
    at = "2026-06-01T00:00:00Z"
    store_geocodes(congress_119, [
        Geocode(picked, "matched", CA_36, "a" * 64, at),
        Geocode(other, "matched", CA_36, "b" * 64, at),
        Geocode(missed, "no_match", None, "c" * 64, at)])  # fmt: skip
    assert resolved(congress_119, picked) == ("CA", 30, "ambiguous", ("chosen",))
    assert resolved(congress_119, other) == ("CA", 36, "exact", ("address",))
    assert resolved(congress_119, missed) == ("CA", None, "ambiguous", ())
    columns = "id, geo_block, geo_outcome, geo_address_sha256, geo_at"
    stored = congress_119.execute(f"SELECT {columns} FROM subscribers ORDER BY id").fetchall()
    assert stored == [(picked, CA_36, "matched", "a" * 64, at),
                      (other, CA_36, "matched", "b" * 64, at),
                      (missed, None, "no_match", "c" * 64, at)]  # fmt: skip


def test_the_block_wins_over_a_state_the_zip_contradicts(congress_119, tmp_path):
    elsewhere = person(congress_119, "84101", "NV", UT_BLOCK)  # typed NV; lives in UT-3
    districts_db.resolve_districts(congress_119)
    assert "state_mismatch" in resolved(congress_119, elsewhere)[3]
    load_blocks(congress_119, [write(tmp_path, "ut.txt", UT_BAF_119)], congress=119)
    assert resolved(congress_119, elsewhere) == ("UT", 3, "exact", ("address",))


def test_a_block_of_an_empty_seat_is_flagged_vacant(congress_119, tmp_path):
    vacant = person(congress_119, "90210", "CA", CA_36)
    load_blocks(congress_119, [write(tmp_path, "ca.txt", f"GEOID,CDFP\n{CA_36},12\n")],
                congress=119)  # fmt: skip
    assert resolved(congress_119, vacant) == ("CA", 12, "exact", ("address", "vacant"))


def test_roster_and_map_loads_keep_the_block_answer_and_count_moves(congress_119, tmp_path):
    split = person(congress_119, "90210", "CA", CA_36)
    districts_db.resolve_districts(congress_119)
    load_blocks(congress_119, [write(tmp_path, "ca.txt", CA_BAF)], congress=119)
    diff = load_roster(congress_119, ROSTER_119, CENSUS_119)
    assert resolved(congress_119, split) == ("CA", 36, "exact", ("address",))
    assert {m.state: m.subscribers_moved for m in diff.maps}.get("CA") == 0


# --------------------------------------------------------------------------
# The changeover: the next Congress's files re-resolve blocks, with no new geocoding


def test_after_a_changeover_the_next_congress_files_resolve_blocks_again(congress_119, tmp_path):
    utah = person(congress_119, "84101", "UT", UT_BLOCK)
    load_blocks(congress_119, [write(tmp_path, "ut-119.txt", UT_BAF_119)], congress=119)
    assert resolved(congress_119, utah) == ("UT", 3, "exact", ("address",))
    geocoded = congress_119.execute(
        "SELECT geo_block, geo_outcome, geo_at FROM subscribers WHERE id = ?", [utah]
    ).fetchone()
    diff = load_roster(congress_119, ROSTER_120)  # UT redrew; its map and blocks are the 119th's
    assert resolved(congress_119, utah) == ("UT", None, "unknown", ("map_outdated",))
    assert {m.state: m for m in diff.maps} == {}
    found = load_blocks(congress_119, [write(tmp_path, "ut-120.txt", UT_BAF_120)], congress=120)
    assert found.subscribers_changed == 1
    assert resolved(congress_119, utah) == ("UT", 4, "exact", ("address",))
    again = congress_119.execute(
        "SELECT geo_block, geo_outcome, geo_at FROM subscribers WHERE id = ?", [utah]
    ).fetchone()
    assert again == geocoded


def test_next_congress_files_loaded_early_apply_at_the_changeover(congress_119, tmp_path):
    utah = person(congress_119, "84101", "UT", UT_BLOCK)
    load_blocks(congress_119, [write(tmp_path, "ut-119.txt", UT_BAF_119)], congress=119)
    load_blocks(congress_119, [write(tmp_path, "ut-120.txt", UT_BAF_120)], congress=120)
    assert resolved(congress_119, utah) == ("UT", 3, "exact", ("address",))  # still the 119th
    diff = load_roster(congress_119, ROSTER_120)
    assert resolved(congress_119, utah) == ("UT", 4, "exact", ("address",))
    assert diff.confidence["exact"] >= 1


LETTER_CAMPAIGN = """\
---
subject: "Write to Congress"
kind: action
letter:
  to: [house, senate]
  subject: "Please act"
  body: |
    Dear {{ target.title }} {{ target.last_name }}, please act.
---
Your letter is ready.
"""


def test_an_outdated_zip_map_does_not_stop_a_send_to_people_with_current_blocks(
    cli, project, tmp_path, monkeypatch
):
    monkeypatch.setenv("ALERTS_TODAY", "2027-01-05")
    (project / "campaigns" / "letters.md").write_text(LETTER_CAMPAIGN, encoding="utf-8")
    cli("targets", "load", "--legislators", str(ROSTER_120), "--zip-districts", str(CENSUS_119))
    db = open_db(project / "subscribers.db")
    utah = person(db, "84101", "UT", UT_BLOCK, email="ut@example.org")
    districts_db.resolve_districts(db)
    db.conn.commit()
    refused = cli("campaigns", "check", "letters", ok=False)
    assert "the House map of UT is for the 119th Congress" in refused.stderr
    cli("targets", "load-blocks", str(write(tmp_path, "ut.txt", UT_BAF_120)), "--congress", "120")
    assert resolved(db, utah) == ("UT", 4, "exact", ("address",))
    assert "ok       letters:" in cli("campaigns", "check", "letters").stdout


# --------------------------------------------------------------------------
# Statistics: how each recipient's district was known, frozen at send time


def test_stats_count_how_recipients_were_addressed_as_frozen(congress_119, tmp_path):
    by_address = person(congress_119, "90210", "CA", CA_36)
    by_pick = person(congress_119, "90210", "CA")
    by_zip = person(congress_119, "84101", "UT")
    nowhere = person(congress_119, "90210", "CA", CA_MISSING)
    districts_db.resolve_districts(congress_119)
    choose_district(congress_119, by_pick, 32)
    load_blocks(congress_119, [write(tmp_path, "ca.txt", CA_BAF)], congress=119)
    letter = add_campaign(congress_119, "letter", started="2026-06-01T00:00:00Z")
    news = add_campaign(congress_119, "news", started="2026-06-01T00:00:00Z", kind="update")
    assert sorted(ledger_freeze(congress_119, letter, None)) == sorted(
        [by_address, by_pick, by_zip, nowhere]
    )
    ledger_freeze(congress_119, news, None)
    expected = {"address": 1, "zip": 1, "chosen": 1, "unknown": 1}
    assert campaign_stats(congress_119, "letter").as_json()["addressed"] == expected
    assert "addressed" not in campaign_stats(congress_119, "news").as_json()
    # Later changes to the subscribers change no past figure.
    congress_119.execute("UPDATE subscribers SET geo_block = NULL")
    districts_db.store_district_choice(congress_119, by_pick, None)
    districts_db.resolve_districts(congress_119)
    assert campaign_stats(congress_119, "letter").as_json()["addressed"] == expected


def test_stats_text_and_report_show_how_recipients_were_addressed(cli, project, tmp_path):
    cli("targets", "load", "--legislators", str(ROSTER_119), "--zip-districts", str(CENSUS_119))
    db = open_db(project / "subscribers.db")
    person(db, "90210", "CA", CA_36)
    person(db, "84101", "UT")
    districts_db.resolve_districts(db)
    load_blocks(db, [write(tmp_path, "ca.txt", CA_BAF)], congress=119)
    ledger_freeze(db, add_campaign(db, "letter", started="2026-06-01T00:00:00Z"), None)
    db.conn.commit()
    text = cli("stats", "letter").stdout
    lines = text[text.index("House districts of the recipients") :].splitlines()[1:7]
    cells = [line.split("  ")[0].strip() + " " + line.split()[-1] for line in lines[2:6]]
    assert cells == ["By street address 1", "By ZIP 1", "By their own pick 0", "Not at all 0"]
    page = cli("stats", "letter", "--format", "html").stdout
    assert "House districts" in page and "By street address" in page
    assert json.loads(cli("stats", "letter", "--format", "json").stdout)["addressed"] == {
        "address": 1, "zip": 1, "chosen": 0, "unknown": 0}  # fmt: skip


def test_old_ledger_rows_count_as_not_known(congress_119):
    letter = add_campaign(congress_119, "old", started="2026-06-01T00:00:00Z")
    sid = person(congress_119, "84101", "UT")
    congress_119["send_ledger"].insert(
        {"campaign_id": letter, "subscriber_id": sid, "state": "sent", "updated_at": ""}
    )
    addressed = campaign_stats(congress_119, "old").as_json()["addressed"]
    assert addressed == {"address": 0, "zip": 0, "chosen": 0, "unknown": 1}


def test_a_big_file_is_loaded_in_batches_and_hashed_whole(congress_119, tmp_path):
    rows = [f"06{n:013d}|{1 + n % 53:02d}" for n in range(120_000)]
    path = write(tmp_path, "big.txt", "BLOCKID|DISTRICT\n" + "\n".join(rows) + "\n")
    found = load_blocks(congress_119, [path], congress=119)
    assert found.states == {"CA": 120_000}  # more than one batch
    assert found.files[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
