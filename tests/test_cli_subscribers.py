import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

from alerts.config import data_file

SAMPLE = data_file("sample-signups.csv")
FIVE_KEYS = ["added", "updated", "unchanged", "rejected", "suppressed"]


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_readme_first_command_imports_the_sample_twice(here, cli):
    first = cli("import", str(SAMPLE))
    assert re.search(
        r"Imported sample-signups\.csv \(42 rows\): 40 added, 0 updated, 0 unchanged, "
        r"1 rejected, 0 suppressed",
        first.stdout,
    )
    assert "sample-signups.rejects.csv" in first.stdout
    assert "3 warnings" in first.stderr
    second = cli("import", str(SAMPLE))
    assert "0 added, 0 updated, 40 unchanged, 1 rejected, 0 suppressed" in second.stdout
    assert (here / "subscribers.db").exists()


def test_sample_file_covers_what_the_demo_needs(here, cli):
    cli("import", str(SAMPLE))
    people = json.loads(cli("subscribers", "list", "--format", "json").stdout)
    zips = {p["zip"] for p in people}
    allowed = {"05401", "10001", "20001", "00901", "60614", "94110", "78701", "81137", "97201",
               "30303", "02138"}  # fmt: skip
    assert zips - {None} == allowed
    assert sum(p["zip"] is None for p in people) >= 2
    names = {p["last_name"] for p in people}
    assert {"O'Brien", "Pérez", "Kim-Park"} <= names
    assert any(not p["first_name"] for p in people)
    assert {p["state"] for p in people if p["zip"] == "81137"} == {"CO"}


def test_import_json_prints_exactly_the_five_keys(here, cli):
    result = cli("import", str(SAMPLE), "--format", "json")
    data = json.loads(result.stdout)
    assert list(data) == FIVE_KEYS
    assert data == dict(added=40, updated=0, unchanged=0, rejected=1, suppressed=0)


def test_import_options(here, cli):
    path = write(here / "in.csv", "Kontakt,Ort\nzoe@example.org,Austin\nbad,\n")
    result = cli(
        "import", str(path), "--map", "Kontakt=email", "--map", "Ort=city",
        "--tag", "spring", "--tag", "volunteer", "--source", "website",
        "--rejects", str(here / "out" / "rej.csv"), ok=False,
    )  # fmt: skip
    assert "does not exist" in _one_line_error(result)
    assert not (here / "subscribers.db").exists()
    (here / "out").mkdir()
    cli(
        "import", str(path), "--map", "Kontakt=email", "--map", "Ort=city",
        "--tag", "spring", "--tag", "volunteer", "--source", "website",
        "--rejects", str(here / "out" / "rej.csv"),
    )  # fmt: skip
    shown = json.loads(cli("subscribers", "show", "ZOE@example.org", "--format", "json").stdout)
    assert (shown["city"], shown["source"], shown["tags"]) == (
        "Austin", "website", ["spring", "volunteer"],
    )  # fmt: skip
    assert "bad" in (here / "out" / "rej.csv").read_text(encoding="utf-8-sig")


def test_rejects_never_overwrite_an_input(here, cli):
    path = write(here / "a.csv", "email\nbad\n")
    assert "being imported" in _one_line_error(
        cli("import", "a.csv", "--rejects", str(path), ok=False)
    )
    assert path.read_text() == "email\nbad\n"


def test_dry_run_saves_nothing(here, cli):
    result = cli("import", str(SAMPLE), "--dry-run")
    assert "Dry run: nothing was saved." in result.stdout and "40 added" in result.stdout
    count = json.loads(cli("subscribers", "count", "--format", "json").stdout)
    assert count["total"] == 0


