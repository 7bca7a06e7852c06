"""A local stand-in for the Census Geocoder's batch endpoint.

It is a real HTTP server on 127.0.0.1 (the standard library's) answering POST
/geocoder/geographies/addressbatch in the documented wire format (wire.py): it
reads the multipart form, checks `benchmark` and `vintage`, and answers each
address from a small table of addresses and their census blocks. An address in
the table answers Match (or, as its entry says, Tie or No_Match); any other
address answers No_Match, or with `match_unknown` a match in one of the given
blocks (picked by the address, so the same address always lands in the same
block). Answers come back in reverse order by default, as in the recorded
answer, or in the order sent, or shuffled.

For the recorded request of censusgeocode's fixtures it answers byte for byte
what the Bureau recorded. More than 10,000 addresses are refused with a 400 (the
Bureau's own answer to that is not documented).

Faults come from Python (`standin.inject(Fault(...))`) or, for a stand-in in
another process, through the control endpoint (`control(url, faults=[...])`):
an HTTP status (a 5xx), a slow answer (a timeout for a client that waits less),
or a malformed line. Run it as a process:

    python -m alerts.targets.geocoder.census.standin --port 8027 --latency 2 \
        --table addresses.csv --order shuffle

`--table` names a CSV with the columns street, city, state, zip, outcome (Match,
Tie or No_Match) and block, and optionally match_type, matched_address,
coordinates, tiger_line_id and side; without it the stand-in knows the recorded
address and the sample signups' addresses (alerts/data).

Nothing here reaches the Census Bureau: it is test and demo infrastructure. It
keeps no address beyond the request records of its own process.
"""

from __future__ import annotations

import argparse
import csv
import email.parser
import email.policy
import json
import random
import signal
import threading
import urllib.request
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alerts.standins import Standin, StandinServer
from alerts.targets.geocoder.census.wire import (
    ANSWER_DISPOSITION,
    ANSWER_TYPE,
    BATCH_PATH,
    BENCHMARK,
    FILE_FIELD,
    MATCH,
    MATCH_TYPES,
    MAX_BATCH,
    NO_MATCH,
    TIE,
    VINTAGE,
    AddressRow,
    MalformedAnswer,
    answer_body,
    match_line,
    read_address_file,
    short_line,
)
from alerts.targets.geocoder.provider import BLOCK_GEOID, clean_field

CONTROL_PATH = "/_standin/control"
FAULT_KINDS = ("status", "slow", "malformed", "short")
ORDERS = ("reverse", "input", "shuffle")
OUTCOMES = (MATCH, TIE, NO_MATCH)
# Where a table entry does not say: the geographic centre of the 48 states.
CENTRE = "-98.583333,39.833333"
TABLE_COLUMNS = ("street", "city", "state", "zip", "outcome", "block")
MALFORMED_LINE = ["?", "not an answer the geocoder documents"]


@dataclass(frozen=True)
class KnownAddress:
    """An address the stand-in knows, and what it answers for it."""

    street: str
    city: str
    state: str
    zip: str
    outcome: str = MATCH
    block: str | None = None  # the 15-digit GEOID, for a match
    match_type: str = "Exact"
    matched_address: str | None = None  # default: the address in capitals
    coordinates: str = CENTRE
    tiger_line_id: str = "1"
    side: str = "L"

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"{self.street}: outcome must be Match, Tie or No_Match")
        if (self.outcome == MATCH) != (self.block is not None):
            raise ValueError(f"{self.street}: a block goes with Match, and only with it")
        if self.block is not None and not BLOCK_GEOID.fullmatch(self.block):
            raise ValueError(f"{self.street}: block {self.block!r} is not 15 digits")
        if self.match_type not in MATCH_TYPES:
            raise ValueError(f"{self.street}: match_type must be Exact or Non_Exact")

    @property
    def key(self) -> tuple[str, ...]:
        return _key(self.street, self.city, self.state, self.zip)


def _key(*fields: str) -> tuple[str, ...]:
    return tuple(clean_field(value).casefold() for value in fields)


# The one matched address of censusgeocode's recorded answer (a 2010 block).
RECORDED = KnownAddress(
    "3 Gramercy Park West",
    "New York",
    "NY",
    "10003",
    block="360610050001002",
    matched_address="3 GRAMERCY PARK W, NEW YORK, NY, 10003",
    coordinates="-73.98658,40.738323",
    tiger_line_id="59653655",
    side="R",
)


def sample_table() -> list[KnownAddress]:
    """The recorded address, and those of the sample signups (see alerts/data)."""
    return [RECORDED, *SAMPLE_ADDRESSES]


def _sample(street: str, city: str, state: str, zip_code: str, block: str | None) -> KnownAddress:
    outcome = MATCH if block else TIE
    return KnownAddress(street, city, state, zip_code, outcome=outcome, block=block)


