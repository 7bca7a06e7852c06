"""The districts table family: `zip_districts` (the ZIP -> House district map, with each
row's share of the ZIP's land), `zip_maps` (the Congress and file of each state's map),
`redrawn_states`, and the district columns of `subscribers` resolved from them
(cd_state, cd_district, cd_confidence, cd_flags, and cd_choice, the district a
subscriber picked).

The resolution rules are SQL (FACTS_SQL), so a million subscribers are resolved
in a few statements; `resolve_zip` answers one ZIP by the very same query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alerts.db.connection import Database, utc_now, write_transaction
from alerts.db.id_lists import IN_ID_LIST, id_list
from alerts.db.segments import segment_where
from alerts.errors import NotFoundError
from alerts.models import Confidence, DistrictFlag, HouseSeat, Segment, ZipDistrict


@dataclass(frozen=True)
class ZipResolution:
    """What the resolution rules give for a ZIP and state: the cd_* values they store."""

    state: str | None  # the state whose members apply
    district: int | None  # the House district, when known
    confidence: Confidence
    flags: tuple[str, ...]  # DistrictFlag values, in a fixed order


@dataclass(frozen=True)
class SubscriberDistrict:
    """A subscriber's address fields and the district stored for them."""

    subscriber_id: int
    zip: str | None
    state: str | None  # as given
    resolved: ZipResolution
    choice: int | None  # the district picked among an ambiguous ZIP's candidates


_DISTRICT_COLUMNS = "id, zip, state, cd_state, cd_district, cd_confidence, cd_flags, cd_choice"


def _flags(text: str | None) -> tuple[str, ...]:
    return tuple(flag for flag in (text or "").split(",") if flag)


def _subscriber_district(
    subscriber_id: int,
    zip_code: str | None,
    state: str | None,
    cd_state: str | None,
    cd_district: int | None,
    confidence: str,
    flags: str | None,
    choice: int | None,
) -> SubscriberDistrict:
    resolved = ZipResolution(cd_state, cd_district, Confidence(confidence), _flags(flags))
    return SubscriberDistrict(subscriber_id, zip_code, state, resolved, choice)


def replace_zip_districts(
    db: Database, rows: Iterable[ZipDistrict], states: Sequence[str]
) -> dict[str, int]:
    """Replace the map of these states with these rows (in the caller's transaction).

    Returns, per state, how many ZIPs' districts differ from before: ZIPs added,
    gone, or given other districts (a changed share alone does not count).
    """
    db.execute("DROP TABLE IF EXISTS temp._new_zip_districts")
    db.execute(
        "CREATE TEMP TABLE _new_zip_districts (zip TEXT NOT NULL, state TEXT NOT NULL,"
        " district INTEGER NOT NULL, share REAL, PRIMARY KEY (zip, state, district)) WITHOUT ROWID"
    )
    db.conn.executemany(
        "INSERT OR IGNORE INTO temp._new_zip_districts (zip, state, district, share)"
        " VALUES (?, ?, ?, ?)",
        ((row.zip, row.state, row.district, row.share) for row in rows),
    )
    db.execute("DROP TABLE IF EXISTS temp._map_states")
    db.execute("CREATE TEMP TABLE _map_states (state TEXT PRIMARY KEY)")
    db.conn.executemany("INSERT INTO temp._map_states (state) VALUES (?)", ((s,) for s in states))
    changed = dict(db.execute(_CHANGED_ZIPS).fetchall())
    db.execute("DELETE FROM zip_districts WHERE state IN (SELECT state FROM temp._map_states)")
    db.execute(
        "INSERT INTO zip_districts (zip, state, district, share)"
        " SELECT zip, state, district, share FROM temp._new_zip_districts"
        " WHERE state IN (SELECT state FROM temp._map_states)"
    )
    db.execute("DROP TABLE temp._new_zip_districts")
    db.execute("DROP TABLE temp._map_states")
    return {state: changed.get(state, 0) for state in states}


# The (ZIP, state) pairs whose set of districts differs between the map and the new rows.
_CHANGED_ZIPS = """
WITH old AS (SELECT zip, state, district FROM zip_districts
             WHERE state IN (SELECT state FROM temp._map_states)),
new AS (SELECT zip, state, district FROM temp._new_zip_districts
        WHERE state IN (SELECT state FROM temp._map_states)),
differ AS (SELECT * FROM (SELECT * FROM old EXCEPT SELECT * FROM new)
           UNION ALL SELECT * FROM (SELECT * FROM new EXCEPT SELECT * FROM old))
SELECT state, count(DISTINCT zip) FROM differ GROUP BY state
"""


