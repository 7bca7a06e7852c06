"""Segments as SQL: the condition over `subscribers s` that a campaign's segment
rules select (tags, states, districts, sources, sign-up dates, engagement).

No table of its own: the send's ledger freezes the people these conditions select.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerts.db.bills import stance_condition
from alerts.db.connection import Database
from alerts.db.subscribers import sendable
from alerts.models import (
    AllOf,
    AnyOf,
    DistrictIn,
    Engaged,
    Engagement,
    MemberStance,
    Not,
    Segment,
    SignedUp,
    SourceIn,
    StanceChamber,
    StateIn,
    TagIn,
)

ENGAGEMENT_KINDS = {
    Engagement.OPENED: ("open", "provider_open", "click", "provider_click"),
    Engagement.CLICKED: ("click", "provider_click"),
    Engagement.ACTED: ("letter_sent",),
}


SECONDS_PER_DAY = 86400


def _in_list(expression: str, values: tuple[Any, ...]) -> str:
    return f"{expression} IN ({', '.join('?' for _ in values)})"


@dataclass(frozen=True)
class _SegmentScope:
    now: datetime
    exclude_campaign_id: int | None  # the campaign being sent is not a "recent" one


def segment_where(
    segment: Segment | None,
    now: datetime | None = None,
    exclude_campaign_id: int | None = None,
) -> tuple[str, list[Any]]:
    """SQL condition over `subscribers s` for a segment; only people campaigns go to."""
    if segment is None:
        return sendable("s"), []
    scope = _SegmentScope(now or datetime.now(UTC), exclude_campaign_id)
    clause, params = _segment_sql(segment, scope)
    return f"{sendable('s')} AND ({clause})", params


def _segment_sql(segment: Segment, scope: _SegmentScope) -> tuple[str, list[Any]]:
    if isinstance(segment, AllOf | AnyOf):
        joiner = " AND " if isinstance(segment, AllOf) else " OR "
        parts = [_segment_sql(part, scope) for part in segment.parts]
        return joiner.join(f"({sql})" for sql, _ in parts), [p for _, ps in parts for p in ps]
    if isinstance(segment, Not):
        sql, params = _segment_sql(segment.part, scope)
        return f"NOT ({sql})", params
    if isinstance(segment, TagIn):
        tags = tuple(tag.lower() for tag in segment.tags)
        return (
            "EXISTS (SELECT 1 FROM json_each(s.tags) WHERE "
            + _in_list("lower(json_each.value)", tags)
            + ")",
            list(tags),
        )
    if isinstance(segment, StateIn):
        return _in_list("upper(COALESCE(s.cd_state, s.state))", segment.states), list(
            segment.states
        )
    if isinstance(segment, SourceIn):
        sources = tuple(source.lower() for source in segment.sources)
        return _in_list("lower(s.source)", sources), list(sources)
    if isinstance(segment, DistrictIn):
        return _district_sql(segment)
    if isinstance(segment, SignedUp):
        return _signed_up_sql(segment, scope.now)
    if isinstance(segment, Engaged):
        return _engaged_sql(segment, scope)
    if isinstance(segment, MemberStance):
        return _member_stance_sql(segment)
    raise TypeError(f"unknown segment rule {segment!r}")


def _district_sql(segment: DistrictIn) -> tuple[str, list[Any]]:
    # A known district: exact, or picked by the subscriber among the ZIP's candidates.
    one = (
        "(upper(s.cd_state) = ? AND COALESCE(s.cd_district,"
        " CASE WHEN s.cd_confidence = 'ambiguous' THEN s.cd_choice END) = ?)"
    )
    return " OR ".join(one for _ in segment.districts), [
        value for pair in segment.districts for value in pair
    ]


def _signed_up_sql(segment: SignedUp, now: datetime) -> tuple[str, list[Any]]:
    # ISO 8601 text compares in time order, so dates compare with timestamps directly.
    signed = "COALESCE(s.consent_at, s.created_at)"
    clauses: list[str] = []
    params: list[Any] = []
    if segment.after:
        clauses.append(f"{signed} >= ?")
        params.append(segment.after)
    if segment.before:
        clauses.append(f"{signed} < ?")
        params.append(segment.before)
    if segment.within_days:
        since = now.timestamp() - segment.within_days * SECONDS_PER_DAY
        clauses.append(f"{signed} >= ?")
        params.append(datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return " AND ".join(clauses), params


def _engaged_sql(segment: Engaged, scope: _SegmentScope) -> tuple[str, list[Any]]:
    kinds = ENGAGEMENT_KINDS[segment.what]
    if segment.campaign:
        return _engaged_in_campaign_sql(segment.campaign, segment.what, kinds)
    sql = (
        "EXISTS (SELECT 1 FROM events e WHERE e.subscriber_id = s.id AND e.machine = 0 AND "
        + _in_list("e.kind", kinds)
    )
    params: list[Any] = list(kinds)
    if segment.last_campaigns:
        sql += (
            " AND e.campaign_id IN (SELECT id FROM campaigns WHERE send_started_at IS NOT NULL"
            " AND id IS NOT ? ORDER BY send_started_at DESC, id DESC LIMIT ?)"
        )
        params += [scope.exclude_campaign_id, segment.last_campaigns]
    if segment.within_days:
        sql += " AND e.at >= ?"
        params.append(int(scope.now.timestamp()) - segment.within_days * SECONDS_PER_DAY)
    return sql + ")", params


def _engaged_in_campaign_sql(
    slug: str, what: Engagement, kinds: tuple[str, ...]
) -> tuple[str, list[Any]]:
    """Engaged with the campaign named `slug`: its events, probed by the events index.

    Letters sent from a follow-up's email count for the campaign whose letter they
    are and, for `acted`, for the follow-up too.
    """
    campaign = "(SELECT id FROM campaigns WHERE slug = ?)"
    own = (
        f"EXISTS (SELECT 1 FROM events e WHERE e.campaign_id = {campaign} AND "
        + _in_list("e.kind", kinds)
        + " AND e.subscriber_id = s.id AND e.machine = 0)"
    )
    if what is not Engagement.ACTED:
        return own, [slug, *kinds]
    via = (
        f"EXISTS (SELECT 1 FROM events e WHERE e.via_campaign_id = {campaign} AND "
        + _in_list("e.kind", kinds)
        + " AND e.subscriber_id = s.id AND e.machine = 0)"
    )
    return f"{own} OR {via}", [slug, *kinds, slug, *kinds]


# Where the members a stance rule wants sit, each set read once per query: the House
# seats (state, district) of those representatives, the states of those senators. A
# subscriber's House member is the one of their known district, or of the district they
# picked among their ZIP's; their senators are those of their state.
_HOUSE_SEATS = (
    "(s.cd_state, COALESCE(s.cd_district,"
    " CASE WHEN s.cd_confidence = 'ambiguous' THEN s.cd_choice END)) IN"
    " (SELECT m.state, m.district FROM members m WHERE m.chamber = 'house' AND {stance})"
)
_SENATE_STATES = (
    "COALESCE(s.cd_state, upper(s.state)) IN"
    " (SELECT m.state FROM members m WHERE m.chamber = 'senate' AND {stance})"
)
_STANCE_SEATS: dict[StanceChamber, tuple[str, ...]] = {
    StanceChamber.HOUSE: (_HOUSE_SEATS,),
    StanceChamber.SENATE: (_SENATE_STATES,),
    StanceChamber.ANY: (_HOUSE_SEATS, _SENATE_STATES),
}


def _member_stance_sql(segment: MemberStance) -> tuple[str, list[Any]]:
    """One of the subscriber's members stands as the rule asks on the campaign's bill.

    The seats of the members wanted are read once per query (uncorrelated
    subqueries); each subscriber costs one lookup in them per chamber.
    """
    stance, stance_params = stance_condition("m.bioguide", segment.bill_of, segment.stances)
    # A subscriber with no known seat or state is not in the set: false, never NULL,
    # so that `not:` the rule selects them.
    parts = [
        f"COALESCE({seats.format(stance=stance)}, 0)" for seats in _STANCE_SEATS[segment.chamber]
    ]
    return " OR ".join(parts), stance_params * len(parts)


def segment_subscriber_ids(
    db: Database,
    segment: Segment | None,
    now: datetime | None = None,
    exclude_campaign_id: int | None = None,
) -> list[int]:
    """Ids of the subscribed people a segment selects, in id order.

    `exclude_campaign_id` (the campaign being sent) never counts among the
    "last N campaigns" of an engagement rule.
    """
    where, params = segment_where(segment, now, exclude_campaign_id)
    rows = db.execute(f"SELECT s.id FROM subscribers s WHERE {where} ORDER BY s.id", params)
    return [row[0] for row in rows.fetchall()]


def segment_count(
    db: Database,
    segment: Segment | None,
    now: datetime | None = None,
    exclude_campaign_id: int | None = None,
) -> int:
    where, params = segment_where(segment, now, exclude_campaign_id)
    return int(
        db.execute(f"SELECT count(*) FROM subscribers s WHERE {where}", params).fetchone()[0]
    )
