"""`alerts targets load | update | lookup | status` through the CLI."""

import json
import shutil

import pytest
import yaml

from alerts.targets.lookup import JSON_KEYS
from alerts.targets.roster import sample_files

SAMPLES = sample_files()
SAMPLE_ARGS = [
    "--legislators",
    str(SAMPLES["legislators"]),
    "--social",
    str(SAMPLES["social"]),
    "--zip-districts",
    str(SAMPLES["zip_districts"]),
    "--congress",
    "119",
]


@pytest.fixture
def loaded(cli, project):
    cli("targets", "load", *SAMPLE_ARGS)
    return project


def one_line_error(result, *fragments):
    """A non-zero exit whose stderr ends in one `Error: ...` line (after any progress lines)."""
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if not line.startswith("Downloading ")]
    assert len(errors) == 1 and errors[0].startswith("Error: "), result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in errors[0]


def test_load_prints_a_first_load(cli, project):
    out = cli("targets", "load", *SAMPLE_ARGS).output
    assert "Loaded roster version 1: 34 members, 15 ZIP -> district rows." in out
    assert "First roster" in out
    assert "Vacant House seats: GA-5" in out


def test_load_prints_who_left_arrived_and_moved(cli, loaded, tmp_path):
    records = yaml.safe_load(SAMPLES["legislators"].read_text(encoding="utf-8"))
    records = [r for r in records if r["id"]["bioguide"] != "Z900027"]  # CA-11 leaves
    senator = next(r for r in records if r["id"]["bioguide"] == "Z900029")
    senator["terms"].append({"type": "sen", "state": "OR", "class": 3})  # OR-1 -> OR
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(records, allow_unicode=True), encoding="utf-8")

    args = ["--legislators", str(changed), "--zip-districts", str(SAMPLES["zip_districts"])]
    args += ["--congress", "119"]
    out = cli("targets", "load", *args).output
    assert "Left (1):\n  Nancy Placewell (CA-11)" in out
    assert "Changed seat (1):\n  Suzanne Demoine: OR-1 -> OR" in out
    assert "Arrived" not in out
    assert "Vacant House seats: CA-11, GA-5, OR-1" in out

    again = json.loads(cli("targets", "load", *args, "--format", "json").output)
    assert again["left"] == again["arrived"] == again["changed_seat"] == []
    assert again["version"] == 3


def test_load_counts_subscribers_by_confidence(cli, loaded):
    from alerts.db import open_db

    database = open_db(loaded / "subscribers.db")
    for zip_code, state in (("05401", "VT"), ("10001", "NY"), ("81137", "CO")):
        database["subscribers"].insert(
            {"email": f"{zip_code}@example.org", "zip": zip_code, "state": state,
             "created_at": "", "updated_at": ""}
        )  # fmt: skip
    database.conn.commit()
    database.close()
    out = cli("targets", "load", *SAMPLE_ARGS).output
    assert "Subscribers' districts: 1 exact, 1 ambiguous, 1 unknown" in out
    status = json.loads(cli("targets", "status", "--format", "json").output)
    assert status["subscribers"] == {"exact": 1, "ambiguous": 1, "unknown": 1}
    assert status["flags"] == {"state_mismatch": 1}


def test_lookup_json_shape(cli, loaded):
    found = json.loads(cli("targets", "lookup", "60614", "--format", "json").stdout)
    assert [t["chamber"] for t in found] == ["house"] * 3 + ["senate"] * 2
    for target in found:
        candidate = {*JSON_KEYS, "ambiguous", "share"}
        expected = candidate if target["chamber"] == "house" else set(JSON_KEYS)
        assert set(target) == expected
    assert found[0] == {
        "chamber": "house",
        "full_name": "Delia Ramírez-Muestra",
        "last_name": "Ramírez-Muestra",
        "title": "Representative",
        "party": "Democrat",
        "state": "IL",
        "district": 3,
        "phone": "202-555-0123",
        "contact_url": "https://ramirezmuestra.house.example/contact",
        "twitter": "SmplRamirez",
        "ambiguous": True,
        "share": None,
    }
    assert found[2]["twitter"] is None


