import csv
import hashlib
import io
import json
import string
from pathlib import Path

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from alerts.db import campaigns as campaigns_db
from alerts.db import districts as districts_db
from alerts.db import imports as imports_db
from alerts.db import open_db
from alerts.errors import AlertsError, ImportFileError, LookupFailed, NotFoundError
from alerts.models import SubscriberFilter
from alerts.subscribers import csvfiles, lifecycle, listing, normalise
from alerts.subscribers import importing as importer
from alerts.subscribers.normalise import InvalidValue

EVERYONE = SubscriberFilter()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def run(db, *paths, maps=(), **options):
    return importer.run_import(db, importer.plan_import(list(paths), maps), **options)


def people(db):
    return {p.email: p for p in listing.list_subscribers(db, EVERYONE)}


def counts(report):
    return report.summary.as_dict()


@pytest.fixture(autouse=True)
def _here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default rejects files land in the test's folder


# --------------------------------------------------------------------------
# Values


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Bob@Example.COM", "Bob@example.com"),
        ("  ana.perez+qi@mail.example.org ", "ana.perez+qi@mail.example.org"),
        ("INFO@example.org", "info@example.org"),
        ("josé@example.org", "josé@example.org"),
        ("o'brien@example.net", "o'brien@example.net"),
    ],
)
def test_valid_emails_are_normalised(raw, stored):
    assert normalise.normalise_email(raw) == stored


@pytest.mark.parametrize(
    "raw",
    ["", "plainaddress", "a@b", "two@@example.org", "a..b@example.org", "x y@example.org",
     "me@localhost", "me@site.test", "me@ab--cd.example.org", "<me@example.org>"],
)  # fmt: skip
def test_invalid_emails_are_refused(raw):
    with pytest.raises(InvalidValue):
        normalise.normalise_email(raw)


def _library(text):
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


