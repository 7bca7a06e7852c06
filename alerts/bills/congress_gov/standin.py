"""A local stand-in for the Congress.gov API v3's bill and cosponsors endpoints.

It is a real HTTP server on 127.0.0.1 (the standard library's) answering
GET /v3/bill/{congress}/{type}/{number} and .../cosponsors in the documented JSON
(BillEndpoint.md). Cosponsors are paged with `offset` and `limit` (20 by default, at
most 250) and `pagination.next`, which holds no key and is absent on the last page.
The key is checked as api.data.gov checks it: the X-Api-Key header or the api_key
parameter, else 403 API_KEY_MISSING; a wrong one, 403 API_KEY_INVALID. It speaks
JSON only: a request without format=json gets a 400 (the real API answers XML).

Faults are injected from Python (`standin.inject(Fault(...))`) or, for a stand-in in
another process, through the control endpoint (`control(url, faults=[...])`):

    python -m alerts.bills.congress_gov.standin --port 8026 --api-key test-key \
        --bills bills.json

`--bills` names a JSON file mapping bill names (hr1234-119) to `{"title", "sponsors",
"cosponsors"}`, the members in the API's own format (see `member_json`); without it
the stand-in serves one sample bill of the fictional members of alerts/data.

Nothing here reaches Congress.gov: it is test and demo infrastructure.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from alerts.bills.congress_gov.wire import (
    API_ROOT,
    DEFAULT_LIMIT,
    HOURLY_LIMIT,
    KEY_HEADER,
    KEY_INVALID,
    KEY_MISSING,
    KEY_PARAMETER,
    MAX_LIMIT,
    OVER_RATE_LIMIT,
    bill_path,
    cosponsors_path,
)
from alerts.models import BILL_TYPES, BillId
from alerts.standins import Standin, StandinServer

CONTROL_PATH = "/_standin/control"
_BILL_PATH_RE = re.compile(
    rf"{API_ROOT}/bill/(\d+)/({'|'.join(BILL_TYPES)})/(\d+)(/cosponsors)?/?", re.IGNORECASE
)
# api.data.gov's messages, as quoted in the API's issue tracker (the 429's text is
# API Umbrella's usual one, not seen in a Congress.gov answer).
_KEY_MESSAGES = {
    KEY_MISSING: "No api_key was supplied. Get one at https://api.congress.gov:443",
    KEY_INVALID: "An invalid api_key was supplied. Get one at https://api.congress.gov:443",
}
_RATE_MESSAGE = (
    "You have exceeded your rate limit. Try again later or contact us at "
    "https://api.congress.gov/contact/ for assistance"
)
FAULT_KINDS = ("status", "malformed", "slow")


@dataclass
class Fault:
    """A misbehaviour for the next `times` API requests with a good key, first come first served.

    kind "status" answers `status`: 429 with the OVER_RATE_LIMIT body and, when
    `retry_after` is given, a Retry-After header; a 5xx with a gateway's HTML page.
    "malformed" answers 200 with a body cut off in the middle of its JSON; "slow"
    answers normally after `delay` seconds.
    """

    kind: str = "status"
    status: int = 503
    times: int = 1
    retry_after: float | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}: {self.kind!r}")


@dataclass
class StandinBill:
    """A bill the stand-in serves; members are dicts in the API's format (`member_json`)."""

    title: str
    sponsors: list[dict[str, Any]]
    cosponsors: list[dict[str, Any]] = field(default_factory=list)
    introduced: str = "2025-01-03"


@dataclass(frozen=True)
class RequestRecord:
    """One request as the stand-in saw it."""

    target: str  # the path and query string, as sent
    api_key: str | None  # from the header or the query string
    status: int


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def member_json(
    bioguide: str,
    first_name: str,
    last_name: str,
    party: str,
    state: str,
    district: int | None = None,
) -> dict[str, Any]:
    """A member as the sponsors list writes one; a senator has no district."""
    title, seat = ("Sen.", f"{party}-{state}")
    if district is not None:
        title, seat = ("Rep.", f"{party}-{state}-{district}")
    item: dict[str, Any] = {
        "bioguideId": bioguide,
        "firstName": first_name,
        "lastName": last_name,
        "fullName": f"{title} {last_name}, {first_name} [{seat}]",
        "party": party,
        "state": state,
        "url": f"https://api.congress.gov/v3/member/{bioguide}?format=json",
    }
    if district is not None:
        item["district"] = district
    return item


def cosponsor_json(
    member: Mapping[str, Any],
    sponsorship_date: str,
    *,
    original: bool = False,
    withdrawn: str | None = None,
) -> dict[str, Any]:
    """A member as the cosponsors list writes one; the withdrawal date only when withdrawn."""
    item = {**member, "sponsorshipDate": sponsorship_date, "isOriginalCosponsor": original}
    if withdrawn is not None:
        item["sponsorshipWithdrawnDate"] = withdrawn
    return item


