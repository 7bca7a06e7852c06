"""Census block files: which House district each 2020 census block is in, per Congress.

Two layouts from the Census Bureau, and plain files in either:
- the Block Assignment Files (BAFs), one per state, `BlockAssign_ST06_CA_CD.txt`:
  pipe-delimited with the header `BLOCKID|DISTRICT`; a block in no district has an
  empty DISTRICT. The 2020 BAFs carry the plans in force when they were published;
- the Block Equivalency Files (BEFs) of each Congress, `cd119.zip` holding
  `NationalCD119.txt` and a file per state that redrew (`01_AL_CD119.txt`):
  comma-delimited with the header `GEOID,CDFP` (older ones: `BLOCKID,CD113`).
The block column is BLOCKID, GEOID or GEOID20 (15 digits: state FIPS 2, county 3,
tract 6, block 4); the district column is DISTRICT, CDFP, CD<NNN> or CD<NNN>FP, where
NNN names the Congress. District codes are two characters: 01-53, 00 at-large and
98 for DC's and Puerto Rico's delegates (both district 0, as in the ZIP maps) and ZZ
for water in no district (left out and counted, like an empty code).

A load reads every file (text, or a zip of them) in one transaction: a bad file
changes nothing. Loading a state replaces that state's blocks of that Congress; a
later file given for the same state (a BEF's state file after its national file)
replaces the earlier one's. Geocoded subscribers of the loaded states are resolved
again, with no new geocoding.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from alerts.db import Database, utc_now, write_transaction
from alerts.db import blocks as blocks_db
from alerts.db import districts as districts_db
from alerts.db import roster as roster_db
from alerts.db.blocks import BlockFileRecord
from alerts.errors import RosterError
from alerts.targets.congresses import ordinal
from alerts.targets.sources import download
from alerts.targets.zip_maps import DISTRICT_NUMBERS, FIPS_STATES

# The Census Bureau's Block Equivalency Files of the 119th Congress: the national file
# and the states that redrew. Other Congresses are published under other years: give
# their URL (or a per-state pattern) with --blocks-url.
DEFAULT_BLOCKS_URL = (
    "https://www2.census.gov/programs-surveys/decennial/rdo/mapping-files/2025/"
    "{congress}-congressional-district-befs/cd{congress}.zip"
)
URL_FIELDS = ("fips", "state", "congress")

GEOID_COLUMNS = ("BLOCKID", "GEOID", "GEOID20", "BLOCKID20")
DISTRICT_COLUMN = re.compile(r"DISTRICT|CDFP|CD(\d{3})(?:FP)?", re.IGNORECASE)
ZIP_MEMBER = re.compile(r"CD(\d{3})?\.(txt|csv)$", re.IGNORECASE)  # _CD.txt, CD119.txt
NO_DISTRICT_CODES = frozenset({"ZZ", ""})
NOT_A_DISTRICT = "not_a_district"
GEOID_LENGTH = 15
BATCH = 50_000
STATE_FIPS = {state: fips for fips, state in FIPS_STATES.items()}
# The block files cover the states, DC and Puerto Rico, not the island areas.
BLOCK_FILE_STATES = frozenset(STATE_FIPS) - {"AS", "GU", "MP", "VI"}


@dataclass
class BlockLoad:
    """What a load of block files did."""

    congress: int
    states: dict[str, int] = field(default_factory=dict)  # state -> blocks loaded
    files: list[dict[str, Any]] = field(default_factory=list)  # file, sha256, states
    dropped: dict[str, int] = field(default_factory=dict)  # rows left out, by reason
    subscribers_changed: int = 0  # geocoded subscribers whose district changed

    def as_dict(self) -> dict[str, object]:
        return {
            "congress": self.congress,
            "states": self.states,
            "files": self.files,
            "dropped": self.dropped,
            "subscribers_changed": self.subscribers_changed,
        }


@dataclass(frozen=True)
class BlockSource:
    """A block file to read: its name as recorded (path, URL, or zip and member)."""

    name: str
    open: Callable[[], AbstractContextManager[IO[bytes]]]


def load_blocks(
    db: Database,
    files: Sequence[Path | str | BlockSource],
    *,
    congress: int,
    states: Sequence[str] | None = None,
    every_state: bool = True,
) -> BlockLoad:
    """Load block files for `congress` (only `states` of them, when given), atomically.

    With `every_state`, each of `states` must have blocks in the files.
    """
    if not files:
        raise RosterError("no block file given")
    sources = [part for given in files for part in _sources(given)]
    wanted = set(states) if states is not None else None
    if wanted is not None and (unknown := sorted(wanted - set(STATE_FIPS))):
        raise RosterError(f"--states: {', '.join(unknown)} has no state FIPS code")
    result = BlockLoad(congress)
    with write_transaction(db):
        records: dict[str, BlockFileRecord] = {}
        dropped: Counter[str] = Counter()
        for source in sources:
            digest, counts = _load_file(db, source, congress, wanted, dropped)
            now = utc_now()
            records.update(
                (state, BlockFileRecord(congress, state, STATE_FIPS[state], source.name,
                                        digest, blocks, now))
                for state, blocks in counts.items()
            )  # fmt: skip
            result.files.append({"file": source.name, "sha256": digest, "states": sorted(counts)})
        _check_states(sources, wanted if every_state else None, records)
        blocks_db.record_block_files(db, records.values())
        result.states = {state: records[state].blocks for state in sorted(records)}
        result.dropped = dict(sorted(dropped.items()))
        ids = blocks_db.mark_geocoded_in(db, [STATE_FIPS[state] for state in result.states])
        result.subscribers_changed = districts_db.resolve_districts(db, ids)
        blocks_db.drop_marked(db)
    return result


def _check_states(
    sources: list[BlockSource], wanted: set[str] | None, records: dict[str, BlockFileRecord]
) -> None:
    names = ", ".join(source.name for source in sources)
    if wanted is not None and (missing := sorted(wanted - set(records))):
        raise RosterError(f"{names}: no blocks of {', '.join(missing)} (--states)")
    if not records:
        raise RosterError(f"{names}: no block in any district")


# --------------------------------------------------------------------------
# Reading the files


def _sources(given: Path | str | BlockSource) -> list[BlockSource]:
    """The block files in what was given: itself, or the CD files a zip holds."""
    if isinstance(given, BlockSource):
        return [given]
    path = Path(given)
    if not path.exists():
        raise RosterError(f"{path}: file not found")
    if not path.is_file():
        raise RosterError(f"{path}: is not a file")
    if zipfile.is_zipfile(path):
        return _zip_sources(str(path), path)
    return [BlockSource(str(path), lambda: path.open("rb"))]


def _zip_sources(name: str, path: Path) -> list[BlockSource]:
    """A zip's block files, a national file first so that state files replace its rows."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info.filename for info in archive.infolist() if not info.is_dir()]
    except zipfile.BadZipFile as exc:
        raise RosterError(f"{name}: not a readable zip ({exc})") from None
    chosen = [m for m in members if ZIP_MEMBER.search(PurePosixPath(m).name)]
    if not chosen:
        raise RosterError(f"{name}: no congressional district block file in the zip")
    chosen.sort(key=lambda m: (not PurePosixPath(m).name.lower().startswith("national"), m))

    def opener(member: str) -> Callable[[], AbstractContextManager[IO[bytes]]]:
        @contextmanager
        def open_member() -> Iterator[IO[bytes]]:
            with zipfile.ZipFile(path) as archive, archive.open(member) as data:
                yield data

        return open_member

    return [BlockSource(f"{name} ({member})", opener(member)) for member in chosen]


