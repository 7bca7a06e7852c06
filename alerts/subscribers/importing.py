"""Importing signup exports, and the operations on the subscriber list.

An import reads each CSV export (UTF-8 with or without BOM, UTF-16 or
Windows-1252; comma, semicolon or tab), recognises the usual headers of
Gravity Forms, Mailchimp, Action Network and plain files, validates and
normalises every row, and streams the rows into a staging table inside one
transaction. The merge into `subscribers` is set-based SQL in db.py, so memory
stays flat for files of millions of rows. Rows without a valid email go to a
rejects CSV with their line number; everything else is merged per person.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import hmac
import io
import json
import os
import pickle
import re
import secrets
import subprocess
import sys
import tempfile
import traceback
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TextIO

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from alerts.db import Database, meta_get, meta_set, utc_now, write_transaction
from alerts.db import districts as districts_db
from alerts.db import imports as imports_db
from alerts.db import subscribers as subscribers_db
from alerts.errors import ImportFileError, InputFileError, LookupFailed, NotFoundError
from alerts.models import ImportSummary, Status, Subscriber, SubscriberFilter

Progress = Callable[[int], None]  # called with the number of bytes read since the last call

# --------------------------------------------------------------------------
# Values: emails, ZIPs, states, names, times


class InvalidValue(ValueError):
    """A cell that cannot be used; the message says why."""


# Plain ASCII addresses that email-validator certainly accepts, checked without calling
# it (it takes ~20 µs an address). Anything else goes to the library, which decides.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_SPECIAL_DOMAINS = frozenset(SPECIAL_USE_DOMAIN_NAMES)
_DOTTED_SPECIAL = any("." in name for name in _SPECIAL_DOMAINS)
_MAX_EMAIL = 254


def normalise_email(raw: str) -> str:
    """The address as it should be stored: trimmed, domain lower-cased. Raises InvalidValue.

    Syntax only, no DNS. Agrees with email-validator (check_deliverability=False).
    """
    text = raw.strip()
    match = _PLAIN_EMAIL.fullmatch(text)
    if match and len(text) <= _MAX_EMAIL:
        domain = match.group(1).lower()
        if (
            "--" not in domain
            and not (_DOTTED_SPECIAL and _is_special_use(domain))
            and (domain[domain.rfind(".") + 1 :] not in _SPECIAL_DOMAINS)
        ):
            local = text[: match.start(1) - 1]
            if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
                local = local.lower()
            return f"{local}@{domain}"
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidValue(str(exc)) from None


def _is_special_use(domain: str) -> bool:
    """True when the domain is, or is under, a special-use name such as .test or .local."""
    if domain[domain.rfind(".") + 1 :] in _SPECIAL_DOMAINS:
        return True
    labels = domain.split(".")
    return any(".".join(labels[i:]) in _SPECIAL_DOMAINS for i in range(len(labels) - 1))


def email_key(email: str) -> str:
    """The identity of an address: one person whatever the letter case."""
    return email.lower()


_ZIP = re.compile(r"(\d{3,5})(?:[-\s]?(\d{4}))?")


def normalise_zip(raw: str) -> str:
    """5-digit ZIP from `raw`: restores leading zeros spreadsheets drop, drops the +4.

    Raises InvalidValue for anything that is not a US ZIP code.
    """
    text = raw.strip()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # full-width digits typed on some keyboards
    if len(text) == 5 and text.isdigit() and text.isascii() and text != "00000":
        return text
    match = _ZIP.fullmatch(text)
    if match is None or not text.isascii():
        raise InvalidValue(f"ZIP {text!r} is not a US ZIP code")
    zip5 = match.group(1).zfill(5)
    if zip5 == "00000":
        raise InvalidValue(f"ZIP {text!r} is not a US ZIP code")
    return zip5


STATE_NAMES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa",
    "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin",
    "WY": "Wyoming", "DC": "District of Columbia", "PR": "Puerto Rico", "GU": "Guam",
    "VI": "U.S. Virgin Islands", "AS": "American Samoa", "MP": "Northern Mariana Islands",
    "AA": "Armed Forces Americas", "AE": "Armed Forces Europe", "AP": "Armed Forces Pacific",
    "FM": "Micronesia", "MH": "Marshall Islands", "PW": "Palau",
}  # fmt: skip

# Other spellings people type, keyed like _letters() keys them.
_STATE_SPELLINGS = {
    "washingtondc": "DC", "washingtondistrictofcolumbia": "DC", "virginislands": "VI",
    "usvirginislands": "VI", "unitedstatesvirginislands": "VI",
    "commonwealthofpuertorico": "PR", "federatedstatesofmicronesia": "FM",
    # AP style abbreviations
    "ala": "AL", "ariz": "AZ", "ark": "AR", "calif": "CA", "cal": "CA", "colo": "CO",
    "conn": "CT", "del": "DE", "fla": "FL", "ill": "IL", "ind": "IN", "kan": "KS",
    "kans": "KS", "mass": "MA", "mich": "MI", "minn": "MN", "miss": "MS", "mont": "MT",
    "neb": "NE", "nebr": "NE", "nev": "NV", "okla": "OK", "ore": "OR", "oreg": "OR",
    "penn": "PA", "penna": "PA", "tenn": "TN", "tex": "TX", "wash": "WA", "wva": "WV",
    "wis": "WI", "wisc": "WI", "wyo": "WY",
}  # fmt: skip


def _letters(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalpha())


_STATES = {
    **_STATE_SPELLINGS,
    **{_letters(name): code for code, name in STATE_NAMES.items()},
    **{code.lower(): code for code in STATE_NAMES},
}


def normalise_state(raw: str) -> str:
    """USPS code for a state code, name or common abbreviation. Raises InvalidValue."""
    text = raw.strip()
    code = text.upper()
    if code in STATE_NAMES:
        return code
    found = _STATES.get(_letters(text))
    if found is None:
        raise InvalidValue(f"state {text!r} is not a US state or territory")
    return found


def clean_text(raw: str) -> str:
    """Trimmed, inner runs of whitespace made one space, Unicode NFC."""
    text = " ".join(raw.split())
    return text if text.isascii() else unicodedata.normalize("NFC", text)


_NAME_SUFFIXES = {"jr", "sr", "ii", "iii", "iv", "v", "md", "phd", "esq"}


def split_name(full: str) -> tuple[str, str]:
    """(first, last) from a full name: "Ana María López" or "López, Ana María"."""
    text = clean_text(full)
    if "," in text:
        last, _, first = text.partition(",")
        if _letters(first) not in _NAME_SUFFIXES:
            return first.strip(), last.strip()
    words = text.replace(",", "").split()
    if len(words) <= 1:
        return text, ""
    last_start = len(words) - 1
    while last_start > 1 and _letters(words[last_start]) in _NAME_SUFFIXES:
        last_start -= 1
    return " ".join(words[:last_start]), " ".join(words[last_start:])


_TIME_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
    "%m/%d/%y %H:%M",
    "%m/%d/%y",
)


def normalise_time(raw: str) -> str:
    """ISO 8601 UTC text for a signup time; times without a zone are taken as UTC."""
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        moment = None
        for fmt in _TIME_FORMATS:
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if moment is None:
        raise InvalidValue(f"signup time {text!r} is not a date")
    if moment.tzinfo is None and len(text) == 19 and text[10] in " T":
        return f"{text[:10]}T{text[11:]}Z"  # already the stored form, less the T and Z
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_STATUS_WORDS = {
    "subscribed": Status.SUBSCRIBED,
    "unsubscribed": Status.UNSUBSCRIBED,
    "bounced": Status.BOUNCED,
    "cleaned": Status.BOUNCED,  # Mailchimp's word for addresses that bounced
    "complained": Status.COMPLAINED,
}


def normalise_status(raw: str) -> str:
    found = _STATUS_WORDS.get(raw.strip().lower())
    if found is None:
        raise InvalidValue(f"status {raw.strip()!r} is not one of {', '.join(_STATUS_WORDS)}")
    return str(found)


def split_tags(raw: str) -> list[str]:
    """Tags from a cell: `a, b`, `a; b` or Mailchimp's `"a","b"`."""
    parts = re.split(r"[,;]", raw)
    return [tag for tag in (clean_text(p).strip("\"'").strip() for p in parts) if tag]


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Trimmed, non-blank, each once, in the order given."""
    return list(dict.fromkeys(t for t in (clean_text(tag) for tag in tags) if t))


_COUNTRIES_US = {"us", "usa", "unitedstates", "unitedstatesofamerica"}


@dataclass
class PostalAddress:
    street: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""


def split_mailchimp_address(raw: str) -> PostalAddress:
    """Mailchimp's one-column address: street, [line 2,] city, state, ZIP, country.

    Mailchimp separates the parts with two spaces.

    Parts are taken from the end, so a missing line 2 or country is fine. A cell
    without two-space separators is taken as the street alone.
    """
    parts = [p.strip() for p in re.split(r" {2,}|\t", raw.strip()) if p.strip()]
    result = PostalAddress()
    if len(parts) <= 1:
        result.street = clean_text(raw)
        return result
    last_is_zip = _looks_like_zip(parts[-1])
    if _letters(parts[-1]) in _COUNTRIES_US or (
        not last_is_zip and (len(parts) >= 5 or _looks_like_zip(parts[-2]))
    ):
        result.country = parts.pop()
    if parts and (_looks_like_zip(parts[-1]) or (result.country and len(parts) >= 4)):
        result.zip = parts.pop()
    if len(parts) >= 3:
        result.state = parts.pop()
    if len(parts) >= 2:
        result.city = parts.pop()
    result.street = clean_text(", ".join(parts))
    return result


def _looks_like_zip(text: str) -> bool:
    return _ZIP.fullmatch(text.strip()) is not None


# --------------------------------------------------------------------------
# Cells that spreadsheets would run as formulas

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading ' before = + - @ tab or CR.

    A value that already starts with ' and one of those gets another, so that
    restore_cell gives back exactly the original.
    """
    if value.startswith(_FORMULA_STARTS) or (
        value[:1] == "'" and value[1:].startswith(_FORMULA_STARTS)
    ):
        return "'" + value
    return value


