"""What the client and the stand-in agree on: the batch endpoint's request and answer.

From the Census Geocoder's documentation (Geocoding_Services_API.pdf, cited by the
`censusgeocode` package) and the answer `censusgeocode` recorded in its test
fixtures (tests/fixtures/address-batch.yaml):

- The request is a POST of a multipart form to BATCH_PATH with three fields: the
  file `addressFile`, a headerless CSV of `id,street,city,state,zip` lines (LF
  ends each, empty fields allowed), and `benchmark` and `vintage`. A file holds
  at most 10,000 addresses.
- The answer (text/plain, a download named GeocodeResults.csv) has one line per
  address, every field double-quoted, in any order. A match has twelve fields:
  id, the address as sent (its fields joined by ", "), "Match", "Exact" or
  "Non_Exact", the matched address, "lon,lat", the TIGER line id, the side (L or
  R), and the state (2 digits), county (3), tract (6) and block (4) codes of the
  census block. An address that did not match, or matched several places, gets
  a short line: id, the address, then "No_Match" or "Tie".
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

BATCH_PATH = "/geocoder/geographies/addressbatch"
BENCHMARK = "Public_AR_Current"
VINTAGE = "Current_Current"
MAX_BATCH = 10_000  # "an upper limit of 10,000 records per batch file"
FILE_FIELD = "addressFile"
FILE_NAME = "batch.csv"
FILE_TYPE = "text/plain"
ANSWER_TYPE = "text/plain"
ANSWER_DISPOSITION = "attachment; filename=GeocodeResults.csv"

MATCH = "Match"
NO_MATCH = "No_Match"
TIE = "Tie"
MATCH_TYPES = ("Exact", "Non_Exact")
MATCH_FIELDS = 12
SHORT_FIELDS = 3
# The widths of the state, county, tract and block codes, whose digits make the block GEOID.
GEOGRAPHY_WIDTHS = (2, 3, 6, 4)
# A field CSV reads as it is: quoted, with no quote or line break inside.
_FREE = r'"[^"\r\n]*"'
# A well-formed line of the usual kinds: (id, state, county, tract, block, "") for a match,
# (id, "", "", "", "", status) for a No_Match or a three-field Tie line.
_PLAIN_LINE = re.compile(
    rf'^"([^"\r\n]*)",{_FREE},(?:"{MATCH}","(?:{"|".join(MATCH_TYPES)})"(?:,{_FREE}){{4}},'
    + ",".join(f'"([0-9]{{{width}}})"' for width in GEOGRAPHY_WIDTHS)
    + rf'|"({NO_MATCH}|{TIE})")\r?$',
    re.MULTILINE,
)
# What csv.writer would quote in an address file's field.
_NEEDS_QUOTING = re.compile(r'["\r]')


@dataclass(frozen=True)
class AddressRow:
    """One line of the address file."""

    id: str
    street: str
    city: str
    state: str
    zip: str

    @property
    def fields(self) -> tuple[str, str, str, str, str]:
        return (self.id, self.street, self.city, self.state, self.zip)

    @property
    def echoed(self) -> str:
        """The address as the answer repeats it: the fields joined by ", "."""
        return ", ".join((self.street, self.city, self.state, self.zip))


class AnswerLine(NamedTuple):
    """One line of an answer, read: the id, the status and, for a match, the block GEOID.

    A tuple, as 10,000 of them are made for each batch.
    """

    line: int  # 1-based, for messages
    id: str
    status: str  # MATCH, NO_MATCH or TIE
    block: str | None


class MalformedAnswer(ValueError):
    """An answer that is not the documented CSV; the message names the line."""


# --------------------------------------------------------------------------
# The request


def address_file(rows: Iterable[AddressRow]) -> bytes:
    """The headerless CSV of the addresses: `id,street,city,state,zip` and LF, each.

    Lines with nothing CSV would quote (cleaned addresses never have any) are
    joined as they are; otherwise csv.writer writes the file.
    """
    rows = list(rows)
    text = "\n".join([",".join(row.fields) for row in rows])
    if (
        _NEEDS_QUOTING.search(text)
        or text.count(",") != 4 * len(rows)
        or (text.count("\n") != max(len(rows) - 1, 0))
    ):
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(row.fields for row in rows)
        return out.getvalue().encode("utf-8")
    return (text + "\n").encode("utf-8") if rows else b""


def form_body(file: bytes, boundary: str) -> bytes:
    """The multipart form of one batch, laid out as the recorded request was."""
    dash = f"--{boundary}\r\n".encode()
    disposition = f'Content-Disposition: form-data; name="{FILE_FIELD}"; filename="{FILE_NAME}"'
    parts = [
        dash,
        f"{disposition}\r\nContent-Type: {FILE_TYPE}\r\n\r\n".encode(),
        file,
        b"\r\n",
    ]
    for name, value in (("benchmark", BENCHMARK), ("vintage", VINTAGE)):
        field = f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        parts += [dash, field.encode()]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def form_type(boundary: str) -> str:
    return f"multipart/form-data; boundary={boundary}"


def read_address_file(data: bytes) -> list[AddressRow]:
    """The rows of an address file (the stand-in reads what a client sent)."""
    rows = []
    for number, fields in enumerate(csv.reader(io.StringIO(data.decode("utf-8"))), start=1):
        if not fields:
            continue
        if len(fields) != 5:
            raise MalformedAnswer(f"address file line {number}: {len(fields)} fields, not 5")
        rows.append(AddressRow(*fields))
    return rows


# --------------------------------------------------------------------------
# The answer


def match_line(
    row: AddressRow,
    *,
    match_type: str,
    matched_address: str,
    coordinates: str,
    tiger_line_id: str,
    side: str,
    block: str,
) -> list[str]:
    """The twelve fields of a match; `block` is the 15-digit GEOID, cut into its codes."""
    codes, start = [], 0
    for width in GEOGRAPHY_WIDTHS:
        codes.append(block[start : start + width])
        start += width
    return [row.id, row.echoed, MATCH, match_type, matched_address, coordinates,
            tiger_line_id, side, *codes]  # fmt: skip


def short_line(row: AddressRow, status: str) -> list[str]:
    """The three fields of an address that did not match, or tied."""
    return [row.id, row.echoed, status]


def answer_body(lines: Iterable[Sequence[str]]) -> bytes:
    """An answer's bytes: each field double-quoted, each line ended by LF."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows(lines)
    return out.getvalue().encode("utf-8")


