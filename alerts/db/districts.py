"""districts"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from alerts.db.connection import _IN_IDS, Database, _json_ids, write_transaction
from alerts.errors import (
    LookupFailed,
    NotFoundError,
)


def zip_districts_for(db: Database, zip_code: str) -> list[tuple[str, int]]:
    """(state, district) pairs the ZIP map gives for a ZIP, in order."""
    rows = db.execute(
        "SELECT state, district FROM zip_districts WHERE zip = ? ORDER BY state, district",
        [zip_code],
    ).fetchall()
    return [(state, district) for state, district in rows]


def subscriber_district(db: Database, subscriber_id: int) -> tuple[Any, ...]:
    """(zip, state, cd_state, cd_district, cd_confidence, cd_flags, cd_choice) of a subscriber."""
    row = db.execute(
        "SELECT zip, state, cd_state, cd_district, cd_confidence, cd_flags, cd_choice"
        " FROM subscribers WHERE id = ?",
        [subscriber_id],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no subscriber with id {subscriber_id}")
    return tuple(row)


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


_SEAT_IS_EMPTY = (
    "district IS NOT NULL AND NOT EXISTS (SELECT 1 FROM members m WHERE m.chamber = 'house'"
    " AND m.state = home_state AND m.district = decided.district)"
)


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
        coalesce(st.at_large, 0) AS at_large
    FROM home
    LEFT JOIN places ON places.z = home.z AND places.state = home.home_state
    LEFT JOIN known_states AS st ON st.state = home.home_state
),
decided AS (
    SELECT seat.*,
        CASE WHEN at_large THEN 0 WHEN here = 1 THEN first_here
             WHEN here > 1 AND EXISTS (SELECT 1 FROM zip_districts zd WHERE zd.zip = z
                 AND zd.state = home_state AND zd.district = choice) THEN choice
        END AS district,
        CASE WHEN at_large OR here = 1 THEN 'exact' WHEN here > 1 THEN 'ambiguous'
             ELSE 'unknown' END AS confidence
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
    || {_flag_sql(_SEAT_IS_EMPTY, "vacant")}, ','), '') AS flags
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


_RAW_FACTS = f"""
INSERT INTO temp._district_map
SELECT r.zip, r.state, r.cd_choice, f.home_state, f.district, f.confidence, f.flags
FROM (SELECT zip, state, cd_choice, {_key_columns_sql()} FROM temp._district_raw) AS r
JOIN temp._district_facts AS f
    ON f.z = r.z AND f.no_zip = r.no_zip AND f.given = r.given AND f.choice = r.choice
"""


_RESOLVE_UPDATE = """
UPDATE subscribers AS sub SET cd_state = m.home_state, cd_district = m.district,
    cd_confidence = m.confidence, cd_flags = m.flags
FROM temp._district_map AS m
WHERE m.zip = coalesce(sub.zip, '') AND m.state = coalesce(sub.state, '')
    AND m.cd_choice = coalesce(sub.cd_choice, -1) {and_where}
    AND (sub.cd_state IS NOT m.home_state OR sub.cd_district IS NOT m.district
        OR sub.cd_confidence IS NOT m.confidence OR sub.cd_flags IS NOT m.flags)
"""


_RESOLVE_TEMP_TABLES = ("_district_raw", "_district_facts", "_district_map")


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def resolve_districts(db: Database, ids_table: str | None = None) -> int:
    """Recompute cd_state, cd_district, cd_confidence and cd_flags from the ZIP map.

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
        before = db.conn.total_changes
        db.execute(_RESOLVE_UPDATE.replace("{and_where}", and_where))
        changed = db.conn.total_changes - before
        _drop_resolve_tables(db)
    return changed


def _build_district_map(db: Database, source: str) -> None:
    """temp._district_map: the answer for each distinct raw (zip, state, cd_choice) of `source`.

    `source` is SQL for a table (and WHERE clause) with columns zip, state and cd_choice.
    """
    _drop_resolve_tables(db)
    db.execute(_RAW_KEYS.replace("{source}", source))
    _build_district_facts(db, f"SELECT DISTINCT {_key_columns_sql()} FROM temp._district_raw")
    db.execute(_RAW_FACTS_TABLE)
    db.execute(_RAW_FACTS)


def _build_district_facts(db: Database, keys: str) -> None:
    """temp._district_facts: the answer for each distinct key that `keys` selects."""
    db.execute("CREATE TEMP TABLE _district_facts AS " + FACTS_SQL.replace("{keys}", keys))
    db.execute(
        "CREATE UNIQUE INDEX temp._district_facts_key ON _district_facts (z, no_zip, given, choice)"
    )


def _drop_resolve_tables(db: Database) -> None:
    for name in _RESOLVE_TEMP_TABLES:
        db.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _temp_table_exists(db: Database, name: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM temp.sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return row is not None


def resolve_zip(db: Database, zip_code: str, state: str | None) -> tuple[Any, ...]:
    """(home state, district, confidence, flags) for one ZIP and state, by the same rules."""
    given = "(SELECT ? AS zip, ? AS state, NULL AS cd_choice) AS p"
    keys = f"SELECT {_key_columns_sql('p.')} FROM {given}"
    sql = FACTS_SQL.replace("{keys}", keys)
    row = db.execute(sql, [zip_code, state or ""]).fetchone()
    return tuple(row[4:])


def district_candidates(db: Database, zip_code: str, state: str) -> list[int]:
    """The districts the ZIP map gives for a (free-text) ZIP within one state."""
    rows = db.execute(
        f"SELECT district FROM zip_districts WHERE zip = {_zip_key_sql(':zip')}"
        " AND state = :state ORDER BY district",
        {"zip": zip_code, "state": state},
    ).fetchall()
    return [row[0] for row in rows]


def set_district_choice(db: Database, subscriber_id: int, district: int) -> None:
    """Store the district a subscriber picked among the candidates of their ambiguous ZIP."""
    zip_code, _, cd_state, _, confidence, _, _ = subscriber_district(db, subscriber_id)
    if confidence != "ambiguous" or not cd_state:
        raise LookupFailed(
            f"subscriber {subscriber_id}: district is {confidence}, not ambiguous: nothing to pick"
        )
    candidates = district_candidates(db, zip_code or "", cd_state)
    if district not in candidates:
        listed = ", ".join(str(d) for d in candidates)
        raise LookupFailed(
            f"district: {district} is not a district of ZIP {zip_code} in {cd_state} ({listed})"
        )
    with write_transaction(db):
        db.execute("UPDATE subscribers SET cd_choice = ? WHERE id = ?", [district, subscriber_id])
        db.execute("DROP TABLE IF EXISTS temp._choice_ids")
        db.execute("CREATE TEMP TABLE _choice_ids (id INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO temp._choice_ids (id) VALUES (?)", [subscriber_id])
        resolve_districts(db, "_choice_ids")
        db.execute("DROP TABLE temp._choice_ids")


def zip_code_count(db: Database) -> int:
    return db.execute("SELECT count(DISTINCT zip) FROM zip_districts").fetchone()[0]


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


def subscriber_districts(db: Database, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """(id, zip, state, cd_state, cd_district, cd_confidence, cd_flags, cd_choice) per id."""
    rows = db.execute(
        "SELECT id, zip, state, cd_state, cd_district, cd_confidence, cd_flags, cd_choice"
        f" FROM subscribers WHERE id {_IN_IDS}",
        [_json_ids(ids)],
    ).fetchall()
    return [tuple(row) for row in rows]
