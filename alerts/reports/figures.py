"""Campaign statistics: what each campaign achieved, for every output format.

Figures come from the send ledger (who was due a message and what became of
the request) and from the events table, read through the summaries that the
database keeps current with triggers, so a report costs the same for a
campaign of a thousand or a million recipients. docs/stats.md says exactly
what each figure counts; in short:

- people, not events: `unique` figures and every funnel stage count recipients,
  so an event that arrives twice (a webhook retry) changes nothing;
- opens and clicks flagged as machine-made (privacy proxies, link scanners)
  are left out of `unique` and `total` and counted apart in `machine`;
- every rate names its base: delivered when the provider's delivery events have
  arrived for the campaign, else sent.

`CampaignStats.funnel_lines` is the one rendering of a funnel into labelled
figures: the terminal table and the HTML report both show its lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from alerts.db import Database
from alerts.db import campaigns as campaigns_db
from alerts.db import stats as stats_db
from alerts.db import visitors as visitors_db
from alerts.db.visitors import PublicTotals
from alerts.errors import NotFoundError
from alerts.models import (
    CampaignKind,
    CampaignRecord,
    DeliveryState,
    EventKind,
    EventTotals,
    Member,
    ShareNetwork,
)
from alerts.reports.letter_outcomes import Outcomes, campaign_outcomes
from alerts.reports.signups import SignupFigures, signup_figures

UNSUBSCRIBE_KINDS = [
    EventKind.UNSUBSCRIBE,
    EventKind.PROVIDER_UNSUBSCRIBE,
    EventKind.GROUP_UNSUBSCRIBE,
]
SPAM_KINDS = [EventKind.COMPLAINT]
TIMELINE_KINDS = [EventKind.OPEN, EventKind.CLICK, EventKind.LETTER_SENT]

HOUR = 3600
# Bucket sizes for activity over time, in hours, and the longest span each serves.
TIMELINE_STEPS = ((1, 72), (24, 24 * 92), (24 * 7, None))
UNKNOWN_STATE = "unknown"
NOT_SENT = "not sent"


def grouped(value: int) -> str:
    """A count as people read it: 1,234."""
    return f"{value:,}"


def counted(value: int, singular: str, plural: str | None = None) -> str:
    """A count and its noun, singular for exactly one: 1 person, 2 people, 1,234 letters."""
    return f"{grouped(value)} {singular if value == 1 else plural or singular + 's'}"


def people(value: int) -> str:
    return counted(value, "person", "people")


@dataclass(frozen=True)
class Rate:
    """`count` out of `base`, where `of` names what the base counts."""

    count: int
    base: int
    of: str

    @property
    def value(self) -> float | None:
        return self.count / self.base if self.base else None

    @property
    def percent(self) -> str:
        value = self.value
        return "–" if value is None else f"{value * 100:.1f}%"

    @property
    def rounded(self) -> float | None:
        """The percentage with one decimal, as a number (JSON and CSV)."""
        return None if self.value is None else round(self.value * 100, 1)

    def __str__(self) -> str:
        return f"{self.percent} of {self.of}"


@dataclass(frozen=True)
class Engagement:
    """Opens or clicks: `unique` people and `total` events are human; `machine` apart."""

    unique: int = 0
    total: int = 0
    machine: int = 0
    raw_unique: int = 0  # people with any such event, machine-made ones included

    @classmethod
    def of(cls, totals: EventTotals | None) -> Engagement:
        totals = totals or EventTotals()
        return cls(totals.human_people, totals.human_events, totals.machine_events, totals.people)

    def as_json(self) -> dict[str, int]:
        return {"unique": self.unique, "total": self.total, "machine": self.machine}


@dataclass(frozen=True)
class Funnel:
    """One campaign's headline figures: recipients through letters sent."""

    recipients: int
    sent: int
    failed: int
    unknown: int
    in_progress: int  # pending or in flight: the send has not finished
    skipped: int
    delivered: int
    bounced: int
    dropped: int
    opens: Engagement
    clicks: Engagement
    provider_opens: Engagement
    provider_clicks: Engagement
    letter_visitors: int
    letter_page_views: int
    letter_writers: int
    letters_sent: int
    letters_emailed: int
    unsubscribes: int
    spam_reports: int

    @property
    def delivery_reported(self) -> bool:
        return self.delivered > 0

    @property
    def base_name(self) -> str:
        return "delivered" if self.delivery_reported else "sent"

    @property
    def base(self) -> int:
        return self.delivered if self.delivery_reported else self.sent

    def rate(self, count: int) -> Rate:
        """`count` as a rate of the campaign's base (delivered, else sent)."""
        return Rate(count, self.base, self.base_name)

    def of_sent(self, count: int) -> Rate:
        return Rate(count, self.sent, "sent")

    def of_recipients(self, count: int) -> Rate:
        return Rate(count, self.recipients, "recipients")


