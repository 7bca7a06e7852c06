"""The roster's files: legislators-current.yaml (or its CSV form) and the social-media file.

Each member's current term is the last of their `terms`; its first and last days
are kept (the CSV form has none), and the House terms' first days tell which
Congress the roster describes.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import suppress
from datetime import date
from typing import Any

import yaml

from alerts.errors import RosterError
from alerts.models import Chamber, Member
from alerts.targets.congresses import congress_on
from alerts.targets.districts import STATE_CODE
from alerts.targets.sources import SourceFile

# District 0 of these is held by a non-voting member with another salutation title.
HOUSE_TITLES = {
    "PR": "Resident Commissioner",
    "DC": "Delegate",
    "GU": "Delegate",
    "VI": "Delegate",
    "AS": "Delegate",
    "MP": "Delegate",
}
_SUFFIX_AFTER_COMMA = ("Jr.", "Sr.", "Jr", "Sr")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def house_title(state: str, district: int) -> str:
    if district == 0 and state in HOUSE_TITLES:
        return HOUSE_TITLES[state]
    return "Representative"


def roster_congress(members: Iterable[Member]) -> int | None:
    """The Congress a roster describes: that of its latest current-term start.

    House terms decide, since a senator's term spans three Congresses; a roster
    without House members falls back on the senators'. None when no term has a date.
    """
    members = list(members)
    house = [m.term_start for m in members if m.chamber == Chamber.HOUSE and m.term_start]
    starts = house or [m.term_start for m in members if m.term_start]
    return congress_on(date.fromisoformat(max(starts))) if starts else None


def _is_yaml(source: SourceFile, text: str) -> bool:
    suffix = source.suffix
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
    for number, record in enumerate(_load_yaml(source, source.text(), "accounts"), 1):
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
    text = source.text()
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
            term_start=_term_date(where, "start", term.get("start")),
            term_end=_term_date(where, "end", term.get("end")),
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
                term_start=None,  # the CSV form has no term dates
                term_end=None,
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
    term_start: str | None,
    term_end: str | None,
) -> Member:
    if kind not in ("sen", "rep"):
        raise RosterError(f"{where}: type must be sen or rep, not {kind!r}")
    if not state or not STATE_CODE.fullmatch(state):
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
        term_start=term_start,
        term_end=term_end,
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


def _term_date(where: str, name: str, value: Any) -> str | None:
    """A term's start or end as YYYY-MM-DD; YAML may hand it over as a date already."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if _ISO_DATE.fullmatch(text):
        with suppress(ValueError):
            return date.fromisoformat(text).isoformat()
    raise RosterError(f"{where}: term {name} {value!r} is not a date (YYYY-MM-DD)")


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