# The sample signups in ZIP codes split between districts, and fictional blocks for them
# (alerts/data/sample-blocks-119.txt says which district each is in).
SAMPLE_ADDRESSES = (
    _sample("330 W 34th St", "New York", "NY", "10001", "360610103001000"),
    _sample("250 W 26th St", "New York", "NY", "10001", "360610093001001"),
    _sample("410 W 31st St", "New York", "NY", "10001", "360610099001002"),
    _sample("2235 N Lincoln Ave", "Chicago", "IL", "60614", "170310709001000"),
    _sample("2500 N Lakeview Ave", "Chicago", "IL", "60614", "170310607001001"),
    _sample("1840 N Clark St", "Chicago", "IL", "60614", "170310713001002"),
    _sample("1 Brattle Sq", "Cambridge", "MA", "02138", None),
    _sample("44 Oxford St", "Cambridge", "MA", "02138", "250173538001000"),
    _sample("15 Mount Auburn St", "Cambridge", "MA", "02138", "250173539001001"),
)


def table_from_csv(path: Path) -> list[KnownAddress]:
    """The entries of a `--table` file; ValueError names the line at fault."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in TABLE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)}")
        entries = []
        for number, row in enumerate(reader, start=2):
            given = {k: v for k, v in row.items() if k and v not in (None, "")}
            given.setdefault("block", None)
            try:
                entries.append(KnownAddress(**{**dict.fromkeys(TABLE_COLUMNS[:4], ""), **given}))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}: line {number}: {exc}") from None
        return entries


@dataclass
class Fault:
    """A misbehaviour for the next `times` batch requests, first come first served.

    "status" answers `status` (a 5xx) with a short HTML page; "slow" answers
    normally after `delay` seconds; "malformed" answers with its first line
    replaced by one the documentation does not allow; "short" leaves the last
    address out of the answer.
    """

    kind: str = "status"
    status: int = 503
    times: int = 1
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}: {self.kind!r}")


@dataclass(frozen=True)
class RequestRecord:
    """One request as the stand-in saw it (the address rows, for tests to check)."""

    path: str
    status: int
    body: bytes = b""  # as sent
    rows: tuple[AddressRow, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()  # the form's other fields


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = ANSWER_TYPE
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _Form:
    rows: list[AddressRow] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


class _BadRequest(Exception):
    pass


# --------------------------------------------------------------------------
# The server


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no address in any log
        return

    def do_GET(self) -> None:
        self.send(_text(405, "use POST with a multipart form"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        standin = self.server.standin
        if urlsplit(self.path).path == CONTROL_PATH:
            self.send(standin.handle_control(body))
        else:
            self.send(standin.handle_post(self.path, self.headers.get("Content-Type", ""), body))

    def send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Connection", "close")
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)
        self.close_connection = True


class _Server(StandinServer):
    standin: CensusGeocoderStandin


class CensusGeocoderStandin(Standin[Fault]):
    """The stand-in on a free loopback port (or `port`); a context manager, or start()/stop().

    `latency` seconds are added to every batch; `order` is reverse, input or
    shuffle (seeded by `seed`); `match_unknown` lists blocks that addresses
    outside the table match (none: they do not match).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        table: Iterable[KnownAddress] | None = None,
        latency: float = 0.0,
        order: str = "reverse",
        match_unknown: Sequence[str] = (),
        seed: int = 0,
    ):
        if order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}: {order!r}")
        for block in match_unknown:
            if not BLOCK_GEOID.fullmatch(block):
                raise ValueError(f"match_unknown: {block!r} is not a 15-digit block GEOID")
        self.table = {entry.key: entry for entry in (sample_table() if table is None else table)}
        self.latency = latency
        self.order = order
        self.match_unknown = tuple(match_unknown)
        self.requests: list[RequestRecord] = []
        self._random = random.Random(seed)
        super().__init__(port, _Handler, _Server)
        self._server.standin = self  # type: ignore[attr-defined]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": len(self.requests),
                "addresses": sum(len(r.rows) for r in self.requests),
                "pending_faults": len(self._faults),
            }

    # ---- answers

    def handle_post(self, target: str, content_type: str, body: bytes) -> _Answer:
        path = urlsplit(target).path
        form = _Form()
        if path != BATCH_PATH:
            answer = _text(404, f"no such endpoint: {path}")
        else:
            try:
                form = _read_form(content_type, body)
                answer = self._batch(form.rows)
            except _BadRequest as exc:
                answer = _text(400, str(exc))
        record = RequestRecord(
            path, answer.status, body, tuple(form.rows), tuple(form.fields.items())
        )
        with self._lock:
            self.requests.append(record)
        return answer

    def _batch(self, rows: list[AddressRow]) -> _Answer:
        fault = self._next_fault()
        self._stopping.wait(self.latency + (fault.delay if fault and fault.kind == "slow" else 0))
        if fault is not None and fault.kind == "status":
            page = f"<html><body><h1>{fault.status} Server Error</h1></body></html>"
            return _Answer(fault.status, page.encode(), "text/html")
        lines = [self._line(row) for row in self._ordered(rows)]
        if fault is not None and fault.kind == "malformed" and lines:
            lines[0] = MALFORMED_LINE
        if fault is not None and fault.kind == "short":
            lines = lines[:-1]
        headers = (("Content-Disposition", ANSWER_DISPOSITION),)
        return _Answer(200, answer_body(lines), headers=headers)

    def _ordered(self, rows: list[AddressRow]) -> list[AddressRow]:
        if self.order == "reverse":
            return rows[::-1]
        if self.order == "shuffle":
            shuffled = list(rows)
            with self._lock:
                self._random.shuffle(shuffled)
            return shuffled
        return rows

    def _line(self, row: AddressRow) -> list[str]:
        entry = self.table.get(_key(row.street, row.city, row.state, row.zip))
        if entry is None and self.match_unknown and row.street:
            where = zlib.crc32("\x1f".join(_key(row.street, row.city, row.state, row.zip)).encode())
            block = self.match_unknown[where % len(self.match_unknown)]
            entry = KnownAddress(row.street, row.city, row.state, row.zip, block=block)
        if entry is None or entry.block is None:
            return short_line(row, NO_MATCH if entry is None else entry.outcome)
        return match_line(
            row,
            match_type=entry.match_type,
            matched_address=entry.matched_address or row.echoed.upper(),
            coordinates=entry.coordinates,
            tiger_line_id=entry.tiger_line_id,
            side=entry.side,
            block=entry.block,
        )

    def handle_control(self, raw: bytes) -> _Answer:
        try:
            command = json.loads(raw or b"{}")
            if command.get("clear_faults"):
                self.clear_faults()
            if "latency" in command:
                self.latency = float(command["latency"])
            self.inject(*(Fault(**spec) for spec in command.get("faults", [])))
        except (ValueError, TypeError, AttributeError) as exc:
            return _text(400, str(exc))
        return _Answer(200, json.dumps(self.stats()).encode(), "application/json")


