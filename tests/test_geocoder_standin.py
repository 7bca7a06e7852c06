"""The Census Geocoder's wire format, its client and its local stand-in.

The recorded request and answer are those of the censusgeocode package's test
fixtures (tests/fixtures/address-batch.yaml, the geographies/addressbatch
interaction): the request body decoded from its base64, the answer as recorded.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.errors import GeocoderError
from alerts.targets.geocoder import AddressQuery, GeoOutcome, configured_geocoder, geocode_one
from alerts.targets.geocoder.census import client as client_module
from alerts.targets.geocoder.census import wire
from alerts.targets.geocoder.census.client import CensusGeocoder
from alerts.targets.geocoder.census.standin import (
    RECORDED,
    CensusGeocoderStandin,
    Fault,
    KnownAddress,
    control,
    table_from_csv,
)

RECORDED_BOUNDARY = "2c12d25f120f4d0883efef000f517b1f"
RECORDED_REQUEST = (
    b"--2c12d25f120f4d0883efef000f517b1f\r\n"
    b'Content-Disposition: form-data; name="addressFile"; filename="batch.csv"\r\n'
    b"Content-Type: text/plain\r\n\r\n"
    b"1,4600 Silver Hill Rd,SUITLAND,MD,20746\n"
    b"2,79 Wistful Vista,Wistful Vista,IL,\n"
    b"3,3 Gramercy Park West,New York,NY,10003\n"
    b"\r\n--2c12d25f120f4d0883efef000f517b1f\r\n"
    b'Content-Disposition: form-data; name="benchmark"\r\n\r\nPublic_AR_Current\r\n'
    b"--2c12d25f120f4d0883efef000f517b1f\r\n"
    b'Content-Disposition: form-data; name="vintage"\r\n\r\nCurrent_Current\r\n'
    b"--2c12d25f120f4d0883efef000f517b1f--\r\n"
)
RECORDED_ANSWER = (
    b'"3","3 Gramercy Park West, New York, NY, 10003","Match","Exact",'
    b'"3 GRAMERCY PARK W, NEW YORK, NY, 10003","-73.98658,40.738323","59653655","R",'
    b'"36","061","005000","1002"\n'
    b'"2","79 Wistful Vista, Wistful Vista, IL, ","No_Match"\n'
    b'"1","4600 Silver Hill Rd, SUITLAND, MD, 20746","No_Match"\n'
)
RECORDED_QUERIES = [
    AddressQuery.of(101, "4600 Silver Hill Rd", "SUITLAND", "MD", "20746"),
    AddressQuery.of(102, "79 Wistful Vista", "Wistful Vista", "IL", ""),
    AddressQuery.of(103, "3 Gramercy Park West", "New York", "NY", "10003"),
]
TIE = KnownAddress("1 Twin Oaks Rd", "Springfield", "IL", "62701", outcome=wire.TIE)


@pytest.fixture
def standin() -> Iterator[CensusGeocoderStandin]:
    with CensusGeocoderStandin(table=[RECORDED, TIE]) as server:
        yield server


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers.items()), refused.read()


def test_the_recorded_request_gets_the_recorded_answer_byte_for_byte(standin):
    status, headers, body = post(
        standin.url + wire.BATCH_PATH, RECORDED_REQUEST, wire.form_type(RECORDED_BOUNDARY)
    )
    assert status == 200
    assert body == RECORDED_ANSWER
    assert headers["Content-Type"] == "text/plain"
    assert headers["Content-Disposition"] == "attachment; filename=GeocodeResults.csv"
    assert headers["Content-Length"] == "282"


def test_the_client_sends_the_recorded_request_and_reads_the_answer_by_place(standin):
    client = CensusGeocoder(standin.url, boundary=lambda: RECORDED_BOUNDARY)
    answers = client.geocode_batch(RECORDED_QUERIES)
    assert standin.requests[0].body == RECORDED_REQUEST  # our ids (101...) never left
    assert sorted((a.id, a.outcome, a.block) for a in answers) == [
        (101, GeoOutcome.NO_MATCH, None),
        (102, GeoOutcome.NO_MATCH, None),
        (103, GeoOutcome.MATCHED, "360610050001002"),
    ]


def test_a_tie_has_no_block_and_a_longer_tie_line_is_read_too(standin):
    query = AddressQuery.of(7, "1 Twin Oaks Rd", "Springfield", "IL", "62701")
    assert geocode_one(CensusGeocoder(standin.url), query).outcome is GeoOutcome.TIE
    longer = b'"1","1 Twin Oaks Rd, Springfield, IL, 62701","Tie","-89.6,39.8","12","L"\n'
    assert wire.read_answer(longer)[0].status == wire.TIE
    assert wire.read_answer(longer)[0].block is None


def test_an_address_nobody_knows_does_not_match(standin):
    query = AddressQuery.of(1, "12 Nowhere Lane", "Atlantis", "ZZ", "00000")
    answer = geocode_one(CensusGeocoder(standin.url), query)
    assert (answer.outcome, answer.block) == (GeoOutcome.NO_MATCH, None)


def test_answers_in_any_order_go_to_their_own_address():
    table = [
        KnownAddress(f"{n} Elm St", "Austin", "TX", "78701", block=f"48453{n:06d}1000")
        for n in range(1, 61)
    ]
    for order in ("shuffle", "reverse", "input"):
        with CensusGeocoderStandin(table=table, order=order, seed=5) as server:
            queries = [AddressQuery.of(1000 + n, f"{n} Elm St", "Austin", "TX", "78701")
                       for n in range(1, 61)]  # fmt: skip
            answers = CensusGeocoder(server.url).geocode_batch(queries)
        assert {a.id: a.block for a in answers} == {
            1000 + n: f"48453{n:06d}1000" for n in range(1, 61)
        }


def test_shuffled_answers_really_come_in_another_order():
    table = [KnownAddress(f"{n} Elm St", "Austin", "TX", "78701", block="484530011001000")
             for n in range(1, 31)]  # fmt: skip
    with CensusGeocoderStandin(table=table, order="shuffle", seed=5) as server:
        rows = [wire.AddressRow(str(n), f"{n} Elm St", "Austin", "TX", "78701")
                for n in range(1, 31)]  # fmt: skip
        body = wire.form_body(wire.address_file(rows), "b0undary")
        _, _, answer = post(server.url + wire.BATCH_PATH, body, wire.form_type("b0undary"))
    ids = [line.id for line in wire.read_answer(answer)]
    assert sorted(ids, key=int) == [str(n) for n in range(1, 31)]
    assert ids not in ([str(n) for n in range(1, 31)], [str(n) for n in range(30, 0, -1)])


def test_a_malformed_line_is_a_one_line_error(standin):
    standin.inject(Fault("malformed"))
    with pytest.raises(GeocoderError) as raised:
        CensusGeocoder(standin.url).geocode_batch(RECORDED_QUERIES)
    message = str(raised.value)
    assert "malformed" in message and "line 1" in message and "\n" not in message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'"1","a","Match","Exact","A","-1,2","3","L","36","061","005000"\n', "12"),
        (b'"1","a","Match","Exact","A","-1,2","3","L","36","61","005000","1002"\n', "county"),
        (b'"1","a","Match","Close","A","-1,2","3","L","36","061","005000","1002"\n', "Exact"),
        (b'"1","a","Maybe"\n', "status"),
        (b'"1","a"\n', "fields"),
        (b'"1","a","No_Match","x"\n', "No_Match"),
        (b'"1","a","No_Match\n', "CSV"),
    ],
)
def test_lines_the_documentation_does_not_allow_are_refused(body, says):
    with pytest.raises(wire.MalformedAnswer, match=says):
        wire.read_answer(body)


def test_a_plain_answer_reads_as_one_with_an_odd_line_among_plain_ones():
    # One way for answers of plain lines only, another when a line is not plain
    # (blank, CRLF-ended, quoted quotes, a longer Tie): the same lines either way.
    plain = RECORDED_ANSWER + b'"4","1 Twin Oaks Rd, Springfield, IL, 62701","Tie"\n'
    odd = [b"\n", b'"5","a ""b"", c","No_Match"\r\n', b'"6","a","Tie","-89.6,39.8"\n']
    assert [tuple(line) for line in wire.read_answer(plain)] == [
        (1, "3", wire.MATCH, "360610050001002"),
        (2, "2", wire.NO_MATCH, None),
        (3, "1", wire.NO_MATCH, None),
        (4, "4", wire.TIE, None),
    ]
    fields = [(x.id, x.status, x.block) for x in wire.read_answer(plain)]
    odd_fields = [[], [("5", wire.NO_MATCH, None)], [("6", wire.TIE, None)]]
    for line, read in zip(odd, odd_fields, strict=True):
        lines = wire.read_answer(plain + line + plain)
        assert [(x.id, x.status, x.block) for x in lines] == fields + read + fields
        assert [x.line for x in lines] == [n for n in range(1, 10) if line.strip() or n != 5]
    assert wire.read_answer(plain.rstrip(b"\n"))[-1].id == "4"  # no LF after the last line


def test_an_address_file_quotes_only_what_csv_must():
    rows = [wire.AddressRow("1", "4600 Silver Hill Rd", "SUITLAND", "MD", "20746"),
            wire.AddressRow("2", "79 Wistful Vista", "Wistful Vista", "IL", "")]  # fmt: skip
    assert wire.address_file(rows) == (
        b"1,4600 Silver Hill Rd,SUITLAND,MD,20746\n2,79 Wistful Vista,Wistful Vista,IL,\n"
    )
    odd = wire.AddressRow("3", 'Apt 2, "Rear"', "New\nYork", "NY", "10003")
    assert wire.address_file([odd]) == b'3,"Apt 2, ""Rear""","New\nYork",NY,10003\n'
    assert wire.read_address_file(wire.address_file([*rows, odd])) == [*rows, odd]