_EMAILISH = st.text(
    alphabet=string.ascii_letters + string.digits + ".-_+'@!#~é" + "-" * 4 + "." * 4,
    min_size=1,
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(local=_EMAILISH, domain=_EMAILISH)
@example(local="a", domain="xn--p1ai.example")
@example(local="Postmaster", domain="Example.ORG")
@example(local="a", domain="ab--c.org")
@example(local="a", domain="x.local")
def test_fast_path_agrees_with_email_validator(local, domain):
    text = f"{local}@{domain}"
    try:
        ours = normalise.normalise_email(text)
    except InvalidValue:
        ours = None
    assert ours == _library(text)


@pytest.mark.parametrize(
    ("raw", "zip5"),
    [("05401", "05401"), ("5401", "05401"), ("501", "00501"), ("02138-1901", "02138"),
     ("2138-1901", "02138"), ("021381901", "02138"), ("94110 2241", "94110"),
     (" 78701 ", "78701"), ("９４１１０", "94110")],
)  # fmt: skip
def test_zips_become_five_digits(raw, zip5):
    assert normalise.normalise_zip(raw) == zip5


@pytest.mark.parametrize("raw", ["n/a", "ABCDE", "H2X 1K4", "12", "123456", "00000", "٩٤١١٠"])
def test_unusable_zips_are_refused(raw):
    with pytest.raises(InvalidValue, match="ZIP"):
        normalise.normalise_zip(raw)


@pytest.mark.parametrize(
    ("raw", "code"),
    [("tx", "TX"), ("Texas", "TX"), ("  new   york ", "NY"), ("District of Columbia", "DC"),
     ("Washington, D.C.", "DC"), ("D.C.", "DC"), ("Puerto Rico", "PR"), ("Calif.", "CA"),
     ("WASHINGTON", "WA"), ("Guam", "GU")],
)  # fmt: skip
def test_state_names_become_usps_codes(raw, code):
    assert normalise.normalise_state(raw) == code


@pytest.mark.parametrize("raw", ["Narnia", "QC", "Ontario", "XX"])
def test_unknown_states_are_refused(raw):
    with pytest.raises(InvalidValue, match="state"):
        normalise.normalise_state(raw)


@pytest.mark.parametrize(
    ("full", "first", "last"),
    [("Ana María López", "Ana María", "López"), ("López, Ana", "Ana", "López"),
     ("Martin Luther King Jr.", "Martin Luther", "King Jr."), ("Cher", "Cher", ""),
     ("  Ruth   Yazzie ", "Ruth", "Yazzie")],
)  # fmt: skip
def test_full_names_are_split(full, first, last):
    assert normalise.split_name(full) == normalise.FullName(first, last)


@pytest.mark.parametrize(
    ("cell", "street", "city", "state", "zip_"),
    [
        ("12 Elm St  Burlington  VT  05401  US", "12 Elm St", "Burlington", "VT", "05401"),
        ("12 Elm St  Apt 4  Burlington  VT  05401  US", "12 Elm St, Apt 4", "Burlington", "VT",
         "05401"),
        ("600 Congress Ave  Austin  TX  78701", "600 Congress Ave", "Austin", "TX", "78701"),
        ("1 Rue X  Montréal  QC  H2X 1K4  CA", "1 Rue X", "Montréal", "QC", "H2X 1K4"),
        ("1 Main St  Springfield  IL", "1 Main St", "Springfield", "IL", ""),
        ("just a street", "just a street", "", "", ""),
    ],
)  # fmt: skip
def test_mailchimp_address_is_split(cell, street, city, state, zip_):
    parts = normalise.split_mailchimp_address(cell)
    assert (parts.street, parts.city, parts.state, parts.zip) == (street, city, state, zip_)


@pytest.mark.parametrize(
    ("raw", "iso"),
    [("2025-01-06 14:02:11", "2025-01-06T14:02:11Z"), ("2025-01-06T09:02:11-05:00",
      "2025-01-06T14:02:11Z"), ("01/06/2025 2:02 PM", "2025-01-06T14:02:00Z"),
     ("2025-01-06", "2025-01-06T00:00:00Z"), ("2025-01-06T14:02:11Z", "2025-01-06T14:02:11Z")],
)  # fmt: skip
def test_signup_times_become_utc(raw, iso):
    assert normalise.normalise_time(raw) == iso


@pytest.mark.parametrize("value", ["=SUM(A1)", "+1 555", "-2", "@cmd", "\tx", "\rx", "'=x"])
def test_neutralised_cells_round_trip(value):
    safe = csvfiles.neutralise_cell(value)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert csvfiles.restore_cell(safe) == value


# --------------------------------------------------------------------------
# Formats

GRAVITY = (
    "Entry Id,Email,Name (First),Name (Last),Address (Street Address),Address (City),"
    "Address (State / Province),Address (ZIP / Postal Code),Phone,Date Created\n"
    "7,ana@example.org,Ana,Pérez,18 Pearl St,Burlington,Vermont,5401,802-555-0134,"
    "2025-01-06 14:02:11\n"
)


def test_gravity_forms_export(db, tmp_path):
    report = run(db, write(tmp_path / "gf.csv", GRAVITY))
    assert counts(report) == dict(added=1, updated=0, unchanged=0, rejected=0, suppressed=0)
    ana = people(db)["ana@example.org"]
    assert (ana.first_name, ana.last_name, ana.street, ana.city) == (
        "Ana", "Pérez", "18 Pearl St", "Burlington",
    )  # fmt: skip
    assert (ana.state, ana.zip, ana.phone) == ("VT", "05401", "802-555-0134")
    assert ana.consent_at == "2025-01-06T14:02:11Z"
    assert ana.extra == {"Entry Id": "7"}
    assert ana.source == "gf.csv"


def test_mailchimp_export(db, tmp_path):
    text = (
        "Email Address,First Name,Last Name,Address,Phone Number,OPTIN_TIME,TAGS,MEMBER_RATING\n"
        'li@example.org,Wei,Li,"77 Church St  Burlington  VT  05401  US",802-555-0100,'
        '2024-05-01 10:00:00,"""Volunteer"",""Donor""",2\n'
    )
    run(db, write(tmp_path / "mc.csv", text), tags=["spring"])
    li = people(db)["li@example.org"]
    assert (li.street, li.city, li.state, li.zip) == ("77 Church St", "Burlington", "VT", "05401")
    assert li.tags == ["spring", "Volunteer", "Donor"]
    assert li.consent_at == "2024-05-01T10:00:00Z"
    assert li.extra == {"MEMBER_RATING": "2"}


def test_action_network_export(db, tmp_path):
    text = (
        "first_name,last_name,email,zip_code,can2_user_address,can2_user_city,"
        "can2_state_abbreviated,can2_phone,uuid\n"
        "Ruth,Yazzie,ruth@example.org,81137,14 Goddard Ave,Ignacio,CO,970-555-0145,abc-1\n"
    )
    run(db, write(tmp_path / "an.csv", text))
    ruth = people(db)["ruth@example.org"]
    assert (ruth.first_name, ruth.street, ruth.city, ruth.state, ruth.zip) == (
        "Ruth", "14 Goddard Ave", "Ignacio", "CO", "81137",
    )  # fmt: skip
    assert ruth.phone == "970-555-0145"
    assert ruth.extra == {"uuid": "abc-1"}


@pytest.mark.parametrize(
    "header",
    ["email,name,zip,state", "E-mail,Full Name,Postal Code,State", "  EMAIL ,FULL  name,ZIP,state"],
)
def test_generic_headers_in_any_case_and_spacing(db, tmp_path, header):
    run(db, write(tmp_path / "g.csv", f"{header}\nkim@example.org,Grace Kim,60614,Illinois\n"))
    kim = people(db)["kim@example.org"]
    assert (kim.first_name, kim.last_name, kim.zip, kim.state) == ("Grace", "Kim", "60614", "IL")


def test_map_overrides_recognition(db, tmp_path):
    text = "Kontakt,Vorname,Email,PLZ\nzoe@example.org,Zoë,old@example.org,94110\n"
    path = write(tmp_path / "m.csv", text)
    run(db, path, maps=["Kontakt=email", "vorname=first_name", "plz = zip", "Email=skip"])
    zoe = people(db)["zoe@example.org"]
    assert (zoe.first_name, zoe.zip, zoe.extra) == ("Zoë", "94110", {})


def test_map_to_extra_keeps_a_known_column_as_extra(db, tmp_path):
    path = write(tmp_path / "m.csv", "email,city\nx@example.org,Austin\n")
    run(db, path, maps=["city=extra"])
    x = people(db)["x@example.org"]
    assert (x.city, x.extra) == (None, {"city": "Austin"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [("Email=nonsense", "unknown field"), ("no equals sign", "COLUMN=field|CSV column=field"),
     ("Missing=zip", "not in the header")],
)  # fmt: skip
def test_bad_map_is_a_clear_error(tmp_path, spec, message):
    path = write(tmp_path / "m.csv", "Email\nx@example.org\n")
    with pytest.raises(ImportFileError, match=message):
        importer.plan_import([path], [spec])


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8", ","), ("utf-8-sig", ","), ("utf-16", "\t"), ("utf-16-le", "\t"),
     ("cp1252", ";"), ("utf-8", "\t")],
)  # fmt: skip
def test_encodings_and_delimiters(db, tmp_path, encoding, delimiter):
    rows = [["Email", "First Name", "Last Name"], ["zoe@example.org", "Zoë", "Ñúñez"]]
    text = "\r\n".join(delimiter.join(row) for row in rows) + "\r\n"
    run(db, write(tmp_path / "e.csv", text, encoding))
    zoe = people(db)["zoe@example.org"]
    assert (zoe.first_name, zoe.last_name) == ("Zoë", "Ñúñez")