@dataclass(frozen=True)
class ZipMapRecord:
    """Where one state's ZIP map came from and which Congress its districts are for."""

    state: str
    congress: int | None  # None: loaded before maps recorded their Congress
    source_file: str
    loaded_at: str


def record_zip_maps(
    db: Database,
    states: Sequence[str],
    *,
    congress: int,
    source: tuple[str, str],
    roster_version: int,
) -> None:
    """Record the file (name, sha256) and Congress of these states' new maps."""
    name, sha256 = source
    db.conn.executemany(
        "INSERT INTO zip_maps (state, congress, source_file, source_sha256, loaded_at,"
        " roster_version) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (state) DO UPDATE SET"
        " congress = excluded.congress, source_file = excluded.source_file,"
        " source_sha256 = excluded.source_sha256, loaded_at = excluded.loaded_at,"
        " roster_version = excluded.roster_version",
        ((state, congress, name, sha256, utc_now(), roster_version) for state in states),
    )


def zip_maps(db: Database) -> list[ZipMapRecord]:
    """Every state's map record, by state."""
    rows = db.execute(
        "SELECT state, congress, source_file, loaded_at FROM zip_maps ORDER BY state"
    ).fetchall()
    return [ZipMapRecord(*row) for row in rows]


def replace_redrawn_states(db: Database, pairs: Iterable[tuple[int, str]]) -> None:
    """Replace the list of (Congress, state) whose districts are new in that Congress."""
    db.execute("DELETE FROM redrawn_states")
    db.conn.executemany("INSERT INTO redrawn_states (congress, state) VALUES (?, ?)", pairs)


@dataclass(frozen=True)
class OutdatedMap:
    """A state whose map is for another Congress than the roster, across a redrawing."""

    state: str
    map_congress: int
    roster_congress: int
    redrawn_for: int  # the latest Congress in between for which the state drew new districts


# The states whose ZIP map and roster are for different Congresses with a redrawing of the
# state's districts in between (for the later of the two, or one before it).
OUTDATED_MAPS_SQL = """
SELECT zm.state, zm.congress AS map_congress, rv.congress AS roster_congress,
    max(r.congress) AS redrawn_for
FROM zip_maps AS zm
JOIN (SELECT congress FROM roster_versions ORDER BY id DESC LIMIT 1) AS rv
JOIN redrawn_states AS r ON r.state = zm.state
    AND r.congress > min(zm.congress, rv.congress) AND r.congress <= max(zm.congress, rv.congress)
GROUP BY zm.state
"""


def outdated_maps(db: Database) -> list[OutdatedMap]:
    rows = db.execute(OUTDATED_MAPS_SQL + " ORDER BY zm.state").fetchall()
    return [OutdatedMap(*row) for row in rows]


def zip_districts_for(db: Database, zip_code: str) -> list[HouseSeat]:
    """The House seats the ZIP map gives for a ZIP, by state and district."""
    rows = db.execute(
        "SELECT state, district FROM zip_districts WHERE zip = ? ORDER BY state, district",
        [zip_code],
    ).fetchall()
    return [HouseSeat(state, district) for state, district in rows]


