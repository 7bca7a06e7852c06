"""targets: roster loading, resolution rules, lookups, downloads, and targets_for."""

import contextlib
import hashlib
import json
import re
import shutil

import pytest
import yaml
from conftest import SHARED_DATA, free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.db import districts as districts_db
from alerts.db import open_db, write_transaction
from alerts.db import roster as roster_db
from alerts.errors import LookupFailed, RosterError
from alerts.models import Confidence, HouseSeat
from alerts.targets.districts import choose_district
from alerts.targets.lookup import JSON_KEYS, lookup, lookup_answer, targets_for, targets_for_many
from alerts.targets.roster import load_roster, sample_files, update_roster


def add_member(db, bioguide, chamber, state, district, last, rank=None):
    db["members"].insert(
        {
            "bioguide": bioguide,
            "chamber": chamber,
            "state": state,
            "district": district,
            "title": "Senator" if chamber == "senate" else "Representative",
            "full_name": f"Pat {last}",
            "last_name": last,
            "state_rank": rank,
        }
    )


def add_subscriber(db, zip_code, state, cd_state, district, confidence, choice=None):
    return (
        db["subscribers"]
        .insert(
            {
                "email": f"{zip_code}-{confidence}@example.org",
                "zip": zip_code,
                "state": state,
                "cd_state": cd_state,
                "cd_district": district,
                "cd_confidence": confidence,
                "cd_choice": choice,
                "created_at": "",
                "updated_at": "",
            }
        )
        .last_pk
    )


@pytest.fixture
def roster(db):
    add_member(db, "S1", "senate", "IL", None, "Junior", "junior")
    add_member(db, "S2", "senate", "IL", None, "Senior", "senior")
    add_member(db, "H7", "house", "IL", 7, "Seven")
    add_member(db, "H8", "house", "IL", 8, "Eight")
    db["zip_districts"].insert_all(
        [{"zip": "60601", "state": "IL", "district": d} for d in (7, 8, 9)]
    )
    return db


def test_exact(roster):
    found = targets_for(roster, add_subscriber(roster, "60601", "IL", "IL", 7, "exact"))
    assert found.representative.bioguide == "H7"
    assert [m.bioguide for m in found.senate] == ["S2", "S1"]


def test_ambiguous_lists_candidates_until_a_choice(roster):
    sid = add_subscriber(roster, "60601", "IL", "IL", None, "ambiguous")
    found = targets_for(roster, sid)
    assert found.confidence is Confidence.AMBIGUOUS
    assert found.candidates == [7, 8, 9]
    assert [m.bioguide for m in found.house] == ["H7", "H8"]
    assert found.representative is None

    roster.execute("UPDATE subscribers SET cd_choice = 8 WHERE id = ?", [sid])
    assert targets_for(roster, sid).representative.bioguide == "H8"


def test_vacant_seat(roster):
    found = targets_for(roster, add_subscriber(roster, "60601", "IL", "IL", 9, "exact"))
    assert found.vacant_house and found.house == [] and found.representative is None


def test_unknown_still_has_senators_of_own_state(roster):
    found = targets_for(roster, add_subscriber(roster, "99999", "IL", None, None, "unknown"))
    assert found.house == [] and len(found.senate) == 2


def test_a_batch_gets_the_same_targets_as_one_by_one(roster):
    ids = [
        add_subscriber(roster, "60601", "IL", "IL", 7, "exact"),
        add_subscriber(roster, "60601", "IL", "IL", None, "ambiguous", choice=8),
        add_subscriber(roster, "60601-0001", "IL", "IL", None, "ambiguous"),
        add_subscriber(roster, "60602", "IL", "IL", 9, "exact"),
        add_subscriber(roster, "99999", "IL", None, None, "unknown"),
        add_subscriber(roster, "", "", None, None, "unknown"),
    ]
    many = targets_for_many(roster, [*ids, 999])  # an id that does not exist is left out
    assert many == {sid: targets_for(roster, sid) for sid in ids}
    assert many[ids[1]].representative.bioguide == "H8"
    many[ids[0]].senate.clear()  # each gets its own lists, though they share senators
    assert len(many[ids[1]].senate) == 2


# --------------------------------------------------------------------------
# Loading the roster