def restore_cell(value: str) -> str:
    """Undo neutralise_cell, so an exported file can be imported again unchanged."""
    if value[:1] == "'" and neutralise_cell(value[1:]) == value:
        return value[1:]
    return value


def safe_csv_writer(out: TextIO) -> Callable[[Sequence[Any]], None]:
    """A CSV row writer whose every cell is safe to open in a spreadsheet."""
    writer = csv.writer(out, lineterminator="\r\n")

    def write(row: Sequence[Any]) -> None:
        writer.writerow(["" if v is None else neutralise_cell(str(v)) for v in row])

    return write


# --------------------------------------------------------------------------
# Reading an export: encoding, delimiter, header

_SAMPLE_BYTES = 65536
_CHUNK_BYTES = 1 << 20
_BINARY_MAGIC = {
    b"PK\x03\x04": "a ZIP archive or Excel workbook",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook",
    b"%PDF": "a PDF",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"SQLite format 3\x00": "an SQLite database",
}
_CONTROL = frozenset(range(32)) - {9, 10, 12, 13}


@dataclass(frozen=True)
class FileFacts:
    encoding: str
    sha256: str
    size: int


def read_facts(path: Path) -> FileFacts:
    """Size, SHA-256 and text encoding of `path`. Raises ImportFileError for unusable files."""
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    if path.is_dir():
        raise ImportFileError(f"{path}: is a folder, not a CSV file")
    try:
        with path.open("rb") as raw:
            sample = raw.read(_SAMPLE_BYTES)
            encoding = _guess_encoding(path, sample)
            return _scan(path, raw, sample, encoding)
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read ({exc.strerror})") from None