def test_lookup_text(cli, loaded):
    result = cli("targets", "lookup", "20001")
    assert "Delegate  Eleanor Sampleworth-Holm" in result.stdout
    assert "Note: DC has no senators." in result.stderr
    text = cli("targets", "lookup", "81137", "--state", "co").output
    assert "Senator  Michael Demoville" in text
    assert "the House member for CO is unknown" in text
    vacant = cli("targets", "lookup", "30303").output
    assert "(vacant)" in vacant and "GA-5 is vacant" in vacant


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["12"], ["invalid ZIP '12'"]),
        (["99999"], ["unknown ZIP 99999"]),
        (["10001", "--state", "XX"], ["unknown state 'XX'"]),
    ],
)
def test_lookup_errors_are_one_line(cli, loaded, args, fragments):
    one_line_error(cli("targets", "lookup", *args, ok=False), *fragments)


def test_lookup_before_any_roster(cli, project):
    one_line_error(cli("targets", "lookup", "10001", ok=False), "no roster loaded")


@pytest.mark.parametrize(
    ("option", "content", "fragments"),
    [
        ("--legislators", None, ["missing.yaml: file not found"]),
        ("--legislators", "- [unclosed\n", ["roster.yaml: line", "malformed YAML"]),
        ("--zip-districts", "state_abbr,zcta,cd\nNY,1x001,10\n", ["line 2: zcta '1x001'"]),
    ],
)
def test_load_errors_are_one_line_and_keep_the_roster(
    cli, loaded, tmp_path, option, content, fragments
):
    names = {"--legislators": "roster.yaml", "--zip-districts": "zccd.csv"}
    path = tmp_path / (names[option] if content is not None else "missing.yaml")
    if content is not None:
        path.write_text(content, encoding="utf-8")
    args = list(SAMPLE_ARGS)
    args[args.index(option) + 1] = str(path)
    one_line_error(cli("targets", "load", *args, ok=False), *fragments)
    assert json.loads(cli("targets", "status", "--format", "json").output)["version"]["id"] == 1


def test_update_from_a_local_server(cli, project, file_server):
    base, folder = file_server
    for path in SAMPLES.values():
        shutil.copyfile(path, folder / path.name)
    urls = [
        "--legislators-url",
        f"{base}/sample-legislators.yaml",
        "--social-url",
        f"{base}/sample-legislators-social.yaml",
        "--zip-districts-url",
        f"{base}/sample-zccd.csv",
        "--congress",
        "119",
    ]
    result = cli("targets", "update", *urls)
    assert "Loaded roster version 1: 34 members" in result.stdout
    assert f"Downloading {base}/sample-zccd.csv" in result.stderr

    (folder / "sample-zccd.csv").unlink()  # the next download fails: nothing changes
    failed = cli("targets", "update", *urls, ok=False)
    one_line_error(failed, f"{base}/sample-zccd.csv: download failed (HTTP 404")
    status = json.loads(cli("targets", "status", "--format", "json").output)
    assert status["version"]["id"] == 1 and status["zip_codes"] == 11


def test_status_text(cli, loaded):
    out = cli("targets", "status").output
    assert "Roster version 1, loaded " in out
    assert "Members: 1 Delegate, 12 Representative, 1 Resident Commissioner, 20 Senator" in out
    assert "sample-zccd.csv  sha256 " in out


def test_status_without_a_roster(cli, project):
    assert "No roster loaded" in cli("targets", "status").output


def test_real_files_through_the_cli(cli, project, shared_data):
    cli(
        "targets",
        "load",
        "--legislators",
        str(shared_data / "legislators-current.yaml"),
        "--social",
        str(shared_data / "legislators-social-media.yaml"),
        "--zip-districts",
        str(shared_data / "zccd.csv"),
        "--congress",
        "119",
    )
    found = json.loads(cli("targets", "lookup", "05401", "--format", "json").stdout)
    assert [(t["title"], t["last_name"]) for t in found] == [
        ("Representative", "Balint"),
        ("Senator", "Sanders"),
        ("Senator", "Welch"),
    ]
    assert found[1]["twitter"] == "SenSanders"