@pytest.mark.parametrize(
    "answer",
    [b'"9","a","No_Match"\n', b'"1","a","No_Match"\n"1","a","No_Match"\n', b'"x","a","Tie"\n'],
)
def test_an_id_that_is_not_in_the_batch_or_comes_twice_is_malformed(answer):
    with pytest.raises(GeocoderError, match="malformed: line"):
        client_module._answers(wire.read_answer(answer), RECORDED_QUERIES[:1])


def test_a_timeout_is_a_one_line_error(standin):
    standin.inject(Fault("slow", delay=3))
    with pytest.raises(GeocoderError, match=r"did not answer within 0\.3 s"):
        CensusGeocoder(standin.url, timeout=0.3).geocode_batch(RECORDED_QUERIES)


def test_a_5xx_is_a_one_line_error(standin):
    standin.inject(Fault("status", status=503))
    with pytest.raises(GeocoderError, match=r"answered HTTP 503$"):
        CensusGeocoder(standin.url).geocode_batch(RECORDED_QUERIES)


def test_a_geocoder_that_is_not_there_is_a_one_line_error():
    with CensusGeocoderStandin() as server:
        url = server.url
    with pytest.raises(GeocoderError, match="could not reach the geocoder at"):
        CensusGeocoder(url, timeout=2).geocode_batch(RECORDED_QUERIES)