def read_answer(body: bytes) -> list[AnswerLine]:
    """The lines of an answer; MalformedAnswer for anything the documentation does not allow.

    A Tie line may carry more fields than the three of No_Match (no recorded Tie
    line was found); they are ignored, and a Tie is never a match. Answers whose
    every line is a plain one (_PLAIN_LINE) are read in one pass; any other is
    read field by field, with the same result for the plain lines.
    """
    text = body.decode("utf-8", errors="replace")
    plain = _plain_lines(text)
    if plain is not None:
        return plain
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise MalformedAnswer(f"not CSV ({exc})") from None
    return [_answer_line(number, fields) for number, fields in enumerate(records, 1) if fields]


def _plain_lines(text: str) -> list[AnswerLine] | None:
    """Every line of `text` if each is a plain match, No_Match or Tie line; else None.

    Each match of _PLAIN_LINE is one whole line (it starts at a line's start, ends at
    its end and holds no line break), so as many matches as lines means every line is
    plain: the csv reader would read the same fields from it.
    """
    found = _PLAIN_LINE.findall(text)
    if len(found) != text.count("\n") + (bool(text) and not text.endswith("\n")):
        return None
    return [
        AnswerLine(number, id, short, None) if short
        else AnswerLine(number, id, MATCH, state + county + tract + block)
        for number, (id, state, county, tract, block, short) in enumerate(found, 1)
    ]  # fmt: skip


def _answer_line(number: int, fields: list[str]) -> AnswerLine:
    if len(fields) < SHORT_FIELDS:
        raise MalformedAnswer(f"line {number}: {len(fields)} fields, not {SHORT_FIELDS} or more")
    status = fields[2]
    if status == MATCH:
        return AnswerLine(number, fields[0], MATCH, _block(number, fields))
    if (status == NO_MATCH and len(fields) == SHORT_FIELDS) or status == TIE:
        return AnswerLine(number, fields[0], status, None)
    if status == NO_MATCH:
        raise MalformedAnswer(f"line {number}: a No_Match line with {len(fields)} fields, not 3")
    shown = status if len(status) <= 20 else status[:19] + "…"
    raise MalformedAnswer(f"line {number}: status {shown!r} is not Match, No_Match or Tie")


def _block(number: int, fields: list[str]) -> str:
    if len(fields) != MATCH_FIELDS:
        raise MalformedAnswer(
            f"line {number}: a Match line with {len(fields)} fields, not {MATCH_FIELDS}"
        )
    if fields[3] not in MATCH_TYPES:
        raise MalformedAnswer(f"line {number}: match type {fields[3]!r} is not Exact or Non_Exact")
    codes, block = fields[8:], "".join(fields[8:])
    if not (block.isdigit() and block.isascii()) or tuple(map(len, codes)) != GEOGRAPHY_WIDTHS:
        names = ("state", "county", "tract", "block")
        code, width, name = next(
            (code, width, name)
            for code, width, name in zip(codes, GEOGRAPHY_WIDTHS, names, strict=True)
            if not re.fullmatch(f"[0-9]{{{width}}}", code)
        )
        raise MalformedAnswer(f"line {number}: the {name} code {code!r} is not {width} digits")
    return block