def build_funnel(
    ledger: dict[str, int],
    kinds: dict[str, EventTotals],
    *,
    letters_sent: int,
    unsubscribes: int,
    spam_reports: int,
) -> Funnel:
    """The funnel from ledger counts by state and event totals by kind."""

    def totals(kind: EventKind) -> EventTotals:
        return kinds.get(kind, EventTotals())

    return Funnel(
        recipients=sum(ledger.values()),
        sent=ledger.get(DeliveryState.SENT, 0),
        failed=ledger.get(DeliveryState.FAILED, 0),
        unknown=ledger.get(DeliveryState.UNKNOWN, 0),
        in_progress=ledger.get(DeliveryState.PENDING, 0) + ledger.get(DeliveryState.IN_FLIGHT, 0),
        skipped=ledger.get(DeliveryState.SKIPPED, 0),
        delivered=totals(EventKind.DELIVERED).people,
        bounced=totals(EventKind.BOUNCE).people,
        dropped=totals(EventKind.DROPPED).people,
        opens=Engagement.of(kinds.get(EventKind.OPEN)),
        clicks=Engagement.of(kinds.get(EventKind.CLICK)),
        provider_opens=Engagement.of(kinds.get(EventKind.PROVIDER_OPEN)),
        provider_clicks=Engagement.of(kinds.get(EventKind.PROVIDER_CLICK)),
        letter_visitors=totals(EventKind.LETTER_VISIT).human_people,
        letter_page_views=totals(EventKind.LETTER_VISIT).human_events,
        letter_writers=totals(EventKind.LETTER_SENT).human_people,
        letters_sent=letters_sent,
        letters_emailed=totals(EventKind.LETTER_EMAILED).human_people,
        unsubscribes=unsubscribes,
        spam_reports=spam_reports,
    )


@dataclass(frozen=True)
class FunnelLine:
    """One figure of the funnel as every format shows it."""

    label: str
    count: int
    rate: Rate | None = None
    note: str = ""
    stage: bool = False  # people who got this far: drawn as the funnel, the rest are details


def _stage_lines(f: Funnel, letters: bool) -> list[FunnelLine]:
    lines = [
        FunnelLine("Recipients", f.recipients, stage=True),
        FunnelLine("Sent", f.sent, f.of_recipients(f.sent), stage=True),
        FunnelLine(
            "Delivered",
            f.delivered,
            f.of_sent(f.delivered),
            "" if f.delivery_reported else "no delivery events yet",
            stage=f.delivery_reported,
        ),
        FunnelLine(
            "Opened", f.opens.unique, f.rate(f.opens.unique), "people, human opens", stage=True
        ),
        FunnelLine(
            "Clicked", f.clicks.unique, f.rate(f.clicks.unique), "people, human clicks", stage=True
        ),
    ]
    if letters:
        lines += [
            FunnelLine(
                "Visited the letter page",
                f.letter_visitors,
                f.rate(f.letter_visitors),
                "people who visited",
                stage=True,
            ),
            FunnelLine(
                "Sent a letter",
                f.letter_writers,
                f.rate(f.letter_writers),
                "people who sent one",
                stage=True,
            ),
        ]
    return lines