def _guess_encoding(path: Path, sample: bytes) -> str:
    if not sample.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise ImportFileError(f"{path}: the file is empty")
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for magic, kind in _BINARY_MAGIC.items():
        if sample.startswith(magic):
            raise ImportFileError(f"{path}: binary file ({kind}), not CSV text; export it as CSV")
    zeros_even, zeros_odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2 or 1
    if zeros_odd > 0.3 * half and zeros_even < 0.05 * half:
        return "utf-16-le"
    if zeros_even > 0.3 * half and zeros_odd < 0.05 * half:
        return "utf-16-be"
    controls = sum(1 for byte in sample if byte in _CONTROL)
    if zeros_even + zeros_odd or controls > 0.01 * len(sample):
        raise ImportFileError(f"{path}: binary file, not CSV text")
    return "utf-8"


def _scan(path: Path, raw: IO[bytes], sample: bytes, encoding: str) -> FileFacts:
    """Hash the whole file and check it decodes; UTF-8 that does not falls back to cp1252."""
    digest = hashlib.sha256()
    decoders = {name: codecs.getincrementaldecoder(name)() for name in (encoding, "cp1252")}
    if encoding != "utf-8":
        del decoders["cp1252"]
    size, chunk = 0, sample
    while chunk:
        digest.update(chunk)
        size += len(chunk)
        for name, decoder in list(decoders.items()):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                del decoders[name]
        if not decoders:
            raise ImportFileError(
                f"{path}: unreadable text encoding (not UTF-8, UTF-16 or Windows-1252);"
                " save it as CSV UTF-8"
            )
        chunk = raw.read(_CHUNK_BYTES)
    for name, decoder in list(decoders.items()):
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            del decoders[name]
    if not decoders:
        raise ImportFileError(f"{path}: unreadable text encoding (the file ends mid-character)")
    return FileFacts(encoding=next(iter(decoders)), sha256=digest.hexdigest(), size=size)


def _sniff_delimiter(first_text: str) -> str:
    """`,` `;` or tab: whichever splits the first non-blank row into the most cells."""
    best, best_cells = ",", 0
    for delimiter in (",", ";", "\t"):
        rows = csv.reader(io.StringIO(first_text, newline=""), delimiter=delimiter)
        try:
            header = next((row for row in rows if any(cell.strip() for cell in row)), [])
        except csv.Error:  # reading the whole file reports it with its line number
            continue
        if len(header) > best_cells:
            best, best_cells = delimiter, len(header)
    return best


# --------------------------------------------------------------------------
# Recognising columns

# Import fields a column can hold, for --map. `name` is a full name split into first and
# last; `address` is Mailchimp's one-column address; `extra` keeps the column as an extra
# field and `skip` ignores it.
MAP_FIELDS = (
    "email", "first_name", "last_name", "name", "street", "street2", "address", "city",
    "state", "zip", "phone", "consent_at", "tags", "status", "extra", "skip",
)  # fmt: skip

# Headers recognised without --map, keyed by header_key(); earlier ones win for a field.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "e-mail", "e-mailaddress", "mail"),
    "first_name": ("firstname", "name(first)", "first", "givenname", "fname"),
    "last_name": ("lastname", "name(last)", "last", "surname", "familyname", "lname"),
    "name": ("name", "fullname", "yourname", "name(full)"),
    "street": (
        "address(streetaddress)", "streetaddress", "street", "address1", "addressline1",
        "street1", "can2useraddress", "address(line1)",
    ),
    "street2": ("address(addressline2)", "address2", "addressline2", "street2"),
    "address": ("address", "mailingaddress"),
    "city": ("address(city)", "city", "town", "can2usercity"),
    "state": (
        "address(state/province)", "state", "state/province", "stateprovince", "province",
        "can2stateabbreviated", "address(state)",
    ),
    "zip": (
        "address(zip/postalcode)", "zip", "zipcode", "zip/postalcode", "postalcode",
        "postcode", "zip5", "address(zip)", "address(zipcode)", "address(postalcode)",
    ),
    "phone": (
        "phone", "phonenumber", "can2phone", "mobile", "mobilephone", "mobilenumber",
        "cellphone", "telephone",
    ),
    "consent_at": (
        "consentat", "optintime", "confirmtime", "signuptime", "signupdate", "signedupat",
        "subscribedat", "datecreated", "entrydate", "timestamp",
    ),
    "tags": ("tags", "tag"),
    "status": ("status",),
}  # fmt: skip

# Columns alerts itself writes in `subscribers export` and ignores on import, so an
# export can be imported again without them turning into extra fields.
BOOKKEEPING_COLUMNS = frozenset({"id", "source", "createdat", "updatedat"})