SAMPLES = sample_files()


def load_samples(db):
    return load_roster(
        db, SAMPLES["legislators"], SAMPLES["zip_districts"], SAMPLES["social"], congress=119
    )


def sample_records():
    return yaml.safe_load(SAMPLES["legislators"].read_text(encoding="utf-8"))


def write_yaml(path, records):
    path.write_text(yaml.safe_dump(records, allow_unicode=True), encoding="utf-8")
    return path


def person(db, zip_code, state, email=None):
    email = email or f"{zip_code}-{state}-{db['subscribers'].count}@example.org"
    row = {"email": email, "zip": zip_code, "state": state, "created_at": "", "updated_at": ""}
    return db["subscribers"].insert(row).last_pk


def as_stored(resolution):
    """(cd_state, cd_district, cd_confidence, cd_flags) as the columns hold them."""
    flags = ",".join(resolution.flags) or None
    return resolution.state, resolution.district, resolution.confidence, flags


def district_of(db, subscriber_id):
    return as_stored(districts_db.subscriber_district(db, subscriber_id).resolved)


@pytest.fixture
def sample_db(db):
    load_samples(db)
    return db


def by_id(db):
    return {m.bioguide: m for m in roster_db.roster_members(db)}


def test_sample_roster_names_titles_and_fallbacks(sample_db):
    members = by_id(sample_db)
    assert len(members) == 34
    assert members["Z900014"].full_name == "Jon Trialson"  # no official_full: nickname + last
    assert members["Z900026"].full_name == "Daniel Davison-Sample III"
    assert members["Z900023"].last_name == "Exemplar"  # suffix kept out of the last name
    assert members["Z900032"].full_name == "Teresa Léger Muestra"
    assert members["Z900033"].title == "Delegate"
    assert members["Z900034"].title == "Resident Commissioner"
    assert members["Z900021"].title == "Representative" and members["Z900021"].district == 0
    mockett = members["Z900028"]  # no House contact form: the website instead
    assert mockett.contact_url == mockett.website == "https://mockett.house.example"
    assert members["Z900026"].twitter is None
    assert members["Z900001"].twitter == "SmplSampleton"
    assert members["Z900019"].chamber == "senate"  # the last term counts, not an earlier one


def test_first_load_records_the_version(sample_db):
    version = roster_db.latest_roster_version(sample_db)
    expected = hashlib.sha256(SAMPLES["legislators"].read_bytes()).hexdigest()
    assert version["legislators_sha256"] == expected
    assert version["zip_file"].endswith("sample-zccd.csv")
    assert version["members"] == 34 and version["zip_rows"] == 15
    assert roster_db.vacant_house_seats(sample_db) == [HouseSeat("GA", 5)]


def test_roster_diff_on_a_changed_roster(sample_db, tmp_path):
    records = [r for r in sample_records() if r["id"]["bioguide"] != "Z900022"]  # NY-10 left
    moved = next(r for r in records if r["id"]["bioguide"] == "Z900023")
    moved["terms"][-1]["district"] = 10  # NY-12 -> NY-10
    newcomer = {
        "id": {"bioguide": "Z900099"},
        "name": {"first": "Quinn", "last": "Newcomer"},
        "terms": [{"type": "rep", "state": "GA", "district": 5, "party": "Democrat"}],
    }
    changed = write_yaml(tmp_path / "changed.yaml", [*records, newcomer])
    diff = load_roster(
        sample_db, changed, SAMPLES["zip_districts"], SAMPLES["social"], congress=119
    )

    assert not diff.first_load and diff.version == 2
    assert [m.bioguide for m in diff.left] == ["Z900022"]
    assert [m.full_name for m in diff.arrived] == ["Quinn Newcomer"]
    assert [(c.member.bioguide, c.old_seat, c.new_seat) for c in diff.changed_seat] == [
        ("Z900023", "NY-12", "NY-10")
    ]
    assert diff.vacant_seats == ["NY-12"]
    stored = json.loads(sample_db.execute("SELECT changes FROM roster_versions WHERE id = 2")
                        .fetchone()[0])  # fmt: skip
    assert stored["left"][0]["seat"] == "NY-10"