class _HashingReader(io.RawIOBase):
    """Bytes read through it are hashed, so a file is read once."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self.sha256.update(data)
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def _opened(source: BlockSource) -> Iterator[tuple[Any, _HashingReader]]:
    """A CSV reader of the file (pipe or comma, by its header line), and its hash."""
    try:
        with source.open() as raw:
            hashing = _HashingReader(raw)
            buffered = io.BufferedReader(hashing, 1 << 20)
            # Undecodable bytes are kept apart (surrogates), so the line that has them is named.
            text = io.TextIOWrapper(
                buffered, encoding="utf-8-sig", errors="surrogateescape", newline=""
            )
            first = _first_line(source.name, text)
            delimiter = "|" if "|" in first else ","
            yield csv.reader(itertools.chain([first], text), delimiter=delimiter), hashing
    except OSError as exc:
        raise RosterError(f"{source.name}: cannot be read ({exc.strerror or exc})") from None


def _first_line(name: str, text: io.TextIOWrapper) -> str:
    first = text.readline()
    if not first.strip():
        raise RosterError(f"{name}: empty file: expected a header such as GEOID,CDFP")
    return first


@dataclass(frozen=True)
class _Header:
    geoid: int
    district: int
    width: int


def _header(name: str, row: list[str], congress: int) -> _Header:
    columns = [column.strip().upper() for column in row]
    geoid = next((i for i, c in enumerate(columns) if c in GEOID_COLUMNS), None)
    found = next(
        ((i, m) for i, c in enumerate(columns) if (m := DISTRICT_COLUMN.fullmatch(c))), None
    )
    missing = [
        label
        for label, absent in (
            ("a block column (BLOCKID or GEOID)", geoid is None),
            ("a district column (DISTRICT, CDFP or CD<NNN>)", found is None),
        )
        if absent
    ]
    if geoid is None or found is None:
        raise RosterError(f"{name}: line 1: missing {' and '.join(missing)}")
    district, match = found
    named = match.group(1)
    if named is not None and int(named) != congress:
        raise RosterError(
            f"{name}: line 1: its districts are the {ordinal(int(named))} Congress's"
            f" ({row[district].strip()}), not the {ordinal(congress)}'s as --congress says"
        )
    return _Header(geoid, district, len(columns))


class _BadLine(Exception):
    """A line of a block file is malformed; the reader adds the file and the line."""


def _load_file(
    db: Database,
    source: BlockSource,
    congress: int,
    wanted: set[str] | None,
    dropped: Counter[str],
) -> tuple[str, Counter[str]]:
    """One file into the Congress's blocks, replacing its states': (sha256, blocks by state)."""
    with _opened(source) as (reader, hashing):
        header = _header(source.name, next(reader), congress)
        writer = _Writer(db, congress)
        try:
            counts = _copy_rows(writer, reader, header, wanted, dropped)
        except _BadLine as exc:
            raise RosterError(f"{source.name}: line {reader.line_num}: {exc}") from None
        except csv.Error as exc:
            raise RosterError(f"{source.name}: line {reader.line_num}: malformed ({exc})") from None
        digest = hashing.sha256.hexdigest()
    if not writer.saw_rows:
        raise RosterError(f"{source.name}: no blocks after the header (line 1)")
    if writer.inserted != sum(counts.values()):
        _refuse_repeated_block(source, congress)
    return digest, counts


class _Writer:
    """Rows go to the Congress's blocks in batches; a state's old blocks go first."""

    def __init__(self, db: Database, congress: int):
        self.db, self.congress = db, congress
        self.batch: list[tuple[str, int]] = []
        self.inserted = 0
        self.saw_rows = False

    def flush(self) -> None:
        if self.batch:
            self.inserted += blocks_db.insert_blocks(self.db, self.congress, self.batch)
            self.batch.clear()

    def replace_state(self, fips: str) -> None:
        self.flush()
        blocks_db.delete_state_blocks(self.db, self.congress, fips)


def _copy_rows(
    writer: _Writer,
    reader: Iterator[list[str]],
    header: _Header,
    wanted: set[str] | None,
    dropped: Counter[str],
) -> Counter[str]:
    """Check every row and write those of the wanted states; blocks per state."""
    at, to, width = header.geoid, header.district, header.width
    numbers, batch, counts = DISTRICT_NUMBERS, writer.batch, Counter[str]()
    fips, state, keep = "", "", False
    for values in reader:
        if len(values) != width:
            if not values:
                continue
            raise _BadLine(f"{len(values)} fields, the header has {width}")
        geoid, code = values[at], values[to]
        if len(geoid) != GEOID_LENGTH or not (geoid.isdigit() and geoid.isascii()):
            geoid = _geoid(geoid)
        if geoid[:2] != fips:
            fips = geoid[:2]
            state, keep = _enter_state(writer, geoid, wanted, counts)
        district = numbers.get(code)
        if district is None and (district := _district(code)) is None:
            if keep:
                dropped[NOT_A_DISTRICT] += 1
            continue
        if keep:
            batch.append((geoid, district))
            counts[state] += 1
            if len(batch) >= BATCH:
                writer.flush()
    writer.flush()
    writer.saw_rows = fips != ""
    return counts


def _enter_state(
    writer: _Writer, geoid: str, wanted: set[str] | None, counts: Counter[str]
) -> tuple[str, bool]:
    """The state of a row whose state differs from the row before's: (state, wanted?).

    The first row of a wanted state in this file removes the state's blocks from before.
    """
    fips = geoid[:2]
    state = FIPS_STATES.get(fips)
    if state is None:
        raise _BadLine(f"block {geoid}: {fips} is not a state FIPS code")
    keep = wanted is None or state in wanted
    if keep and state not in counts:
        writer.replace_state(fips)
        counts[state] = 0
    return state, keep


def _geoid(value: str) -> str:
    _check_text(value)
    geoid = value.strip()
    if len(geoid) != GEOID_LENGTH or not (geoid.isdigit() and geoid.isascii()):
        raise _BadLine(f"block {value!r} is not a 15-digit census block GEOID")
    return geoid


def _district(code: str) -> int | None:
    """The district of a code that is not plainly one: padded, or ZZ or empty (None)."""
    _check_text(code)
    stripped = code.strip().upper()
    if stripped in NO_DISTRICT_CODES:
        return None
    number = DISTRICT_NUMBERS.get(stripped)
    if number is None:
        raise _BadLine(
            f"district {code!r} is not a district code (01-53, 00 at-large, 98 delegate or ZZ)"
        )
    return number


def _check_text(value: str) -> None:
    """A value with bytes that are not UTF-8 (read as surrogates) is refused as such."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _BadLine("not UTF-8 text") from None


