"""ZIP map files: the Census Bureau's ZCTA-to-district relationship files, and zccd.csv.

A Census relationship file (`tab20_cd11920_zcta520_natl.txt` for the 119th
Congress, in the Bureau's rel2020/cd-sld/ folder; `..._st48.txt` for one state;
later Congresses have their own number in the name) is pipe-delimited UTF-8
with a byte-order mark. Its columns are read by name: GEOID_CD<NNN>_20 (state
FIPS code and district code; NNN is the Congress), GEOID_ZCTA5_20,
AREALAND_ZCTA5_20, AREALAND_PART and AREAWATER_PART. Each row is the part of
one ZIP (ZCTA) inside one district, so rows are keyed by (ZIP, state, district)
and a ZIP that crosses a state line keeps both states.

Left out, and counted: parts in no ZIP (a district's remainder, with empty ZCTA
columns), parts in no district (code ZZ: water the state assigned to no
district) and parts with no land (water only). Every land part stays a
candidate, however small: no threshold.

zccd.csv (state_abbr, zcta, cd) says nothing of its Congress or of areas.
"""

from __future__ import annotations

import csv
import io
import operator
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from alerts.errors import RosterError
from alerts.models import ZipDistrict
from alerts.targets.congresses import ordinal
from alerts.targets.districts import STATE_CODE
from alerts.targets.sources import SourceFile

# ANSI/FIPS state codes of the states, DC and the territories.
FIPS_STATES = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT",
    "10": "DE", "11": "DC", "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL",
    "18": "IN", "19": "IA", "20": "KS", "21": "KY", "22": "LA", "23": "ME", "24": "MD",
    "25": "MA", "26": "MI", "27": "MN", "28": "MS", "29": "MO", "30": "MT", "31": "NE",
    "32": "NV", "33": "NH", "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND",
    "39": "OH", "40": "OK", "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD",
    "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA", "54": "WV",
    "55": "WI", "56": "WY", "60": "AS", "66": "GU", "69": "MP", "72": "PR", "78": "VI",
}  # fmt: skip

CENSUS_DISTRICT_COLUMN = re.compile(r"GEOID_CD(\d{3})_20")
CENSUS_ZIP, CENSUS_ZIP_LAND = "GEOID_ZCTA5_20", "AREALAND_ZCTA5_20"
CENSUS_PART_LAND, CENSUS_PART_WATER = "AREALAND_PART", "AREAWATER_PART"
AT_LARGE_CODE, DELEGATE_CODE = "00", "98"  # both are district 0 in the roster
HIGHEST_DISTRICT = 53  # California's count; other numeric codes are not districts
ZCCD_REQUIRED = ("state_abbr", "zcta", "cd")

NOT_A_DISTRICT, WATER_ONLY, OUTSIDE_ANY_ZIP = "not_a_district", "water_only", "outside_any_zip"


@dataclass(frozen=True)
class ZipMap:
    """A ZIP map file, read whole: its rows, the Congress of its districts, what was left out."""

    name: str
    sha256: str
    congress: int
    rows: tuple[ZipDistrict, ...]
    dropped: Mapping[str, int] = field(default_factory=dict)  # rows left out, by reason

    @cached_property
    def states(self) -> list[str]:
        return sorted({row.state for row in self.rows})

    def only(self, states: Sequence[str]) -> ZipMap:
        """The map of these states alone; each must have rows in the file."""
        known = set(self.states)
        missing = [state for state in states if state not in known]
        if missing:
            raise RosterError(f"{self.name}: no rows for {', '.join(missing)} (--states)")
        wanted = set(states)
        return replace(self, rows=tuple(row for row in self.rows if row.state in wanted))


@dataclass
class _ParsedRows:
    rows: list[ZipDistrict]
    congress: int | None  # what the file itself says
    dropped: Counter[str]


def read_zip_map(source: SourceFile, congress: int | None = None) -> ZipMap:
    """The map in a Census relationship file or zccd.csv, chosen by the header.

    `congress` (from --congress) must agree with a Census file's column names and is
    required for a file that does not name its Congress.
    """
    text = source.text()
    first_line = text.split("\n", 1)[0]
    if "|" in first_line and CENSUS_DISTRICT_COLUMN.search(first_line):
        parsed = _census_rows(source.name, text)
    else:
        parsed = _ParsedRows(_zccd_rows(source.name, text), None, Counter())
    if not parsed.rows:
        raise RosterError(f"{source.name}: no ZIP rows in the file")
    return ZipMap(
        name=source.name,
        sha256=source.sha256,
        congress=_congress(source.name, parsed.congress, congress),
        rows=tuple(parsed.rows),
        dropped=dict(sorted(parsed.dropped.items())),
    )


def _congress(name: str, found: int | None, given: int | None) -> int:
    if found is not None and given is not None and found != given:
        raise RosterError(
            f"{name}: its districts are the {ordinal(found)} Congress's (GEOID_CD{found}_20),"
            f" not the {ordinal(given)}'s as --congress says"
        )
    chosen = found if found is not None else given
    if chosen is None:
        raise RosterError(
            f"{name}: the file does not say which Congress its districts are for:"
            " give --congress N (119 for the districts of 2025-2027)"
        )
    return chosen


# --------------------------------------------------------------------------
# The Census Bureau's relationship files