def test_reloading_the_same_roster_changes_nothing(sample_db):
    diff = load_samples(sample_db)
    assert diff.unchanged and not diff.first_load and diff.version == 2


def test_roster_load_re_resolves_every_subscriber(sample_db, tmp_path):
    atlanta = person(sample_db, "30303", "GA")
    districts_db.resolve_districts(sample_db)
    assert district_of(sample_db, atlanta) == ("GA", 5, "exact", "vacant")
    filled = write_yaml(
        tmp_path / "filled.yaml",
        [
            *sample_records(),
            {
                "id": {"bioguide": "Z900099"},
                "name": {"first": "Quinn", "last": "Newcomer"},
                "terms": [{"type": "rep", "state": "GA", "district": 5}],
            },
        ],
    )
    diff = load_roster(sample_db, filled, SAMPLES["zip_districts"], congress=119)
    assert district_of(sample_db, atlanta) == ("GA", 5, "exact", None)
    assert diff.confidence == {"exact": 1, "ambiguous": 0, "unknown": 0}
    assert targets_for(sample_db, atlanta).representative.full_name == "Quinn Newcomer"


BAD_ROSTERS = [
    (
        "bad.yaml",
        "- id: {bioguide: X1}\n  name: [unclosed\n",
        r"bad\.yaml: line \d+: malformed YAML",
    ),
    ("bad.yaml", "just: a map\n", "expected a YAML list of legislators"),
    ("bad.yaml", "- id: {}\n", r"legislator 1: id\.bioguide is missing"),
    (
        "bad.yaml",
        "- id: {bioguide: X1}\n  name: {last: Doe}\n  terms: [{type: rep, state: NY}]\n",
        r"legislator 1 \(X1\): district is missing",
    ),
    (
        "bad.yaml",
        "- id: {bioguide: X1}\n  name: {last: Doe}\n  terms: [{type: gov, state: NY}]\n",
        "type must be sen or rep",
    ),
    (
        "bad.yaml",
        "- id: {bioguide: X1}\n  name: {last: Doe}\n  terms: [{type: sen, state: New York}]\n",
        "is not a two-letter USPS code",
    ),
    (
        "bad.yaml",
        "- id: {bioguide: X1}\n  name: {last: Doe}\n  terms: [{type: sen, state: NY}]\n" * 2,
        "bioguide X1 appears twice",
    ),
    ("bad.csv", "last_name,state\nDoe,NY\n", r"missing column\(s\) bioguide_id, first_name"),
    (
        "bad.csv",
        "bioguide_id,last_name,first_name,type,state,district\nX1,Doe,Jo,rep,NY,ten\n",
        r"bad\.csv: line 2 \(X1\): district 'ten' is not a number",
    ),
    ("bad.csv", "bioguide_id,last_name,first_name,type,state,district\n", "no legislators"),
    ("empty.yaml", "", "expected a YAML list of legislators"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_ROSTERS)
def test_bad_roster_is_refused_and_the_old_one_kept(sample_db, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RosterError, match=message) as caught:
        load_roster(sample_db, path, SAMPLES["zip_districts"], congress=119)
    assert "\n" not in str(caught.value)
    assert len(roster_db.roster_members(sample_db)) == 34
    assert roster_db.latest_roster_version(sample_db)["id"] == 1


BAD_ZIP_MAPS = [
    ("state_fips,zcta\n", r"missing column\(s\) state_abbr, cd \(line 1\)"),
    ("state_abbr,zcta,cd\nNY,1001,10\n", r"line 2: zcta '1001' is not a 5-digit ZIP"),
    ("state_abbr,zcta,cd\nNY,10001,10\nNY,10001,AL\n", r"line 3: cd 'AL' is not a district"),
    ("state_abbr,zcta,cd\nNew York,10001,10\n", "state_abbr 'New York' is not a two-letter"),
    ("state_abbr,zcta,cd\nNY,10001,10,extra\n", "line 2: more fields than the header has"),
    ("state_abbr,zcta,cd\n", "no ZIP rows"),
]


@pytest.mark.parametrize(("content", "message"), BAD_ZIP_MAPS)
def test_bad_zip_map_is_refused(sample_db, tmp_path, content, message):
    path = tmp_path / "zccd.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RosterError, match=message):
        load_roster(sample_db, SAMPLES["legislators"], path, congress=119)
    assert districts_db.zip_code_count(sample_db) == 11


def test_missing_and_unreadable_files(db, tmp_path):
    with pytest.raises(RosterError, match=r"nope\.yaml: file not found"):
        load_roster(db, tmp_path / "nope.yaml", SAMPLES["zip_districts"], congress=119)
    with pytest.raises(RosterError, match="is a folder"):
        load_roster(db, SAMPLES["legislators"], tmp_path)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("state_abbr,zcta,cd\nNY,10001,10\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(RosterError, match=r"latin1\.csv: not UTF-8 text"):
        load_roster(db, SAMPLES["legislators"], latin1)
    assert not roster_db.roster_loaded(db)


def test_social_file_errors(db, tmp_path):
    social = tmp_path / "social.yaml"
    social.write_text("- social: {twitter: x}\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"social\.yaml: record 1: id\.bioguide is missing"):
        load_roster(db, SAMPLES["legislators"], SAMPLES["zip_districts"], social, congress=119)


# --------------------------------------------------------------------------
# Resolution rules, stored on subscribers

RULES = [
    # zip, state -> cd_state, district, confidence, flags
    ("05401", "VT", ("VT", 0, "exact", None)),
    ("05401-1234", " vt ", ("VT", 0, "exact", None)),
    ("5401", "VT", ("VT", 0, "exact", None)),  # leading zero lost in a spreadsheet
    ("05401", "", ("VT", 0, "exact", "state_from_zip")),
    ("05401", "Vermont", ("VT", 0, "exact", "state_invalid,state_from_zip")),
    ("05401", "NY", ("NY", None, "unknown", "state_mismatch")),
    ("10001", "NY", ("NY", None, "ambiguous", None)),
    ("60614", None, ("IL", None, "ambiguous", "state_from_zip")),
    ("20001", "DC", ("DC", 0, "exact", None)),
    ("00901", "PR", ("PR", 0, "exact", None)),
    ("81137", "CO", ("CO", None, "unknown", "state_mismatch")),  # the zccd.csv border flaw
    ("81137", "NM", ("NM", 3, "exact", None)),
    ("30303", "GA", ("GA", 5, "exact", "vacant")),
    ("99999", "VT", ("VT", 0, "exact", "zip_unknown")),  # one seat: the ZIP does not matter
    ("99999", "TX", ("TX", None, "unknown", "zip_unknown")),
    ("99999", "", (None, None, "unknown", "zip_unknown")),
    ("", "TX", ("TX", None, "unknown", "zip_missing")),
    (None, None, (None, None, "unknown", "zip_missing")),
    ("ABCDE", "IL", ("IL", None, "unknown", "zip_invalid")),
    ("1", "IL", ("IL", None, "unknown", "zip_invalid")),
    ("78701", "tx", ("TX", 37, "exact", None)),
]


@pytest.mark.parametrize(("zip_code", "state", "expected"), RULES)
def test_resolution_rules(sample_db, zip_code, state, expected):
    subscriber = person(sample_db, zip_code, state)
    districts_db.resolve_districts(sample_db)
    assert district_of(sample_db, subscriber) == expected
    # The single-ZIP path (lookups) answers by the same SQL.
    assert as_stored(districts_db.resolve_zip(sample_db, zip_code or "", state)) == expected


def test_zip_spanning_states(db, tmp_path):
    zccd = tmp_path / "zccd.csv"
    zccd.write_text("state_abbr,zcta,cd\nUT,82930,3\nWY,82930,0\n", encoding="utf-8")
    roster = write_yaml(
        tmp_path / "roster.yaml",
        [
            {"id": {"bioguide": "W1"}, "name": {"last": "Wyo"},
             "terms": [{"type": "rep", "state": "WY", "district": 0}]},
            {"id": {"bioguide": "U3"}, "name": {"last": "Uta"},
             "terms": [{"type": "rep", "state": "UT", "district": 3}]},
        ],
    )  # fmt: skip
    load_roster(db, roster, zccd, congress=119)
    nobody, wyoming = person(db, "82930", ""), person(db, "82930", "WY")
    districts_db.resolve_districts(db)
    assert district_of(db, nobody) == (None, None, "unknown", "zip_multi_state")
    assert district_of(db, wyoming) == ("WY", 0, "exact", None)
    answer = lookup_answer(db, "82930")
    assert [(t["state"], t["ambiguous"]) for t in answer.targets] == [("UT", True), ("WY", True)]
    assert answer.notes == [
        "ZIP 82930 spans several states (UT, WY): give --state for the senators"
        " and a surer House answer."
    ]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    zip_code=st.one_of(
        st.none(), st.text(max_size=12), st.sampled_from(["10001", "60614-1", "901"])
    ),
    state=st.one_of(st.none(), st.text(max_size=4), st.sampled_from(["NY", "il", " VT "])),
)
def test_bulk_and_single_resolution_agree_on_any_input(sample_db, zip_code, state):
    subscriber = person(sample_db, zip_code, state, email=f"any-{sample_db['subscribers'].count}")
    districts_db.resolve_districts(sample_db)
    stored = districts_db.subscriber_district(sample_db, subscriber).resolved
    assert stored == districts_db.resolve_zip(sample_db, zip_code or "", state)
    assert stored.confidence in ("exact", "ambiguous", "unknown")


def test_resolve_only_the_listed_ids(sample_db):
    first, second = person(sample_db, "05401", "VT"), person(sample_db, "78701", "TX")
    sample_db.execute("CREATE TEMP TABLE changed (id INTEGER PRIMARY KEY)")
    sample_db.execute("INSERT INTO changed VALUES (?)", [second])
    assert districts_db.resolve_districts(sample_db, "changed") == 1
    assert district_of(sample_db, first)[2] == "unknown"  # untouched
    assert district_of(sample_db, second) == ("TX", 37, "exact", None)
    assert districts_db.resolve_districts(sample_db) == 1  # now the first one
    assert districts_db.resolve_districts(sample_db) == 0  # nothing left to change
    with pytest.raises(ValueError, match="no temp table"):
        districts_db.resolve_districts(sample_db, "subscribers; DROP TABLE members")


def test_resolve_runs_inside_the_callers_transaction(sample_db):
    subscriber = person(sample_db, "05401", "VT")
    sample_db.conn.commit()
    with contextlib.suppress(RuntimeError), write_transaction(sample_db):
        districts_db.resolve_districts(sample_db)
        raise RuntimeError("the import failed")
    assert district_of(sample_db, subscriber)[2] == "unknown"


def test_district_choice_for_an_ambiguous_zip(sample_db):
    subscriber = person(sample_db, "60614-2301", "IL")
    districts_db.resolve_districts(sample_db)
    found = targets_for(sample_db, subscriber)
    assert found.candidates == [3, 5, 7] and found.representative is None

    choose_district(sample_db, subscriber, 5)
    assert district_of(sample_db, subscriber) == ("IL", 5, "ambiguous", "chosen")
    assert targets_for(sample_db, subscriber).representative.full_name == "Mike Fictor"
    load_samples(sample_db)  # the choice survives a roster load
    assert targets_for(sample_db, subscriber).representative.full_name == "Mike Fictor"

    with pytest.raises(
        LookupFailed,
        match=re.escape("district: 4 is not a district of ZIP 60614-2301 in IL (3, 5, 7)"),
    ):
        choose_district(sample_db, subscriber, 4)
    exact = person(sample_db, "78701", "TX")
    districts_db.resolve_districts(sample_db)
    with pytest.raises(LookupFailed, match="not ambiguous"):
        choose_district(sample_db, exact, 37)


# --------------------------------------------------------------------------
# Lookup


def test_lookup_json_keys(sample_db):
    found = lookup(sample_db, "10001")
    house = [t for t in found if t["chamber"] == "house"]
    senate = [t for t in found if t["chamber"] == "senate"]
    assert [t["district"] for t in house] == [10, 12]
    assert all(t["ambiguous"] is True for t in house)
    assert all(set(t) == set(JSON_KEYS) for t in senate)
    assert all(set(t) == {*JSON_KEYS, "ambiguous", "share"} for t in house)
    assert all(t["share"] is None for t in house)  # zccd.csv gives no areas
    assert [t["full_name"] for t in senate] == ["Chuck Exampleby", "Dana Demoster"]


def test_lookup_exact_and_vacant(sample_db):
    (house, *senate) = lookup(sample_db, "78701-0001")
    assert set(house) == set(JSON_KEYS) and house["title"] == "Representative"
    assert house["contact_url"] == "https://mockett.house.example"
    assert len(senate) == 2
    answer = lookup_answer(sample_db, "30303")
    assert answer.targets[0] == {**dict.fromkeys(JSON_KEYS), "chamber": "house",
                                 "title": "Representative", "state": "GA", "district": 5,
                                 "vacant": True}  # fmt: skip
    assert any("GA-5 is vacant" in note for note in answer.notes)


def test_lookup_with_the_state_given(sample_db):
    answer = lookup_answer(sample_db, "81137", "co")
    assert [t["chamber"] for t in answer.targets] == ["senate", "senate"]
    assert answer.notes == [
        "ZIP 81137 is listed under NM, not CO, in the ZIP map: the House member for CO is unknown."
    ]
    assert [t["title"] for t in lookup(sample_db, "00901")] == ["Resident Commissioner"]


@pytest.mark.parametrize(
    ("zip_code", "state", "message"),
    [
        ("1234", None, "invalid ZIP '1234': expected 5 digits"),
        ("abcde", None, "invalid ZIP"),
        ("99999", None, "unknown ZIP 99999: not in the ZIP map"),
        ("10001", "New York", "invalid state 'New York'"),
        ("10001", "ZZ", "unknown state 'ZZ'"),
    ],
)
def test_lookup_errors(sample_db, zip_code, state, message):
    with pytest.raises(LookupFailed, match=re.escape(message)):
        lookup(sample_db, zip_code, state)


def test_lookup_without_a_roster(db):
    with pytest.raises(LookupFailed, match="no roster loaded"):
        lookup(db, "10001")


# --------------------------------------------------------------------------
# Downloads (`alerts targets update`) against a local server


def serve_samples(folder):
    for path in SAMPLES.values():
        shutil.copyfile(path, folder / path.name)


def test_update_downloads_then_loads(db, file_server):
    base, folder = file_server
    serve_samples(folder)
    seen = []
    diff = update_roster(
        db,
        f"{base}/sample-legislators.yaml",
        f"{base}/sample-zccd.csv",
        f"{base}/sample-legislators-social.yaml",
        congress=119,
        progress=seen.append,
    )
    assert diff.members == 34 and len(seen) == 3
    assert (
        roster_db.latest_roster_version(db)["legislators_file"] == f"{base}/sample-legislators.yaml"
    )
    assert by_id(db)["Z900001"].twitter == "SmplSampleton"


@pytest.mark.parametrize(
    ("legislators", "message"),
    [
        ("missing.yaml", r"missing\.yaml: download failed \(HTTP 404"),
        ("page.html", r"page\.html: legislator 1: expected a map"),
    ],
)
def test_failed_update_changes_nothing(sample_db, file_server, legislators, message):
    base, folder = file_server
    serve_samples(folder)
    (folder / "page.html").write_text("- <html>not a roster</html>\n", encoding="utf-8")
    with pytest.raises(RosterError, match=message):
        update_roster(
            sample_db, f"{base}/{legislators}", f"{base}/sample-zccd.csv", None, congress=119
        )
    assert roster_db.latest_roster_version(sample_db)["id"] == 1


def test_update_refuses_what_is_not_http(db):
    with pytest.raises(RosterError, match="not an http"):
        update_roster(db, "file:///etc/passwd", "ftp://example.org/zccd.csv", None)
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(RosterError, match="download failed"):
        update_roster(db, f"{nobody}/x.yaml", f"{nobody}/z.csv", None, timeout=5)


# --------------------------------------------------------------------------
# Known answers from the public files in ../shared/data


@pytest.fixture(scope="module")
def real_db(tmp_path_factory):
    """The real roster, loaded once for this module (tests also ask for `shared_data`)."""
    if not (SHARED_DATA / "legislators-current.yaml").exists():
        pytest.skip(f"public data files not found in {SHARED_DATA}")
    database = open_db(tmp_path_factory.mktemp("real") / "real.db")
    load_roster(
        database,
        SHARED_DATA / "legislators-current.yaml",
        SHARED_DATA / "zccd.csv",
        SHARED_DATA / "legislators-social-media.yaml",
        congress=119,
    )
    yield database
    database.close()


def names(found, chamber):
    return [t["full_name"] for t in found if t["chamber"] == chamber]


def test_real_roster_counts(shared_data, real_db):
    assert roster_db.member_counts(real_db) == {
        "Delegate": 5,
        "Representative": 431,
        "Resident Commissioner": 1,
        "Senator": 100,
    }
    assert districts_db.zip_code_count(real_db) == 33774
    vacant = [seat.name for seat in roster_db.vacant_house_seats(real_db)]
    assert vacant == ["CA-14", "FL-20", "GA-13", "TX-23"]


def test_real_at_large_state(shared_data, real_db):
    found = lookup(real_db, "05401")
    assert names(found, "house") == ["Becca Balint"]
    assert found[0]["district"] == 0 and "ambiguous" not in found[0]
    assert sorted(names(found, "senate")) == ["Bernard Sanders", "Peter Welch"]


def test_real_split_zip(shared_data, real_db):
    found = lookup(real_db, "10001")
    assert names(found, "house") == ["Daniel S. Goldman", "Jerrold Nadler"]
    assert [t["district"] for t in found if t.get("ambiguous")] == [10, 12]
    assert sorted(names(found, "senate")) == ["Charles E. Schumer", "Kirsten E. Gillibrand"]


def test_real_dc_and_puerto_rico(shared_data, real_db):
    (dc,) = lookup(real_db, "20001")
    assert (dc["full_name"], dc["title"], dc["state"]) == (
        "Eleanor Holmes Norton",
        "Delegate",
        "DC",
    )
    (pr,) = lookup(real_db, "00901")
    assert (pr["full_name"], pr["title"]) == ("Pablo José Hernández", "Resident Commissioner")


def test_real_border_zip_hit_by_the_flaw(shared_data, real_db):
    answer = lookup_answer(real_db, "81137", "CO")  # Ignacio, CO: zccd.csv has only NM-3
    assert names(answer.targets, "house") == []
    assert sorted(names(answer.targets, "senate")) == ["John W. Hickenlooper", "Michael F. Bennet"]
    assert "state_mismatch" in answer.flags
    south_dakota = lookup_answer(real_db, "57255", "SD")  # listed only as ND-0; SD is at-large
    assert names(south_dakota.targets, "house") == ["Dusty Johnson"]
    assert south_dakota.confidence is Confidence.EXACT


def test_real_vacant_seat(shared_data, real_db):
    house, *senate = lookup(real_db, "76932")  # wholly in TX-23, vacant on 2026-06-15
    assert house["vacant"] is True and (house["state"], house["district"]) == ("TX", 23)
    assert house["full_name"] is None
    assert sorted(t["full_name"] for t in senate) == ["John Cornyn", "Ted Cruz"]


def test_real_name_and_contact_traps(shared_data, real_db):
    members = by_id(real_db)
    assert members["M001246"].full_name == "Analilia Mejia"  # empty official_full
    assert members["G000607"].phone is None
    assert members["S000033"].first_name == "Bernie"
    assert members["G000586"].last_name == "García"
    assert members["P000622"].contact_url == "https://patronis.house.gov/contact/email-me"
    assert members["F000484"].contact_url == "https://fine.house.gov"  # form URL "hhttps://..."
    house = [m for m in members.values() if m.chamber == "house"]
    forms = [m for m in house if m.contact_url != m.website]
    assert [m.bioguide for m in forms] == ["P000622"]


def test_real_csv_form_matches_the_yaml_form(shared_data, real_db, tmp_path):
    csv_db = open_db(tmp_path / "csv.db")
    load_roster(
        csv_db, shared_data / "legislators-current.csv", shared_data / "zccd.csv", congress=119
    )

    def essentials(database):
        return {
            m.bioguide: (m.seat, m.title, m.full_name, m.last_name, m.phone, m.contact_url)
            for m in roster_db.roster_members(database)
        }

    assert essentials(csv_db) == essentials(real_db)
    csv_db.close()