def header_key(header: str) -> str:
    """Case- and spacing-insensitive form of a header: 'Name (First)' -> 'name(first)'."""
    return re.sub(r"[\s_]+", "", header).lower()


@dataclass(frozen=True)
class Columns:
    """Which column holds which field (by index), and the columns kept as extra fields."""

    fields: dict[str, int]
    extra: tuple[tuple[int, str], ...]


def parse_map(specs: Sequence[str]) -> dict[str, str]:
    """--map values ("CSV column=field") as {header key: field}. Raises ImportFileError."""
    mapping: dict[str, str] = {}
    for spec in specs:
        column, sep, target = spec.rpartition("=")
        target = target.strip().lower()
        if not sep or not column.strip():
            raise ImportFileError(f'--map {spec!r}: write it as "CSV column=field"')
        if target not in MAP_FIELDS:
            raise ImportFileError(
                f"--map {spec!r}: unknown field {target!r} (one of {', '.join(MAP_FIELDS)})"
            )
        mapping[header_key(column)] = target
    return mapping


def recognise_columns(path: Path, header: Sequence[str], mapping: dict[str, str]) -> Columns:
    """Assign header columns to fields: --map first, then the known export headers."""
    keys = [header_key(h) for h in header]
    for wanted in mapping:
        if wanted not in keys:
            raise ImportFileError(
                f"{path}: --map names column {wanted!r}, which is not in the header"
                f" ({', '.join(h.strip() for h in header)})"
            )
    fields: dict[str, int] = {}
    claimed: set[int] = set()
    for index, key in enumerate(keys):
        target = mapping.get(key)
        if target is not None and target not in ("extra", "skip") and target not in fields:
            fields[target] = index
        if target is not None:
            claimed.add(index)
    for name, aliases in HEADER_ALIASES.items():
        if name in fields:
            continue
        for alias in aliases:
            index = next((i for i, k in enumerate(keys) if k == alias and i not in claimed), None)
            if index is not None:
                fields[name] = index
                claimed.add(index)
                break
    if "email" not in fields:
        # Headers are file content: fold their whitespace so the message stays one line.
        shown = ", ".join(" ".join(h.split()) for h in header) or "none"
        raise ImportFileError(
            f'{path}: no email column (headers: {shown}); name it with --map "COLUMN=email"'
        )
    extra = tuple(
        (i, header[i].strip() or f"column {i + 1}")
        for i, key in enumerate(keys)
        if i not in fields.values()
        and mapping.get(key) != "skip"
        and (key not in BOOKKEEPING_COLUMNS or mapping.get(key) == "extra")
    )
    return Columns(fields=fields, extra=extra)


@dataclass
class ExportFile:
    """One file of an import, checked and ready to read."""

    path: Path
    facts: FileFacts
    delimiter: str
    header: list[str]
    columns: Columns

    def open_text(self) -> tuple[IO[bytes], TextIO]:
        raw = self.path.open("rb")
        return raw, io.TextIOWrapper(raw, encoding=self.facts.encoding, newline="")


def inspect_export(path: Path, mapping: dict[str, str]) -> ExportFile:
    """Everything checked before a row is written: readable, text, has an email column."""
    facts = read_facts(path)
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=facts.encoding, newline="")
        delimiter = _sniff_delimiter(text.read(_SAMPLE_BYTES))
    export = ExportFile(path, facts, delimiter, [], Columns({}, ()))
    raw, text = export.open_text()
    with raw, text:
        try:
            header = next(
                (row for row in _reader(export, text) if any(c.strip() for c in row)), None
            )
        except csv.Error as exc:
            raise ImportFileError(f"{path}: line 1: {exc}") from None
    if header is None:
        raise ImportFileError(f"{path}: the file is empty (only blank lines)")
    export.header = [restore_cell(h) for h in header]
    export.columns = recognise_columns(path, export.header, mapping)
    return export


def _reader(export: ExportFile, text: TextIO) -> Any:
    return csv.reader(text, delimiter=export.delimiter)


# --------------------------------------------------------------------------
# Rows: from CSV cells to staged people, rejects and warnings

MAX_KEPT_WARNINGS = 100
_PROGRESS_EVERY = 4096


@dataclass(frozen=True)
class ImportWarning:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}: line {self.line}: {self.message}"


@dataclass
class FileResult:
    path: Path
    rows: int = 0
    warnings: int = 0
    summary: ImportSummary = field(default_factory=ImportSummary)


@dataclass
class ImportReport:
    """What an import did. Counts are per person; `warnings` keeps the first hundred."""

    summary: ImportSummary = field(default_factory=ImportSummary)
    files: list[FileResult] = field(default_factory=list)
    warnings: list[ImportWarning] = field(default_factory=list)
    warning_count: int = 0
    rejects_path: Path | None = None
    dry_run: bool = False

    def warn(self, file: str, line: int, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_KEPT_WARNINGS:
            self.warnings.append(ImportWarning(file, line, message))


class _Rejects:
    """The rejects CSV: written to a temporary file, put in place when the import ends."""

    def __init__(self, path: Path, exports: Sequence[ExportFile], *, keep_empty: bool):
        self.path = path
        self.keep_empty = keep_empty
        self.count = 0
        headers = list(dict.fromkeys(h for e in exports for h in e.header))
        self._positions = {
            e.path: [headers.index(h) for h in e.header] for e in exports
        }  # fmt: skip
        self._width = len(headers)
        try:
            handle, name = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", text=True
            )
        except OSError as exc:
            reason = exc.strerror
            raise InputFileError(f"{path}: cannot write the rejects file ({reason})") from None
        self._temp = Path(name)
        self._file = os.fdopen(handle, "w", encoding="utf-8-sig", newline="")
        self._write = safe_csv_writer(self._file)
        self._write(["file", "line", "reason", *headers])

    def add(self, export: ExportFile, line: int, reason: str, row: Sequence[str]) -> None:
        self.count += 1
        cells = [""] * self._width
        for position, value in zip(self._positions[export.path], row, strict=False):
            cells[position] = value
        self._write([export.path.name, line, reason, *cells])

    def finish(self) -> Path | None:
        self._file.close()
        if self.count or self.keep_empty:
            os.replace(self._temp, self.path)
            return self.path
        self._temp.unlink(missing_ok=True)
        return None

    def abort(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)


