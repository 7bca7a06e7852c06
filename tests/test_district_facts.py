"""District resolution: the set-based facts query against a straightforward reference.

FACTS_SQL works out per-state and per-ZIP facts once and joins them, for speed.
The reference below is the earlier form, which asks every question again for
every key: slow, but easy to check by eye. Both must agree on every key.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from alerts.db import districts as districts_db
from alerts.db.districts import _SEAT_IS_EMPTY, FACTS_SQL, _flag_sql, _key_columns_sql
from alerts.targets import roster as targets

ROSTER_CONGRESS = "(SELECT congress FROM roster_versions ORDER BY id DESC LIMIT 1)"
REFERENCE_FACTS_SQL = f"""
WITH own AS MATERIALIZED (
    SELECT keys.*,
        CASE WHEN given GLOB '[A-Z][A-Z]' AND (
            EXISTS (SELECT 1 FROM members m WHERE m.state = given)
            OR EXISTS (SELECT 1 FROM zip_districts zd INDEXED BY zip_districts_seat
                       WHERE zd.state = given)) THEN given END AS own_state,
        (SELECT count(DISTINCT zd.state) FROM zip_districts zd WHERE zd.zip = z) AS zip_states,
        (SELECT min(zd.state) FROM zip_districts zd WHERE zd.zip = z) AS zip_state
    FROM ({{keys}}) AS keys
),
home AS MATERIALIZED (
    SELECT own.*,
        coalesce(own_state, CASE WHEN zip_states = 1 THEN zip_state END) AS home_state
    FROM own
),
seat AS MATERIALIZED (
    SELECT home.*,
        (SELECT count(*) FROM zip_districts zd
         WHERE zd.zip = z AND zd.state = home_state) AS here,
        (SELECT min(zd.district) FROM zip_districts zd
         WHERE zd.zip = z AND zd.state = home_state) AS first_here,
        home_state IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM zip_districts zd INDEXED BY zip_districts_seat
                        WHERE zd.state = home_state AND zd.district <> 0)
        AND NOT EXISTS (SELECT 1 FROM members m WHERE m.state = home_state
                        AND m.chamber = 'house' AND m.district <> 0)
        AND (EXISTS (SELECT 1 FROM zip_districts zd INDEXED BY zip_districts_seat
                     WHERE zd.state = home_state)
             OR EXISTS (SELECT 1 FROM members m WHERE m.state = home_state
                        AND m.chamber = 'house')) AS at_large,
        EXISTS (SELECT 1 FROM zip_maps zm JOIN redrawn_states r ON r.state = zm.state
                WHERE zm.state = home_state
                AND r.congress > min(zm.congress, {ROSTER_CONGRESS})
                AND r.congress <= max(zm.congress, {ROSTER_CONGRESS})) AS map_outdated
    FROM home
),
decided AS MATERIALIZED (
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


def keys_table(db, rows: list[tuple[str | None, str | None, int | None]]) -> None:
    db.execute("DROP TABLE IF EXISTS temp.raw_inputs")
    db.execute("CREATE TEMP TABLE raw_inputs (zip TEXT, state TEXT, cd_choice INTEGER)")
    db.conn.executemany("INSERT INTO temp.raw_inputs VALUES (?, ?, ?)", rows)


def answers(db, sql: str) -> list[tuple]:
    keys = f"SELECT DISTINCT {_key_columns_sql()} FROM temp.raw_inputs"
    query = sql.replace("{keys}", keys)
    return sorted(tuple(row) for row in db.execute(query).fetchall())


def inputs_for(db, zips: list[str]) -> list[tuple]:
    states = [row[0] for row in db.execute("SELECT DISTINCT state FROM zip_districts")]
    rows: list[tuple] = [(None, None, None), ("", "", None), ("abcde", "IL", None)]
    rows += [("1234", None, None), ("501", "NY", None), ("00501-1234", "", None)]
    for zip_code in zips:
        own = [
            r[0]
            for r in db.execute(
                "SELECT DISTINCT state FROM zip_districts WHERE zip = ?", [zip_code]
            )
        ]
        districts = [
            r[0] for r in db.execute("SELECT district FROM zip_districts WHERE zip = ?", [zip_code])
        ]
        for state in [*own, "", "ZZ", "il", states[len(zip_code) % len(states)]]:
            rows.append((zip_code, state, None))
        for state, choice in itertools.product(own, districts[:2]):
            rows.append((zip_code, state, choice))
    return rows


def loaded(db, files: dict[str, Path]) -> None:
    targets.load_roster(
        db, files["legislators"], files["zip_districts"], files.get("social"), congress=119
    )


def test_reference_and_set_based_agree_on_the_sample(db):
    loaded(db, targets.sample_files())
    zips = [row[0] for row in db.execute("SELECT DISTINCT zip FROM zip_districts")]
    keys_table(db, inputs_for(db, [*zips, "99999", "20500"]))
    assert answers(db, FACTS_SQL) == answers(db, REFERENCE_FACTS_SQL)


def test_reference_and_set_based_agree_when_a_redrawn_state_has_an_old_map(db):
    loaded(db, targets.sample_files())
    next_congress = targets.next_congress_sample_files()
    targets.load_roster(db, next_congress["legislators"])  # 120th roster, 119th maps
    zips = [row[0] for row in db.execute("SELECT DISTINCT zip FROM zip_districts")]
    keys_table(db, inputs_for(db, [*zips, "99999"]))
    fast = answers(db, FACTS_SQL)
    outdated = {row[4] for row in fast if row[7] and "map_outdated" in row[7]}
    assert outdated == {"CA", "TX"}  # redrawn for the 120th; NY, IL, VT... keep their maps
    assert fast == answers(db, REFERENCE_FACTS_SQL)


@pytest.mark.slow
def test_reference_and_set_based_agree_on_every_zip_of_the_public_map(db, shared_data):
    loaded(
        db,
        {
            "legislators": shared_data / "legislators-current.yaml",
            "social": shared_data / "legislators-social-media.yaml",
            "zip_districts": shared_data / "zccd.csv",
        },
    )
    zips = [row[0] for row in db.execute("SELECT DISTINCT zip FROM zip_districts")]
    keys_table(db, inputs_for(db, zips))
    fast = answers(db, FACTS_SQL)
    assert len(fast) > 200_000
    assert fast == answers(db, REFERENCE_FACTS_SQL)


def test_the_reference_is_not_the_same_query():
    # Guards against the comparison above comparing a query with itself.
    assert "known_states" in FACTS_SQL and "known_states" not in REFERENCE_FACTS_SQL
    assert districts_db.FACTS_SQL is FACTS_SQL