def _one_line_error(result):
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("noemail.csv", b"name,zip\nAna,05401\n", "no email column"),
        ("empty.csv", b"", "empty"),
        ("binary.csv", bytes(range(256)) * 4, "binary file"),
        ("latin.csv", b"email\n\x81\x8d\x8f\x90\n", "unreadable text encoding"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(here, cli, name, content, message):
    path = here / name
    if content is not None:
        path.write_bytes(content)
    line = _one_line_error(cli("import", str(path), ok=False))
    assert message in line and name in line
    assert not (here / "subscribers.db").exists()
    assert not list(here.glob("*.rejects.csv"))


def test_bad_map_is_a_one_line_error(here, cli):
    path = write(here / "a.csv", "Email\na@example.org\n")
    assert "unknown field" in _one_line_error(
        cli("import", str(path), "--map", "Email=x", ok=False)
    )


def test_import_without_a_file_is_a_usage_error(here, cli):
    result = cli("import", ok=False)
    assert "Missing argument" in result.output


@pytest.fixture
def imported(here, cli):
    text = (
        "email,first_name,last_name,state,zip,tags,notes\n"
        "ana@example.org,Ana,Pérez,VT,05401,volunteer,\n"
        'bo@example.org,Bo,\x1b[31mRed,TX,78701,,=HYPERLINK("x")\n'
        "cy@example.org,Cy,Ng,Texas,78701,volunteer,\n"
    )
    cli("import", str(write(here / "people.csv", text)))
    return here


def test_count(imported, cli):
    data = json.loads(cli("subscribers", "count", "--format", "json").stdout)
    assert data == dict(subscribed=3, unsubscribed=0, bounced=0, complained=0, forgotten=0, total=3)
    table = cli("subscribers", "count", "--state", "texas").stdout
    assert re.search(r"subscribed\s+2", table) and re.search(r"total\s+2", table)


def test_list_formats_and_filters(imported, cli):
    table = cli("subscribers", "list", "--tag", "volunteer").stdout
    assert "ana@example.org" in table and "cy@example.org" in table and "bo@" not in table
    assert "\x1b" not in cli("subscribers", "list").stdout
    rows = list(csv.DictReader(io.StringIO(cli("subscribers", "list", "--format", "csv").stdout)))
    assert [r["email"] for r in rows] == ["ana@example.org", "bo@example.org", "cy@example.org"]
    assert rows[1]["notes"] == '\'=HYPERLINK("x")'
    data = json.loads(cli("subscribers", "list", "--format", "json", "--state", "TX").stdout)
    assert [p["email"] for p in data] == ["bo@example.org", "cy@example.org"]
    limited = json.loads(cli("subscribers", "list", "--format", "json", "--limit", "1").stdout)
    assert len(limited) == 1
    limited_csv = cli("subscribers", "list", "--format", "csv", "--limit", "2").stdout
    assert len(limited_csv.strip().splitlines()) == 3
    assert json.loads(cli("subscribers", "list", "--format", "json", "--tag", "none").stdout) == []


def test_list_rejects_an_unknown_state(imported, cli):
    assert "Narnia" in _one_line_error(cli("subscribers", "list", "--state", "Narnia", ok=False))


def test_show(imported, cli):
    table = cli("subscribers", "show", "ANA@example.org").stdout
    assert re.search(r"last_name\s+Pérez", table) and re.search(r"zip\s+05401", table)
    assert "no subscriber" in _one_line_error(cli("subscribers", "show", "x@example.org", ok=False))


def test_show_says_where_their_letters_go(tmp_path, cli, monkeypatch):
    from alerts.targets import roster as targets

    monkeypatch.chdir(tmp_path)
    files = targets.sample_files()
    cli(
        "targets", "load",
        "--legislators", str(files["legislators"]),
        "--zip-districts", str(files["zip_districts"]),
        "--congress", "119",
    )  # fmt: skip
    (tmp_path / "p.csv").write_text(
        "email,zip,state\nvt@example.org,05401,VT\nil@example.org,60614,IL\n", encoding="utf-8"
    )
    cli("import", "p.csv")
    vt = json.loads(cli("subscribers", "show", "vt@example.org", "--format", "json").stdout)
    assert vt["district"]["seat"] == "VT-AL" and vt["district"]["confidence"] == "exact"
    assert vt["district"]["house"] == ["Representative Rebecca Samplewell"]
    assert len(vt["district"]["senate"]) == 2
    il = json.loads(cli("subscribers", "show", "il@example.org", "--format", "json").stdout)
    assert il["district"]["seat"] is None and il["district"]["confidence"] == "ambiguous"
    assert il["district"]["candidates"] == ["IL-3", "IL-5", "IL-7"]
    table = cli("subscribers", "show", "vt@example.org").stdout
    assert re.search(r"district: seat\s+VT-AL", table)


def test_unsubscribe(imported, cli):
    assert (
        "Unsubscribed ana@example.org"
        in cli("subscribers", "unsubscribe", "Ana@example.org").stdout
    )
    assert "already unsubscribed" in cli("subscribers", "unsubscribe", "ana@example.org").stdout
    result = cli("import", str(imported / "people.csv"), "--format", "json")
    assert json.loads(result.stdout)["suppressed"] == 1
    listed = cli("subscribers", "list", "--status", "unsubscribed", "--format", "json").stdout
    assert [p["email"] for p in json.loads(listed)] == ["ana@example.org"]


def test_forget(imported, cli):
    assert "erased" in cli("subscribers", "forget", "bo@example.org").stdout
    assert "no subscriber" in _one_line_error(
        cli("subscribers", "show", "bo@example.org", ok=False)
    )
    conn = sqlite3.connect(imported / "subscribers.db")
    dump = "\n".join(conn.iterdump())
    conn.close()
    assert "bo@example.org" not in dump and "Red" not in dump
    result = cli("import", str(imported / "people.csv"), "--format", "json")
    assert json.loads(result.stdout) == dict(
        added=0, updated=0, unchanged=2, rejected=0, suppressed=1
    )
    assert "kept" in cli("subscribers", "forget", "never@example.org").stdout


def test_export(imported, cli):
    result = cli("subscribers", "export", "out.csv", "--state", "TX")
    assert "Exported 2 subscribers to out.csv" in result.stdout
    with (imported / "out.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["email"] for r in rows] == ["bo@example.org", "cy@example.org"]
    assert rows[0]["notes"].startswith("'=")
    everyone = cli("subscribers", "export", "-").stdout
    assert everyone.count("@example.org") == 3
    assert "folder" in _one_line_error(cli("subscribers", "export", "nowhere/x.csv", ok=False))