_TEXT_FIELDS = ("first_name", "last_name", "street", "city", "phone")
_CHECKED_FIELDS: dict[str, Callable[[str], str]] = {
    "zip": normalise_zip,
    "state": normalise_state,
    "consent_at": normalise_time,
    "status": normalise_status,
}
_AT = {name: i for i, name in enumerate(imports_db.STAGED_COLUMNS)}


_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_json_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _clean_cell(value: str) -> str:
    if value[:1] == "'":
        value = restore_cell(value)
    text = " ".join(value.split())
    return text if text.isascii() else unicodedata.normalize("NFC", text)


class _FileRows:
    """Turns the rows of one export into staging tuples, rejecting and warning as it goes.

    This is the hot loop of a large import: field positions are worked out once
    per file, and only the columns the file has are looked at.
    """

    def __init__(
        self,
        export: ExportFile,
        run_tags: list[str],
        rejects: _Rejects,
        report: ImportReport,
    ):
        self.export = export
        self.rejects = rejects
        self.report = report
        self.run_tags = run_tags
        self.run_tags_json = _to_json(run_tags) if run_tags else None
        fields = export.columns.fields
        self.fields = fields
        self.width = len(export.header)
        self.simple = [(_AT[name], fields[name]) for name in _TEXT_FIELDS if name in fields]
        self.checked = [
            (_AT[name], fields[name], normalise)
            for name, normalise in _CHECKED_FIELDS.items()
            if name in fields
        ]
        # Full names, second street lines and Mailchimp addresses feed the plain fields.
        self.extra_keys = [(i, _json_string(name)) for i, name in export.columns.extra]
        self.composite = any(name in fields for name in ("name", "street2", "address"))
        self.rows = self.rejected = self.warnings = 0
        self.line = 0  # where the current row starts
        self.read_lines = 0  # lines read so far: a row that fails to parse starts after them

    def warn(self, message: str) -> None:
        self.warnings += 1
        self.report.warn(self.export.path.name, self.line, message)

    def staged(self, raw: IO[bytes], text: TextIO, progress: Progress | None) -> Iterator[tuple]:
        reader = _reader(self.export, text)
        for row in reader:  # up to the header: the first row that is not blank
            if any(c.strip() for c in row):
                break
        self.read_lines, reported = reader.line_num, 0
        stage = self.stage
        for count, row in enumerate(reader, 1):
            self.line, self.read_lines = self.read_lines + 1, reader.line_num
            if row:
                staged = stage(row)
                if staged is not None:
                    yield staged
            if progress is not None and count % _PROGRESS_EVERY == 0:
                position = raw.tell()
                progress(position - reported)
                reported = position
        if progress is not None:
            progress(self.export.facts.size - reported)

    def stage(self, row: list[str]) -> tuple | None:
        n = len(row)
        if n < self.width:
            row += [""] * (self.width - n)
        elif n > self.width and any(c.strip() for c in row[self.width :]):
            self.warn(f"{n} cells but the header has {self.width}; the extra cells were ignored")
        raw_email = row[self.fields["email"]].strip()
        if not raw_email:
            if any(c.strip() for c in row):
                self.rows += 1
                self.reject(row, "missing email")
            return None
        self.rows += 1
        try:
            email = normalise_email(restore_cell(raw_email))
        except InvalidValue as exc:
            self.reject(row, f"invalid email: {exc}")
            return None
        values: list[Any] = [None] * len(imports_db.STAGED_COLUMNS)
        values[0] = email
        for position, index in self.simple:  # _clean_cell, inlined: it runs millions of times
            value = row[index]
            if value:
                if value[0] == "'":
                    value = restore_cell(value)
                value = " ".join(value.split())
                if not value.isascii():
                    value = unicodedata.normalize("NFC", value)
                values[position] = value or None
        if self.composite:
            self.stage_composite(row, values)
        for position, index, normalise in self.checked:
            if values[position] is None and row[index]:
                try:
                    values[position] = normalise(row[index])
                except InvalidValue as exc:
                    if row[index].strip():
                        self.warn(f"{exc}; left blank")
        values[_AT["tags"]] = self.tags(row)
        if self.export.columns.extra:
            values[_AT["extra"]] = self.extra(row)
        return (email_key(email), *values)

    def reject(self, row: list[str], reason: str) -> None:
        self.rejected += 1
        self.rejects.add(self.export, self.line, reason, row)

    def cell(self, row: list[str], name: str) -> str:
        index = self.fields.get(name)
        return _clean_cell(row[index]) if index is not None and row[index] else ""

    def stage_composite(self, row: list[str], values: list[Any]) -> None:
        """Fill plain fields from a full name, a second street line or a one-column address."""
        full_name = self.cell(row, "name")
        if full_name and not values[_AT["first_name"]] and not values[_AT["last_name"]]:
            first, last = split_name(full_name)
            values[_AT["first_name"]], values[_AT["last_name"]] = first or None, last or None
        street2 = self.cell(row, "street2")
        if street2:
            values[_AT["street"]] = ", ".join(p for p in (values[_AT["street"]], street2) if p)
        index = self.fields.get("address")
        if index is None or not row[index].strip():
            return
        parts = split_mailchimp_address(restore_cell(row[index]))
        values[_AT["street"]] = values[_AT["street"]] or parts.street or None
        values[_AT["city"]] = values[_AT["city"]] or parts.city or None
        for name, normalise in (("zip", normalise_zip), ("state", normalise_state)):
            own = self.fields.get(name)
            if getattr(parts, name) and (own is None or not row[own].strip()):
                values[_AT[name]] = self.check(getattr(parts, name), normalise)

    def check(self, text: str, normalise: Callable[[str], str]) -> str | None:
        """The normalised value, or None with a warning when it cannot be used."""
        try:
            return normalise(text)
        except InvalidValue as exc:
            self.warn(f"{exc}; left blank")
            return None

    def tags(self, row: list[str]) -> str | None:
        cell = self.cell(row, "tags")
        if not cell:
            return self.run_tags_json
        return _to_json(clean_tags([*self.run_tags, *split_tags(cell)]))

    def extra(self, row: list[str]) -> str | None:
        """The extra columns as a JSON object, built by hand: json.dumps is slow per row."""
        members = []
        for index, key in self.extra_keys:
            value = row[index] and _clean_cell(row[index])
            if value:
                members.append(f"{key}:{_json_string(value)}")
        return "{" + ",".join(members) + "}" if members else None