def test_quoted_newlines_blank_lines_and_line_numbers(db, tmp_path):
    text = (
        "\n"  # line 1: blank before the header
        "email,first_name,notes\n"  # line 2
        'a@example.org,Ann,"two\nlines"\n'  # lines 3-4
        "\n"  # line 5
        "not-an-email,Bob,\n"  # line 6
        ',Cy,"x\n\ny"\n'  # lines 7-9
        ",,\n"  # line 10: empty cells only, ignored
        "b@example.org,Bea,\n"  # line 11
    )
    report = run(db, write(tmp_path / "q.csv", text), rejects_path=tmp_path / "rej.csv")
    assert counts(report) == dict(added=2, updated=0, unchanged=0, rejected=2, suppressed=0)
    assert people(db)["a@example.org"].extra == {"notes": "two lines"}
    with (tmp_path / "rej.csv").open(encoding="utf-8-sig", newline="") as f:
        rejected = list(csv.DictReader(f))
    assert [(r["line"], r["reason"].split(":")[0]) for r in rejected] == [
        ("6", "invalid email"),
        ("7", "missing email"),
    ]
    assert rejected[1]["notes"] == "x\n\ny" and rejected[0]["file"] == "q.csv"
    assert report.files[0].rows == 4


def test_rejects_default_to_the_current_folder_and_only_when_needed(db, tmp_path):
    run(db, write(tmp_path / "ok.csv", "email\na@example.org\n"))
    assert not (tmp_path / "ok.rejects.csv").exists()
    report = run(db, write(tmp_path / "bad.csv", "email\nnope\n"))
    assert report.rejects_path == tmp_path / "bad.rejects.csv"
    assert report.rejects_path.exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_rejected_cells_are_spreadsheet_safe(db, tmp_path):
    run(db, write(tmp_path / "f.csv", "email,first_name\n=HYPERLINK(1),@x\n"))
    text = (tmp_path / "f.rejects.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK(1)" in text and "'@x" in text


def test_unusable_zip_and_state_are_blank_with_warnings(db, tmp_path):
    text = "email,zip,state\na@example.org,n/a,Narnia\nb@example.org,H2X 1K4,TX\n"
    report = run(db, write(tmp_path / "w.csv", text))
    assert report.summary.rejected == 0
    a = people(db)["a@example.org"]
    assert (a.zip, a.state) == (None, None)
    assert report.warning_count == 3
    assert [(w.line, w.message.split()[0]) for w in report.warnings] == [
        (2, "ZIP"),
        (2, "state"),
        (3, "ZIP"),
    ]


def test_extra_cells_beyond_the_header_warn(db, tmp_path):
    report = run(db, write(tmp_path / "x.csv", "email,city\na@example.org,Austin,surplus\n"))
    assert report.summary.added == 1 and "extra cells" in report.warnings[0].message


# --------------------------------------------------------------------------
# Bad input: a clear error naming the file, nothing written


def _bad_inputs(tmp_path):
    return {
        "missing": (tmp_path / "nope.csv", "no such file"),
        "folder": (tmp_path, "folder"),
        "no email column": (write(tmp_path / "h.csv", "name,zip\nAna,05401\n"), "no email column"),
        "empty": (write(tmp_path / "e.csv", ""), "empty"),
        "only blank lines": (write(tmp_path / "b.csv", "\n\r\n  \n"), "empty"),
        "binary": (tmp_path / "bin.csv", "binary"),
        "workbook": (tmp_path / "book.xlsx", "Excel workbook"),
        "encoding": (tmp_path / "enc.csv", "unreadable text encoding"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "folder", "no email column", "empty", "only blank lines", "binary",
     "workbook", "encoding"],
)  # fmt: skip
def test_bad_input_names_the_file_and_writes_nothing(db, tmp_path, case):
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    (tmp_path / "enc.csv").write_bytes(b"email,name\na@example.org,\x81\x8d\x90\n")
    path, message = _bad_inputs(tmp_path)[case]
    with pytest.raises(ImportFileError, match=message) as caught:
        run(db, path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert db.execute("SELECT count(*) FROM import_runs").fetchone()[0] == 0
    assert not list(tmp_path.glob("*.rejects.csv"))


def test_one_bad_file_stops_every_file(db, tmp_path):
    good = write(tmp_path / "good.csv", "email\na@example.org\n")
    with pytest.raises(ImportFileError):
        run(db, good, tmp_path / "missing.csv")
    assert listing.count_subscribers(db, EVERYONE)["total"] == 0


# --------------------------------------------------------------------------
# Merge policy


def test_rows_for_one_person_merge_later_non_blank_wins(db, tmp_path):
    text = (
        "email,first_name,last_name,city,zip,tags\n"
        "ana@example.org,Ana,Perez,Austin,78701,a\n"
        "ANA@Example.org,,Pérez,,,b\n"
        "Ana@example.org,Anita,,Boston,,\n"
    )
    report = run(db, write(tmp_path / "d.csv", text))
    assert counts(report) == dict(added=1, updated=0, unchanged=0, rejected=0, suppressed=0)
    assert report.files[0].rows == 3
    ana = people(db)["ana@example.org"]
    assert (ana.first_name, ana.last_name, ana.city, ana.zip) == (
        "Anita",
        "Pérez",
        "Boston",
        "78701",
    )
    assert ana.tags == ["a", "b"]


def test_database_merge_fills_updates_never_blanks(db, tmp_path):
    run(db, write(tmp_path / "1.csv", "email,first_name,city,phone\nana@example.org,Ana,Austin,\n"))
    second = "email,first_name,city,phone,color\nANA@EXAMPLE.ORG,,Dallas,555-0100,red\n"
    report = run(db, write(tmp_path / "2.csv", second), tags=["second"])
    assert counts(report) == dict(added=0, updated=1, unchanged=0, rejected=0, suppressed=0)
    ana = people(db)["ana@example.org"]
    assert (ana.first_name, ana.city, ana.phone) == ("Ana", "Dallas", "555-0100")
    assert ana.tags == ["second"] and ana.extra == {"color": "red"}
    assert ana.source == "1.csv"


def test_same_file_twice_changes_nothing(db, tmp_path):
    text = "email,name,zip,tags\na@example.org,Ana P,05401,x\nb@example.org,Bo,,\nbad,,,\n"
    path = write(tmp_path / "s.csv", text)
    run(db, path, tags=["t"])
    before = people(db)
    report = run(db, path, tags=["t"])
    assert counts(report) == dict(added=0, updated=0, unchanged=2, rejected=1, suppressed=0)
    assert people(db) == before
    # the import's larger page caches are given back
    assert db.execute("PRAGMA main.cache_size").fetchone() == (-2000,)
    assert db.execute("PRAGMA temp.cache_size").fetchone() == (-2000,)


def test_people_not_subscribed_are_suppressed_and_untouched(db, tmp_path):
    path = write(tmp_path / "a.csv", "email,city\na@example.org,Austin\nb@example.org,Boston\n")
    run(db, path)
    lifecycle.unsubscribe(db, "a@example.org")
    again = "email,city,status\nA@example.org,Dallas,subscribed\nb@example.org,Boston,\n"
    report = run(db, write(tmp_path / "b.csv", again))
    assert counts(report) == dict(added=0, updated=0, unchanged=1, rejected=0, suppressed=1)
    a = people(db)["a@example.org"]
    assert (a.status, a.city) == ("unsubscribed", "Austin")


def test_status_column_never_resubscribes_and_can_unsubscribe(db, tmp_path):
    text = (
        "email,status\n"
        "gone@example.org,unsubscribed\n"
        "gone@example.org,subscribed\n"
        "bounce@example.org,cleaned\n"
        "odd@example.org,maybe\n"
    )
    report = run(db, write(tmp_path / "s.csv", text))
    found = people(db)
    assert found["gone@example.org"].status == "unsubscribed"
    assert found["bounce@example.org"].status == "bounced"
    assert found["odd@example.org"].status == "subscribed"
    assert report.warning_count == 1
    run(db, write(tmp_path / "t.csv", "email,status\nodd@example.org,unsubscribed\n"))
    assert people(db)["odd@example.org"].status == "unsubscribed"


def test_earliest_signup_time_is_kept(db, tmp_path):
    run(db, write(tmp_path / "a.csv", "email,signup time\na@example.org,2025-02-01 00:00:00\n"))
    run(db, write(tmp_path / "b.csv", "email,signup time\na@example.org,2025-03-01 00:00:00\n"))
    assert people(db)["a@example.org"].consent_at == "2025-02-01T00:00:00Z"
    run(db, write(tmp_path / "c.csv", "email,signup time\na@example.org,2024-12-01 00:00:00\n"))
    assert people(db)["a@example.org"].consent_at == "2024-12-01T00:00:00Z"


def test_only_changed_existing_people_are_resolved_again(db, tmp_path):
    run(db, write(tmp_path / "a.csv", "email,zip\na@example.org,05401\nb@example.org,10001\n"))
    ids = {p.email: p.id for p in people(db).values()}
    text = "email,zip\na@example.org,05401\nb@example.org,10002\nc@example.org,20001\n"
    run(db, write(tmp_path / "b.csv", text))
    # New people (c) are resolved as they are inserted; unchanged ones (a) are left alone.
    touched = {row[0] for row in db.execute("SELECT id FROM temp.import_touched")}
    assert touched == {ids["b@example.org"]}


def test_districts_set_on_insert_are_those_a_full_resolution_gives(db, tmp_path):
    from alerts.targets import roster as targets

    files = targets.sample_files()
    targets.load_roster(
        db, files["legislators"], files["zip_districts"], files.get("social"), congress=119
    )
    rows = [
        "ana@example.org,05401,VT",
        "ben@example.org,60614,IL",
        "cy@example.org,81137,CO",
        "di@example.org,30303,",
        "ed@example.org,,NY",
        "fay@example.org,1234,",
        "gus@example.org,00901-1234,Puerto Rico",
        "hal@example.org,99999,TX",
    ]
    run(db, write(tmp_path / "a.csv", "email,zip,state\n" + "\n".join(rows) + "\n"))
    # A second file in the same run both adds and changes people.
    again = write(
        tmp_path / "b.csv", "email,zip,state\nben@example.org,94110,CA\nivy@example.org,02138,MA\n"
    )
    third = write(tmp_path / "c.csv", "email,zip,state\njo@example.org,10001,NY\n")
    run(db, again, third)
    before = db.execute(
        "SELECT email, cd_state, cd_district, cd_confidence, cd_flags FROM subscribers ORDER BY id"
    ).fetchall()
    assert districts_db.resolve_districts(db) == 0
    after = db.execute(
        "SELECT email, cd_state, cd_district, cd_confidence, cd_flags FROM subscribers ORDER BY id"
    ).fetchall()
    assert before == after
    found = {row[0]: tuple(row[1:4]) for row in after}
    assert found["ana@example.org"] == ("VT", 0, "exact")
    assert found["ben@example.org"] == ("CA", 11, "exact")
    assert found["di@example.org"] == ("GA", 5, "exact")
    assert found["jo@example.org"][2] == "ambiguous"


def test_several_files_are_one_transaction_with_a_run_each(db, tmp_path):
    one = write(tmp_path / "one.csv", "email\na@example.org\nbad\n")
    two = write(
        tmp_path / "two.csv", "Email Address,First Name\nA@example.org,Ann\nb@example.org,\n"
    )
    report = run(db, one, two)
    assert [f.summary.as_dict() for f in report.files] == [
        dict(added=1, updated=0, unchanged=0, rejected=1, suppressed=0),
        dict(added=1, updated=1, unchanged=0, rejected=0, suppressed=0),
    ]
    assert counts(report) == dict(added=2, updated=1, unchanged=0, rejected=1, suppressed=0)
    runs = imports_db.import_runs(db)
    assert [r["file_name"] for r in runs] == ["two.csv", "one.csv"]
    assert runs[1]["sha256"] == hashlib.sha256(one.read_bytes()).hexdigest()
    assert (runs[1]["rows"], runs[1]["rejected"], runs[1]["added"]) == (2, 1, 1)
    assert runs[1]["started_at"] and runs[1]["finished_at"]


def test_dry_run_counts_but_writes_nothing(db, tmp_path):
    path = write(tmp_path / "d.csv", "email\na@example.org\nbad\n")
    report = run(db, path, dry_run=True)
    assert counts(report)["added"] == 1 and report.dry_run
    assert listing.count_subscribers(db, EVERYONE)["total"] == 0
    assert db.execute("SELECT count(*) FROM import_runs").fetchone()[0] == 0
    assert report.rejects_path is not None and report.rejects_path.exists()


# --------------------------------------------------------------------------
# Atomicity


def _big_file(path: Path, rows: int) -> Path:
    lines = ["email,first_name,zip"] + [
        f"p{i}@example.org,P{i},{i % 90000 + 1000}" for i in range(rows)
    ]
    return write(path, "\n".join(lines) + "\n")


def test_interrupt_mid_file_leaves_the_database_as_it_was(db, tmp_path):
    run(db, write(tmp_path / "first.csv", "email,first_name\nkeep@example.org,Kim\n"))
    before = people(db)
    calls = []

    def interrupt(done: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(db, _big_file(tmp_path / "big.csv", 12000), progress=interrupt)
    assert people(db) == before
    assert db.execute("SELECT count(*) FROM import_runs").fetchone()[0] == 1
    assert not list(tmp_path.glob("big.rejects.csv")) and not list(tmp_path.glob(".*.tmp"))


def test_failure_after_a_merged_file_rolls_back_every_file(db, tmp_path, monkeypatch):
    one = write(tmp_path / "one.csv", "email\na@example.org\n")
    two = write(tmp_path / "two.csv", "email\nb@example.org\n")
    finished = imports_db.import_run_finish

    def fail_on_second(db_, run_id, *args):
        finished(db_, run_id, *args)
        if run_id == 2:
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(imports_db, "import_run_finish", fail_on_second)
    with pytest.raises(RuntimeError):
        run(db, one, two)
    assert listing.count_subscribers(db, EVERYONE)["total"] == 0
    assert db.execute("SELECT count(*) FROM import_runs").fetchone()[0] == 0


def test_progress_reports_every_byte(db, tmp_path):
    path = _big_file(tmp_path / "big.csv", 9000)
    seen = []
    run(db, path, progress=seen.append)
    assert sum(seen) == path.stat().st_size and len(seen) >= 3


# --------------------------------------------------------------------------
# Forget, unsubscribe, lists, export


def test_forget_erases_and_no_import_brings_them_back(db, tmp_path):
    path = write(tmp_path / "a.csv", "email,first_name,zip\nana@example.org,Ana,05401\n")
    run(db, path)
    (ana_id,) = [p.id for p in people(db).values()]
    assert lifecycle.forget(db, " ANA@example.org ").erased
    row = db.execute(
        "SELECT email, first_name, zip, status FROM subscribers WHERE id = ?", [ana_id]
    )
    assert row.fetchone() == (None, None, None, "forgotten")
    assert "ana@example.org" not in json.dumps(db.execute("SELECT * FROM forgotten").fetchall())
    report = run(db, path)
    assert counts(report) == dict(added=0, updated=0, unchanged=0, rejected=0, suppressed=1)
    assert people(db) == {}
    assert listing.count_subscribers(db, EVERYONE)["forgotten"] == 1
    again = run(db, write(tmp_path / "b.csv", "email\nAna@Example.org\n"))
    assert again.summary.suppressed == 1 and people(db) == {}


def test_forget_someone_never_imported_still_blocks_them(db, tmp_path):
    assert not lifecycle.forget(db, "later@example.org").erased
    report = run(db, write(tmp_path / "a.csv", "email\nLater@example.org\nother@example.org\n"))
    assert (report.summary.added, report.summary.suppressed) == (1, 1)


def test_unsubscribe(db, tmp_path):
    run(db, write(tmp_path / "a.csv", "email\na@example.org\n"))
    result = lifecycle.unsubscribe(db, "A@example.org")
    assert result.changed and result.person.status == "unsubscribed"
    assert lifecycle.unsubscribe(db, "a@example.org").changed is False
    with pytest.raises(NotFoundError, match=r"nobody@example\.org"):
        lifecycle.unsubscribe(db, "nobody@example.org")


def test_list_filters(db, tmp_path):
    text = "email,state,tags\na@example.org,TX,x\nb@example.org,Texas,y\nc@example.org,VT,x\n"
    run(db, write(tmp_path / "a.csv", text))
    lifecycle.unsubscribe(db, "c@example.org")

    def emails(**kw):
        return [p.email for p in listing.list_subscribers(db, listing.subscriber_filter(**kw))]

    assert emails(state="texas") == ["a@example.org", "b@example.org"]
    assert emails(tag="x") == ["a@example.org", "c@example.org"]
    assert emails(tag="x", status="subscribed") == ["a@example.org"]
    assert listing.count_subscribers(db, listing.subscriber_filter(tag="x"))["total"] == 2
    with pytest.raises(LookupFailed, match="Narnia"):
        listing.subscriber_filter(state="Narnia")


def test_export_is_spreadsheet_safe_and_imports_back_unchanged(db, tmp_path):
    text = (
        "email,first_name,last_name,phone,city,zip,tags,Notes,signup time\n"
        'a@example.org,=cmd(),-Lee,+1 555 0100,@home,05401,"x, y","\tsneaky",2025-01-01 10:00\n'
        'b@example.org,Bo,"O\'Neil",,\rCR,,,,\n'
    )
    run(db, write(tmp_path / "a.csv", text), tags=["t"])
    lifecycle.unsubscribe(db, "b@example.org")
    out = tmp_path / "export.csv"
    assert listing.export_subscribers(db, out, EVERYONE) == 2
    with out.open(encoding="utf-8-sig", newline="") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert "'=cmd()" in cells and "'+1 555 0100" in cells

    copy = open_db(tmp_path / "copy.db")
    report = run(copy, out)
    assert report.summary.added == 2 and report.warning_count == 0
    strip = {"id", "created_at", "updated_at", "source"}
    original = {
        e: {k: v for k, v in vars(p).items() if k not in strip} for e, p in people(db).items()
    }
    again = {
        e: {k: v for k, v in vars(p).items() if k not in strip} for e, p in people(copy).items()
    }
    assert again == original
    copy.close()


def test_export_refuses_a_missing_folder(db, tmp_path):
    with pytest.raises(AlertsError, match="does not exist"):
        listing.export_subscribers(db, tmp_path / "no" / "x.csv", EVERYONE)


# --------------------------------------------------------------------------
# Property: any text at all ends in a clear error or an import, and loses nobody

_CELL = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12) | st.sampled_from(
    ["keep@example.org", "KEEP@EXAMPLE.ORG", "new@example.org", "", '"', "\n", ",", "05401"]
)


@st.composite
def csv_texts(draw):
    if draw(st.booleans()):
        return draw(st.text(max_size=200))
    header = draw(
        st.lists(st.sampled_from(["email", "first_name", "zip", "state", "x", ""]), max_size=5)
    )
    rows = draw(st.lists(st.lists(_CELL, max_size=6), max_size=6))
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=csv_texts(), encoding=st.sampled_from(["utf-8", "utf-16", "cp1252"]))
def test_arbitrary_csv_never_crashes_and_never_loses_a_subscriber(tmp_path, text, encoding):
    db = open_db(tmp_path / "prop.db")
    try:
        if not people(db):
            path = write(
                tmp_path / "seed.csv", "email,first_name,zip\nkeep@example.org,Kim,05401\n"
            )
            run(db, path)
        before = people(db)["keep@example.org"]
        path = tmp_path / "any.csv"
        try:
            path.write_bytes(text.encode(encoding))
        except UnicodeEncodeError:
            path.write_bytes(text.encode("utf-8"))
        try:
            run(db, path)
        except ImportFileError as exc:
            assert "\n" not in str(exc)
        after = people(db)["keep@example.org"]
        for name in ("first_name", "zip"):
            assert getattr(after, name) is not None, f"{name} was blanked"
        assert after.id == before.id and after.status == "subscribed"
    finally:
        db.close()


# --------------------------------------------------------------------------
# Large files are read by a second process: same result as reading them here

MIXED = (
    "\n"
    "Email Address,First Name,Last Name,Address,TAGS,Notes\n"
    'ana@example.org,Ana,Pérez,"18 Pearl St  Burlington  VT  5401  US",a,"two\nlines"\n'
    "nope,Bob,,,,\n"
    "\n"
    'ANA@example.org,,Perez-Ruiz,"1 Main St  Springfield  Narnia  ABCDE  US","b, c",\n'
    "zoe@example.org,Zoë,,,,=SUM(A1)\n"
    ",,,,,stray\n"
)


@pytest.fixture(params=["here", "worker"])
def reading(request, monkeypatch):
    if request.param == "worker":
        monkeypatch.setattr(csvfiles, "WORKER_MIN_BYTES", 0)
    return request.param


def _outcome(tmp_path, name, text):
    db = open_db(tmp_path / f"{name}.db")
    report = run(db, write(tmp_path / "mixed.csv", text), rejects_path=tmp_path / f"{name}.csv")
    found = {
        e: {k: v for k, v in vars(p).items() if not k.endswith("_at")}
        for e, p in people(db).items()
    }
    db.close()
    rejected = (tmp_path / f"{name}.csv").read_text(encoding="utf-8-sig")
    return found, counts(report), [str(w) for w in report.warnings], rejected


def test_worker_reads_exactly_like_this_process(tmp_path, monkeypatch):
    text = MIXED + "".join(f"p{i}@example.org,P,{i},,t{i % 3},\n" for i in range(5000))
    here = _outcome(tmp_path, "here", text)
    monkeypatch.setattr(csvfiles, "WORKER_MIN_BYTES", 0)
    (tmp_path / "alerts").mkdir()  # a folder of that name where the command runs is ignored
    (tmp_path / "alerts" / "__init__.py").write_text("raise ImportError('wrong alerts')\n")
    assert _outcome(tmp_path, "worker", text) == here
    assert here[1] == dict(added=5002, updated=0, unchanged=0, rejected=2, suppressed=0)
    assert len(here[2]) == 2 and "line 7" in here[2][0]


def test_unparseable_row_names_its_line(db, tmp_path, reading):
    text = "email,notes\na@example.org,ok\nb@example.org," + "x" * 200_000 + "\n"
    with pytest.raises(ImportFileError, match=r"big\.csv: line 3: field larger"):
        run(db, write(tmp_path / "big.csv", text))
    assert listing.count_subscribers(db, EVERYONE)["total"] == 0


def test_interrupt_stops_either_reader_and_rolls_back(db, tmp_path, reading):
    def interrupt(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(db, _big_file(tmp_path / "big.csv", 6000), progress=interrupt)
    assert listing.count_subscribers(db, EVERYONE)["total"] == 0
    assert db.execute("SELECT count(*) FROM import_runs").fetchone()[0] == 0


def test_header_with_a_line_break_keeps_the_error_on_one_line(tmp_path):
    # Found by the property test: a quoted header cell may hold a newline.
    path = tmp_path / "odd.csv"
    path.write_text('"first\nname",zip\r\nAnn,60614\r\n', encoding="utf-8")
    with pytest.raises(ImportFileError) as caught:
        importer.plan_import([path])
    message = str(caught.value)
    assert "\n" not in message and "first name" in message


def test_import_resolves_districts_of_the_people_it_touches(db, tmp_path):
    from alerts.targets import roster as targets

    files = targets.sample_files()
    targets.load_roster(
        db, files["legislators"], files["zip_districts"], files.get("social"), congress=119
    )
    path = write(
        tmp_path / "d.csv",
        "email,zip,state\nvt@example.org,05401,VT\nil@example.org,60614,IL\n"
        "co@example.org,81137,CO\nnone@example.org,,\n",
    )
    run(db, path)
    rows = {
        email: (state, district, confidence)
        for email, state, district, confidence in db.execute(
            "SELECT email, cd_state, cd_district, cd_confidence FROM subscribers"
        )
    }
    assert rows["vt@example.org"] == ("VT", 0, "exact")
    assert rows["il@example.org"][2] == "ambiguous"
    assert rows["co@example.org"][0] == "CO" and rows["co@example.org"][1] is None
    assert rows["none@example.org"][2] == "unknown"

    # A later change of ZIP is resolved again by the next import.
    run(db, write(tmp_path / "e.csv", "email,zip,state\nil@example.org,94110,CA\n"))
    row = db.execute(
        "SELECT cd_state, cd_district, cd_confidence FROM subscribers WHERE email = ?",
        ["il@example.org"],
    ).fetchone()
    assert tuple(row) == ("CA", 11, "exact")


def test_forget_also_erases_what_events_and_the_ledger_say_about_them(db, tmp_path):
    run(db, write(tmp_path / "a.csv", "email\nbo@example.org\nkeep@example.org\n"))
    bo, keep = (people(db)[e].id for e in ("bo@example.org", "keep@example.org"))
    campaign = campaigns_db.register_campaign(db, "c", "update", "Subject", "sha")
    for sid in (bo, keep):
        db.execute(
            "INSERT INTO events (campaign_id, subscriber_id, kind, at, user_agent, detail)"
            " VALUES (?, ?, 'click', 1, 'Mozilla/5.0 (Bo)', '{\"reason\": \"x\"}')",
            [campaign, sid],
        )
        db.execute(
            "INSERT INTO send_ledger (campaign_id, subscriber_id, state, reason)"
            " VALUES (?, ?, 'failed', 'mailbox of bo@example.org is full')",
            [campaign, sid],
        )
    db.conn.commit()
    lifecycle.forget(db, "bo@example.org")
    rows = db.execute(
        "SELECT subscriber_id, user_agent, detail FROM events ORDER BY subscriber_id"
    ).fetchall()
    assert [tuple(r) for r in rows] == [
        (bo, None, None),
        (keep, "Mozilla/5.0 (Bo)", '{"reason": "x"}'),
    ]
    reasons = dict(db.execute("SELECT subscriber_id, reason FROM send_ledger").fetchall())
    assert reasons[bo] is None and reasons[keep]
    # The event itself stays, so the campaign's figures still add up.
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 2