def test_a_batch_holds_at_most_10000_addresses(standin):
    too_many = [AddressQuery.of(n, f"{n} Elm St") for n in range(10_001)]
    with pytest.raises(ValueError, match="at most 10000"):
        CensusGeocoder(standin.url).geocode_batch(too_many)
    rows = [wire.AddressRow(str(n), f"{n} Elm St", "", "", "") for n in range(10_001)]
    body = wire.form_body(wire.address_file(rows), "b0undary")
    status, _, answer = post(standin.url + wire.BATCH_PATH, body, wire.form_type("b0undary"))
    assert status == 400 and b"at most 10000" in answer


def test_the_standin_checks_the_form(standin):
    wrong = RECORDED_REQUEST.replace(b"Public_AR_Current", b"Public_AR_Census2010")
    status, _, answer = post(
        standin.url + wire.BATCH_PATH, wrong, wire.form_type(RECORDED_BOUNDARY)
    )
    assert status == 400 and b"benchmark must be Public_AR_Current" in answer
    status, _, _ = post(standin.url + "/geocoder/locations/address", RECORDED_REQUEST, "text/plain")
    assert status == 404


def test_address_fields_are_cleaned_and_fingerprinted_in_one_place():
    typed = AddressQuery.of(1, '  12  Main St, Apt "B"\n', "Austin", "tx", "78701")
    assert typed.street == "12 Main St Apt B"
    assert typed.sha256 == AddressQuery.of(2, "12 main st apt b", "AUSTIN", "TX", "78701").sha256
    assert typed.sha256 != AddressQuery.of(1, "14 Main St Apt B", "Austin", "TX", "78701").sha256
    assert not AddressQuery.of(3, " , ", "Austin").has_street


def test_an_empty_geocoder_url_means_no_geocoder():
    assert configured_geocoder("") is None
    assert configured_geocoder("  ") is None
    assert isinstance(configured_geocoder("http://127.0.0.1:9"), CensusGeocoder)


def test_the_standin_runs_as_a_process_with_a_table_file(tmp_path: Path):
    table = tmp_path / "addresses.csv"
    table.write_text(
        "street,city,state,zip,outcome,block\n"
        "5 Elm St,Austin,TX,78701,Match,484530011001000\n"
        "6 Elm St,Austin,TX,78701,Tie,\n",
        encoding="utf-8",
    )
    assert [e.outcome for e in table_from_csv(table)] == ["Match", "Tie"]
    process = subprocess.Popen(
        [sys.executable, "-m", "alerts.targets.geocoder.census.standin", "--table", str(table)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        url = line.rsplit(" ", 1)[-1].strip()
        assert control(url, faults=[Fault("status", status=502)])["pending_faults"] == 1
        queries = [AddressQuery.of(1, "5 Elm St", "Austin", "TX", "78701"),
                   AddressQuery.of(2, "6 Elm St", "Austin", "TX", "78701")]  # fmt: skip
        with pytest.raises(GeocoderError, match="HTTP 502"):
            CensusGeocoder(url).geocode_batch(queries)
        answers = CensusGeocoder(url).geocode_batch(queries)
        assert sorted((a.id, a.outcome, a.block) for a in answers) == [
            (1, GeoOutcome.MATCHED, "484530011001000"),
            (2, GeoOutcome.TIE, None),
        ]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_bad_table_file_names_its_line(tmp_path: Path):
    table = tmp_path / "addresses.csv"
    table.write_text(
        "street,city,state,zip,outcome,block\n5 Elm St,Austin,TX,78701,Match,4845\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"line 2: .*not 15 digits"):
        table_from_csv(table)
