"""The Congress changeover: one clock, terms, vintages, per-state maps, redrawn states, guards,
and the Census Bureau's relationship files.

The fixtures in tests/fixtures/changeover/ are small and fictional, in the public files'
layouts: rosters of the 119th and 120th Congresses (legislators-current.yaml), the 119th's
national relationship file (UTF-8 with a byte-order mark, CRLF) and Utah's 120th file.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tracking_helpers import token

from alerts import clock
from alerts.clock import ClockError
from alerts.config import Config
from alerts.db import campaigns as campaigns_db
from alerts.db import districts as districts_db
from alerts.db import events as events_db
from alerts.db import roster as roster_db
from alerts.db import segments as segments_db
from alerts.email.links import TokenKind
from alerts.errors import RosterError
from alerts.models import DistrictIn, Event
from alerts.pipeline import preview_recipient
from alerts.reports.figures import campaign_stats
from alerts.subscribers.normalise import lookup_key
from alerts.targets.congresses import congress_end, congress_on, congress_start, ordinal
from alerts.targets.lookup import candidate_members, lookup, lookup_answer, targets_for
from alerts.targets.redrawn import read_redrawn
from alerts.targets.roster import load_roster, roster_status, sample_files
from alerts.targets.sources import read_source
from alerts.targets.zip_maps import read_zip_map
from alerts.web.app import create_app

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "changeover"
ROSTER_119 = FIXTURES / "legislators-119.yaml"
ROSTER_120 = FIXTURES / "legislators-120.yaml"
CENSUS_119 = FIXTURES / "tab20_cd11920_zcta520_natl.txt"
UTAH_120 = FIXTURES / "tab20_cd12020_zcta520_st49.txt"

BEFORE_THE_SPECIAL_ELECTION = "2026-11-03"  # OH's appointed senator serves through this day
AFTER_THE_SPECIAL_ELECTION = "2026-11-04"
AFTER_THE_CHANGEOVER = "2027-01-05"


def person(db, zip_code, state):
    email = f"{zip_code}-{state}-{db['subscribers'].count}@example.org"
    row = {"email": email, "email_key": lookup_key(email), "zip": zip_code, "state": state}
    return db["subscribers"].insert({**row, "created_at": "", "updated_at": ""}).last_pk


def resolved(db, subscriber_id):
    stored = districts_db.subscriber_district(db, subscriber_id).resolved
    return stored.state, stored.district, stored.confidence, stored.flags


def house_of(db, subscriber_id):
    return [m.full_name for m in targets_for(db, subscriber_id).house]


def senators_of(db, subscriber_id):
    return [m.full_name for m in targets_for(db, subscriber_id).senate]


@pytest.fixture
def congress_119(db):
    load_roster(db, ROSTER_119, CENSUS_119)
    return db


@pytest.fixture
def today(monkeypatch):
    def set_today(day: str) -> None:
        monkeypatch.setenv("ALERTS_TODAY", day)

    return set_today


# --------------------------------------------------------------------------
# The one clock, and the calendar of Congresses


def test_today_is_the_utc_date_unless_alerts_today_says_otherwise(today):
    assert clock.today() == datetime.now(UTC).date()
    today("2027-01-05")
    assert clock.today() == date(2027, 1, 5)


@pytest.mark.parametrize("value", ["2027-1-5", "2027-02-30", "tomorrow", "20270105"])
def test_a_bad_alerts_today_is_refused(today, value):
    today(value)
    with pytest.raises(ClockError, match=f"ALERTS_TODAY={value!r} is not a date"):
        clock.today()


def test_a_bad_alerts_today_is_one_line_on_the_command_line(cli, project, today):
    today("5 January 2027")
    result = cli("targets", "status", ok=False)
    assert result.stderr.strip().splitlines() == [
        "Error: ALERTS_TODAY='5 January 2027' is not a date: write it as YYYY-MM-DD"
    ]


def test_the_calendar_of_congresses():
    assert congress_start(119) == date(2025, 1, 3) and congress_end(119) == date(2027, 1, 3)
    assert congress_on(date(2026, 11, 3)) == 119
    assert congress_on(date(2027, 1, 2)) == 119
    assert congress_on(date(2027, 1, 3)) == 120  # the handover day belongs to the new one
    assert [ordinal(n) for n in (119, 120, 121, 122, 123, 111, 112)] == [
        "119th", "120th", "121st", "122nd", "123rd", "111th", "112th",
    ]  # fmt: skip


# --------------------------------------------------------------------------
# Terms


def test_terms_are_stored_and_each_roster_records_its_congress(congress_119, tmp_path):
    members = {m.bioguide: m for m in roster_db.roster_members(congress_119)}
    assert (members["Y900002"].term_start, members["Y900002"].term_end) == (
        "2025-01-03",
        "2027-01-03",
    )  # the last term is the current one
    assert members["Y900101"].term_end == "2026-11-03"
    assert roster_db.roster_congress(congress_119) == 119  # a 2026 special election: still 119
    assert load_roster(congress_119, ROSTER_120).congress == 120

    csv_roster = tmp_path / "legislators-current.csv"
    csv_roster.write_text(
        "bioguide_id,last_name,first_name,type,state,district\nY1,Doe,Jo,rep,UT,2\n",
        encoding="utf-8",
    )
    assert load_roster(congress_119, csv_roster).congress is None  # the CSV has no term dates


def test_a_bad_term_date_is_refused(db, tmp_path):
    roster = tmp_path / "roster.yaml"
    roster.write_text(
        "- id: {bioguide: X1}\n  name: {last: Doe}\n"
        "  terms: [{type: sen, state: OH, start: soon, end: '2031-01-03'}]\n",
        encoding="utf-8",
    )
    with pytest.raises(RosterError, match=r"legislator 1 \(X1\): term start 'soon' is not a date"):
        load_roster(db, roster, CENSUS_119)


def test_a_member_whose_term_ended_is_no_target(congress_119, today):
    ohio = person(congress_119, "43001", "OH")
    districts_db.resolve_districts(congress_119)
    today(BEFORE_THE_SPECIAL_ELECTION)  # the term's last day: still serving
    assert senators_of(congress_119, ohio) == ["Bernice Buckeye", "Jon Appointee"]
    today(AFTER_THE_SPECIAL_ELECTION)
    assert senators_of(congress_119, ohio) == ["Bernice Buckeye"]
    assert house_of(congress_119, ohio) == ["Greg Riverton"]
    today(AFTER_THE_CHANGEOVER)
    found = targets_for(congress_119, ohio)
    assert found.house == [] and found.vacant_house and found.representative is None


def test_preview_for_a_subscriber_never_shows_a_former_member(congress_119, today):
    ohio = person(congress_119, "43001", "OH")
    districts_db.resolve_districts(congress_119)
    email = congress_119.execute("SELECT email FROM subscribers WHERE id = ?", [ohio]).fetchone()[0]
    today(AFTER_THE_SPECIAL_ELECTION)
    shown = preview_recipient(congress_119, email)
    assert not shown.is_sample
    assert [m.full_name for m in shown.targets.senate] == ["Bernice Buckeye"]


def test_lookup_gives_an_ended_term_like_a_vacancy(cli, project, today):
    cli("targets", "load", "--legislators", str(ROSTER_119), "--zip-districts", str(CENSUS_119))
    today(AFTER_THE_SPECIAL_ELECTION)
    result = cli("targets", "lookup", "43001", "--format", "json")
    house, *senate = json.loads(result.stdout)
    assert house["full_name"] == "Greg Riverton" and "term_ended" not in house
    ended = next(t for t in senate if t.get("term_ended"))
    assert ended == {
        "chamber": "senate", "full_name": None, "last_name": None, "title": "Senator",
        "party": None, "state": "OH", "district": None, "phone": None, "contact_url": None,
        "twitter": None, "vacant": True, "term_ended": True,
    }  # fmt: skip
    assert (
        "Note: The term of Senator Jon Appointee (OH) ended on 2026-11-03: the roster is out of"
        " date; run `alerts targets update`." in result.stderr
    )
    assert "term ended" in cli("targets", "lookup", "43001").stdout


def test_the_picker_offers_serving_members_largest_share_first(congress_119, today):
    hills = person(congress_119, "90210", "CA")
    districts_db.resolve_districts(congress_119)
    found = targets_for(congress_119, hills)
    assert found.candidates == [32, 36, 30]  # 62%, 38% and 0.08% of the ZIP's land
    names = [m.full_name for m in candidate_members(congress_119, found)]
    assert names == ["Brad Canyonly", "Ted Beverlin", "Laura Hollywoodson"]
    today(AFTER_THE_CHANGEOVER)
    assert candidate_members(congress_119, targets_for(congress_119, hills)) == []


def test_district_segments_skip_districts_from_an_outdated_map(congress_119):
    utah = person(congress_119, "84101", "UT")
    nevada = person(congress_119, "84034", "NV")
    districts_db.resolve_districts(congress_119)
    segment = DistrictIn((("UT", 2), ("NV", 2)))
    assert segments_db.segment_subscriber_ids(congress_119, segment) == [utah, nevada]
    load_roster(congress_119, ROSTER_120)  # Utah redrew its districts: its map is the 119th's
    assert segments_db.segment_subscriber_ids(congress_119, segment) == [nevada]


def test_past_campaigns_keep_their_statistics(congress_119, today):
    ohio = person(congress_119, "43001", "OH")
    campaign_id = campaigns_db.register_campaign(congress_119, "past", "action", "Write", "")
    letter = Event("letter_sent", campaign_id, ohio, at=1_780_000_000, target="Y900101")
    events_db.insert_event(congress_119, letter)
    congress_119.conn.commit()
    today(AFTER_THE_CHANGEOVER)
    load_roster(congress_119, ROSTER_120)  # the senator is gone from the roster
    members = campaign_stats(congress_119, "past").members
    assert [(m.target, m.letters) for m in members] == [("Y900101", 1)]


# --------------------------------------------------------------------------
# Vintages


def test_each_state_map_records_the_congress_its_file_names(congress_119):
    maps = {record.state: record.congress for record in districts_db.zip_maps(congress_119)}
    assert maps == dict.fromkeys(["CA", "CT", "DC", "MT", "NV", "OH", "SD", "UT", "WY"], 119)


def test_a_map_that_does_not_name_its_congress_needs_the_option(cli, project):
    zccd = sample_files()["zip_districts"]
    args = ["targets", "load", "--legislators", str(ROSTER_119), "--zip-districts", str(zccd)]
    result = cli(*args, ok=False)
    assert result.stderr.strip().splitlines() == [
        f"Error: {zccd}: the file does not say which Congress its districts are for:"
        " give --congress N (119 for the districts of 2025-2027)"
    ]
    cli(*args, "--congress", "119")
    status = json.loads(cli("targets", "status", "--format", "json").stdout)
    assert set(status["maps"].values()) == {119}


def test_the_congress_option_must_agree_with_the_census_columns(db):
    with pytest.raises(RosterError, match=r"119th Congress's \(GEOID_CD119_20\), not the 120th"):
        load_roster(db, ROSTER_119, CENSUS_119, congress=120)


def test_status_gains_the_roster_congress_the_maps_and_what_is_stale(cli, project, today):
    cli("targets", "load", "--legislators", str(ROSTER_119), "--zip-districts", str(CENSUS_119))
    today("2026-06-01")
    status = json.loads(cli("targets", "status", "--format", "json").stdout)
    assert {"version", "members", "zip_codes", "vacant_seats", "subscribers", "flags"} <= set(
        status
    )
    assert status["roster_congress"] == 119 and status["maps"]["UT"] == 119
    assert status["stale"] == []
    today(AFTER_THE_SPECIAL_ELECTION)
    stale = json.loads(cli("targets", "status", "--format", "json").stdout)["stale"]
    assert stale == ["the term of Senator Jon Appointee (OH) ended on 2026-11-03"]
    text = cli("targets", "status").stdout
    assert "Roster: the 119th Congress" in text
    assert "Warning: the term of Senator Jon Appointee (OH) ended on 2026-11-03." in text
    assert "Run `alerts targets update`" in text


# --------------------------------------------------------------------------
# Per-state maps


def test_a_state_map_replaces_that_state_only_and_counts_what_moved(cli, project):
    cli("targets", "load", "--legislators", str(ROSTER_119), "--zip-districts", str(CENSUS_119))
    people = project / "people.csv"
    people.write_text(
        "email,zip,state\nut1@example.org,84101,UT\nut2@example.org,84034,UT\n"
        "nv@example.org,84034,NV\nct@example.org,06437,CT\n",
        encoding="utf-8",
    )
    cli("import", str(people))
    cli("targets", "load", "--legislators", str(ROSTER_120))
    out = cli("targets", "load", "--zip-districts", str(UTAH_120), "--states", "UT").stdout
    assert "The roster is unchanged: this load replaced ZIP maps only." in out
    assert "ZIP maps replaced (the 120th Congress):\n  UT: 2 ZIPs changed districts," in out
    assert "UT: 2 ZIPs changed districts, 2 subscribers moved" in out
    assert "Rows left out of the map: 1 in no ZIP." in out
    found = {
        t["state"]: (t["district"], t["full_name"])
        for t in json.loads(cli("targets", "lookup", "84034", "--format", "json").stdout)
        if t["chamber"] == "house"
    }
    assert found == {"NV": (2, "Mark Sierrano"), "UT": (3, "Owen Wasatchly")}
    status = json.loads(cli("targets", "status", "--format", "json").stdout)
    assert status["maps"]["UT"] == 120 and status["maps"]["NV"] == 119


def test_a_national_file_of_an_older_congress_keeps_a_newer_state_map(congress_119):
    load_roster(congress_119, ROSTER_120, UTAH_120)
    kept = load_roster(congress_119, zip_districts=CENSUS_119)
    assert kept.maps_kept == {"UT": 120}
    assert "UT" not in {change.state for change in kept.maps}
    named = load_roster(congress_119, zip_districts=CENSUS_119, states=["UT"])
    assert [(c.state, c.congress, c.previous_congress) for c in named.maps] == [("UT", 119, 120)]


def test_states_the_file_lacks_are_refused(congress_119):
    with pytest.raises(RosterError, match=r"st49\.txt: no rows for NV, TX \(--states\)"):
        load_roster(congress_119, zip_districts=UTAH_120, states=["NV", "TX", "UT"])


def test_the_first_load_needs_a_roster_and_a_map(db):
    with pytest.raises(RosterError, match="the first load needs the roster and a ZIP map"):
        load_roster(db, zip_districts=CENSUS_119)


# --------------------------------------------------------------------------
# Redrawn states


def test_a_redrawn_state_with_an_old_map_has_no_house_answer(congress_119):
    utah, nevada = person(congress_119, "84101", "UT"), person(congress_119, "84034", "NV")
    sierra = person(congress_119, "89019", "CA")
    load_roster(congress_119, ROSTER_120)
    assert resolved(congress_119, utah) == ("UT", None, "unknown", ("map_outdated",))
    assert house_of(congress_119, utah) == [] and len(senators_of(congress_119, utah)) == 2
    assert resolved(congress_119, sierra)[2:] == ("unknown", ("map_outdated",))
    assert resolved(congress_119, nevada) == ("NV", 2, "exact", ())  # NV did not redraw
    answer = lookup_answer(congress_119, "84101", "UT")
    assert [t["chamber"] for t in answer.targets] == ["senate", "senate"]
    assert (
        "UT drew new House districts and its ZIP map is for another Congress" in (answer.notes[0])
    )
    load_roster(congress_119, zip_districts=UTAH_120)
    assert resolved(congress_119, utah) == ("UT", 1, "exact", ())


def test_the_redrawn_states_file_can_be_replaced(congress_119, tmp_path):
    utah = person(congress_119, "84101", "UT")
    only_california = tmp_path / "redrawn.yaml"
    only_california.write_text("- congress: 120\n  states: [CA]\n", encoding="utf-8")
    load_roster(congress_119, ROSTER_120, redrawn=only_california)
    assert resolved(congress_119, utah) == ("UT", 2, "exact", ())  # the 119th map is kept
    assert house_of(congress_119, utah) == ["Ana Redrawnez"]
    version = roster_db.latest_roster_version(congress_119)
    assert version["redrawn_file"] == str(only_california)


def test_the_shipped_redrawn_states_file():
    shipped = read_redrawn()
    assert shipped.by_congress[120] == tuple(
        sorted(["AL", "CA", "FL", "LA", "MO", "NC", "OH", "TN", "TX", "UT"])
    )
    text = Path(shipped.name).read_text(encoding="utf-8")
    assert "https://" in text and "as_of" in text  # it carries its sources and a date


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("congress: 120\n", "expected a YAML list"),
        ("- {congress: 1, states: [TX]}\n", "congress 1 has no earlier Congress"),
        ("- {congress: 120, states: TX}\n", "states must be a list"),
        ("- {congress: 120, states: [Texas]}\n", "'TEXAS' is not a two-letter USPS code"),
        ("- {congress: 120, states: [TX]}\n- {congress: 120, states: [CA]}\n", "listed twice"),
        ("- [unclosed\n", "malformed YAML"),
    ],
)
def test_a_bad_redrawn_states_file_is_refused(congress_119, tmp_path, content, message):
    path = tmp_path / "redrawn.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RosterError, match=re.escape(message)) as caught:
        load_roster(congress_119, ROSTER_120, redrawn=path)
    assert "\n" not in str(caught.value)
    assert roster_db.roster_congress(congress_119) == 119  # nothing changed


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
SETTINGS = {
    "secret": "changeover-secret",
    "base_url": "https://act.example.org",
    "org_name": "End QI",
    "postal_address": "1 Test Street, Springfield, IL 62701",
    "from_email": "letters@example.org",
}


def test_the_letter_page_of_a_redrawn_state_offers_the_senators_and_house_gov(db, tmp_path):
    # The db fixture's file is tmp_path / "test.db".
    load_roster(db, ROSTER_119, CENSUS_119)
    utah = person(db, "84101", "UT")
    load_roster(db, ROSTER_120)
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "letters.md").write_text(LETTER_CAMPAIGN, encoding="utf-8")
    campaign_id = campaigns_db.register_campaign(db, "letters", "action", "Write", "")
    db.conn.commit()
    config = Config(SETTINGS)
    app = create_app(tmp_path / "test.db", config, campaigns_dir=tmp_path / "campaigns")
    with TestClient(app, base_url=SETTINGS["base_url"]) as client:
        page = client.get("/a/" + token(config, TokenKind.LETTER, campaign_id, utah)).text
    assert "Senator John Beehive" in page and "Senator Mike Arches" in page
    assert "drew new House districts" in page and "is being updated" in page
    assert "https://www.house.gov/representatives/find-your-representative" in page
    assert "Redrawnez" not in page and "Borderman" not in page  # UT-2 of either Congress


# --------------------------------------------------------------------------
# Guards


@pytest.fixture
def guarded(cli, project):
    """The 119th roster and map, an action alert to the House and Senate, people in OH and UT."""
    (project / "campaigns" / "letters.md").write_text(LETTER_CAMPAIGN, encoding="utf-8")
    people = project / "people.csv"
    people.write_text(
        "email,zip,state\noh@example.org,43001,OH\nut@example.org,84101,UT\n", encoding="utf-8"
    )
    cli("import", str(people))
    cli("targets", "load", "--legislators", str(ROSTER_119), "--zip-districts", str(CENSUS_119))
    return project


def refusal(result):
    lines = result.stderr.strip().splitlines()
    assert result.exit_code != 0
    return next(line for line in lines if "out-of-date targets" in line)


def test_check_and_send_pass_while_everything_is_current(cli, guarded, today):
    today("2026-06-01")
    assert "ok       letters:" in cli("campaigns", "check", "letters").stdout
    cli("send", "letters", "--dry-run", "--yes")


def test_a_member_whose_term_ended_stops_check_and_send(cli, guarded, today):
    today(AFTER_THE_SPECIAL_ELECTION)
    checked = refusal(cli("campaigns", "check", "letters", ok=False))
    assert checked == (
        "campaigns/letters.md: out-of-date targets: the term of Senator Jon Appointee (OH)"
        " ended on 2026-11-03: run `alerts targets update`"
    )
    sent = cli("send", "letters", "--dry-run", "--yes", ok=False)
    assert sent.stderr.strip().splitlines() == [
        f"Error: {checked}; `alerts send --allow-stale-targets` sends anyway"
    ]
    allowed = cli("send", "letters", "--dry-run", "--yes", "--allow-stale-targets")
    assert (
        "Sending anyway (--allow-stale-targets): the term of Senator Jon Appointee (OH)"
        " ended on 2026-11-03." in allowed.stderr
    )
    assert "Dry run: 2 messages rendered" in allowed.stderr


def test_an_ended_congress_stops_the_send(cli, guarded, today):
    today(AFTER_THE_CHANGEOVER)
    message = refusal(cli("send", "letters", "--dry-run", "--yes", ok=False))
    assert "the roster is the 119th Congress's, which ended on 2027-01-03" in message
    assert "Representative Greg Riverton (OH-1)" in message and "alerts targets update" in message


def test_an_outdated_map_of_a_targeted_state_stops_the_send(cli, guarded, today):
    today(AFTER_THE_CHANGEOVER)
    cli("targets", "load", "--legislators", str(ROSTER_120))
    message = refusal(cli("campaigns", "check", "letters", ok=False))
    assert message == (
        "campaigns/letters.md: out-of-date targets: the House maps of OH, UT are for the 119th"
        " Congress and the roster for the 120th, and those states drew new districts for the"
        " 120th: run `alerts targets update`"
    )
    status = cli("targets", "status").stdout
    assert "Warning: the House maps of CA, OH, UT are for the 119th Congress" in status
    cli("targets", "load", "--zip-districts", str(UTAH_120))
    message = refusal(cli("campaigns", "check", "letters", ok=False))
    assert "the House map of OH is for the 119th Congress" in message and "UT" not in message
    cli("targets", "load", "--redrawn", str(FIXTURES / "redrawn-utah-only.yaml"),
        "--legislators", str(ROSTER_120))  # fmt: skip
    assert "ok       letters:" in cli("campaigns", "check", "letters").stdout


def test_a_senate_only_letter_does_not_mind_house_maps(cli, guarded, today):
    senate_only = LETTER_CAMPAIGN.replace("to: [house, senate]", "to: [senate]")
    (guarded / "campaigns" / "letters.md").write_text(senate_only, encoding="utf-8")
    today(AFTER_THE_CHANGEOVER)
    cli("targets", "load", "--legislators", str(ROSTER_120))
    assert "ok       letters:" in cli("campaigns", "check", "letters").stdout


FOLLOW_UP = """\
---
subject: "Have you written yet?"
kind: action
letter_campaign: letters
{segment}---
Your letter is still ready.
"""


def write_follow_up(project, segment: str = "") -> None:
    text = FOLLOW_UP.format(segment=segment)
    (project / "campaigns" / "reminder.md").write_text(text, encoding="utf-8")


def refused_like(result, original: str) -> str:
    """The follow-up's refusal, which must be the original's but for the file named."""
    message = refusal(result)
    assert message == original.replace("campaigns/letters.md", "campaigns/reminder.md")
    return message


def test_a_follow_up_is_refused_for_a_member_whose_term_ended_as_its_letter_is(cli, guarded, today):
    write_follow_up(guarded)
    today(AFTER_THE_SPECIAL_ELECTION)
    original = refusal(cli("campaigns", "check", "letters", ok=False))
    checked = refused_like(cli("campaigns", "check", "reminder", ok=False), original)
    sent = cli("send", "reminder", "--dry-run", "--yes", ok=False)
    assert sent.stderr.strip().splitlines() == [
        f"Error: {checked}; `alerts send --allow-stale-targets` sends anyway"
    ]
    allowed = cli("send", "reminder", "--dry-run", "--yes", "--allow-stale-targets")
    assert (
        "Sending anyway (--allow-stale-targets): the term of Senator Jon Appointee (OH)"
        " ended on 2026-11-03." in allowed.stderr
    )


def test_a_follow_up_uses_its_letters_chambers_for_an_outdated_map(cli, guarded, today):
    write_follow_up(guarded)
    today(AFTER_THE_CHANGEOVER)
    cli("targets", "load", "--legislators", str(ROSTER_120))
    original = refusal(cli("campaigns", "check", "letters", ok=False))
    assert "the House maps of OH, UT are for the 119th Congress" in original
    checked = refused_like(cli("campaigns", "check", "reminder", ok=False), original)
    sent = cli("send", "reminder", "--dry-run", "--yes", ok=False)
    assert refusal(sent).startswith(f"Error: {checked}")
    senate_only = LETTER_CAMPAIGN.replace("to: [house, senate]", "to: [senate]")
    (guarded / "campaigns" / "letters.md").write_text(senate_only, encoding="utf-8")
    assert "ok       reminder:" in cli("campaigns", "check", "reminder").stdout


def test_a_follow_up_is_checked_for_its_own_recipients(cli, guarded, today):
    write_follow_up(guarded, "segment:\n  state: [UT]\n")
    today(AFTER_THE_SPECIAL_ELECTION)
    assert "ok       reminder:" in cli("campaigns", "check", "reminder").stdout
    cli("send", "reminder", "--dry-run", "--yes")


# --------------------------------------------------------------------------
# The Census Bureau's relationship files


def test_a_census_file_is_read_by_column_name_with_its_byte_order_mark():
    assert CENSUS_119.read_bytes().startswith(b"\xef\xbb\xbf")
    found = read_zip_map(read_source(CENSUS_119))
    assert found.congress == 119
    assert found.dropped == {"not_a_district": 1, "outside_any_zip": 1, "water_only": 1}
    rows = {(r.zip, r.state, r.district): r.share for r in found.rows}
    assert rows[("84034", "NV", 2)] == 0.1 and rows[("84034", "UT", 2)] == 0.9
    assert rows[("20001", "DC", 0)] == 1.0  # the delegate's code 98 is the roster's 0
    assert ("06437", "CT", 3) in rows and not any(k[0] == "84101" and k[2] == 3 for k in rows)


def test_a_border_zip_keeps_both_states_that_share_a_district_number(congress_119):
    assert lookup(congress_119, "84034", "UT")[0]["full_name"] == "Celia Borderman"  # UT-2
    assert lookup(congress_119, "84034", "NV")[0]["full_name"] == "Mark Sierrano"  # NV-2
    assert lookup(congress_119, "89019", "CA")[0]["full_name"] == "Kevin Tahoely"  # CA-3
    assert lookup(congress_119, "57717", "SD")[0]["full_name"] == "Dale Prairieson"
    nobody = lookup_answer(congress_119, "57717")
    assert sorted({t["state"] for t in nobody.targets}) == ["MT", "SD", "WY"]


def test_lookup_gives_each_house_candidate_its_share(congress_119):
    house = [t for t in lookup(congress_119, "90210", "CA") if t["chamber"] == "house"]
    assert [(t["district"], t["share"]) for t in house] == [
        (32, 0.620998),
        (36, 0.37822),
        (30, 0.000782),
    ]


def test_the_default_source_is_the_census_file():
    from alerts.targets.roster import DEFAULT_ZIP_DISTRICTS_URL

    assert DEFAULT_ZIP_DISTRICTS_URL.endswith("/rel2020/cd-sld/tab20_cd11920_zcta520_natl.txt")


HEADER = CENSUS_119.read_text(encoding="utf-8-sig").splitlines()[0]
GOOD_ROW = CENSUS_119.read_text(encoding="utf-8-sig").splitlines()[1]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [HEADER.replace("AREALAND_PART", "LAND")],
            r"missing column\(s\) AREALAND_PART \(line 1\)",
        ),
        ([HEADER, GOOD_ROW.replace("|0636|", "|7736|")], r"line 2: district '7736': '77' is not"),
        ([HEADER, GOOD_ROW.replace("|0636|", "|06X6|")], r"line 2: district '06X6': 'X6' is not"),
        ([HEADER, GOOD_ROW.replace("|90210|", "|9021|")], r"line 2: GEOID_ZCTA5_20 '9021'"),
        ([HEADER, GOOD_ROW.replace("|10523386|", "|-5|")], r"line 2: AREALAND_PART '-5'"),
        ([HEADER, GOOD_ROW + "|extra"], r"line 2: 18 fields, the header has 17"),
        ([HEADER], "no ZIP rows"),
    ],
)
def test_a_bad_census_file_is_refused_in_one_line(congress_119, tmp_path, lines, message):
    path = tmp_path / "tab20_cd11920_zcta520_natl.txt"
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RosterError, match=message) as caught:
        load_roster(congress_119, zip_districts=path)
    assert "\n" not in str(caught.value)
    assert districts_db.zip_code_count(congress_119) == 8


def test_the_status_is_current_for_the_sample_roster_in_its_congress(db, today):
    files = sample_files()
    load_roster(db, files["legislators"], files["zip_districts"], congress=119)
    today("2026-12-01")
    assert roster_status(db)["stale"] == []