def _event_lines(f: Funnel, letters: bool) -> list[FunnelLine]:
    lines = [
        FunnelLine(
            "Opened, machine-made opens included",
            f.opens.raw_unique,
            f.rate(f.opens.raw_unique),
            "people",
        ),
        FunnelLine("Human opens (events)", f.opens.total),
        FunnelLine("Machine-made opens", f.opens.machine, note="privacy proxies and scanners"),
        FunnelLine("Human clicks (events)", f.clicks.total),
        FunnelLine("Machine-made clicks", f.clicks.machine, note="link scanners and HEAD requests"),
    ]
    if letters:
        lines += [
            FunnelLine("Letter page views", f.letter_page_views),
            FunnelLine(
                "Letters sent",
                f.letters_sent,
                note=f"by {people(f.letter_writers)}, once per recipient and member",
            ),
            FunnelLine("Letters emailed to themselves", f.letters_emailed, note="people"),
        ]
    return lines


def _delivery_lines(f: Funnel) -> list[FunnelLine]:
    lines = [
        FunnelLine("Failed", f.failed, f.of_recipients(f.failed), "SendGrid refused the request"),
        FunnelLine("Unknown", f.unknown, note="SendGrid may or may not have accepted them"),
        FunnelLine("Still to send", f.in_progress, note="pending or in flight"),
        FunnelLine("Skipped", f.skipped, note="left the list before their turn"),
        FunnelLine("Bounced", f.bounced, f.of_sent(f.bounced)),
        FunnelLine("Dropped by SendGrid", f.dropped, f.of_sent(f.dropped)),
        FunnelLine("Unsubscribed", f.unsubscribes, f.rate(f.unsubscribes)),
        FunnelLine("Reported as spam", f.spam_reports, f.rate(f.spam_reports)),
    ]
    for name, tracked in (("opens", f.provider_opens), ("clicks", f.provider_clicks)):
        if tracked.raw_unique or tracked.machine:
            lines.append(
                FunnelLine(
                    f"SendGrid-tracked {name}",
                    tracked.total,
                    note=people(tracked.unique),
                )
            )
    return lines


@dataclass(frozen=True)
class LinkStats:
    url: str
    unique: int
    total: int
    machine: int


@dataclass(frozen=True)
class MemberLetters:
    """Letters sent to one member: each recipient counts once per member."""

    target: str  # the bioguide id
    name: str
    seat: str  # e.g. "CA-12", "CA" for a senator, "" when the member is not in the roster
    party: str
    letters: int
    full_name: str = ""  # without the title, "" when the member is not in the roster
    public_letters: int = 0  # from the campaign's public page, by people not on the list

    @property
    def short_label(self) -> str:
        """Seat first, then the name: what tells members apart when a label is cut."""
        if self.seat and self.full_name:
            return f"{self.seat} · {self.full_name}"
        return self.name


@dataclass(frozen=True)
class StateStats:
    state: str
    recipients: int
    sent: int
    delivered: int
    opened: int
    clicked: int
    letter_writers: int


@dataclass(frozen=True)
class Bucket:
    start: int  # Unix seconds, UTC
    opens: int
    clicks: int
    letters: int

    @property
    def active(self) -> bool:
        return bool(self.opens or self.clicks or self.letters)


@dataclass(frozen=True)
class Timeline:
    """Human opens, clicks and letters per bucket of `hours`, every bucket present."""

    hours: int
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return {1: "hour", 24: "day"}.get(self.hours, "week")

    def label(self, bucket: Bucket) -> str:
        start = datetime.fromtimestamp(bucket.start, UTC)
        if self.hours == 1:
            return start.strftime("%Y-%m-%d %H:00")
        return start.strftime("%Y-%m-%d")


