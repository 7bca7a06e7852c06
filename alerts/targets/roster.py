"""Loading the roster of Congress and the ZIP maps, and what is loaded now.

A load takes the roster (unitedstates/congress-legislators, YAML or CSV form,
plus the optional social-media file, read by legislators.py), a ZIP map (a
Census relationship file or zccd.csv, read by zip_maps.py), or both, and the
redrawn-states file (redrawn.py). Every file is parsed completely before
anything is written; then one transaction replaces the roster and the map of
each state the map file covers, records the load as a new roster version with
the Congress the roster describes and each state map's Congress, and
re-resolves every subscriber's district.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.config import data_file
from alerts.db import Database, write_transaction
from alerts.db import districts as districts_db
from alerts.db import roster as roster_db
from alerts.db.roster import RosterVersion
from alerts.errors import RosterError
from alerts.models import MapChange, Member, RosterDiff, SeatChange
from alerts.targets import freshness
from alerts.targets.legislators import parse_legislators, parse_social, roster_congress
from alerts.targets.redrawn import RedrawnStates, read_redrawn
from alerts.targets.sources import SourceFile, download, source
from alerts.targets.zip_maps import ZipMap, read_zip_map

DEFAULT_LEGISLATORS_URL = (
    "https://raw.githubusercontent.com/unitedstates/congress-legislators/main/"
    "legislators-current.yaml"
)
DEFAULT_SOCIAL_URL = (
    "https://raw.githubusercontent.com/unitedstates/congress-legislators/main/"
    "legislators-social-media.yaml"
)
# The Census Bureau's relationship file for the 119th Congress's districts. When the
# Bureau publishes the 120th's, it is tab20_cd12020_zcta520_natl.txt in the same folder.
DEFAULT_ZIP_DISTRICTS_URL = (
    "https://www2.census.gov/geo/docs/maps-data/data/rel2020/cd-sld/tab20_cd11920_zcta520_natl.txt"
)
SAMPLE_FILES = {
    "legislators": "sample-legislators.yaml",
    "social": "sample-legislators-social.yaml",
    "zip_districts": "sample-zccd.csv",
}
SAMPLE_ZIP_CONGRESS = 119  # sample-zccd.csv, like zccd.csv, holds 119th-Congress districts
# A fictional 120th-Congress roster and one state's (TX) new map, for the demo's dress rehearsal.
NEXT_CONGRESS_SAMPLE_FILES = {
    "legislators": "sample-legislators-120.yaml",
    "zip_districts": "sample-tab20_cd12020_zcta520_st48.txt",
}

Given = Path | str | SourceFile


def sample_files() -> dict[str, Path]:
    """The sample roster, social file and ZIP map shipped in alerts/data."""
    return {kind: data_file(name) for kind, name in SAMPLE_FILES.items()}


def next_congress_sample_files() -> dict[str, Path]:
    """The sample roster of the next Congress and one state's new map, in alerts/data."""
    return {kind: data_file(name) for kind, name in NEXT_CONGRESS_SAMPLE_FILES.items()}


@dataclass(frozen=True)
class _Roster:
    file: SourceFile
    social: SourceFile | None
    members: list[Member]


def load_roster(
    db: Database,
    legislators: Given | None = None,
    zip_districts: Given | None = None,
    social: Given | None = None,
    *,
    congress: int | None = None,
    states: Sequence[str] | None = None,
    redrawn: Given | None = None,
) -> RosterDiff:
    """Load the roster, a ZIP map or both; re-resolve every subscriber; return what changed.

    `congress` is the Congress of the map's districts (required when the file does
    not say), `states` limits the map to those states (all of the file's otherwise),
    `redrawn` replaces the shipped redrawn-states file. Every file is parsed and
    checked before the database is touched; any error leaves everything as it was.
    """
    if legislators is None and zip_districts is None:
        raise RosterError("nothing to load: give the roster (--legislators), a ZIP map, or both")
    if social is not None and legislators is None:
        raise RosterError("--social goes with --legislators: the roster it completes")
    roster = _read_roster(legislators, social) if legislators is not None else None
    zip_map = _read_map(zip_districts, congress, states) if zip_districts is not None else None
    redrawn_states = read_redrawn(source(redrawn) if redrawn is not None else None)
    with write_transaction(db):
        previous = roster_db.latest_files(db)
        if previous is None and (roster is None or zip_map is None):
            raise RosterError(
                "nothing is loaded yet: the first load needs the roster and a ZIP map together"
            )
        return _replace(db, roster, zip_map, redrawn_states, previous, explicit=bool(states))


def _read_roster(legislators: Given, social: Given | None) -> _Roster:
    leg_file = source(legislators)
    social_file = source(social) if social is not None else None
    twitter = parse_social(social_file) if social_file else {}
    return _Roster(leg_file, social_file, parse_legislators(leg_file, twitter))


def _read_map(given: Given, congress: int | None, states: Sequence[str] | None) -> ZipMap:
    zip_map = read_zip_map(source(given), congress)
    return zip_map.only(states) if states else zip_map


@dataclass(frozen=True)
class _StateMap:
    """One state's map as a load replaces it, before its subscribers are re-resolved."""

    previous_congress: int | None
    zips_changed: int


