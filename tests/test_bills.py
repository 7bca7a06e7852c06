"""Bills: their names, the Congress.gov client and stand-in, fetches, stances and the CSV."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from alerts.bills.congress_gov.client import (
    CongressGovClient,
    RetryPolicy,
    api_key_from_environment,
)
from alerts.bills.congress_gov.standin import (
    CongressGovStandin,
    Fault,
    StandinBill,
    control,
    cosponsor_json,
    member_json,
    sample_bills,
)
from alerts.bills.overrides import load_overrides, read_overrides
from alerts.bills.stance import campaign_stances
from alerts.bills.updates import update_bill
from alerts.campaigns.files import load_campaign
from alerts.db import Database
from alerts.db import bills as bills_db
from alerts.errors import CampaignError, CongressApiError, InputFileError, StanceFileError
from alerts.models import BillId, Stance

KEY = "test-key-0123456789"
BILL = BillId(119, "hr", 1234)
SPONSOR = member_json("Z900031", "Ayanna", "Examplo", "D", "MA", 7)
ORIGINAL = member_json("Z900030", "Katherine", "Trialworth", "D", "MA", 5)
WITHDRAWN = member_json("Z900022", "Daniel", "Testa", "D", "NY", 10)
LATER = member_json("Z900002", "Morgan", "Placeholder", "D", "VT")
NEWCOMER = member_json("Z900023", "Gerald", "Exemplar", "D", "NY", 12)


def many_cosponsors(count: int) -> list[dict[str, Any]]:
    return [
        cosponsor_json(
            member_json(f"X{i:06d}", "Member", f"No{i}", "D", "CA", i % 52), "2025-05-01"
        )
        for i in range(count)
    ]


@pytest.fixture
def standin() -> Iterator[CongressGovStandin]:
    # The sample bill: sponsor Z900031; cosponsors Z900030 (original), Z900022 (original,
    # withdrawn), Z900024, and Z900002 (a senator).
    with CongressGovStandin(api_key=KEY, bills=sample_bills()) as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(standin: CongressGovStandin, waits: list[float]) -> CongressGovClient:
    return CongressGovClient(standin.url, KEY, timeout=5, sleep=waits.append)


def get(url: str, key: str | None = KEY) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"X-Api-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --------------------------------------------------------------------------
# Naming a bill


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("hr1234-119", BillId(119, "hr", 1234)),
        ("HR1234-119", BillId(119, "hr", 1234)),
        ("sconres7-118", BillId(118, "sconres", 7)),
        ({"congress": 119, "type": "hr", "number": 1234}, BillId(119, "hr", 1234)),
        ({"congress": "119", "type": "SJRES", "number": "3"}, BillId(119, "sjres", 3)),
    ],
)
def test_a_bill_is_named_as_text_or_a_mapping(written: object, expected: BillId) -> None:
    assert BillId.parse(written) == expected
    assert expected.name == f"{expected.type}{expected.number}-{expected.congress}"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("hr-1234", "bill must be written like hr1234-119 or {congress: 119, type: hr,"),
        ("hr1234", "not 'hr1234'"),
        ("hx1234-119", "bill: type must be one of hr, s, hjres, sjres, hconres, sconres, hres"),
        ({"congress": 119, "type": "hr"}, "bill: number is required"),
        ({"congress": 119, "type": "hr", "number": 1, "chamber": "house"}, "unknown key 'chamber'"),
        (
            {"congress": 0, "type": "hr", "number": 1},
            "congress must be a whole number of 1 or more",
        ),
        ({"congress": 119, "type": "hr", "number": True}, "number must be a whole number"),
        (1234, "bill must be written like"),
    ],
)
def test_a_bad_bill_name_says_what_is_wrong(written: object, message: str) -> None:
    with pytest.raises(ValueError, match=r"^bill") as caught:
        BillId.parse(written)
    assert message in str(caught.value)


def campaign_file(folder: Path, bill_line: str, kind: str = "action") -> Path:
    path = folder / "qi-march.md"
    letter = "letter:\n  to: house\n  subject: S\n  body: B\n" if kind == "action" else ""
    path.write_text(f"---\nsubject: Hi\nkind: {kind}\n{bill_line}\n{letter}---\nBody\n")
    return path


def test_a_campaign_names_its_bill(tmp_path: Path) -> None:
    assert load_campaign(campaign_file(tmp_path, "bill: hr1234-119")).bill == BILL
    mapping = "bill: {congress: 119, type: hr, number: 1234}"
    assert load_campaign(campaign_file(tmp_path, mapping)).bill == BILL
    assert load_campaign(campaign_file(tmp_path, "")).bill is None


def test_a_bad_bill_in_a_campaign_is_reported_at_its_line(tmp_path: Path) -> None:
    path = campaign_file(tmp_path, "bill: hx12-119")
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert str(caught.value).startswith(f"{path}:4: bill: type must be one of hr, s,")


def test_only_an_action_campaign_names_a_bill(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match=r":4: bill is only for action campaigns"):
        load_campaign(campaign_file(tmp_path, "bill: hr1234-119", kind="update"))


# --------------------------------------------------------------------------
# The stand-in speaks the documented wire format


def test_the_standin_pages_cosponsors_with_offset_limit_and_next(standin) -> None:
    standin.bills[BILL] = StandinBill("Many", [SPONSOR], many_cosponsors(45))
    path = f"{standin.url}/v3/bill/119/hr/1234/cosponsors"
    status, first = get(f"{path}?format=json")
    assert status == 200
    assert len(first["cosponsors"]) == 20  # the default limit
    assert first["pagination"]["count"] == 45
    assert first["pagination"]["countIncludingWithdrawnCosponsors"] == 45
    assert first["pagination"]["next"] == f"{path}?offset=20&limit=20&format=json"
    _, last = get(f"{path}?offset=40&limit=20&format=json")
    assert [c["bioguideId"] for c in last["cosponsors"]] == [f"X{i:06d}" for i in range(40, 45)]
    assert "next" not in last["pagination"]
    _, capped = get(f"{path}?offset=0&limit=1000&format=json")
    assert len(capped["cosponsors"]) == 45


def test_the_standin_serves_the_bill_item(standin) -> None:
    status, body = get(f"{standin.url}/v3/bill/119/hr/1234?format=json")
    assert status == 200
    bill = body["bill"]
    assert (bill["congress"], bill["type"], bill["number"]) == (119, "HR", "1234")
    assert bill["sponsors"][0]["fullName"] == "Rep. Examplo, Ayanna [D-MA-7]"
    assert bill["cosponsors"]["count"] == 3
    assert bill["cosponsors"]["countIncludingWithdrawnCosponsors"] == 4
    assert body["request"]["billType"] == "hr"


@pytest.mark.parametrize(
    ("key", "code"), [(None, "API_KEY_MISSING"), ("wrong-key", "API_KEY_INVALID")]
)
def test_the_standin_rejects_a_missing_or_bad_key(standin, key: str | None, code: str) -> None:
    status, body = get(f"{standin.url}/v3/bill/119/hr/1234?format=json", key=key)
    assert status == 403
    assert body["error"]["code"] == code
    assert "api_key was supplied" in body["error"]["message"]


def test_the_standin_takes_the_key_as_a_parameter_too(standin) -> None:
    status, _ = get(f"{standin.url}/v3/bill/119/hr/1234?format=json&api_key={KEY}", key=None)
    assert status == 200


def test_the_standin_speaks_json_only_and_knows_its_bills(standin) -> None:
    assert get(f"{standin.url}/v3/bill/119/hr/1234")[0] == 400  # the API's default is XML
    assert get(f"{standin.url}/v3/bill/119/hr/99?format=json")[0] == 404


def test_the_standin_answers_429_and_5xx_on_demand(standin) -> None:
    standin.inject(Fault(status=429, retry_after=7), Fault(status=503))
    request = urllib.request.Request(
        f"{standin.url}/v3/bill/119/hr/1234?format=json", headers={"X-Api-Key": KEY}
    )
    with pytest.raises(urllib.error.HTTPError) as limited:
        urllib.request.urlopen(request, timeout=5)
    assert limited.value.code == 429
    assert limited.value.headers["Retry-After"] == "7"
    assert json.loads(limited.value.read())["error"]["code"] == "OVER_RATE_LIMIT"
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(request, timeout=5)
    assert failed.value.code == 503
    assert get(request.full_url)[0] == 200


def test_the_standin_runs_as_a_module_and_is_driven_from_another_process(tmp_path) -> None:
    bills = tmp_path / "bills.json"
    bills.write_text(json.dumps({"s5-119": {"title": "A Senate bill", "sponsors": [LATER]}}))
    command = [sys.executable, "-m", "alerts.bills.congress_gov.standin", "--api-key", KEY]
    process = subprocess.Popen([*command, "--bills", str(bills)], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("Congress.gov stand-in listening on http://127.0.0.1:")
        url = line.split(" on ")[1].strip()
        counts = control(url, faults=[Fault(status=500)])
        assert counts == {"requests": 0, "pending_faults": 1, "bills": 1}
        waits: list[float] = []
        details = CongressGovClient(url, KEY, sleep=waits.append).bill(BillId(119, "s", 5))
        assert details.title == "A Senate bill" and waits == [1.0]
        assert control(url, clear_faults=True)["requests"] == 3
    finally:
        process.terminate()
        process.wait(timeout=10)


# --------------------------------------------------------------------------
# The client


def test_the_client_reads_sponsor_and_cosponsors(client) -> None:
    details = client.bill(BILL)
    assert details.title == "Ending Qualified Immunity Act"
    by_id = {s.bioguide: s for s in details.sponsorships}
    assert by_id["Z900031"].is_sponsor and by_id["Z900031"].district == 7
    assert by_id["Z900031"].sponsorship_date == "2025-03-04"  # introduced
    assert by_id["Z900030"].is_original and by_id["Z900030"].withdrawn_date is None
    assert by_id["Z900022"].withdrawn_date == "2025-04-22"
    assert by_id["Z900002"].district is None  # a senator
    assert by_id["Z900002"].name == "Sen. Placeholder, Morgan [D-VT]"


def test_the_client_follows_pagination_next_with_the_key_in_a_header(standin, client) -> None:
    standin.bills[BILL] = StandinBill("Many", [SPONSOR], many_cosponsors(260))
    details = client.bill(BILL)
    assert len(details.sponsorships) == 261
    pages = [r.target for r in standin.requests if "/cosponsors" in r.target]
    assert pages == [
        "/v3/bill/119/hr/1234/cosponsors?format=json&offset=0&limit=250",
        "/v3/bill/119/hr/1234/cosponsors?format=json&offset=250&limit=250",
    ]
    assert all(r.api_key == KEY and KEY not in r.target for r in standin.requests)


def test_the_client_retries_a_429_as_long_as_retry_after_asks(standin, client, waits) -> None:
    standin.inject(Fault(status=429, retry_after=3))
    assert client.bill(BILL).title
    assert waits == [3.0]
    assert [r.status for r in standin.requests] == [429, 200, 200]


def test_the_client_retries_5xx_with_growing_waits(standin, client, waits) -> None:
    standin.inject(Fault(status=502), Fault(status=503), Fault(status=500))
    assert client.bill(BILL).title
    assert waits == [1.0, 2.0, 4.0]


def test_the_client_gives_up_after_its_retries(standin, waits) -> None:
    client = CongressGovClient(standin.url, KEY, policy=RetryPolicy(retries=2), sleep=waits.append)
    standin.inject(Fault(status=429, times=10))
    with pytest.raises(CongressApiError) as caught:
        client.bill(BILL)
    message = str(caught.value)
    assert message.startswith("Congress.gov answered HTTP 429 OVER_RATE_LIMIT to GET /v3/bill/")
    assert message.endswith("gave up after 3 tries")
    assert "\n" not in message and len(waits) == 2


def test_a_retry_after_longer_than_the_longest_wait_gives_up_at_once(standin, waits) -> None:
    client = CongressGovClient(
        standin.url, KEY, policy=RetryPolicy(max_wait=60), sleep=waits.append
    )
    standin.inject(Fault(status=429, retry_after=3600))
    with pytest.raises(CongressApiError, match="asks to wait 3600 s; try again later"):
        client.bill(BILL)
    assert waits == []


def test_a_timeout_is_retried(standin, waits) -> None:
    client = CongressGovClient(standin.url, KEY, timeout=0.3, sleep=waits.append)
    standin.inject(Fault(kind="slow", delay=2))
    assert client.bill(BILL).title
    assert waits == [1.0]


def test_a_bad_key_is_one_line(standin) -> None:
    client = CongressGovClient(standin.url, "wrong-key", sleep=lambda _: None)
    with pytest.raises(CongressApiError) as caught:
        client.bill(BILL)
    assert str(caught.value) == (
        "Congress.gov refused the key in CONGRESS_API_KEY (API_KEY_INVALID: "
        "An invalid api_key was supplied. Get one at https://api.congress.gov:443)"
    )
    assert len(standin.requests) == 1  # not retried


def test_an_answer_that_is_not_json_is_one_line(standin, client) -> None:
    standin.inject(Fault(kind="malformed"))
    with pytest.raises(CongressApiError) as caught:
        client.bill(BILL)
    assert str(caught.value).startswith(
        "Congress.gov's answer to GET /v3/bill/119/hr/1234 is not JSON ("
    )
    assert "\n" not in str(caught.value)


def test_a_missing_bill_names_its_path(client) -> None:
    with pytest.raises(CongressApiError, match=r"nothing at GET /v3/bill/119/hr/99 \(HTTP 404\)"):
        client.bill(BillId(119, "hr", 99))


def test_the_client_reads_values_converted_from_xml(standin, client) -> None:
    converted = {**ORIGINAL, "district": "5", "isOriginalCosponsor": "True"}
    converted["sponsorshipDate"] = "2025-03-04"
    standin.bills[BILL] = StandinBill("T", [SPONSOR], [converted])
    cosponsor = next(s for s in client.bill(BILL).sponsorships if not s.is_sponsor)
    assert (cosponsor.district, cosponsor.is_original, cosponsor.withdrawn_date) == (5, True, None)


def test_a_member_listed_twice_counts_once(standin, client) -> None:
    standin.bills[BILL] = StandinBill(
        "T",
        [SPONSOR],
        [
            cosponsor_json(WITHDRAWN, "2025-03-04", withdrawn="2025-04-22"),
            cosponsor_json(WITHDRAWN, "2025-06-01"),
        ],
    )
    again = [s for s in client.bill(BILL).sponsorships if s.bioguide == "Z900022"]
    assert len(again) == 1 and again[0].is_current_cosponsor


class _Redirect(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(301)
        self.send_header("Location", "http://elsewhere.example/v3/bill")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_the_client_never_follows_a_redirect_with_the_key() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        client = CongressGovClient(f"http://127.0.0.1:{server.server_address[1]}", KEY)
        with pytest.raises(CongressApiError, match=r"redirected .* to http://elsewhere\.example"):
            client.bill(BILL)
    finally:
        server.shutdown()
        server.server_close()


def test_the_key_comes_from_congress_api_key() -> None:
    assert api_key_from_environment({"CONGRESS_API_KEY": f" {KEY}\n"}) == KEY
    with pytest.raises(CongressApiError, match=r"^CONGRESS_API_KEY is not set: get a free key at"):
        api_key_from_environment({})


# --------------------------------------------------------------------------
# Fetches, what changed, and stances


def test_a_second_fetch_says_who_joined_and_who_withdrew(db: Database, standin, client) -> None:
    first = update_bill(db, "qi-march", BILL, client)
    assert first.previous_fetched_at is None
    assert (first.cosponsors, first.withdrawn) == (3, 1)

    standin.bills[BILL].cosponsors[0] = cosponsor_json(
        ORIGINAL, "2025-03-04", original=True, withdrawn="2025-07-01"
    )
    standin.bills[BILL].cosponsors.append(cosponsor_json(NEWCOMER, "2025-07-02"))
    second = update_bill(db, "qi-march", BILL, client)
    assert second.previous_fetched_at == first.fetch.fetched_at
    assert [s.bioguide for s in second.changes.joined] == ["Z900023"]
    assert [(s.bioguide, s.withdrawn_date) for s in second.changes.withdrew] == [
        ("Z900030", "2025-07-01")
    ]
    assert second.as_dict()["joined"] == [
        {
            "bioguide": "Z900023",
            "name": "Rep. Exemplar, Gerald [D-NY-12]",
            "party": "D",
            "state": "NY",
            "district": 12,
            "sponsorship_date": "2025-07-02",
            "is_original": False,
            "withdrawn_date": None,
        }
    ]
    third = update_bill(db, "qi-march", BILL, client)
    assert third.changes.joined == () and third.changes.withdrew == ()


def test_a_cosponsor_gone_from_the_list_has_withdrawn(db: Database, standin, client) -> None:
    update_bill(db, "qi-march", BILL, client)
    standin.bills[BILL].cosponsors.pop()  # Placeholder
    changes = update_bill(db, "qi-march", BILL, client).changes
    assert [s.bioguide for s in changes.withdrew] == ["Z900002"]


def test_a_campaign_that_changes_bill_starts_afresh(db: Database, standin, client) -> None:
    update_bill(db, "qi-march", BILL, client)
    other = BillId(119, "s", 5)
    standin.bills[other] = StandinBill("A Senate bill", [LATER])
    update = update_bill(db, "qi-march", other, client)
    assert update.previous_bill == BILL and update.previous_fetched_at is None
    assert update.changes.joined == ()
    latest = bills_db.latest_fetch(db, "qi-march")
    assert latest is not None and latest.bill == other


def test_every_fetch_is_kept(db: Database, client) -> None:
    update_bill(db, "qi-march", BILL, client)
    update_bill(db, "qi-march", BILL, client)
    fetches = db.execute("SELECT COUNT(*) FROM bill_fetches WHERE slug = 'qi-march'").fetchone()
    rows = db.execute("SELECT COUNT(*) FROM bill_sponsors").fetchone()
    assert (fetches[0], rows[0]) == (2, 10)


def write_csv(tmp_path: Path, text: str, name: str = "stances.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_each_member_stands_as_the_api_says_unless_the_csv_says_otherwise(
    db: Database, client, tmp_path: Path
) -> None:
    update_bill(db, "qi-march", BILL, client)
    stances = campaign_stances(db, "qi-march")
    assert stances.of("Z900031") is Stance.SPONSOR
    assert stances.of("Z900030") is Stance.COSPONSOR  # an original cosponsor
    assert stances.of("Z900022") is Stance.UNKNOWN  # withdrew
    assert stances.of("Z900099") is Stance.UNKNOWN  # not on the bill at all

    csv_file = write_csv(
        tmp_path, "bioguide,stance,note\nZ900022,opposes,said so\nz900099,Supports,\n"
    )
    load_overrides(db, "qi-march", csv_file)
    stances = campaign_stances(db, "qi-march")
    assert stances.of("Z900022") is Stance.OPPOSES
    assert stances.of("Z900099") is Stance.SUPPORTS
    assert stances.of("Z900031") is Stance.SPONSOR
    assert stances.counts() == {
        "sponsor": 1,
        "cosponsor": 3,
        "supports": 1,
        "opposes": 1,
    }


def test_a_csv_stance_wins_over_the_api_for_a_cosponsor(db: Database, client, tmp_path) -> None:
    update_bill(db, "qi-march", BILL, client)
    load_overrides(db, "qi-march", write_csv(tmp_path, "bioguide,stance\nZ900030,opposes\n"))
    assert campaign_stances(db, "qi-march").of("Z900030") is Stance.OPPOSES


def test_stances_without_a_fetch_come_from_the_csv_alone(db: Database, tmp_path) -> None:
    load_overrides(db, "qi-march", write_csv(tmp_path, "bioguide,stance\nZ900030,supports\n"))
    stances = campaign_stances(db, "qi-march")
    assert stances.of("Z900030") is Stance.SUPPORTS
    assert stances.of("Z900031") is Stance.UNKNOWN


def test_a_csv_replaces_the_one_before(db: Database, tmp_path: Path) -> None:
    load_overrides(db, "qi-march", write_csv(tmp_path, "bioguide,stance\nZ900030,supports\n"))
    loaded = load_overrides(
        db, "qi-march", write_csv(tmp_path, "bioguide,stance\nZ900022,opposes\n")
    )
    assert (loaded.loaded, loaded.replaced, loaded.loaded_by_stance) == (1, 1, {"opposes": 1})
    assert bills_db.stance_overrides(db, "qi-march") == {"Z900022": Stance.OPPOSES}


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "bioguide,stance\nZ900030,maybe\nP00061,supports\n\n,opposes\nZ900030,supports\n",
            [
                ":2: stance must be one of sponsor, cosponsor, supports, opposes, unknown,"
                " not 'maybe'",
                ":3: bioguide must be a letter and 6 digits, like P000617, not 'P00061'",
                ":5: bioguide must be a letter and 6 digits, like P000617, not empty",
            ],
        ),
        (
            "bioguide,stance\nZ900030,supports\nZ900030,opposes\n",
            [":3: Z900030 is given twice (first on line 2)"],
        ),
    ],
)
def test_bad_csv_rows_are_named_by_line_and_change_nothing(
    db: Database, tmp_path: Path, text: str, problems: list[str]
) -> None:
    load_overrides(
        db, "qi-march", write_csv(tmp_path, "bioguide,stance\nZ900001,opposes\n", "a.csv")
    )
    path = write_csv(tmp_path, text)
    with pytest.raises(StanceFileError) as caught:
        load_overrides(db, "qi-march", path)
    assert caught.value.problems == [f"{path}{problem}" for problem in problems]
    count = len(problems)
    assert (
        str(caught.value)
        == f"{path}: {count} bad row{'s' if count > 1 else ''}; nothing was loaded"
    )
    assert bills_db.stance_overrides(db, "qi-march") == {"Z900001": Stance.OPPOSES}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", ": the file is empty"),
        (b"member,position\nZ900030,supports\n", ":1: the header must name the columns bioguide"),
        (b"bioguide,stance\nZ900030,supp\xe9\n", ":2: not UTF-8 text"),
    ],
)
def test_an_unreadable_csv_says_why(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "stances.csv"
    path.write_bytes(content)
    with pytest.raises(InputFileError) as caught:
        read_overrides(path)
    assert str(caught.value).startswith(f"{path}{message}")


def test_a_missing_csv_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_overrides(tmp_path / "absent.csv")
