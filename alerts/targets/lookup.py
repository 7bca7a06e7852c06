"""Each subscriber's own members of Congress.

The roster (unitedstates/congress-legislators, YAML or CSV form, plus the optional
social-media file) and the ZIP -> district map (zccd.csv) are parsed completely
before anything is written, then replace the previous ones in one transaction that
also re-resolves every subscriber's district (`db.resolve_districts`).

`targets_for` (and `targets_for_many`, for a send's batch) reads the district
stored on a subscriber and returns their House member(s) and senators; `lookup`
answers for a ZIP and an optional state by the same rules, for
`alerts targets lookup`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts import __version__
from alerts.config import data_file
from alerts.db import Database, write_transaction
from alerts.db import districts as districts_db
from alerts.db import roster as roster_db
from alerts.errors import LookupFailed, RosterError
from alerts.models import (
    Chamber,
    Confidence,
    DistrictFlag,
    Member,
    RosterDiff,
    SeatChange,
    Targets,
    seat_name,
)

DEFAULT_LEGISLATORS_URL = (
    "https://raw.githubusercontent.com/unitedstates/congress-legislators/main/"
    "legislators-current.yaml"
)
DEFAULT_SOCIAL_URL = (
    "https://raw.githubusercontent.com/unitedstates/congress-legislators/main/"
    "legislators-social-media.yaml"
)
DEFAULT_ZIP_DISTRICTS_URL = (
    "https://raw.githubusercontent.com/OpenSourceActivismTech/us-zipcodes-congress/master/zccd.csv"
)
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024

# District 0 of these is held by a non-voting member with another salutation title.
HOUSE_TITLES = {
    "PR": "Resident Commissioner",
    "DC": "Delegate",
    "GU": "Delegate",
    "VI": "Delegate",
    "AS": "Delegate",
    "MP": "Delegate",
}
SAMPLE_FILES = {
    "legislators": "sample-legislators.yaml",
    "social": "sample-legislators-social.yaml",
    "zip_districts": "sample-zccd.csv",
}
JSON_KEYS = (
    "chamber",
    "full_name",
    "last_name",
    "title",
    "party",
    "state",
    "district",
    "phone",
    "contact_url",
    "twitter",
)

_STATE = re.compile(r"[A-Z]{2}")
_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")
_SUFFIX_AFTER_COMMA = ("Jr.", "Sr.", "Jr", "Sr")


def sample_files() -> dict[str, Path]:
    """The sample roster, social file and ZIP map shipped in alerts/data."""
    return {kind: data_file(name) for kind, name in SAMPLE_FILES.items()}


# --------------------------------------------------------------------------
# A subscriber's targets


def targets_for(db: Database, subscriber_id: int) -> Targets:
    row = districts_db.subscriber_district(db, subscriber_id)
    return _targets_from(_RosterReader(db), *row)


def targets_for_many(db: Database, subscriber_ids: Sequence[int]) -> dict[int, Targets]:
    """targets_for of many subscribers at once (a send's batch): {id: Targets}.

    One query for their districts; each seat's and state's members are read once.
    """
    roster = _RosterReader(db)
    rows = districts_db.subscriber_districts(db, subscriber_ids)
    return {row[0]: _targets_from(roster, *row[1:]) for row in rows}


class _RosterReader:
    """Members by seat and senators by state, each read from the database once."""

    def __init__(self, db: Database):
        self.db = db
        self._seats: dict[tuple[str, int], list[Member]] = {}
        self._senators: dict[str, list[Member]] = {}
        self._candidates: dict[tuple[str, str], list[int]] = {}

    def house(self, state: str, district: int) -> list[Member]:
        key = (state, district)
        if key not in self._seats:
            self._seats[key] = roster_db.members_for_seat(self.db, state, district)
        return list(self._seats[key])

    def senate(self, state: str) -> list[Member]:
        if state not in self._senators:
            self._senators[state] = roster_db.senators_for_state(self.db, state)
        return list(self._senators[state])

    def candidates(self, zip_code: str, state: str) -> list[int]:
        key = (zip_code, state)
        if key not in self._candidates:
            self._candidates[key] = districts_db.district_candidates(self.db, zip_code, state)
        return list(self._candidates[key])


def _targets_from(
    roster: _RosterReader,
    zip_code: str | None,
    state: str | None,
    cd_state: str | None,
    cd_district: int | None,
    confidence: str | None,
    flags: str | None,
    choice: int | None,
) -> Targets:
    home = cd_state or state
    result = Targets(
        state=home,
        confidence=Confidence(confidence or Confidence.UNKNOWN),
        flags=tuple(f for f in (flags or "").split(",") if f),
    )
    if not home:
        return result
    result.senate = roster.senate(home)
    district = cd_district
    if result.confidence is Confidence.AMBIGUOUS:
        result.candidates = roster.candidates(zip_code or "", home)
        if choice is not None and choice in result.candidates:
            district = choice
    if district is not None:
        result.district = district
        result.house = roster.house(home, district)
        result.vacant_house = not result.house
    elif result.candidates:
        for candidate in result.candidates:
            result.house.extend(roster.house(home, candidate))
    return result


# --------------------------------------------------------------------------
# Lookup by ZIP


@dataclass
class Lookup:
    """The answer for one ZIP (and state): targets in the JSON shape, and notes for people."""

    zip: str
    state: str | None
    confidence: Confidence
    district: int | None
    flags: tuple[str, ...]
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def lookup(db: Database, zip_code: str, state: str | None = None) -> list[dict[str, Any]]:
    """The House member(s) for a ZIP and the senators of its state, as JSON-ready dicts."""
    return lookup_answer(db, zip_code, state).targets


def lookup_answer(db: Database, zip_code: str, state: str | None = None) -> Lookup:
    zip5 = _valid_zip(zip_code)
    given = _valid_state(state)
    if not roster_db.roster_loaded(db):
        raise LookupFailed("no roster loaded: run `alerts targets load` or `alerts targets update`")
    home, district, confidence, flag_text = districts_db.resolve_zip(db, zip5, given)
    flags = tuple(f for f in (flag_text or "").split(",") if f)
    if DistrictFlag.STATE_INVALID in flags:
        raise LookupFailed(f"unknown state {given!r}: the loaded roster has no member or ZIP in it")
    if DistrictFlag.ZIP_UNKNOWN in flags and home is None:
        raise LookupFailed(
            f"unknown ZIP {zip5}: not in the ZIP map, which has no PO-box-only or unique ZIPs;"
            " give --state to get the senators"
        )
    answer = Lookup(zip5, home, Confidence(confidence), district, flags)
    if home is None:  # the ZIP spans several states and none was given
        _add_multi_state(db, answer)
        return answer
    _add_house(db, answer, home)
    answer.targets.extend(_target(m) for m in roster_db.senators_for_state(db, home))
    if not any(t["chamber"] == Chamber.SENATE for t in answer.targets):
        answer.notes.append(f"{home} has no senators.")
    return answer


def _valid_zip(zip_code: str) -> str:
    match = _ZIP.fullmatch(zip_code.strip())
    if match is None:
        raise LookupFailed(f"invalid ZIP {zip_code!r}: expected 5 digits, like 20001")
    return match.group(1)


def _valid_state(state: str | None) -> str | None:
    if state is None or not state.strip():
        return None
    code = state.strip().upper()
    if not _STATE.fullmatch(code):
        raise LookupFailed(f"invalid state {state!r}: expected a two-letter USPS code, like NY")
    return code


def _add_house(db: Database, answer: Lookup, home: str) -> None:
    if answer.confidence is Confidence.AMBIGUOUS:
        candidates = districts_db.district_candidates(db, answer.zip, home)
        seats = ", ".join(seat_name(home, d) for d in candidates)
        answer.notes.append(f"ZIP {answer.zip} spans {len(candidates)} districts: {seats}.")
        for district in candidates:
            answer.targets.extend(_house_targets(db, home, district, ambiguous=True))
    elif answer.district is not None:
        answer.targets.extend(_house_targets(db, home, answer.district, ambiguous=False))
    answer.notes.extend(_house_notes(db, answer, home))


def _house_notes(db: Database, answer: Lookup, home: str) -> Iterator[str]:
    zip5, flags, district = answer.zip, answer.flags, answer.district
    known = "" if district is None else f"; {home} has a single seat, {seat_name(home, 0)}"
    unknown = f": the House member for {home} is unknown" if district is None else known
    if DistrictFlag.STATE_MISMATCH in flags:
        listed = ", ".join(sorted({s for s, _ in districts_db.zip_districts_for(db, zip5)}))
        yield f"ZIP {zip5} is listed under {listed}, not {home}, in the ZIP map{unknown}."
    if DistrictFlag.ZIP_UNKNOWN in flags:
        yield f"ZIP {zip5} is not in the ZIP map{unknown}."
    if DistrictFlag.VACANT in flags and district is not None:
        yield f"{seat_name(home, district)} is vacant: there is no House member to write to."


def _add_multi_state(db: Database, answer: Lookup) -> None:
    pairs = districts_db.zip_districts_for(db, answer.zip)
    states = sorted({s for s, _ in pairs})
    answer.notes.append(
        f"ZIP {answer.zip} spans several states ({', '.join(states)}): give --state for"
        " the senators and a surer House answer."
    )
    for state, district in pairs:
        answer.targets.extend(_house_targets(db, state, district, ambiguous=True))


def _house_targets(
    db: Database, state: str, district: int, *, ambiguous: bool
) -> list[dict[str, Any]]:
    members = roster_db.members_for_seat(db, state, district)
    found = [_target(m) for m in members] or [_vacant_target(state, district)]
    if ambiguous:
        for target in found:
            target["ambiguous"] = True
    return found


def _target(member: Member) -> dict[str, Any]:
    return {
        "chamber": member.chamber,
        "full_name": member.full_name,
        "last_name": member.last_name,
        "title": member.title,
        "party": member.party,
        "state": member.state,
        "district": member.district,
        "phone": member.phone,
        "contact_url": member.contact_url,
        "twitter": member.twitter,
    }


def _vacant_target(state: str, district: int) -> dict[str, Any]:
    """A House seat with nobody in it: no letter can go there, and the answer says so."""
    target: dict[str, Any] = dict.fromkeys(JSON_KEYS)
    target.update(
        chamber=Chamber.HOUSE.value,
        title=house_title(state, district),
        state=state,
        district=district,
        vacant=True,
    )
    return target


def house_title(state: str, district: int) -> str:
    if district == 0 and state in HOUSE_TITLES:
        return HOUSE_TITLES[state]
    return "Representative"


# --------------------------------------------------------------------------
# Loading the roster


@dataclass(frozen=True)
class SourceFile:
    """A file read for a roster load: its name as recorded, bytes and hash."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def read_source(path: Path | str, name: str | None = None) -> SourceFile:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RosterError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise RosterError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise RosterError(f"{path}: cannot be read ({exc.strerror})") from None
    return SourceFile(name or str(path), data)


def load_roster(
    db: Database,
    legislators: Path | str | SourceFile,
    zip_districts: Path | str | SourceFile,
    social: Path | str | SourceFile | None = None,
) -> RosterDiff:
    """Replace the roster and ZIP map, re-resolve every subscriber, return what changed.

    Every file is parsed and checked before the database is touched; any error
    leaves the previous roster in place.
    """
    leg_file, zip_file = _source(legislators), _source(zip_districts)
    social_file = _source(social) if social is not None else None
    twitter = parse_social(social_file) if social_file else {}
    members = parse_legislators(leg_file, twitter)
    zip_rows = parse_zip_districts(zip_file)
    with write_transaction(db):
        previous = roster_db.roster_members(db)
        diff = roster_diff(previous, members)
        roster_db.replace_roster(db, members, zip_rows)
        diff.vacant_seats = [seat_name(s, d) for s, d in roster_db.vacant_house_seats(db)]
        diff.members, diff.zip_rows = len(members), len(zip_rows)
        diff.version = roster_db.record_roster_version(
            db,
            legislators=(leg_file.name, leg_file.sha256),
            social=(social_file.name, social_file.sha256) if social_file else None,
            zip_districts=(zip_file.name, zip_file.sha256),
            members=len(members),
            zip_rows=len(zip_rows),
            changes=diff.as_dict(),
        )
        districts_db.resolve_districts(db)
        diff.confidence = districts_db.district_confidence_counts(db)
    return diff


def _source(given: Path | str | SourceFile) -> SourceFile:
    return given if isinstance(given, SourceFile) else read_source(given)


def roster_diff(previous: list[Member], current: list[Member]) -> RosterDiff:
    before = {m.bioguide: m for m in previous}
    after = {m.bioguide: m for m in current}
    diff = RosterDiff(version=0, first_load=not previous, members=len(current), zip_rows=0)
    if diff.first_load:
        return diff
    diff.left = sorted((m for b, m in before.items() if b not in after), key=_seat_order)
    diff.arrived = sorted((m for b, m in after.items() if b not in before), key=_seat_order)
    diff.changed_seat = [
        SeatChange(member, before[bioguide].seat, member.seat)
        for bioguide, member in sorted(after.items(), key=lambda item: _seat_order(item[1]))
        if bioguide in before and before[bioguide].seat != member.seat
    ]
    return diff


def _seat_order(member: Member) -> tuple[str, str, int, str]:
    return (member.state, member.chamber, member.district or 0, member.last_name)


# --------------------------------------------------------------------------
# Parsing: legislators (YAML or CSV form), social media, ZIP map


def _text_of(source: SourceFile) -> str:
    try:
        return source.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError(f"{source.name}: not UTF-8 text (byte {exc.start})") from None


def _is_yaml(source: SourceFile, text: str) -> bool:
    suffix = Path(urllib.parse.urlparse(source.name).path).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return True
    if suffix == ".csv":
        return False
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.lstrip().startswith(("-", "#", "---"))


def _load_yaml(source: SourceFile, text: str, what: str) -> list[Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise RosterError(f"{source.name}: {where}malformed YAML ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise RosterError(f"{source.name}: malformed YAML ({exc})") from None
    if not isinstance(data, list) or not data:
        raise RosterError(f"{source.name}: expected a YAML list of {what}")
    return data


def parse_social(source: SourceFile) -> dict[str, str]:
    """bioguide -> Twitter handle, from legislators-social-media.yaml."""
    handles: dict[str, str] = {}
    for number, record in enumerate(_load_yaml(source, _text_of(source), "accounts"), 1):
        ids = record.get("id") if isinstance(record, dict) else None
        bioguide = _clean(ids.get("bioguide")) if isinstance(ids, dict) else None
        if not bioguide:
            raise RosterError(f"{source.name}: record {number}: id.bioguide is missing")
        social = record.get("social") or {}
        if not isinstance(social, dict):
            raise RosterError(f"{source.name}: record {number} ({bioguide}): social is not a map")
        handle = _twitter(social.get("twitter"))
        if handle:
            handles[bioguide] = handle
    return handles


def parse_legislators(source: SourceFile, twitter: dict[str, str] | None = None) -> list[Member]:
    """Members from legislators-current.yaml, or its CSV form (chosen by suffix or content)."""
    text = _text_of(source)
    if _is_yaml(source, text):
        members = list(_members_from_yaml(source, text))
    else:
        members = list(_members_from_csv(source, text))
    seen: set[str] = set()
    for member in members:
        if member.bioguide in seen:
            raise RosterError(f"{source.name}: bioguide {member.bioguide} appears twice")
        seen.add(member.bioguide)
    if twitter:
        members = [_with_twitter(m, twitter.get(m.bioguide)) for m in members]
    return members


def _with_twitter(member: Member, handle: str | None) -> Member:
    if not handle or handle == member.twitter:
        return member
    fields = {**member.__dict__, "twitter": handle}
    return Member(**fields)


def _members_from_yaml(source: SourceFile, text: str) -> Iterator[Member]:
    for number, record in enumerate(_load_yaml(source, text, "legislators"), 1):
        where = f"{source.name}: legislator {number}"
        if not isinstance(record, dict):
            raise RosterError(f"{where}: expected a map with id, name and terms")
        ids, name, terms = record.get("id"), record.get("name"), record.get("terms")
        bioguide = _clean(ids.get("bioguide")) if isinstance(ids, dict) else None
        if not bioguide:
            raise RosterError(f"{where}: id.bioguide is missing")
        where += f" ({bioguide})"
        if not isinstance(name, dict):
            raise RosterError(f"{where}: name is missing")
        if not isinstance(terms, list) or not terms or not isinstance(terms[-1], dict):
            raise RosterError(f"{where}: terms is missing or empty")
        term = terms[-1]  # the current one
        yield _member(
            where,
            bioguide=bioguide,
            kind=_clean(term.get("type")),
            state=_clean(term.get("state")),
            district=term.get("district"),
            first=_clean(name.get("first")),
            nickname=_clean(name.get("nickname")),
            last=_clean(name.get("last")),
            suffix=_clean(name.get("suffix")),
            official_full=_clean(name.get("official_full")),
            party=_clean(term.get("party")),
            phone=_clean(term.get("phone")),
            website=_clean(term.get("url")),
            contact_form=_clean(term.get("contact_form")),
            twitter=None,
            state_rank=_clean(term.get("state_rank")),
            senate_class=term.get("class"),
        )


CSV_REQUIRED = ("bioguide_id", "last_name", "first_name", "type", "state", "district")


def _members_from_csv(source: SourceFile, text: str) -> Iterator[Member]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    missing = [c for c in CSV_REQUIRED if c not in columns]
    if missing:
        raise RosterError(f"{source.name}: missing column(s) {', '.join(missing)} (line 1)")
    count = 0
    try:
        for row in reader:
            count += 1
            where = f"{source.name}: line {reader.line_num}"
            if None in row:
                raise RosterError(f"{where}: more fields than the header has")
            bioguide = _clean(row.get("bioguide_id"))
            if not bioguide:
                raise RosterError(f"{where}: bioguide_id is empty")
            yield _member(
                f"{where} ({bioguide})",
                bioguide=bioguide,
                kind=_clean(row.get("type")),
                state=_clean(row.get("state")),
                district=_clean(row.get("district")),
                first=_clean(row.get("first_name")),
                nickname=_clean(row.get("nickname")),
                last=_clean(row.get("last_name")),
                suffix=_clean(row.get("suffix")),
                official_full=_clean(row.get("full_name")),
                party=_clean(row.get("party")),
                phone=_clean(row.get("phone")),
                website=_clean(row.get("url")),
                contact_form=_clean(row.get("contact_form")),
                twitter=_twitter(row.get("twitter")),
                state_rank=_clean(row.get("state_rank")),
                senate_class=_clean(row.get("senate_class")),
            )
    except csv.Error as exc:
        raise RosterError(f"{source.name}: line {reader.line_num}: malformed CSV ({exc})") from None
    if not count:
        raise RosterError(f"{source.name}: no legislators in the file")


def _member(
    where: str,
    *,
    bioguide: str,
    kind: str | None,
    state: str | None,
    district: Any,
    first: str | None,
    nickname: str | None,
    last: str | None,
    suffix: str | None,
    official_full: str | None,
    party: str | None,
    phone: str | None,
    website: str | None,
    contact_form: str | None,
    twitter: str | None,
    state_rank: str | None,
    senate_class: Any,
) -> Member:
    if kind not in ("sen", "rep"):
        raise RosterError(f"{where}: type must be sen or rep, not {kind!r}")
    if not state or not _STATE.fullmatch(state):
        raise RosterError(f"{where}: state {state!r} is not a two-letter USPS code")
    if not last:
        raise RosterError(f"{where}: the last name is missing")
    seat = _district(where, district) if kind == "rep" else None
    last_name = _without_suffix(last, suffix)
    return Member(
        bioguide=bioguide,
        chamber=Chamber.SENATE.value if kind == "sen" else Chamber.HOUSE.value,
        state=state,
        district=seat,
        title="Senator" if seat is None else house_title(state, seat),
        full_name=official_full or _built_name(nickname or first, last_name, suffix),
        last_name=last_name,
        party=party,
        phone=phone,
        contact_url=_web_address(contact_form) or _web_address(website),
        twitter=twitter,
        first_name=nickname or first,
        website=website,
        state_rank=state_rank,
        senate_class=_optional_int(where, "class", senate_class),
    )


def _district(where: str, value: Any) -> int:
    if value is None or value == "":
        raise RosterError(f"{where}: district is missing for a House member")
    number = _optional_int(where, "district", value)
    if number is None or number < 0:
        raise RosterError(f"{where}: district {value!r} is not a district number")
    return number


def _optional_int(where: str, name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RosterError(f"{where}: {name} {value!r} is not a number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RosterError(f"{where}: {name} {value!r} is not a number") from None


def _built_name(given: str | None, last: str, suffix: str | None) -> str:
    """Name for a member without official_full: "Pat Doe", "Pat Doe, Jr.", "Pat Doe III"."""
    name = f"{given} {last}" if given else last
    if not suffix:
        return name
    return f"{name}, {suffix}" if suffix in _SUFFIX_AFTER_COMMA else f"{name} {suffix}"


def _without_suffix(last: str, suffix: str | None) -> str:
    if suffix and last.endswith(suffix) and last != suffix:
        return last[: -len(suffix)].rstrip(" ,")
    return last


def _web_address(value: str | None) -> str | None:
    """An http(s) URL, or None: the roster has typos such as "hhttps://" in contact forms."""
    if not value:
        return None
    parts = urllib.parse.urlparse(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _twitter(value: Any) -> str | None:
    handle = _clean(value)
    return handle.lstrip("@") or None if handle else None


ZIP_REQUIRED = ("state_abbr", "zcta", "cd")


def parse_zip_districts(source: SourceFile) -> list[tuple[str, str, int]]:
    """(zip, state, district) rows of zccd.csv, without duplicates."""
    reader = csv.DictReader(io.StringIO(_text_of(source), newline=""))
    missing = [c for c in ZIP_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise RosterError(f"{source.name}: missing column(s) {', '.join(missing)} (line 1)")
    rows: dict[tuple[str, str, int], None] = {}
    try:
        for row in reader:
            rows[_zip_row(source.name, reader.line_num, row)] = None
    except csv.Error as exc:
        raise RosterError(f"{source.name}: line {reader.line_num}: malformed CSV ({exc})") from None
    if not rows:
        raise RosterError(f"{source.name}: no ZIP rows in the file")
    return list(rows)


def _zip_row(name: str, line: int, row: dict[str | None, Any]) -> tuple[str, str, int]:
    where = f"{name}: line {line}"
    if None in row:
        raise RosterError(f"{where}: more fields than the header has")
    zcta = _clean(row.get("zcta")) or ""
    state = _clean(row.get("state_abbr")) or ""
    cd = _clean(row.get("cd")) or ""
    if not re.fullmatch(r"\d{5}", zcta):
        raise RosterError(f"{where}: zcta {zcta!r} is not a 5-digit ZIP")
    if not _STATE.fullmatch(state):
        raise RosterError(f"{where}: state_abbr {state!r} is not a two-letter USPS code")
    if not cd.isdigit():
        raise RosterError(f"{where}: cd {cd!r} is not a district number")
    return zcta, state, int(cd)


# --------------------------------------------------------------------------
# Downloading the newest files (`alerts targets update`)


def update_roster(
    db: Database,
    legislators_url: str = DEFAULT_LEGISLATORS_URL,
    zip_districts_url: str = DEFAULT_ZIP_DISTRICTS_URL,
    social_url: str | None = DEFAULT_SOCIAL_URL,
    *,
    timeout: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> RosterDiff:
    """Download the files, check that they parse, then load them.

    Any failed download or bad file raises before the database is touched.
    """
    urls = {"legislators": legislators_url, "zip_districts": zip_districts_url}
    if social_url:
        urls["social"] = social_url
    with tempfile.TemporaryDirectory(prefix="alerts-roster-") as folder:
        files = {}
        for kind, url in urls.items():
            if progress:
                progress(url)
            files[kind] = download(url, Path(folder) / kind, timeout=timeout)
        return load_roster(db, files["legislators"], files["zip_districts"], files.get("social"))


def download(url: str, target: Path, *, timeout: float = 60.0) -> SourceFile:
    """Fetch `url` into the file `target`; the SourceFile is named after the URL."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise RosterError(f"{url}: not an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": f"alerts/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, target.open("wb") as out:
            _copy_limited(url, response, out)
    except urllib.error.HTTPError as exc:
        raise RosterError(f"{url}: download failed (HTTP {exc.code} {exc.reason})") from None
    except urllib.error.URLError as exc:
        raise RosterError(f"{url}: download failed ({exc.reason})") from None
    except TimeoutError:
        raise RosterError(f"{url}: download failed (no answer within {timeout:g} s)") from None
    except OSError as exc:
        raise RosterError(f"{url}: download failed ({exc})") from None
    return SourceFile(url, target.read_bytes())


def _copy_limited(url: str, response: Any, out: Any) -> None:
    copied = 0
    for chunk in iter(lambda: response.read(1 << 16), b""):
        copied += len(chunk)
        if copied > MAX_DOWNLOAD_BYTES:
            raise RosterError(f"{url}: download failed (larger than {MAX_DOWNLOAD_BYTES} bytes)")
        out.write(chunk)
    if not copied:
        raise RosterError(f"{url}: download failed (empty answer)")


# --------------------------------------------------------------------------
# Status


def roster_status(db: Database) -> dict[str, Any]:
    """The loaded roster version, its counts and subscribers by confidence and flag."""
    return {
        "version": roster_db.latest_roster_version(db),
        "members": roster_db.member_counts(db),
        "zip_codes": districts_db.zip_code_count(db),
        "vacant_seats": [seat_name(s, d) for s, d in roster_db.vacant_house_seats(db)],
        "subscribers": districts_db.district_confidence_counts(db),
        "flags": districts_db.district_flag_counts(db),
    }