def sent_on(campaign: CampaignRecord) -> str:
    """The day sending started (YYYY-MM-DD, UTC), or '' if it never did."""
    return (campaign.send_started_at or "")[:10]


# How a recipient's House district was known when the campaign froze its recipients.
ADDRESSED_LABELS = {
    "address": "By street address",
    "zip": "By ZIP",
    "chosen": "By their own pick",
    "unknown": "Not at all",
}


@dataclass(frozen=True)
class CampaignStats:
    campaign: CampaignRecord
    funnel: Funnel
    links: list[LinkStats]
    members: list[MemberLetters]
    states: list[StateStats]
    timeline: Timeline
    addressed: dict[str, int] = field(default_factory=dict)  # ADDRESSED_LABELS key -> people
    outcomes: Outcomes = field(default_factory=Outcomes)  # stances, wins, follow-ups, deadline
    public: PublicTotals = field(default_factory=PublicTotals)  # the public page, /act/<slug>
    shares: dict[str, int] = field(default_factory=dict)  # share clicks by network
    signups: SignupFigures = field(default_factory=SignupFigures)  # from the website's forms

    def public_json(self) -> dict[str, object]:
        """The public page's visits and letters, and the signups the campaign brought."""
        return {
            "visits": self.public.visits,
            "letters": self.public.letters,
            "signups": self.signups.as_dict(),
        }

    def shares_json(self) -> dict[str, int]:
        """Share clicks per network, every network present, and their total."""
        counts = {str(network): self.shares.get(network, 0) for network in ShareNetwork}
        return {**counts, "total": sum(counts.values())}

    @property
    def addressing_matters(self) -> bool:
        """An action alert: its letters go to the recipients' own House members."""
        return self.campaign.kind == CampaignKind.ACTION

    def addressed_lines(self) -> list[tuple[str, int]]:
        """(label, recipients) for each way a House district was known, in a fixed order."""
        return [(label, self.addressed.get(key, 0)) for key, label in ADDRESSED_LABELS.items()]

    @property
    def letters_matter(self) -> bool:
        """An action alert, or letters happened anyway: show the letter figures."""
        f = self.funnel
        return self.campaign.kind == CampaignKind.ACTION or bool(
            f.letter_visitors or f.letter_writers
        )

    def funnel_lines(self) -> list[FunnelLine]:
        """Every funnel figure, stages first, with its rate and what it counts."""
        f, letters = self.funnel, self.letters_matter
        return _stage_lines(f, letters) + _event_lines(f, letters) + _delivery_lines(f)

    def state_rate(self, state: StateStats, people: int) -> Rate:
        """`people` of one state as a rate of that state's own base (delivered, else sent)."""
        f = self.funnel
        base = state.delivered if f.delivery_reported else state.sent
        return Rate(people, base, f.base_name)

    def as_json(self) -> dict[str, object]:
        """The figures under exactly the keys `alerts stats SLUG --format json` promises."""
        f = self.funnel
        return {
            "campaign": self.campaign.slug,
            "recipients": f.recipients,
            "sent": f.sent,
            "failed": f.failed,
            "delivered": f.delivered,
            "bounced": f.bounced,
            "opens": f.opens.as_json(),
            "clicks": f.clicks.as_json(),
            "letters": {"visits": f.letter_visitors, "sent": f.letters_sent},
            "unsubscribes": f.unsubscribes,
            "spam_reports": f.spam_reports,
            "links": [
                {"url": link.url, "unique": link.unique, "total": link.total} for link in self.links
            ],
            **({"addressed": dict(self.addressed)} if self.addressing_matters else {}),
            **self.outcomes.as_json(),
            "public": self.public_json(),
            "shares": self.shares_json(),
        }