def _refuse_repeated_block(source: BlockSource, congress: int) -> None:
    """A file lists a block twice: refused, naming the line of the second time."""
    seen: set[str] = set()
    with _opened(source) as (reader, _):
        header = _header(source.name, next(reader), congress)
        for values in reader:
            if values and (geoid := values[header.geoid].strip()) in seen:
                raise RosterError(
                    f"{source.name}: line {reader.line_num}: block {geoid} is listed twice"
                )
            seen.add(geoid)
    raise RosterError(f"{source.name}: a block is listed twice")


# --------------------------------------------------------------------------
# Downloading


def update_blocks(
    db: Database,
    url_pattern: str = DEFAULT_BLOCKS_URL,
    *,
    congress: int | None = None,
    timeout: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> BlockLoad:
    """Download the block files of the states that have subscribers, then load them.

    `url_pattern` may name {fips}, {state} and {congress}: one download per distinct
    URL (a national file once, a per-state pattern once per state). `congress` is the
    roster's unless given. The states the downloaded files lack are left as they are.
    """
    number = congress if congress is not None else roster_db.roster_congress(db)
    if number is None:
        raise RosterError("the roster does not say which Congress it describes: give --congress N")
    states = subscriber_states(db)
    if not states:
        raise RosterError("no subscriber lives in a state with block files: nothing to download")
    urls = dict.fromkeys(block_url(url_pattern, state, number) for state in states)
    with tempfile.TemporaryDirectory(prefix="alerts-blocks-") as folder:
        files: list[Path | str | BlockSource] = []
        for index, url in enumerate(urls):
            if progress:
                progress(url)
            target = Path(folder) / f"download-{index}"
            download(url, target, timeout=timeout)
            files.extend(_renamed(part, target, url) for part in _sources(target))
        return load_blocks(db, files, congress=number, states=states, every_state=False)


def subscriber_states(db: Database) -> list[str]:
    """The states (USPS) with block files where subscribers live or their blocks are."""
    states, fips = blocks_db.subscriber_places(db)
    found = {state for state in states if state in BLOCK_FILE_STATES}
    found |= {FIPS_STATES[code] for code in fips if FIPS_STATES.get(code) in BLOCK_FILE_STATES}
    return sorted(found)


def block_url(pattern: str, state: str, congress: int) -> str:
    """The URL of a state's block file by the pattern."""
    try:
        return pattern.format(fips=STATE_FIPS[state], state=state, congress=congress)
    except (KeyError, IndexError, ValueError) as exc:
        fields = ", ".join("{" + name + "}" for name in URL_FIELDS)
        raise RosterError(
            f"--blocks-url {pattern}: only {fields} may be filled in ({exc})"
        ) from None


def _renamed(part: BlockSource, target: Path, url: str) -> BlockSource:
    """A downloaded file's block source, named after its URL, not the temporary file."""
    return BlockSource(part.name.replace(str(target), url, 1), part.open)


# --------------------------------------------------------------------------
# Status


def block_status(db: Database) -> dict[str, list[int]]:
    """{state: the Congresses it has a block file for, in order}."""
    found: dict[str, list[int]] = {}
    for record in blocks_db.block_file_records(db):
        found.setdefault(record.state, []).append(record.congress)
    return found