def _census_rows(name: str, text: str) -> _ParsedRows:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="|")
    header = [column.strip() for column in next(reader)]
    named = [match for match in map(CENSUS_DISTRICT_COLUMN.fullmatch, header) if match]
    district_column = named[0].group(0) if named else "GEOID_CD<NNN>_20"
    wanted = (district_column, CENSUS_ZIP, CENSUS_ZIP_LAND, CENSUS_PART_LAND, CENSUS_PART_WATER)
    missing = [column for column in wanted if column not in header]
    if missing:
        raise RosterError(f"{name}: missing column(s) {', '.join(missing)} (line 1)")
    pick = operator.itemgetter(*(header.index(column) for column in wanted))
    land: dict[tuple[str, str, int], int] = {}
    zip_land: dict[str, int] = {}
    dropped: Counter[str] = Counter()
    try:
        for values in reader:
            if len(values) != len(header):
                if not values:
                    continue
                raise _BadRow(f"{len(values)} fields, the header has {len(header)}")
            part = _census_part(*pick(values))
            if isinstance(part, str):
                dropped[part] += 1
                continue
            key, part_land, whole_land = part
            land[key] = land.get(key, 0) + part_land
            zip_land[key[0]] = whole_land
    except _BadRow as exc:
        raise RosterError(f"{name}: line {reader.line_num}: {exc}") from None
    except csv.Error as exc:
        raise RosterError(f"{name}: line {reader.line_num}: malformed file ({exc})") from None
    congress = int(named[0].group(1))
    rows = [
        ZipDistrict(zcta, state, district, _share(area, zip_land[zcta]))
        for (zcta, state, district), area in land.items()
    ]
    return _ParsedRows(rows, congress, dropped)


class _BadRow(Exception):
    """One row of a Census file is malformed; the reader adds the file and the line."""


_CensusPart = tuple[tuple[str, str, int], int, int]  # (ZIP, state, district), land, ZIP's land

# The roster's district number for each two-character district code; None: no district.
DISTRICT_NUMBERS: dict[str, int | None] = {
    **{f"{n:02d}": n if n <= HIGHEST_DISTRICT else None for n in range(100)},
    AT_LARGE_CODE: 0,
    DELEGATE_CODE: 0,
    "ZZ": None,
}


def _census_part(
    geoid: str, zcta: str, zip_land: str, part_land: str, part_water: str
) -> _CensusPart | str:
    """One row's (key, land area, the ZIP's land area), or why the row is left out."""
    zcta, geoid = zcta.strip(), geoid.strip()
    if not zcta:
        return OUTSIDE_ANY_ZIP
    if len(zcta) != 5 or not (zcta.isascii() and zcta.isdigit()):
        raise _BadRow(f"{CENSUS_ZIP} {zcta!r} is not a 5-digit ZIP")
    state = FIPS_STATES.get(geoid[:2]) if len(geoid) == 4 else None
    if state is None:
        raise _BadRow(_bad_district(geoid))
    code = geoid[2:]
    if code not in DISTRICT_NUMBERS:
        raise _BadRow(f"district {geoid!r}: {code!r} is not a district code")
    district = DISTRICT_NUMBERS[code]
    if district is None:
        return NOT_A_DISTRICT
    _area(CENSUS_PART_WATER, part_water)
    land = _area(CENSUS_PART_LAND, part_land)
    if land == 0:
        return WATER_ONLY
    return (zcta, state, district), land, _area(CENSUS_ZIP_LAND, zip_land)


def _bad_district(geoid: str) -> str:
    if len(geoid) != 4:
        return f"district {geoid!r} is not a state and district code"
    return f"district {geoid!r}: {geoid[:2]!r} is not a state FIPS code"


def _area(column: str, value: str) -> int:
    value = value.strip()
    if not value.isdecimal():
        raise _BadRow(f"{column} {value!r} is not an area in square metres")
    return int(value)


def _share(land: int, zip_land: int) -> float | None:
    """The part's share of the ZIP's land, to six places; None for a ZIP with no land."""
    if not zip_land:
        return None
    share = land / zip_land
    return round(share, 6) if share < 1 else 1.0


# --------------------------------------------------------------------------
# zccd.csv


def _zccd_rows(name: str, text: str) -> list[ZipDistrict]:
    """The rows of zccd.csv in file order, without duplicates."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ZCCD_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise RosterError(f"{name}: missing column(s) {', '.join(missing)} (line 1)")
    rows: dict[ZipDistrict, None] = {}
    try:
        for row in reader:
            rows[_zccd_row(f"{name}: line {reader.line_num}", row)] = None
    except csv.Error as exc:
        raise RosterError(f"{name}: line {reader.line_num}: malformed CSV ({exc})") from None
    return list(rows)


def _zccd_row(where: str, row: dict[str | None, Any]) -> ZipDistrict:
    if None in row:
        raise RosterError(f"{where}: more fields than the header has")
    zcta, state, cd = (
        str(row.get(column) or "").strip() for column in ("zcta", "state_abbr", "cd")
    )
    if not re.fullmatch(r"\d{5}", zcta):
        raise RosterError(f"{where}: zcta {zcta!r} is not a 5-digit ZIP")
    if not STATE_CODE.fullmatch(state):
        raise RosterError(f"{where}: state_abbr {state!r} is not a two-letter USPS code")
    if not cd.isdigit():
        raise RosterError(f"{where}: cd {cd!r} is not a district number")
    return ZipDistrict(zcta, state, int(cd))