OVERVIEW_HEADINGS = (
    "Campaign",
    "Kind",
    "Sent on",
    "Sent",
    "Delivered",
    "Opened",
    "Clicked",
    "Rates of",
    "Letters",
    "Unsubscribed",
)


@dataclass(frozen=True)
class CampaignRow:
    """One line of the all-campaigns table."""

    campaign: CampaignRecord
    funnel: Funnel

    @property
    def opened(self) -> Rate:
        return self.funnel.rate(self.funnel.opens.unique)

    @property
    def clicked(self) -> Rate:
        return self.funnel.rate(self.funnel.clicks.unique)

    def cells(self) -> dict[str, str]:
        """The line as people read it, under OVERVIEW_HEADINGS (the table and the HTML)."""
        f = self.funnel
        values = (
            self.campaign.slug,
            self.campaign.kind,
            sent_on(self.campaign) or NOT_SENT,
            grouped(f.sent),
            grouped(f.delivered),
            self.opened.percent,
            self.clicked.percent,
            f.base_name,
            grouped(f.letters_sent),
            grouped(f.unsubscribes),
        )
        return dict(zip(OVERVIEW_HEADINGS, values, strict=True))

    def as_dict(self) -> dict[str, object]:
        """The line under its JSON keys and CSV columns."""
        f = self.funnel
        return {
            "slug": self.campaign.slug,
            "kind": self.campaign.kind,
            "sent_on": sent_on(self.campaign),
            "sent": f.sent,
            "delivered": f.delivered,
            "unique_opens": f.opens.unique,
            "unique_open_rate_pct": self.opened.rounded,
            "unique_clicks": f.clicks.unique,
            "unique_click_rate_pct": self.clicked.rounded,
            "rate_denominator": f.base_name,
            "letters_sent": f.letters_sent,
            "unsubscribes": f.unsubscribes,
        }


def campaign_stats(db: Database, slug: str) -> CampaignStats:
    """Everything the report shows for the campaign named `slug`."""
    campaign = campaigns_db.campaign_record(db, slug)
    if campaign is None:
        raise NotFoundError(
            f"campaign {slug!r}: no campaign has this slug (`alerts stats` lists them)"
        )
    cid = campaign.id

    def people_with_any(kinds: list[EventKind]) -> int:
        return stats_db.stats_people_with_any(db, kinds, cid).get(cid, 0)

    members = _member_letters(stats_db.stats_target_totals(db, cid, EventKind.LETTER_SENT))
    members = _with_public_letters(members, visitors_db.public_letters_by_target(db, cid))
    funnel = build_funnel(
        stats_db.stats_ledger_counts(db, cid).get(cid, {}),
        stats_db.stats_kind_totals(db, cid).get(cid, {}),
        letters_sent=sum(m.letters for m in members),
        unsubscribes=people_with_any(UNSUBSCRIBE_KINDS),
        spam_reports=people_with_any(SPAM_KINDS),
    )
    return CampaignStats(
        campaign=campaign,
        funnel=funnel,
        links=_links(db, cid),
        members=members,
        states=_states(db, cid),
        timeline=_timeline(stats_db.stats_hourly(db, cid, TIMELINE_KINDS)),
        addressed=stats_db.stats_addressed(db, cid),
        public=visitors_db.public_totals(db, cid),
        shares=visitors_db.share_clicks_by_network(db, cid),
        signups=signup_figures(db, slug),
        outcomes=campaign_outcomes(db, campaign, {m.target: m.letters for m in members}),
    )


def all_campaigns(db: Database) -> list[CampaignRow]:
    """One row per campaign, newest first."""
    ledgers = stats_db.stats_ledger_counts(db)
    kinds = stats_db.stats_kind_totals(db)
    letters = stats_db.stats_letters_sent(db)
    unsubscribes = stats_db.stats_people_with_any(db, UNSUBSCRIBE_KINDS)
    return [
        CampaignRow(
            campaign,
            build_funnel(
                ledgers.get(campaign.id, {}),
                kinds.get(campaign.id, {}),
                letters_sent=letters.get(campaign.id, 0),
                unsubscribes=unsubscribes.get(campaign.id, 0),
                spam_reports=0,  # not a column of the table
            ),
        )
        for campaign in stats_db.stats_campaigns(db)
    ]