def bills_from_json(data: Any) -> dict[BillId, StandinBill]:
    """The bills of a `--bills` file or a control command; ValueError says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("bills must be an object mapping bill names to bills")
    bills = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("title"), str):
            raise ValueError(f"{name}: a bill is an object with a title")
        bills[BillId.parse(name)] = StandinBill(
            spec["title"],
            list(spec.get("sponsors", [])),
            list(spec.get("cosponsors", [])),
            str(spec.get("introduced", "2025-01-03")),
        )
    return bills


def sample_bills() -> dict[BillId, StandinBill]:
    """hr1234-119, sponsored and cosponsored by fictional members of the sample roster."""
    examplo = member_json("Z900031", "Ayanna", "Examplo", "D", "MA", 7)
    trialworth = member_json("Z900030", "Katherine", "Trialworth", "D", "MA", 5)
    ramirez = member_json("Z900024", "Delia", "Ramírez-Muestra", "D", "IL", 3)
    testa = member_json("Z900022", "Daniel", "Testa", "D", "NY", 10)
    placeholder = member_json("Z900002", "Morgan", "Placeholder", "D", "VT")
    return {
        BillId(119, "hr", 1234): StandinBill(
            "Ending Qualified Immunity Act",
            [examplo],
            [
                cosponsor_json(trialworth, "2025-03-04", original=True),
                cosponsor_json(testa, "2025-03-04", original=True, withdrawn="2025-04-22"),
                cosponsor_json(ramirez, "2025-05-13"),
                cosponsor_json(placeholder, "2025-06-02"),
            ],
            "2025-03-04",
        )
    }


# --------------------------------------------------------------------------
# The server


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read records
        return

    def do_GET(self) -> None:
        self.send(self.server.standin.handle_get(self.path, self.headers.get(KEY_HEADER)))

    def do_POST(self) -> None:
        if urlsplit(self.path).path != CONTROL_PATH:
            self.send(_error(405, "METHOD_NOT_ALLOWED", "the API is read-only: use GET"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        self.send(self.server.standin.handle_control(self.rfile.read(length) if length else b""))

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
    standin: CongressGovStandin


class CongressGovStandin(Standin[Fault]):
    """The stand-in on a free loopback port (or `port`); a context manager, or start()/stop().

    With `api_key` only that key is accepted; without it, any key is.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        api_key: str | None = None,
        bills: Mapping[BillId, StandinBill] | None = None,
    ):
        self.api_key = api_key
        self.bills: dict[BillId, StandinBill] = dict(bills or {})
        self.requests: list[RequestRecord] = []
        super().__init__(port, _Handler, _Server)
        self._server.standin = self  # type: ignore[attr-defined]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": len(self.requests),
                "pending_faults": len(self._faults),
                "bills": len(self.bills),
            }

    # ---- answers

    def handle_get(self, target: str, header_key: str | None) -> _Answer:
        parts = urlsplit(target)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        key = header_key or query.get(KEY_PARAMETER)
        answer = self._answer(parts.path, query, key)
        with self._lock:
            self.requests.append(RequestRecord(target, key, answer.status))
        return answer

    def _answer(self, path: str, query: dict[str, str], key: str | None) -> _Answer:
        if not key:
            return _error(403, KEY_MISSING, _KEY_MESSAGES[KEY_MISSING])
        if self.api_key is not None and key != self.api_key:
            return _error(403, KEY_INVALID, _KEY_MESSAGES[KEY_INVALID])
        fault = self._next_fault()
        if fault is not None and fault.kind == "status":
            return _fault_answer(fault)
        if fault is not None and fault.kind == "slow":
            self._stopping.wait(fault.delay)
        answer = self._resource(path, query)
        if fault is not None and fault.kind == "malformed":
            return _Answer(200, answer.body[: len(answer.body) // 2])
        return answer

    def _resource(self, path: str, query: dict[str, str]) -> _Answer:
        match = _BILL_PATH_RE.fullmatch(path)
        if match is None:
            return _error(404, "NOT_FOUND", f"Unknown resource: {path}")
        if query.get("format") != "json":
            return _error(400, "FORMAT_NOT_SUPPORTED", "the stand-in answers format=json only")
        congress, kind, number, cosponsors = match.groups()
        bill = BillId(int(congress), kind.lower(), int(number))
        found = self.bills.get(bill)
        if found is None:
            # The live API's body for a bill that does not exist is not documented.
            return _error(404, "NOT_FOUND", f"No bill matches {bill.name}")
        if cosponsors:
            return self._cosponsors_page(bill, found, query)
        return _json(200, {"bill": self._bill_item(bill, found), "request": _request(bill)})

    def _bill_item(self, bill: BillId, found: StandinBill) -> dict[str, Any]:
        item: dict[str, Any] = {
            "congress": bill.congress,
            "number": str(bill.number),
            "type": bill.type.upper(),
            "title": found.title,
            "introducedDate": found.introduced,
            "originChamber": "House" if bill.type.startswith("h") else "Senate",
            "sponsors": found.sponsors,
            "updateDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if found.cosponsors:  # the API leaves out empty elements
            item["cosponsors"] = {
                **_counts(found),
                "url": f"{self.url}{cosponsors_path(bill)}?format=json",
            }
        return item

    def _cosponsors_page(self, bill: BillId, found: StandinBill, query: dict[str, str]) -> _Answer:
        try:
            offset = int(query.get("offset", "0"))
            limit = min(int(query.get("limit", str(DEFAULT_LIMIT))), MAX_LIMIT)
        except ValueError:
            return _error(400, "INVALID_PARAMETER", "offset and limit must be whole numbers")
        if offset < 0 or limit < 1:
            return _error(400, "INVALID_PARAMETER", "offset must be 0 or more, limit 1 or more")
        pagination: dict[str, Any] = _counts(found)
        if offset + limit < len(found.cosponsors):
            pagination["next"] = (
                f"{self.url}{cosponsors_path(bill)}"
                f"?offset={offset + limit}&limit={limit}&format=json"
            )
        request = {**_request(bill), "billUrl": f"{self.url}{bill_path(bill)}?format=json"}
        page = found.cosponsors[offset : offset + limit]
        return _json(200, {"cosponsors": page, "pagination": pagination, "request": request})

    def handle_control(self, raw: bytes) -> _Answer:
        try:
            command = json.loads(raw or b"{}")
            if command.get("clear_faults"):
                self.clear_faults()
            if "bills" in command:
                self.bills.update(bills_from_json(command["bills"]))
            self.inject(*(Fault(**spec) for spec in command.get("faults", [])))
        except (ValueError, TypeError, AttributeError) as exc:
            return _error(400, "BAD_CONTROL_COMMAND", str(exc))
        return _json(200, self.stats())


def _counts(found: StandinBill) -> dict[str, int]:
    current = sum(1 for c in found.cosponsors if not c.get("sponsorshipWithdrawnDate"))
    return {"count": current, "countIncludingWithdrawnCosponsors": len(found.cosponsors)}


def _request(bill: BillId) -> dict[str, str]:
    return {
        "billNumber": str(bill.number),
        "billType": bill.type,
        "congress": str(bill.congress),
        "contentType": "application/json",
        "format": "json",
    }


def _json(status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()) -> _Answer:
    return _Answer(status, json.dumps(data, ensure_ascii=False).encode(), headers=headers)


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> _Answer:
    """api.data.gov's error body: {"error": {"code", "message"}}."""
    body = {"error": {"code": code, "message": message}}
    return _json(status, body, tuple((headers or {}).items()))


def _fault_answer(fault: Fault) -> _Answer:
    if fault.status == 429:
        headers = {"X-RateLimit-Limit": str(HOURLY_LIMIT), "X-RateLimit-Remaining": "0"}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(round(fault.retry_after))
        return _error(429, OVER_RATE_LIMIT, _RATE_MESSAGE, headers)
    page = f"<html><body><h1>{fault.status} Server Error</h1></body></html>".encode()
    return _Answer(fault.status, page, "text/html")


# --------------------------------------------------------------------------
# Driving a stand-in in another process


def control(
    url: str,
    *,
    faults: list[Fault] | None = None,
    clear_faults: bool = False,
    bills: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Change a running stand-in at `url` (its base URL); returns its counts."""
    command: dict[str, Any] = {"clear_faults": clear_faults}
    if faults:
        command["faults"] = [asdict(f) for f in faults]
    if bills is not None:
        command["bills"] = dict(bills)
    request = urllib.request.Request(
        url + CONTROL_PATH,
        data=json.dumps(command).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return {str(k): int(v) for k, v in json.loads(response.read()).items()}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m alerts.bills.congress_gov.standin",
        description="A local stand-in for the Congress.gov API's bill and cosponsors endpoints.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--api-key", help="accept only this key (default: any key)")
    parser.add_argument(
        "--bills", type=Path, help="JSON file of the bills to serve (default: a sample bill)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    bills = sample_bills()
    if args.bills is not None:
        bills = bills_from_json(json.loads(args.bills.read_text(encoding="utf-8")))
    standin = CongressGovStandin(args.port, api_key=args.api_key, bills=bills)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=standin.stop).start())
    print(f"Congress.gov stand-in listening on {standin.url}", flush=True)
    try:
        standin.serve_forever()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