def _replace(
    db: Database,
    roster: _Roster | None,
    zip_map: ZipMap | None,
    redrawn: RedrawnStates,
    previous: RosterVersion | None,
    *,
    explicit: bool,
) -> RosterDiff:
    if roster is not None:
        diff = roster_diff(roster_db.roster_members(db), roster.members)
        roster_db.replace_members(db, roster.members)
    else:
        members = roster_db.member_count(db)
        diff = RosterDiff(0, first_load=False, members=members, zip_rows=0, roster_replaced=False)
    replaced = _replace_map(db, zip_map, diff, explicit=explicit) if zip_map else {}
    districts_db.replace_redrawn_states(db, redrawn.pairs())
    version = _version(db, roster, zip_map, redrawn, previous)
    diff.version = roster_db.record_roster_version(db, version)
    diff.congress = version.congress
    if zip_map is not None and replaced:
        districts_db.record_zip_maps(
            db,
            list(replaced),
            congress=zip_map.congress,
            source=(zip_map.name, zip_map.sha256),
            roster_version=diff.version,
        )
    diff.vacant_seats = [seat.name for seat in roster_db.vacant_house_seats(db)]
    moves = districts_db.resolve_districts_counting_moves(db)
    if zip_map is not None:
        diff.maps = _map_changes(zip_map.congress, replaced, moves)
    diff.confidence = districts_db.district_confidence_counts(db)
    roster_db.record_changes(db, diff.version, diff.as_dict())
    return diff


def _replace_map(
    db: Database, zip_map: ZipMap, diff: RosterDiff, *, explicit: bool
) -> dict[str, _StateMap]:
    """Replace the map of each state in `zip_map`, except those that have a newer one.

    A newer state map (loaded on its own, say) is kept unless `explicit` (--states
    named the state): a national file of the previous Congress never undoes it.
    """
    before = {record.state: record.congress for record in districts_db.zip_maps(db)}
    kept = {
        state: congress
        for state in zip_map.states
        if not explicit
        and (congress := before.get(state)) is not None
        and congress > zip_map.congress
    }
    states = [state for state in zip_map.states if state not in kept]
    rows = [row for row in zip_map.rows if row.state not in kept]
    diff.maps_kept = kept
    changed = districts_db.replace_zip_districts(db, rows, states)
    diff.zip_rows, diff.dropped = len(rows), dict(zip_map.dropped)
    return {state: _StateMap(before.get(state), changed[state]) for state in states}


def _map_changes(
    congress: int, replaced: dict[str, _StateMap], moves: dict[str, int]
) -> list[MapChange]:
    return [
        MapChange(state, congress, was.previous_congress, was.zips_changed, moves.get(state, 0))
        for state, was in replaced.items()
    ]


def _version(
    db: Database,
    roster: _Roster | None,
    zip_map: ZipMap | None,
    redrawn: RedrawnStates,
    previous: RosterVersion | None,
) -> RosterVersion:
    """The files in force after this load: those given, and the previous ones for the rest."""
    if roster is not None:
        legislators = (roster.file.name, roster.file.sha256)
        social = (roster.social.name, roster.social.sha256) if roster.social else None
        congress = roster_congress(roster.members)
    else:
        assert previous is not None  # load_roster refuses a first load without a roster
        legislators, social, congress = previous.legislators, previous.social, previous.congress
    if zip_map is not None:
        zip_file = (zip_map.name, zip_map.sha256)
    else:
        assert previous is not None  # nor one without a map
        zip_file = previous.zip_districts
    return RosterVersion(
        legislators=legislators,
        social=social,
        zip_districts=zip_file,
        redrawn=(redrawn.name, redrawn.sha256),
        congress=congress,
        members=roster_db.member_count(db),
        zip_rows=districts_db.zip_row_count(db),
    )


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


def update_roster(
    db: Database,
    legislators_url: str = DEFAULT_LEGISLATORS_URL,
    zip_districts_url: str = DEFAULT_ZIP_DISTRICTS_URL,
    social_url: str | None = DEFAULT_SOCIAL_URL,
    *,
    congress: int | None = None,
    redrawn: Given | None = None,
    redrawn_url: str | None = None,
    timeout: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> RosterDiff:
    """Download the files, check that they parse, then load them.

    The redrawn-states file is the one shipped with the package unless `redrawn`
    (a file) or `redrawn_url` is given. Any failed download or bad file raises
    before the database is touched.
    """
    if redrawn is not None and redrawn_url is not None:
        raise RosterError("give the redrawn-states file or its URL, not both")
    urls = {"legislators": legislators_url, "zip_districts": zip_districts_url}
    if social_url:
        urls["social"] = social_url
    if redrawn_url:
        urls["redrawn"] = redrawn_url
    with tempfile.TemporaryDirectory(prefix="alerts-roster-") as folder:
        files: dict[str, SourceFile] = {}
        for kind, url in urls.items():
            if progress:
                progress(url)
            files[kind] = download(url, Path(folder) / kind, timeout=timeout)
        return load_roster(
            db,
            files["legislators"],
            files["zip_districts"],
            files.get("social"),
            congress=congress,
            redrawn=files.get("redrawn", redrawn),
        )


def roster_status(db: Database) -> dict[str, Any]:
    """The loaded roster version, its counts, its Congress and maps, what is out of date."""
    staleness = freshness.roster_staleness(db)
    return {
        "version": roster_db.latest_roster_version(db),
        "members": roster_db.member_counts(db),
        "zip_codes": districts_db.zip_code_count(db),
        "vacant_seats": [seat.name for seat in roster_db.vacant_house_seats(db)],
        "subscribers": districts_db.district_confidence_counts(db),
        "flags": districts_db.district_flag_counts(db),
        "roster_congress": staleness.roster_congress,
        "maps": {record.state: record.congress for record in districts_db.zip_maps(db)},
        "stale": staleness.reasons(),
    }