def _links(db: Database, campaign_id: int) -> list[LinkStats]:
    links = [
        LinkStats(
            link.url, link.clicks.human_people, link.clicks.human_events, link.clicks.machine_events
        )
        for link in stats_db.stats_link_totals(db, campaign_id)
    ]
    return sorted(links, key=lambda link: (-link.unique, -link.total))


def _member_letters(rows: list[stats_db.TargetTotals]) -> list[MemberLetters]:
    letters = [
        _member_line(row.target, row.member, row.totals.human_people)
        for row in rows
        if row.totals.human_people
    ]
    return sorted(letters, key=lambda m: (-m.letters, m.name))


def _member_line(target: str, member: Member | None, letters: int) -> MemberLetters:
    return MemberLetters(
        target=target,
        name=f"{member.title} {member.full_name}" if member else target,
        seat=_seat(member),
        party=(member.party or "") if member else "",
        letters=letters,
        full_name=member.full_name if member else "",
    )


def _with_public_letters(
    members: list[MemberLetters], public: list[visitors_db.MemberPublicLetters]
) -> list[MemberLetters]:
    """Subscribers' letters per member with the public page's beside them, most letters first."""
    if not public:
        return members
    lines = {m.target: m for m in members}
    for row in public:
        line = lines.get(row.target) or _member_line(row.target, row.member, 0)
        lines[row.target] = replace(line, public_letters=row.letters)
    return sorted(lines.values(), key=lambda m: (-(m.letters + m.public_letters), m.name))


def _seat(member: Member | None) -> str:
    if member is None:
        return ""
    if member.chamber == "senate" or member.district is None:
        return member.state
    return f"{member.state}-{member.district or 'AL'}"


def _states(db: Database, campaign_id: int) -> list[StateStats]:
    ledger = stats_db.stats_ledger_by_state(db, campaign_id)
    people = stats_db.stats_state_people(db, campaign_id)

    def human(state: str, kind: EventKind) -> int:
        return people.get(state, {}).get(kind, 0)

    rows = [
        StateStats(
            state=state or UNKNOWN_STATE,
            recipients=sum(ledger.get(state, {}).values()),
            sent=ledger.get(state, {}).get(DeliveryState.SENT, 0),
            delivered=human(state, EventKind.DELIVERED),
            opened=human(state, EventKind.OPEN),
            clicked=human(state, EventKind.CLICK),
            letter_writers=human(state, EventKind.LETTER_SENT),
        )
        for state in set(ledger) | set(people)
    ]
    return sorted(rows, key=lambda s: (-s.recipients, s.state))


def _timeline(rows: list[stats_db.HourTotals]) -> Timeline:
    """Buckets of an hour, a day or a week (UTC), whichever keeps the chart readable."""
    if not rows:
        return Timeline(hours=1)
    first, last = rows[0].hour, rows[-1].hour
    hours = next(
        step for step, longest in TIMELINE_STEPS if longest is None or last - first < longest
    )
    # Weeks start on Monday: the Unix epoch fell on a Thursday, 72 hours after one.
    offset = 72 if hours == 24 * 7 else 0
    start = (first + offset) // hours
    counts = {index: [0, 0, 0] for index in range(start, (last + offset) // hours + 1)}
    column = {kind: i for i, kind in enumerate(TIMELINE_KINDS)}
    for row in rows:
        counts[(row.hour + offset) // hours][column[EventKind(row.kind)]] += row.human_events
    return Timeline(
        hours=hours,
        buckets=[
            Bucket((index * hours - offset) * HOUR, *values) for index, values in counts.items()
        ],
    )