# --------------------------------------------------------------------------
# Running an import


def plan_import(paths: Sequence[Path | str], map_specs: Sequence[str] = ()) -> list[ExportFile]:
    """Check every file before anything is written. Raises ImportFileError."""
    if not paths:
        raise ImportFileError("no file to import")
    mapping = parse_map(map_specs)
    return [inspect_export(Path(p), mapping) for p in paths]


def check_output_path(path: Path, inputs: Sequence[Path] = ()) -> None:
    """Fail early, naming the path, when a file cannot be written there."""
    if any(path.resolve() == p.resolve() for p in inputs):
        raise InputFileError(f"{path}: is a file being imported; write the rejects elsewhere")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise InputFileError(f"{path}: folder {path.parent} does not exist")


def default_rejects_path(first: Path) -> Path:
    """Where rejected rows go without --rejects: <first file's stem>.rejects.csv, here."""
    return Path.cwd() / f"{first.stem}.rejects.csv"


class _DryRun(Exception):
    """Raised inside the import transaction to roll it back on purpose."""


def run_import(
    db: Database,
    exports: Sequence[ExportFile],
    *,
    source: str | None = None,
    tags: Sequence[str] = (),
    rejects_path: Path | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import checked files in one transaction: all of them, or (on any error) nothing.

    Each file is merged on its own (one import_runs row each); the report sums them.
    With `dry_run` everything is computed and then rolled back. New people are
    stored with their district resolved; the districts of the existing people the
    files changed are resolved again before the commit.
    """
    report = ImportReport(dry_run=dry_run)
    rejects = _Rejects(
        rejects_path or default_rejects_path(exports[0].path),
        exports,
        keep_empty=rejects_path is not None,
    )
    try:
        with imports_db.import_caches(db), write_transaction(db):
            imports_db.import_begin(db)
            hasher = _forgotten_hasher(db)
            for export in exports:
                result = _import_file(
                    db, export, source, clean_tags(tags), rejects, report, hasher, progress
                )
                report.files.append(result)
                _add_counts(report.summary, result.summary)
            # Inside the transaction, so a person is never stored without their district.
            districts_db.resolve_districts(db, "import_touched")
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except BaseException:
        rejects.abort()
        raise
    report.rejects_path = rejects.finish()
    return report


def _import_file(
    db: Database,
    export: ExportFile,
    source: str | None,
    run_tags: list[str],
    rejects: _Rejects,
    report: ImportReport,
    hasher: Callable[[str], str] | None,
    progress: Progress | None = None,
) -> FileResult:
    started = utc_now()
    run_source = source or export.path.name
    run_id = imports_db.import_run_start(
        db,
        file_name=export.path.name,
        sha256=export.facts.sha256,
        source=run_source,
        started_at=started,
    )
    imports_db.stage_begin(db)
    stage = _stage_in_worker if export.facts.size >= WORKER_MIN_BYTES else _stage_here
    read = stage(db, export, run_tags, rejects, report, progress)
    counts = imports_db.merge_staged(db, source=run_source, now=started, email_hash=hasher)
    result = FileResult(export.path, rows=read.rows, warnings=read.warnings)
    result.summary = ImportSummary(
        added=counts.get("added", 0),
        updated=counts.get("updated", 0),
        unchanged=counts.get("unchanged", 0),
        rejected=read.rejected,
        suppressed=counts.get("suppressed", 0),
    )
    imports_db.import_run_finish(
        db,
        run_id,
        {**result.summary.as_dict(), "rows": read.rows, "warnings": read.warnings},
        utc_now(),
    )
    return result


@dataclass(frozen=True)
class _ReadCounts:
    rows: int
    rejected: int
    warnings: int


def _stage_here(
    db: Database,
    export: ExportFile,
    run_tags: list[str],
    rejects: _Rejects,
    report: ImportReport,
    progress: Progress | None,
) -> _ReadCounts:
    """Read, check and stage the rows of one file in this process."""
    rows = _FileRows(export, run_tags, rejects, report)
    raw, text = export.open_text()
    with raw, text:
        try:
            imports_db.stage_rows(db, rows.staged(raw, text, progress))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportFileError(f"{export.path}: line {rows.read_lines + 1}: {exc}") from None
    return _ReadCounts(rows.rows, rows.rejected, rows.warnings)


# --------------------------------------------------------------------------
# Large files: a second process reads and checks the rows while this one writes them.
# Rows, rejects and warnings arrive in file order, so the result is the same as
# _stage_here's; on two cores a 1,000,000-row import takes about a third less time.

WORKER_MIN_BYTES = 8 << 20  # below this, starting a process costs more than it saves
_BATCH = 2000


class _Outbox:
    """In the reading process: stands in for the rejects file and the report, sends batches."""

    def __init__(self, pipe: _Pickles):
        self.pipe = pipe
        self.rows: list[tuple] = []
        self.rejects: list[tuple[int, str, list[str]]] = []
        self.warnings: list[tuple[int, str]] = []
        self.done_bytes = 0

    def add(self, export: ExportFile, line: int, reason: str, row: list[str]) -> None:
        self.rejects.append((line, reason, row))
        if len(self.rejects) >= _BATCH:
            self.send()

    def warn(self, file: str, line: int, message: str) -> None:
        self.warnings.append((line, message))
        if len(self.warnings) >= _BATCH:
            self.send()

    def progress(self, done: int) -> None:
        self.done_bytes += done

    def stage(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= _BATCH:
            self.send()

    def send(self) -> None:
        self.pipe.send(("batch", self.rows, self.rejects, self.warnings, self.done_bytes))
        self.rows, self.rejects, self.warnings, self.done_bytes = [], [], [], 0


def _read_in_worker(export: ExportFile, run_tags: list[str], pipe: IO[bytes]) -> None:
    """The reading process: parse and check every row, send them to the writing process."""
    outbox = _Outbox(_Pickles(pipe))
    rows = _FileRows(export, run_tags, outbox, outbox)  # type: ignore[arg-type]
    try:
        raw, text = export.open_text()
        with raw, text:
            for staged in rows.staged(raw, text, outbox.progress):
                outbox.stage(staged)
        outbox.send()
        outbox.pipe.send(("done", _ReadCounts(rows.rows, rows.rejected, rows.warnings)))
    except (csv.Error, UnicodeDecodeError) as exc:
        outbox.pipe.send(("error", f"{export.path}: line {rows.read_lines + 1}: {exc}"))
    except (KeyboardInterrupt, BrokenPipeError):
        pass  # Ctrl-C, or the writing process stopped: it rolls back and reports
    except Exception:
        outbox.pipe.send(("crash", traceback.format_exc()))
    finally:
        pipe.close()


@dataclass
class _Pickles:
    """Objects over a byte stream."""

    stream: IO[bytes]

    def send(self, message: Any) -> None:
        pickle.dump(message, self.stream, protocol=pickle.HIGHEST_PROTOCOL)

    def recv(self) -> Any:
        return pickle.load(self.stream)


def worker_main() -> None:
    """Entry point of the reading process: its job comes on stdin, batches go to stdout."""
    export, run_tags = pickle.load(sys.stdin.buffer)
    _read_in_worker(export, run_tags, sys.stdout.buffer)


_WORKER_COMMAND = "from alerts.subscribers.importing import worker_main; worker_main()"


def _stage_in_worker(
    db: Database,
    export: ExportFile,
    run_tags: list[str],
    rejects: _Rejects,
    report: ImportReport,
    progress: Progress | None,
) -> _ReadCounts:
    # A plain subprocess rather than multiprocessing: it works whatever the caller's
    # __main__ is, and needs no `if __name__ == "__main__"` guard anywhere.
    worker = subprocess.Popen(
        [sys.executable, "-P", "-c", _WORKER_COMMAND],  # -P: no folder named alerts in the way
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert worker.stdin is not None and worker.stdout is not None and worker.stderr is not None
    totals: list[_ReadCounts] = []
    try:
        with worker.stdin:
            pickle.dump((export, run_tags), worker.stdin)
        received = _received_rows(
            _Pickles(worker.stdout), export, rejects, report, progress, totals
        )
        imports_db.stage_rows(db, received)
    except _WorkerGone:
        worker.wait()
        said = worker.stderr.read().decode(errors="replace").strip().splitlines()
        why = said[-1] if said else f"exit status {worker.returncode}"
        raise ImportFileError(f"{export.path}: the reading process stopped ({why})") from None
    finally:
        if worker.poll() is None:
            worker.terminate()
        worker.wait()
        worker.stdout.close()
        worker.stderr.close()
    return totals[0]


class _WorkerGone(Exception):
    """The reading process ended without saying it was done."""


def _received_rows(
    receiver: _Pickles,
    export: ExportFile,
    rejects: _Rejects,
    report: ImportReport,
    progress: Progress | None,
    totals: list[_ReadCounts],
) -> Iterator[tuple]:
    while True:
        try:
            kind, *message = receiver.recv()
        except (EOFError, pickle.UnpicklingError):
            raise _WorkerGone from None
        if kind == "batch":
            rows, rejected, warnings, done = message
            for line, reason, row in rejected:
                rejects.add(export, line, reason, row)
            for line, text in warnings:
                report.warn(export.path.name, line, text)
            if progress is not None and done:
                progress(done)
            yield from rows
        elif kind == "done":
            totals.append(message[0])
            return
        elif kind == "error":
            raise ImportFileError(message[0])
        else:
            raise RuntimeError(f"reading {export.path} failed:\n{message[0]}")


def _add_counts(total: ImportSummary, part: ImportSummary) -> None:
    for name, value in part.as_dict().items():
        setattr(total, name, getattr(total, name) + value)


# --------------------------------------------------------------------------
# Forgetting: a keyed one-way hash of the address, so no import brings a person back

FORGET_KEY = "forget_key"  # meta key: random salt of the hashes in `forgotten`


def email_hash(key: str, address_key: str) -> str:
    """HMAC-SHA256 of an email key: the address cannot be read back, only matched."""
    return hmac.new(key.encode(), address_key.encode(), hashlib.sha256).hexdigest()


def _forget_key(db: Database, *, create: bool) -> str | None:
    key = meta_get(db, FORGET_KEY)
    if key is None and create:
        key = secrets.token_hex(32)
        meta_set(db, FORGET_KEY, key)
    return key


def _forgotten_hasher(db: Database) -> Callable[[str], str] | None:
    key = _forget_key(db, create=False)
    return None if key is None else (lambda address_key: email_hash(key, address_key))


def _lookup_key(email: str) -> str:
    """The email key of an address typed on the command line, valid or not."""
    try:
        return email_key(normalise_email(email))
    except InvalidValue:
        return email_key(email.strip())


@dataclass(frozen=True)
class ForgetResult:
    erased: bool  # False: nobody had that address; it is recorded all the same


def forget(db: Database, email: str) -> ForgetResult:
    """Erase a person's data, keep only a hash of the address so no import adds them again.

    The row stays (status `forgotten`, no personal data) so campaign counts add up.
    """
    if not email.strip():
        raise LookupFailed("forget: give the email address to forget")
    address_key = _lookup_key(email)
    with write_transaction(db):
        key = _forget_key(db, create=True)
        assert key is not None
        now = utc_now()
        subscribers_db.add_forgotten(db, email_hash(key, address_key), now)
        found = subscribers_db.find_subscriber(db, address_key)
        if found is not None and found.id is not None:
            subscribers_db.erase_subscriber(db, found.id, now)
    return ForgetResult(erased=found is not None)


def is_forgotten(db: Database, email: str) -> bool:
    key = _forget_key(db, create=False)
    return key is not None and subscribers_db.is_forgotten(db, email_hash(key, _lookup_key(email)))


# --------------------------------------------------------------------------
# The subscriber list


def subscriber_filter(
    status: str | None = None, tag: str | None = None, state: str | None = None
) -> SubscriberFilter:
    """A filter from command-line values; the state may be a name. Raises LookupFailed."""
    if status is not None and status not in set(Status):
        raise LookupFailed(f"status {status!r} is not one of {', '.join(Status)}")
    code = None
    if state:
        try:
            code = normalise_state(state)
        except InvalidValue as exc:
            raise LookupFailed(str(exc)) from None
    return SubscriberFilter(status=status, tag=clean_text(tag) if tag else None, state=code)


def count_subscribers(db: Database, where: SubscriberFilter) -> dict[str, int]:
    """Counts by status (every status, zero included) and `total`."""
    found = subscribers_db.count_by_status(db, where)
    counts = {str(status): found.get(str(status), 0) for status in Status}
    counts["total"] = sum(counts.values())
    return counts


def list_subscribers(
    db: Database, where: SubscriberFilter, limit: int | None = None
) -> Iterator[Subscriber]:
    return subscribers_db.iter_subscribers(db, where, limit)


def get_subscriber(db: Database, email: str) -> Subscriber:
    found = subscribers_db.find_subscriber(db, _lookup_key(email)) if email.strip() else None
    if found is None:
        raise NotFoundError(f"no subscriber with email {email.strip()!r}")
    return found


def unsubscribe(db: Database, email: str) -> tuple[Subscriber, bool]:
    """Unsubscribe a subscribed person. Returns them and whether anything changed.

    Anyone already unsubscribed, bounced or complained keeps that status.
    """
    with write_transaction(db):
        person = get_subscriber(db, email)
        if person.status != Status.SUBSCRIBED or person.id is None:
            return person, False
        subscribers_db.set_subscriber_status(db, person.id, Status.UNSUBSCRIBED, utc_now())
        return subscribers_db.get_subscriber(db, person.id), True


EXPORT_COLUMNS = (
    "email", "first_name", "last_name", "street", "city", "state", "zip", "phone",
    "status", "source", "tags", "consent_at", "created_at", "updated_at",
)  # fmt: skip


def write_subscribers(
    db: Database, out: TextIO, where: SubscriberFilter, limit: int | None = None
) -> int:
    """Write matching subscribers as spreadsheet-safe CSV, extra fields as more columns."""
    columns = EXPORT_COLUMNS
    extra = [k for k in subscribers_db.extra_keys(db, where) if k not in columns]
    write = safe_csv_writer(out)
    write([*columns, *extra])
    count = 0
    for person in subscribers_db.iter_subscribers(db, where, limit):
        cells = [_export_value(person, name) for name in columns]
        write([*cells, *(person.extra.get(k, "") for k in extra)])
        count += 1
    return count


def _export_value(person: Subscriber, name: str) -> Any:
    value = getattr(person, name)
    return ", ".join(value) if isinstance(value, list) else value


def export_subscribers(db: Database, path: Path, where: SubscriberFilter) -> int:
    """Write the CSV export to `path` (UTF-8 with BOM for Excel), all or nothing."""
    check_output_path(path)
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write ({exc.strerror})") from None
    temp = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as out:
            count = write_subscribers(db, out, where)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return count
