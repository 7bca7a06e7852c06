"""`alerts bills update | load` through the CLI, against the local Congress.gov stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.bills.congress_gov.standin import (
    CongressGovStandin,
    Fault,
    cosponsor_json,
    member_json,
    sample_bills,
)
from alerts.models import BillId

KEY = "cli-test-key"
BILL = BillId(119, "hr", 1234)
CAMPAIGN = """\
---
subject: Ask your representative
kind: action
bill: {bill}
letter:
  to: house
  subject: Please cosponsor
  body: Dear {{{{ target.last_name }}}}
---
Write to your representative.
"""


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[-1]
    return lines[-1]


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[CongressGovStandin]:
    with CongressGovStandin(api_key=KEY, bills=sample_bills()) as server:
        monkeypatch.setenv("CONGRESS_API_KEY", KEY)
        monkeypatch.setenv("ALERTS_CONGRESS_API_URL", server.url)
        yield server


@pytest.fixture
def campaign(project: Path) -> Path:
    path = project / "campaigns" / "qi-march.md"
    path.write_text(CAMPAIGN.format(bill="hr1234-119"), encoding="utf-8")
    return path


def test_a_second_update_prints_who_joined_and_who_withdrew(cli, standin, campaign) -> None:
    first = cli("bills", "update", "qi-march").output
    assert "hr1234-119  Ending Qualified Immunity Act" in first
    assert "Sponsor:    Rep. Examplo, Ayanna [D-MA-7]" in first
    assert "Cosponsors: 3 (1 withdrawn)" in first
    assert "First fetch" in first
    assert "Stances:    1 sponsor, 3 cosponsor, 0 supports, 0 opposes, others unknown" in first

    cosponsors = standin.bills[BILL].cosponsors
    cosponsors[0] = cosponsor_json(
        member_json("Z900030", "Katherine", "Trialworth", "D", "MA", 5),
        "2025-03-04",
        original=True,
        withdrawn="2025-07-01",
    )
    cosponsors.append(
        cosponsor_json(member_json("Z900023", "Gerald", "Exemplar", "D", "NY", 12), "2025-07-02")
    )
    second = cli("bills", "update", "qi-march").output
    assert "Since the last fetch (" in second
    assert "  Joined (1):\n    Rep. Exemplar, Gerald [D-NY-12]  2025-07-02" in second
    assert "  Withdrew (1):\n    Rep. Trialworth, Katherine [D-MA-5]  2025-07-01" in second

    third = cli("bills", "update", "qi-march").output
    assert "Nobody joined or withdrew since the last fetch (" in third


def test_update_as_json(cli, standin, campaign) -> None:
    data = json.loads(cli("bills", "update", "qi-march", "--format", "json").output)
    assert data["bill"] == "hr1234-119" and data["slug"] == "qi-march"
    assert data["previous_fetched_at"] is None
    assert [s["bioguide"] for s in data["sponsors"]] == ["Z900031"]
    assert (data["cosponsors"], data["withdrawn"]) == (3, 1)
    assert data["joined"] == [] and data["withdrew"] == []
    assert data["stances"]["cosponsor"] == 3


def test_update_retries_a_rate_limit(cli, standin, campaign) -> None:
    standin.inject(Fault(status=429, retry_after=0), Fault(status=503, retry_after=0))
    assert "First fetch" in cli("bills", "update", "qi-march").output


def test_update_needs_the_key(cli, standin, campaign, monkeypatch) -> None:
    monkeypatch.delenv("CONGRESS_API_KEY")
    result = cli("bills", "update", "qi-march", ok=False)
    one_line_error(result, "CONGRESS_API_KEY is not set", "https://api.congress.gov/sign-up/")
    assert standin.requests == []


def test_a_bad_key_is_one_line(cli, standin, campaign, monkeypatch) -> None:
    monkeypatch.setenv("CONGRESS_API_KEY", "not-the-key")
    result = cli("bills", "update", "qi-march", ok=False)
    one_line_error(result, "refused the key in CONGRESS_API_KEY (API_KEY_INVALID")
    assert KEY not in result.output and "not-the-key" not in result.output


def test_a_campaign_without_a_bill_says_how_to_name_one(cli, standin, project) -> None:
    path = project / "campaigns" / "plain.md"
    path.write_text(CAMPAIGN.replace("bill: {bill}\n", ""), encoding="utf-8")
    result = cli("bills", "update", "plain", ok=False)
    one_line_error(result, "plain.md: names no bill", "bill: hr1234-119")


def test_a_bad_bill_is_reported_at_its_line(cli, standin, project) -> None:
    path = project / "campaigns" / "qi-march.md"
    path.write_text(CAMPAIGN.format(bill="hr1234"), encoding="utf-8")
    result = cli("bills", "update", "qi-march", ok=False)
    one_line_error(result, "qi-march.md:4: bill must be written like hr1234-119")


def test_a_missing_campaign(cli, standin, project) -> None:
    one_line_error(cli("bills", "update", "nope", ok=False), "no campaign 'nope'")


def test_load_overrides_the_api(cli, standin, campaign, project) -> None:
    cli("bills", "update", "qi-march")
    stances = project / "stances.csv"
    stances.write_text("bioguide,stance\nZ900022,opposes\nZ900030,supports\n", encoding="utf-8")
    out = cli("bills", "load", "qi-march", str(stances)).output
    assert "Loaded 2 stances for qi-march from " in out and "(replacing 0)" in out
    assert "Stances:    1 sponsor, 2 cosponsor, 1 supports, 1 opposes, others unknown" in out

    data = json.loads(cli("bills", "load", "qi-march", str(stances), "--format", "json").output)
    assert data["loaded"] == 2 and data["replaced"] == 2
    assert data["loaded_by_stance"] == {"opposes": 1, "supports": 1}
    assert data["stances"] == {"sponsor": 1, "cosponsor": 2, "supports": 1, "opposes": 1}


def test_a_bad_csv_lists_its_rows_and_changes_nothing(cli, standin, campaign, project) -> None:
    good = project / "good.csv"
    good.write_text("bioguide,stance\nZ900022,opposes\n", encoding="utf-8")
    cli("bills", "load", "qi-march", str(good))
    bad = project / "bad.csv"
    bad.write_text("bioguide,stance\nZ900030,maybe\nZ90003,supports\n", encoding="utf-8")
    result = cli("bills", "load", "qi-march", str(bad), ok=False)
    lines = result.stderr.strip().splitlines()
    assert lines[0].endswith("bad.csv:2: stance must be one of sponsor, cosponsor, supports,"
                             " opposes, unknown, not 'maybe'")  # fmt: skip
    assert lines[1].endswith("bad.csv:3: bioguide must be a letter and 6 digits, like P000617,"
                             " not 'Z90003'")  # fmt: skip
    one_line_error(result, "bad.csv: 2 bad rows; nothing was loaded")
    data = json.loads(cli("bills", "load", "qi-march", str(good), "--format", "json").output)
    assert data["replaced"] == 1


def test_load_names_a_missing_file(cli, campaign, project) -> None:
    result = cli("bills", "load", "qi-march", str(project / "absent.csv"), ok=False)
    one_line_error(result, "absent.csv: no such file")