def _read_form(content_type: str, body: bytes) -> _Form:
    """The address rows and other fields of a multipart form; _BadRequest says what is wrong."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise _BadRequest("the request must be a multipart/form-data form")
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    form = _Form()
    file = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name == FILE_FIELD:
            file = payload
        else:
            form.fields[name] = payload.decode("utf-8", errors="replace")
    if file is None:
        raise _BadRequest(f"the form has no {FILE_FIELD}")
    for name, wanted in (("benchmark", BENCHMARK), ("vintage", VINTAGE)):
        if form.fields.get(name) != wanted:
            raise _BadRequest(f"{name} must be {wanted}, not {form.fields.get(name)!r}")
    try:
        form.rows = read_address_file(file)
    except (MalformedAnswer, UnicodeDecodeError) as exc:
        raise _BadRequest(str(exc)) from None
    if len(form.rows) > MAX_BATCH:
        raise _BadRequest(f"{len(form.rows)} addresses: a batch holds at most {MAX_BATCH}")
    return form


def _text(status: int, message: str) -> _Answer:
    return _Answer(status, (message + "\n").encode(), "text/plain; charset=utf-8")


# --------------------------------------------------------------------------
# Driving a stand-in in another process


def control(
    url: str,
    *,
    faults: list[Fault] | None = None,
    clear_faults: bool = False,
    latency: float | None = None,
) -> dict[str, int]:
    """Change a running stand-in at `url` (its base URL); returns its counts."""
    command: dict[str, Any] = {"clear_faults": clear_faults}
    if faults:
        command["faults"] = [asdict(f) for f in faults]
    if latency is not None:
        command["latency"] = latency
    request = urllib.request.Request(
        url + CONTROL_PATH,
        data=json.dumps(command).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return {str(k): int(v) for k, v in json.loads(response.read()).items()}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m alerts.targets.geocoder.census.standin",
        description="A local stand-in for the Census Geocoder's batch endpoint.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each batch")
    parser.add_argument("--order", choices=ORDERS, default="reverse", help="answer order")
    parser.add_argument(
        "--table", type=Path, help="CSV of known addresses (default: the sample ones)"
    )
    parser.add_argument(
        "--match-unknown",
        metavar="GEOID,...",
        default="",
        help="blocks that addresses outside the table match (default: they do not match)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    table = table_from_csv(args.table) if args.table is not None else None
    standin = CensusGeocoderStandin(
        args.port,
        table=table,
        latency=args.latency,
        order=args.order,
        match_unknown=[b for b in args.match_unknown.split(",") if b],
    )
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=standin.stop).start())
    print(f"Census Geocoder stand-in listening on {standin.url}", flush=True)
    try:
        standin.serve_forever()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