def subscriber_district(db: Database, subscriber_id: int) -> SubscriberDistrict:
    row = db.execute(
        f"SELECT {_DISTRICT_COLUMNS} FROM subscribers WHERE id = ?", [subscriber_id]
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no subscriber with id {subscriber_id}")
    return _subscriber_district(*row)


def subscriber_districts(db: Database, ids: Sequence[int]) -> list[SubscriberDistrict]:
    """subscriber_district of each of these ids that exists."""
    rows = db.execute(
        f"SELECT {_DISTRICT_COLUMNS} FROM subscribers WHERE id {IN_ID_LIST}", [id_list(ids)]
    ).fetchall()
    return [_subscriber_district(*row) for row in rows]


_DIGIT = "[0-9]"


def _zip_key_sql(column: str) -> str:
    """SQL for the 5-digit ZIP map key of a free-text ZIP, or NULL when it cannot be one.

    ZIP+4 is cut to five digits; ZIPs that lost their leading zeros in a spreadsheet
    (three or four digits) are padded.
    """
    z = f"trim({column})"
    return (
        f"CASE WHEN {z} GLOB '{_DIGIT * 5}' THEN {z}"
        f" WHEN {z} GLOB '{_DIGIT * 5}-{_DIGIT * 4}' OR {z} GLOB '{_DIGIT * 9}'"
        f" THEN substr({z}, 1, 5)"
        f" WHEN {z} GLOB '{_DIGIT * 4}' THEN '0' || {z}"
        f" WHEN {z} GLOB '{_DIGIT * 3}' THEN '00' || {z} END"
    )


def _flag_sql(condition: str, flag: str) -> str:
    return f"CASE WHEN {condition} THEN '{flag},' ELSE '' END"


ADDRESSED_BY = ("address", "zip", "chosen", "unknown")


def addressed_by_sql(table: str) -> str:
    """SQL: how the House district stored on a subscriber row (`table`) was known.

    One of ADDRESSED_BY: their street address (a block file), their ZIP, their own
    pick among the districts of their ZIP, or not at all.
    """
    flags = f"',' || coalesce({table}.cd_flags, '') || ','"
    return (
        f"CASE WHEN {flags} LIKE '%,{DistrictFlag.CHOSEN},%' THEN 'chosen'"
        f" WHEN {flags} LIKE '%,{DistrictFlag.ADDRESS},%' THEN 'address'"
        f" WHEN {table}.cd_district IS NOT NULL THEN 'zip' ELSE 'unknown' END"
    )


def _seat_is_empty(state: str, district: str) -> str:
    """SQL: the House seat of this state and district (when known) has no member."""
    return (
        f"{district} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM members m"
        f" WHERE m.chamber = 'house' AND m.state = {state} AND m.district = {district})"
    )


_SEAT_IS_EMPTY = _seat_is_empty("home_state", "decided.district")


# The key a district depends on: (ZIP map key or '', ZIP missing, given state, choice).
def _key_expressions(prefix: str = "") -> dict[str, str]:
    return {
        "z": f"coalesce({_zip_key_sql(prefix + 'zip')}, '')",
        "no_zip": f"nullif(trim(coalesce({prefix}zip, '')), '') IS NULL",
        "given": f"upper(trim(coalesce({prefix}state, '')))",
        "choice": f"coalesce({prefix}cd_choice, -1)",
    }


def _key_columns_sql(prefix: str = "") -> str:
    return ", ".join(f"{sql} AS {name}" for name, sql in _key_expressions(prefix).items())


# From rows of `{keys}` (z, no_zip, given, choice): the home state, district, confidence
# and flags. What depends only on a state (is it known, is it at-large) or only on a
# ZIP (which states it spans) is worked out once per state and once per ZIP, then
# joined: a million subscribers have hundreds of thousands of keys but only a few
# dozen states.
FACTS_SQL = f"""
WITH keys AS MATERIALIZED ({{keys}}),
zips AS MATERIALIZED (
    SELECT k.z, count(DISTINCT zd.state) AS zip_states, min(zd.state) AS zip_state
    FROM (SELECT DISTINCT z FROM keys) AS k LEFT JOIN zip_districts AS zd ON zd.zip = k.z
    GROUP BY k.z
),
-- The states these keys can involve: the given ones, and those of their ZIPs.
named_states AS MATERIALIZED (
    SELECT given AS state FROM keys WHERE given GLOB '[A-Z][A-Z]'
    UNION SELECT zip_state FROM zips WHERE zip_state IS NOT NULL
),
known_states AS MATERIALIZED (
    SELECT state,
        NOT EXISTS (SELECT 1 FROM zip_districts zd INDEXED BY zip_districts_seat
                    WHERE zd.state = s.state AND zd.district <> 0)
        AND NOT EXISTS (SELECT 1 FROM members m WHERE m.state = s.state
                        AND m.chamber = 'house' AND m.district <> 0)
        AND (EXISTS (SELECT 1 FROM zip_districts zd INDEXED BY zip_districts_seat
                     WHERE zd.state = s.state)
             OR EXISTS (SELECT 1 FROM members m WHERE m.state = s.state
                        AND m.chamber = 'house')) AS at_large
    FROM named_states AS s
    WHERE EXISTS (SELECT 1 FROM members m WHERE m.state = s.state)
        OR EXISTS (SELECT 1 FROM zip_districts zd INDEXED BY zip_districts_seat
                   WHERE zd.state = s.state)
),
outdated AS MATERIALIZED (SELECT state FROM ({OUTDATED_MAPS_SQL})),
places AS MATERIALIZED (
    SELECT zd.zip AS z, zd.state, count(*) AS here, min(zd.district) AS first_here
    FROM zip_districts AS zd WHERE zd.zip IN (SELECT z FROM zips)
    GROUP BY zd.zip, zd.state
),
home AS (
    SELECT keys.*, own.state AS own_state, zips.zip_states, zips.zip_state,
        coalesce(own.state, CASE WHEN zips.zip_states = 1 THEN zips.zip_state END)
            AS home_state
    FROM keys
    JOIN zips ON zips.z = keys.z
    LEFT JOIN known_states AS own ON own.state = keys.given AND keys.given GLOB '[A-Z][A-Z]'
),
seat AS (
    SELECT home.*, coalesce(places.here, 0) AS here, places.first_here,
        coalesce(st.at_large, 0) AS at_large, od.state IS NOT NULL AS map_outdated
    FROM home
    LEFT JOIN places ON places.z = home.z AND places.state = home.home_state
    LEFT JOIN known_states AS st ON st.state = home.home_state
    LEFT JOIN outdated AS od ON od.state = home.home_state
),
decided AS (
    SELECT seat.*,
        CASE WHEN map_outdated THEN NULL WHEN at_large THEN 0 WHEN here = 1 THEN first_here
             WHEN here > 1 AND EXISTS (SELECT 1 FROM zip_districts zd WHERE zd.zip = z
                 AND zd.state = home_state AND zd.district = choice) THEN choice
        END AS district,
        CASE WHEN map_outdated THEN 'unknown' WHEN at_large OR here = 1 THEN 'exact'
             WHEN here > 1 THEN 'ambiguous' ELSE 'unknown' END AS confidence
    FROM seat
)
SELECT z, no_zip, given, choice, home_state, district, confidence, nullif(rtrim(
    {_flag_sql("no_zip", "zip_missing")}
    || {_flag_sql("NOT no_zip AND z = ''", "zip_invalid")}
    || {_flag_sql("z <> '' AND zip_states = 0", "zip_unknown")}
    || {_flag_sql("given <> '' AND own_state IS NULL", "state_invalid")}
    || {_flag_sql("own_state IS NULL AND home_state IS NOT NULL", "state_from_zip")}
    || {_flag_sql("own_state IS NOT NULL AND zip_states > 0 AND here = 0", "state_mismatch")}
    || {_flag_sql("own_state IS NULL AND zip_states > 1", "zip_multi_state")}
    || {_flag_sql("here > 1 AND district IS NOT NULL", "chosen")}
    || {_flag_sql(_SEAT_IS_EMPTY, "vacant")}
    || {_flag_sql("map_outdated", "map_outdated")}, ','), '') AS flags
FROM decided
"""


# Subscribers are resolved in three steps: their distinct raw (zip, state, choice)
# values, the facts of each distinct key those values normalize to, then one UPDATE
# that finds each row's facts by its raw values through an index.
_RAW_KEYS = """
CREATE TEMP TABLE _district_raw AS
SELECT DISTINCT coalesce(zip, '') AS zip, coalesce(state, '') AS state,
    coalesce(cd_choice, -1) AS cd_choice
FROM {source}
"""


# Keyed by the raw values themselves (WITHOUT ROWID), so the UPDATE's lookup for each
# subscriber is one B-tree search that lands on the answer.
_RAW_FACTS_TABLE = """
CREATE TEMP TABLE _district_map (
    zip TEXT NOT NULL, state TEXT NOT NULL, cd_choice INTEGER NOT NULL,
    home_state TEXT, district INTEGER, confidence TEXT NOT NULL, flags TEXT,
    PRIMARY KEY (zip, state, cd_choice)
) WITHOUT ROWID
"""


# The same, with each raw key's stored answer and head count, to count who moves.
_RAW_KEYS_WITH_ANSWERS = """
CREATE TEMP TABLE _district_raw AS
SELECT coalesce(zip, '') AS zip, coalesce(state, '') AS state,
    coalesce(cd_choice, -1) AS cd_choice, cd_state AS old_state, cd_district AS old_district,
    count(*) AS people
FROM {source}
GROUP BY 1, 2, 3, 4, 5
"""


_RAW_FACTS = f"""
INSERT OR IGNORE INTO temp._district_map
SELECT r.zip, r.state, r.cd_choice, f.home_state, f.district, f.confidence, f.flags
FROM (SELECT zip, state, cd_choice, {_key_columns_sql()} FROM temp._district_raw) AS r
JOIN temp._district_facts AS f
    ON f.z = r.z AND f.no_zip = r.no_zip AND f.given = r.given AND f.choice = r.choice
"""


# Subscribers whose House district the new answers change, by state (the new one, else the old).
_MOVES = """
SELECT coalesce(m.home_state, r.old_state), sum(r.people)
FROM temp._district_raw AS r
JOIN temp._district_map AS m
    ON m.zip = r.zip AND m.state = r.state AND m.cd_choice = r.cd_choice
WHERE m.home_state IS NOT r.old_state OR m.district IS NOT r.old_district
GROUP BY 1
"""


_RESOLVE_UPDATE = """
UPDATE subscribers AS sub SET cd_state = m.home_state, cd_district = m.district,
    cd_confidence = m.confidence, cd_flags = m.flags
FROM temp._district_map AS m
WHERE m.zip = coalesce(sub.zip, '') AND m.state = coalesce(sub.state, '')
    AND m.cd_choice = coalesce(sub.cd_choice, -1) {and_where}
    AND sub.id NOT IN (SELECT id FROM temp._district_address)
    AND (sub.cd_state IS NOT m.home_state OR sub.cd_district IS NOT m.district
        OR sub.cd_confidence IS NOT m.confidence OR sub.cd_flags IS NOT m.flags)
"""


# A geocoded subscriber whose block is in a block file of the roster's Congress has that
# block's district (exact, flagged `address`), unless their ZIP answer is their own pick.
# Their ZIP answer and the one stored before are kept too, to count who moves.
_BLOCK_SEAT_VACANT = _flag_sql(_seat_is_empty("bf.state", "cb.district"), DistrictFlag.VACANT)
_ADDRESS_ANSWERS = f"""
CREATE TEMP TABLE _district_address AS
SELECT sub.id, coalesce(sub.zip, '') AS zip, coalesce(sub.state, '') AS state,
    coalesce(sub.cd_choice, -1) AS cd_choice, bf.state AS home_state, cb.district,
    rtrim('{DistrictFlag.ADDRESS},' || {_BLOCK_SEAT_VACANT}, ',') AS flags,
    sub.cd_state AS old_state, sub.cd_district AS old_district
FROM (SELECT congress FROM roster_versions ORDER BY id DESC LIMIT 1) AS rv
-- CROSS JOIN keeps this order: the subscribers (a few, by id) first, then a key lookup in
-- census_blocks, never a scan of a Congress's millions of blocks.
{{subscribers}}
CROSS JOIN block_files AS bf
    ON bf.congress = rv.congress AND bf.state_fips = substr({{block}}, 1, 2)
CROSS JOIN census_blocks AS cb ON cb.congress = rv.congress AND cb.geoid = {{block}}
LEFT JOIN temp._district_map AS m ON m.zip = coalesce(sub.zip, '')
    AND m.state = coalesce(sub.state, '') AND m.cd_choice = coalesce(sub.cd_choice, -1)
WHERE {{block}} IS NOT NULL {{and_where}}
    AND ',' || coalesce(m.flags, '') || ',' NOT LIKE '%,{DistrictFlag.CHOSEN},%'
"""


_ADDRESS_UPDATE = f"""
UPDATE subscribers AS sub SET cd_state = a.home_state, cd_district = a.district,
    cd_confidence = '{Confidence.EXACT}', cd_flags = a.flags
FROM temp._district_address AS a
WHERE sub.id = a.id AND (sub.cd_state IS NOT a.home_state OR sub.cd_district IS NOT a.district
    OR sub.cd_confidence IS NOT '{Confidence.EXACT}' OR sub.cd_flags IS NOT a.flags)
"""


def _address_answers(and_where: str) -> str:
    """_ADDRESS_ANSWERS for the subscribers `and_where` selects, by the blocks stored."""
    return (
        _ADDRESS_ANSWERS.replace("{subscribers}", "CROSS JOIN subscribers AS sub")
        .replace("{block}", "sub.geo_block")
        .replace("{and_where}", and_where)
    )


# A batch of geocodes (temp table: id and the geo_* columns) stored with its districts:
# each row's new geo_* values, and the district its new block gives (_district_address),
# else its ZIP answer, else the one it has. Rows are written once, by _GEOCODED_UPDATE.
_GEOCODED_ADDRESS = (
    _ADDRESS_ANSWERS.replace(
        "{subscribers}",
        'CROSS JOIN temp."{geocoded}" AS g CROSS JOIN subscribers AS sub ON sub.id = g.id',
    )
    .replace("{block}", "g.geo_block")
    .replace("{and_where}", "")
)
_GEOCODED_ROWS = f"""
CREATE TEMP TABLE _district_geocoded AS
SELECT g.id, g.geo_block, g.geo_outcome, g.geo_address_sha256, g.geo_at, g.geo_typed,
    CASE WHEN a.id IS NOT NULL THEN a.home_state WHEN m.zip IS NOT NULL THEN m.home_state
        ELSE sub.cd_state END AS cd_state,
    CASE WHEN a.id IS NOT NULL THEN a.district WHEN m.zip IS NOT NULL THEN m.district
        ELSE sub.cd_district END AS cd_district,
    CASE WHEN a.id IS NOT NULL THEN '{Confidence.EXACT}' WHEN m.zip IS NOT NULL
        THEN m.confidence ELSE sub.cd_confidence END AS cd_confidence,
    CASE WHEN a.id IS NOT NULL THEN a.flags WHEN m.zip IS NOT NULL THEN m.flags
        ELSE sub.cd_flags END AS cd_flags
FROM temp."{{geocoded}}" AS g
CROSS JOIN subscribers AS sub ON sub.id = g.id
LEFT JOIN temp._district_address AS a ON a.id = g.id
LEFT JOIN temp._district_map AS m ON m.zip = coalesce(sub.zip, '')
    AND m.state = coalesce(sub.state, '') AND m.cd_choice = coalesce(sub.cd_choice, -1)
"""
_GEOCODED_UPDATE = """
UPDATE subscribers AS sub SET (geo_block, geo_outcome, geo_address_sha256, geo_at, geo_typed,
    cd_state, cd_district, cd_confidence, cd_flags) = (b.geo_block, b.geo_outcome,
    b.geo_address_sha256, b.geo_at, b.geo_typed, b.cd_state, b.cd_district, b.cd_confidence,
    b.cd_flags)
FROM temp._district_geocoded AS b
WHERE sub.id = b.id
"""


# Those who move by their address, and those the ZIP answers (_MOVES) counted wrongly
# for them, by state: the address answer is the one stored.
_ADDRESS_MOVES = """
SELECT coalesce(home_state, old_state), count(*) FROM temp._district_address
WHERE home_state IS NOT old_state OR district IS NOT old_district GROUP BY 1
"""
_ADDRESS_ZIP_MOVES = """
SELECT coalesce(m.home_state, a.old_state), count(*) FROM temp._district_address AS a
JOIN temp._district_map AS m
    ON m.zip = a.zip AND m.state = a.state AND m.cd_choice = a.cd_choice
WHERE m.home_state IS NOT a.old_state OR m.district IS NOT a.old_district GROUP BY 1
"""


_RESOLVE_TEMP_TABLES = (
    "_district_raw",
    "_district_facts",
    "_district_map",
    "_district_address",
    "_district_geocoded",
)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def resolve_districts(db: Database, ids_table: str | None = None) -> int:
    """Recompute cd_state, cd_district, cd_confidence and cd_flags from the ZIP map
    and, for geocoded subscribers, the block files.

    Every subscriber, or only those whose id is in the temp table `ids_table`
    (column `id`). Runs inside the caller's transaction when there is one.
    Returns how many subscribers changed.
    """
    where = and_where = ""
    if ids_table is not None:
        if not _IDENTIFIER.fullmatch(ids_table) or not _temp_table_exists(db, ids_table):
            raise ValueError(f"resolve_districts: no temp table named {ids_table!r}")
        where = f'WHERE id IN (SELECT id FROM temp."{ids_table}")'
        and_where = f'AND sub.id IN (SELECT id FROM temp."{ids_table}")'
    with write_transaction(db):
        _build_district_map(db, f"subscribers {where}")
        db.execute(_address_answers(and_where))
        before = db.conn.total_changes
        db.execute(_RESOLVE_UPDATE.replace("{and_where}", and_where))
        db.execute(_ADDRESS_UPDATE)
        changed = db.conn.total_changes - before
        drop_resolve_tables(db)
    return changed


def store_geocoded(db: Database, geocoded: str) -> None:
    """Store a batch of geocodes and the districts they give, one UPDATE of each row.

    `geocoded` is a temp table of id, geo_block, geo_outcome, geo_address_sha256,
    geo_at and geo_typed. The districts are those resolve_districts would give
    those rows after the geocodes are stored. Runs inside the caller's transaction.
    """
    if not _IDENTIFIER.fullmatch(geocoded) or not _temp_table_exists(db, geocoded):
        raise ValueError(f"store_geocoded: no temp table named {geocoded!r}")
    with write_transaction(db):
        _build_district_map(db, f'subscribers WHERE id IN (SELECT id FROM temp."{geocoded}")')
        db.execute(_GEOCODED_ADDRESS.replace("{geocoded}", geocoded))
        db.execute(_GEOCODED_ROWS.replace("{geocoded}", geocoded))
        db.execute(_GEOCODED_UPDATE)
        drop_resolve_tables(db)


def resolve_subscriber_districts(db: Database, subscriber_ids: Iterable[int]) -> int:
    """resolve_districts for these subscribers only. Returns how many changed."""
    with write_transaction(db):
        db.execute("DROP TABLE IF EXISTS temp._resolve_ids")
        db.execute("CREATE TEMP TABLE _resolve_ids (id INTEGER PRIMARY KEY)")
        db.execute(
            "INSERT OR IGNORE INTO temp._resolve_ids (id) SELECT value FROM json_each(?)",
            [id_list(subscriber_ids)],
        )
        changed = resolve_districts(db, "_resolve_ids")
        db.execute("DROP TABLE temp._resolve_ids")
    return changed


def resolve_districts_counting_moves(db: Database) -> dict[str, int]:
    """resolve_districts for everyone; returns how many changed House district, by state.

    A subscriber moves when their state or district changes (to or from unknown too).
    """
    with write_transaction(db):
        _build_district_map(db, "subscribers", _RAW_KEYS_WITH_ANSWERS)
        db.execute(_address_answers(""))
        moves: dict[str, int] = {}
        for query, sign in ((_MOVES, 1), (_ADDRESS_ZIP_MOVES, -1), (_ADDRESS_MOVES, 1)):
            for state, people in db.execute(query).fetchall():
                moves[state] = moves.get(state, 0) + sign * int(people)
        db.execute(_RESOLVE_UPDATE.replace("{and_where}", ""))
        db.execute(_ADDRESS_UPDATE)
        drop_resolve_tables(db)
    return {state: people for state, people in moves.items() if people}


def _build_district_map(db: Database, source: str, raw_keys: str = _RAW_KEYS) -> None:
    """temp._district_map: the answer for each distinct raw (zip, state, cd_choice) of `source`.

    `source` is SQL for a table (and WHERE clause) with columns zip, state and cd_choice;
    `raw_keys` the statement that collects them into temp._district_raw.
    """
    drop_resolve_tables(db)
    db.execute(raw_keys.replace("{source}", source))
    build_district_facts(db, f"SELECT DISTINCT {_key_columns_sql()} FROM temp._district_raw")
    db.execute(_RAW_FACTS_TABLE)
    db.execute(_RAW_FACTS)


def build_district_facts(db: Database, keys: str) -> None:
    """temp._district_facts: the answer for each distinct key that `keys` selects."""
    db.execute("CREATE TEMP TABLE _district_facts AS " + FACTS_SQL.replace("{keys}", keys))
    db.execute(
        "CREATE UNIQUE INDEX temp._district_facts_key ON _district_facts (z, no_zip, given, choice)"
    )


def drop_resolve_tables(db: Database) -> None:
    """Drop the temp tables of a resolution, if a previous one left them."""
    for name in _RESOLVE_TEMP_TABLES:
        db.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _temp_table_exists(db: Database, name: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM temp.sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return row is not None


def resolve_zip(db: Database, zip_code: str, state: str | None) -> ZipResolution:
    """The district of one ZIP and state, by the rules that resolve subscribers."""
    given = "(SELECT ? AS zip, ? AS state, NULL AS cd_choice) AS p"
    keys = f"SELECT {_key_columns_sql('p.')} FROM {given}"
    sql = FACTS_SQL.replace("{keys}", keys)
    home, district, confidence, flags = db.execute(sql, [zip_code, state or ""]).fetchone()[4:]
    return ZipResolution(home, district, Confidence(confidence), _flags(flags))


def district_candidates(db: Database, zip_code: str, state: str) -> list[int]:
    """The districts the ZIP map gives for a (free-text) ZIP within one state.

    Largest share of the ZIP's land first; by number where the map gives no areas.
    """
    return list(district_shares(db, zip_code, state))


def district_shares(db: Database, zip_code: str, state: str) -> dict[int, float | None]:
    """district_candidates, each with its share of the ZIP's land (None: not known)."""
    rows = db.execute(
        f"SELECT district, share FROM zip_districts WHERE zip = {_zip_key_sql(':zip')}"
        " AND state = :state ORDER BY share DESC NULLS LAST, district",
        {"zip": zip_code, "state": state},
    ).fetchall()
    return {district: share for district, share in rows}


def store_district_choice(db: Database, subscriber_id: int, district: int | None) -> None:
    """Store the district a subscriber picked (cd_choice; None: no pick) and resolve them again."""
    with write_transaction(db):
        db.execute("UPDATE subscribers SET cd_choice = ? WHERE id = ?", [district, subscriber_id])
        db.execute("DROP TABLE IF EXISTS temp._choice_ids")
        db.execute("CREATE TEMP TABLE _choice_ids (id INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO temp._choice_ids (id) VALUES (?)", [subscriber_id])
        resolve_districts(db, "_choice_ids")
        db.execute("DROP TABLE temp._choice_ids")


@dataclass(frozen=True)
class SegmentSeats:
    """Where the people a segment selects live: their states, and the House seats
    their letters would go to (the known district, else every candidate of the ZIP);
    `zip_states`: the states of those whose district does not come from a block file."""

    states: frozenset[str]
    seats: frozenset[HouseSeat]
    zip_states: frozenset[str] = frozenset()


def segment_seats(
    db: Database, segment: Segment | None, exclude_campaign_id: int | None = None
) -> SegmentSeats:
    where, params = segment_where(segment, exclude_campaign_id=exclude_campaign_id)
    rows = db.execute(
        f"SELECT DISTINCT s.cd_state, s.cd_district FROM subscribers s"
        f" WHERE ({where}) AND s.cd_state IS NOT NULL"
        f" UNION SELECT DISTINCT s.cd_state, zd.district FROM subscribers s"
        f" JOIN zip_districts zd ON zd.zip = {_zip_key_sql('s.zip')} AND zd.state = s.cd_state"
        f" WHERE ({where}) AND s.cd_confidence = 'ambiguous' AND s.cd_district IS NULL",
        [*params, *params],
    ).fetchall()
    by_zip = db.execute(
        f"SELECT DISTINCT s.cd_state FROM subscribers s WHERE ({where})"
        f" AND s.cd_state IS NOT NULL AND {addressed_by_sql('s')} <> 'address'",
        params,
    ).fetchall()
    return SegmentSeats(
        states=frozenset(state for state, _ in rows),
        seats=frozenset(HouseSeat(state, d) for state, d in rows if d is not None),
        zip_states=frozenset(state for (state,) in by_zip),
    )


@dataclass(frozen=True)
class SeatGroup:
    """The people a segment selects who share their members: as many, and one of them."""

    subscriber_id: int  # one of them, whose targets are those of all
    people: int


def segment_seat_groups(
    db: Database, segment: Segment | None, exclude_campaign_id: int | None = None
) -> list[SeatGroup]:
    """The segment's people grouped by what decides their members: state and district.

    The state given is part of the key only when none was resolved (its senators apply).
    """
    where, params = segment_where(segment, exclude_campaign_id=exclude_campaign_id)
    rows = db.execute(
        f"SELECT min(s.id), count(*) FROM subscribers s WHERE {where}"
        " GROUP BY s.cd_state, s.cd_district, CASE WHEN s.cd_state IS NULL THEN s.state END",
        params,
    ).fetchall()
    return [SeatGroup(int(first), int(people)) for first, people in rows]


def zip_code_count(db: Database) -> int:
    return int(db.execute("SELECT count(DISTINCT zip) FROM zip_districts").fetchone()[0])


def zip_row_count(db: Database) -> int:
    return int(db.execute("SELECT count(*) FROM zip_districts").fetchone()[0])


def district_confidence_counts(db: Database) -> dict[str, int]:
    rows = db.execute(
        "SELECT cd_confidence, count(*) FROM subscribers GROUP BY cd_confidence"
    ).fetchall()
    counts = dict.fromkeys(("exact", "ambiguous", "unknown"), 0)
    counts.update({confidence: count for confidence, count in rows})
    return counts


def district_flag_counts(db: Database) -> dict[str, int]:
    """Subscribers by each flag in cd_flags (a subscriber may count under several)."""
    counts: dict[str, int] = {}
    rows = db.execute(
        "SELECT cd_flags, count(*) FROM subscribers WHERE cd_flags IS NOT NULL GROUP BY cd_flags"
    )
    for flags, count in rows.fetchall():
        for flag in flags.split(","):
            counts[flag] = counts.get(flag, 0) + count
    return dict(sorted(counts.items()))
