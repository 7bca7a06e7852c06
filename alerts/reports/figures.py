"""Campaign statistics: what each campaign achieved, and the HTML report.

Figures come from the send ledger (who was due a message and what became of
the request) and from the events table, read through summaries that db.py
keeps current with triggers, so a report costs the same for a campaign of a
thousand or a million recipients. docs/stats.md says exactly what each figure
counts; in short:

- people, not events: `unique` figures and every funnel stage count recipients,
  so an event that arrives twice (a webhook retry) changes nothing;
- opens and clicks flagged as machine-made (privacy proxies, link scanners)
  are left out of `unique` and `total` and counted apart in `machine`;
- every rate names its base: delivered when SendGrid's delivery events have
  arrived for the campaign, else sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from importlib import resources

from alerts import __version__
from alerts.db import Database
from alerts.db import stats as stats_db
from alerts.errors import NotFoundError
from alerts.models import DeliveryState, EventKind, EventTotals, Member

UNSUBSCRIBE_KINDS = [EventKind.UNSUBSCRIBE, EventKind.SG_UNSUBSCRIBE, EventKind.GROUP_UNSUBSCRIBE]
SPAM_KINDS = [EventKind.SPAMREPORT]
TIMELINE_KINDS = [EventKind.OPEN, EventKind.CLICK, EventKind.LETTER_SENT]

HOUR = 3600
# Bucket sizes for activity over time, in hours, and the longest span each serves.
TIMELINE_STEPS = ((1, 72), (24, 24 * 92), (24 * 7, None))
UNKNOWN_STATE = "unknown"


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
    sendgrid_opens: Engagement
    sendgrid_clicks: Engagement
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


def build_funnel(
    ledger: dict[str, int],
    kinds: dict[str, EventTotals],
    *,
    letters_sent: int,
    unsubscribes: int,
    spam_reports: int,
) -> Funnel:
    def people(kind: EventKind) -> int:
        return kinds[kind].people if kind in kinds else 0

    def human_people(kind: EventKind) -> int:
        return kinds[kind].human_people if kind in kinds else 0

    return Funnel(
        recipients=sum(ledger.values()),
        sent=ledger.get(DeliveryState.SENT, 0),
        failed=ledger.get(DeliveryState.FAILED, 0),
        unknown=ledger.get(DeliveryState.UNKNOWN, 0),
        in_progress=ledger.get(DeliveryState.PENDING, 0) + ledger.get(DeliveryState.IN_FLIGHT, 0),
        skipped=ledger.get(DeliveryState.SKIPPED, 0),
        delivered=people(EventKind.DELIVERED),
        bounced=people(EventKind.BOUNCE),
        dropped=people(EventKind.DROPPED),
        opens=Engagement.of(kinds.get(EventKind.OPEN)),
        clicks=Engagement.of(kinds.get(EventKind.CLICK)),
        sendgrid_opens=Engagement.of(kinds.get(EventKind.SG_OPEN)),
        sendgrid_clicks=Engagement.of(kinds.get(EventKind.SG_CLICK)),
        letter_visitors=human_people(EventKind.LETTER_VISIT),
        letter_page_views=kinds.get(EventKind.LETTER_VISIT, EventTotals()).human_events,
        letter_writers=human_people(EventKind.LETTER_SENT),
        letters_sent=letters_sent,
        letters_emailed=human_people(EventKind.LETTER_EMAILED),
        unsubscribes=unsubscribes,
        spam_reports=spam_reports,
    )


@dataclass(frozen=True)
class CampaignInfo:
    id: int
    slug: str
    kind: str
    subject: str
    created_at: str
    send_started_at: str | None
    send_finished_at: str | None

    @property
    def sent_on(self) -> str:
        """The day sending started (YYYY-MM-DD, UTC), or '' if it never did."""
        return (self.send_started_at or "")[:10]


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


@dataclass(frozen=True)
class CampaignStats:
    campaign: CampaignInfo
    funnel: Funnel
    links: list[LinkStats]
    members: list[MemberLetters]
    states: list[StateStats]
    timeline: Timeline

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
        }


@dataclass(frozen=True)
class CampaignRow:
    """One line of the all-campaigns table."""

    campaign: CampaignInfo
    funnel: Funnel

    def as_dict(self) -> dict[str, object]:
        f = self.funnel
        return {
            "slug": self.campaign.slug,
            "kind": self.campaign.kind,
            "sent_on": self.campaign.sent_on,
            "sent": f.sent,
            "delivered": f.delivered,
            "unique_opens": f.opens.unique,
            "unique_open_rate_pct": _pct(f.rate(f.opens.unique)),
            "unique_clicks": f.clicks.unique,
            "unique_click_rate_pct": _pct(f.rate(f.clicks.unique)),
            "rate_denominator": f.base_name,
            "letters_sent": f.letters_sent,
            "unsubscribes": f.unsubscribes,
        }


def _pct(rate: Rate) -> float | None:
    return None if rate.value is None else round(rate.value * 100, 1)


# --------------------------------------------------------------------------
# Reading the figures


def campaign_stats(db: Database, slug: str) -> CampaignStats:
    """Everything the report shows for the campaign named `slug`."""
    campaign = _campaign(db, slug)
    kinds = stats_db.stats_kind_totals(db, campaign.id).get(campaign.id, {})
    members = _member_letters(stats_db.stats_target_totals(db, campaign.id, EventKind.LETTER_SENT))
    funnel = build_funnel(
        stats_db.stats_ledger_counts(db, campaign.id).get(campaign.id, {}),
        kinds,
        letters_sent=sum(m.letters for m in members),
        unsubscribes=_people_with_any(db, UNSUBSCRIBE_KINDS, campaign.id).get(campaign.id, 0),
        spam_reports=_people_with_any(db, SPAM_KINDS, campaign.id).get(campaign.id, 0),
    )
    return CampaignStats(
        campaign=campaign,
        funnel=funnel,
        links=_links(db, campaign.id),
        members=members,
        states=_states(db, campaign.id),
        timeline=_timeline(stats_db.stats_hourly(db, campaign.id, TIMELINE_KINDS)),
    )


def all_campaigns(db: Database) -> list[CampaignRow]:
    """One row per campaign, newest first."""
    ledgers = stats_db.stats_ledger_counts(db)
    kinds = stats_db.stats_kind_totals(db)
    letters = stats_db.stats_letters_sent(db)
    unsubscribes = _people_with_any(db, UNSUBSCRIBE_KINDS)
    rows = []
    for campaign in (CampaignInfo(**row) for row in stats_db.stats_campaigns(db)):
        funnel = build_funnel(
            ledgers.get(campaign.id, {}),
            kinds.get(campaign.id, {}),
            letters_sent=letters.get(campaign.id, 0),
            unsubscribes=unsubscribes.get(campaign.id, 0),
            spam_reports=0,  # not a column of the table
        )
        rows.append(CampaignRow(campaign, funnel))
    return rows


def _campaign(db: Database, slug: str) -> CampaignInfo:
    found = stats_db.stats_campaigns(db, slug)
    if not found:
        raise NotFoundError(
            f"campaign {slug!r}: no campaign has this slug (`alerts stats` lists them)"
        )
    return CampaignInfo(**found[0])


def _people_with_any(
    db: Database, kinds: list[EventKind], campaign_id: int | None = None
) -> dict[int, int]:
    return stats_db.stats_people_with_any(db, [str(kind) for kind in kinds], campaign_id)


def _links(db: Database, campaign_id: int) -> list[LinkStats]:
    links = [
        LinkStats(url, t.human_people, t.human_events, t.machine_events)
        for url, t in stats_db.stats_link_totals(db, campaign_id)
    ]
    return sorted(links, key=lambda link: (-link.unique, -link.total))


def _member_letters(rows: list[tuple[str, Member | None, EventTotals]]) -> list[MemberLetters]:
    letters = [
        MemberLetters(
            target=target,
            name=f"{member.title} {member.full_name}" if member else target,
            seat=_seat(member),
            party=(member.party or "") if member else "",
            letters=totals.human_people,
        )
        for target, member, totals in rows
        if totals.human_people
    ]
    return sorted(letters, key=lambda m: (-m.letters, m.name))


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


def _timeline(rows: list[tuple[str, int, int, int]]) -> Timeline:
    """Buckets of an hour, a day or a week (UTC), whichever keeps the chart readable."""
    if not rows:
        return Timeline(hours=1)
    first, last = rows[0][1], rows[-1][1]
    hours = next(
        step for step, longest in TIMELINE_STEPS if longest is None or last - first < longest
    )
    # Weeks start on Monday: the Unix epoch fell on a Thursday, 72 hours after one.
    offset = 72 if hours == 24 * 7 else 0
    start = (first + offset) // hours
    counts = {index: [0, 0, 0] for index in range(start, (last + offset) // hours + 1)}
    column = {kind: i for i, kind in enumerate(TIMELINE_KINDS)}
    for kind, hour, human, _machine in rows:
        counts[(hour + offset) // hours][column[kind]] += human
    return Timeline(
        hours=hours,
        buckets=[
            Bucket((index * hours - offset) * HOUR, *values) for index, values in counts.items()
        ],
    )


# --------------------------------------------------------------------------
# The HTML report: one self-contained file, charts drawn in inline SVG with the
# same figures in tables beside them. Every value from the database is escaped.

# Charts have no viewBox: their geometry is in percentages of the width and in
# pixels of height, so the text keeps its size on a phone as on a wide screen.
LABEL_CHARS = 30
BAR = 12  # pixels


@dataclass(frozen=True)
class _Bar:
    label: str
    values: tuple[float, ...]  # one per series
    note: str  # printed after the bars


def _n(value: int) -> str:
    return f"{value:,}"


def _clip(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hbar_svg(
    chart_id: str,
    title: str,
    desc: str,
    bars: list[_Bar],
    classes: list[str],
    scale: float | None = None,
) -> str:
    """Horizontal bars, one group per item and one bar per series; label and note above.

    A full bar is `scale`, by default the largest value.
    """
    row = 22 + len(classes) * (BAR + 4) + 8
    scale = scale or max([max(bar.values) for bar in bars] + [0]) or 1
    parts = []
    for index, bar in enumerate(bars):
        top = index * row
        parts.append(
            f'<text x="0" y="{top + 15}"><title>{escape(bar.label)}</title>'
            f"{escape(_clip(bar.label))}</text>"
            f'<text x="100%" y="{top + 15}" text-anchor="end">{escape(bar.note)}</text>'
        )
        for series, (value, css) in enumerate(zip(bar.values, classes, strict=True)):
            y = top + 22 + series * (BAR + 4)
            parts.append(
                f'<rect class="track" x="0" y="{y}" width="100%" height="{BAR}" rx="2"/>'
                f'<rect class="{css}" x="0" y="{y}" width="{100 * value / scale:.2f}%"'
                f' height="{BAR}" rx="2"/>'
            )
    return _svg(chart_id, title, desc, row * len(bars), "".join(parts))


def _svg(chart_id: str, title: str, desc: str, height: float, body: str) -> str:
    return (
        f'<svg width="100%" height="{height:.0f}" role="img"'
        f' aria-labelledby="{chart_id}-title {chart_id}-desc">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>{body}</svg>'
    )


def _legend(entries: list[tuple[str, str]]) -> str:
    items = "".join(
        f'<li style="--swatch: var(--series-{css[-1]})">{escape(label)}</li>'
        for label, css in entries
    )
    return f'<ul class="legend">{items}</ul>'


def _table(
    caption: str,
    headers: list[str],
    rows: list[list[str]],
    *,
    scroll: bool = False,
    row_class: str = "",
) -> str:
    """A table whose first column heads each row; cells are escaped here.

    Columns whose every cell is a figure are right-aligned.
    """
    numeric = [
        i > 0 and all(not row[i] or row[i][0] in "0123456789–" for row in rows)
        for i in range(len(headers))
    ]
    css = [' class="num"' if flag else "" for flag in numeric]
    head = "".join(
        f'<th scope="col"{c}>{escape(h)}</th>' for h, c in zip(headers, css, strict=True)
    )
    row_css = f' class="{row_class}"' if row_class else ""
    body = "".join(
        f'<tr><th scope="row"{row_css}>{escape(cells[0])}</th>'
        + "".join(f"<td{c}>{escape(cell)}</td>" for cell, c in zip(cells[1:], css[1:], strict=True))
        + "</tr>"
        for cells in rows
    )
    table = (
        f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
    # Both wrappers scroll sideways on a narrow screen rather than the page.
    wrapper = "scroll" if scroll else "wide"
    return (
        f'<div class="{wrapper}" role="region" aria-label="{escape(caption)}" tabindex="0">'
        f"{table}</div>"
    )


def _section(heading: str, intro: str, content: str) -> str:
    return f"<section><h2>{escape(heading)}</h2><p>{escape(intro)}</p>{content}</section>"


def _pair(chart: str, table: str) -> str:
    return f'<div class="pair"><figure>{chart}</figure><div>{table}</div></div>'


def _empty(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


def _page(title: str, body: str, generated_at: datetime | None) -> str:
    css = resources.files("alerts.reports").joinpath("report.css").read_text(encoding="utf-8")
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{css}</style></head>"
        f"<body><main>{body}<footer>Made by alerts {escape(__version__)} on {when}."
        " Unique figures count recipients; machine-made opens and clicks (privacy"
        " proxies, link scanners) are counted apart. Times are UTC.</footer>"
        "</main></body></html>\n"
    )


def _letters_matter(stats: CampaignStats) -> bool:
    f = stats.funnel
    return stats.campaign.kind == "action" or bool(f.letter_visitors or f.letter_writers)


def _stages(stats: CampaignStats) -> list[tuple[str, int, Rate | None]]:
    """Funnel stages: (name, people, rate with its base)."""
    f = stats.funnel
    stages: list[tuple[str, int, Rate | None]] = [
        ("Recipients", f.recipients, None),
        ("Sent", f.sent, Rate(f.sent, f.recipients, "recipients")),
    ]
    if f.delivery_reported:
        stages.append(("Delivered", f.delivered, Rate(f.delivered, f.sent, "sent")))
    stages += [
        ("Opened", f.opens.unique, f.rate(f.opens.unique)),
        ("Clicked", f.clicks.unique, f.rate(f.clicks.unique)),
    ]
    if _letters_matter(stats):
        stages += [
            ("Visited the letter page", f.letter_visitors, f.rate(f.letter_visitors)),
            ("Sent a letter", f.letter_writers, f.rate(f.letter_writers)),
        ]
    return stages


def _base_sentence(funnel: Funnel) -> str:
    if funnel.delivery_reported:
        return (
            f"Rates are of the {_n(funnel.delivered)} recipients SendGrid reported as delivered"
            " unless a row says otherwise."
        )
    return (
        f"No delivery events have arrived from SendGrid, so rates are of the {_n(funnel.sent)}"
        " messages sent unless a row says otherwise."
    )


def _cards(stats: CampaignStats) -> str:
    f = stats.funnel
    cards = [
        ("Sent", _n(f.sent), f"of {_n(f.recipients)} recipients"),
        (
            "Delivered",
            _n(f.delivered) if f.delivery_reported else "–",
            str(Rate(f.delivered, f.sent, "sent")) if f.delivery_reported else "not reported yet",
        ),
        (
            "Opened",
            f.rate(f.opens.unique).percent,
            f"{_n(f.opens.unique)} people, of {f.base_name}",
        ),
        (
            "Clicked",
            f.rate(f.clicks.unique).percent,
            f"{_n(f.clicks.unique)} people, of {f.base_name}",
        ),
    ]
    if _letters_matter(stats):
        cards.append(("Letters sent", _n(f.letters_sent), f"by {_n(f.letter_writers)} people"))
    cards.append(("Unsubscribed", _n(f.unsubscribes), str(f.rate(f.unsubscribes))))
    items = "".join(
        f'<li><span class="label">{escape(label)}</span><span class="figure">{escape(figure)}'
        f'</span><span class="label">{escape(note)}</span></li>'
        for label, figure, note in cards
    )
    return f'<ul class="cards" aria-label="Key figures">{items}</ul>'


def _funnel_section(stats: CampaignStats) -> str:
    f = stats.funnel
    stages = _stages(stats)
    bars = [
        _Bar(name, (people,), f"{_n(people)} · {rate.percent}" if rate else _n(people))
        for name, people, rate in stages
    ]
    desc = "; ".join(
        f"{name}: {_n(people)}" + (f" ({rate})" if rate else "") for name, people, rate in stages
    )
    chart = _hbar_svg("funnel", "Campaign funnel, in people", desc, bars, ["s1"])
    rows = [[name, _n(people), str(rate) if rate else ""] for name, people, rate in stages]
    rows.insert(
        3 + f.delivery_reported,
        [
            "Opened, machine-made opens included",
            _n(f.opens.raw_unique),
            str(f.rate(f.opens.raw_unique)),
        ],
    )
    table = _table("People at each stage", ["Stage", "People", "Rate"], rows)
    return _section("Funnel", _base_sentence(f), _pair(chart, table))


def _activity_section(stats: CampaignStats) -> str:
    timeline = stats.timeline
    if not timeline.buckets:
        return _section(
            "Opens and clicks over time", "Human events per bucket.", _empty("No activity yet.")
        )
    series = [("Opens", "s1"), ("Clicks", "s2")]
    if _letters_matter(stats):
        series.append(("Letters", "s3"))
    chart = _timeline_svg(timeline, series) + _legend(series)
    headers = [f"{timeline.unit.capitalize()} starting (UTC)", "Opens", "Clicks"]
    headers += ["Letters"] if len(series) == 3 else []
    rows = [
        [timeline.label(b), _n(b.opens), _n(b.clicks), _n(b.letters)][: len(headers)]
        for b in timeline.buckets
        if b.opens or b.clicks or b.letters
    ]
    table = _table(f"Human events per {timeline.unit}", headers, rows, scroll=True)
    intro = (
        f"Human opens, clicks and letters per {timeline.unit} (UTC);"
        " machine-made ones are left out."
    )
    return _section("Opens and clicks over time", intro, _pair(chart, table))


def _timeline_svg(timeline: Timeline, series: list[tuple[str, str]]) -> str:
    """One panel of columns per series, sharing the time axis, each with its own scale."""
    panel, gap = 80, 34
    buckets = timeline.buckets
    slot = 100 / len(buckets)
    parts = []
    for index, (name, css) in enumerate(series):
        values = [getattr(b, name.lower()) for b in buckets]
        top = index * (panel + gap) + 22
        peak = max(values)
        parts.append(
            f'<text x="0" y="{top - 8}">{escape(name)}</text>'
            f'<text class="muted" x="100%" y="{top - 8}" text-anchor="end">'
            f"at most {_n(peak)} per {timeline.unit}</text>"
            f'<line class="axis" x1="0" x2="100%" y1="{top + panel}" y2="{top + panel}"/>'
        )
        for position, value in enumerate(values):
            if value:
                tall = panel * value / peak
                parts.append(
                    f'<rect class="{css}" x="{position * slot + slot * 0.1:.3f}%"'
                    f' y="{top + panel - tall:.1f}" width="{slot * 0.8:.3f}%"'
                    f' height="{tall:.1f}"><title>{timeline.label(buckets[position])}:'
                    f" {_n(value)}</title></rect>"
                )
    axis = (len(series) - 1) * (panel + gap) + 22 + panel
    for position, x, anchor in ((0, "0", "start"), (-1, "100%", "end")):
        label = timeline.label(buckets[position])
        parts.append(
            f'<text class="muted" x="{x}" y="{axis + 18}" text-anchor="{anchor}">{label}</text>'
        )
    totals = {name: sum(getattr(b, name.lower()) for b in buckets) for name, _ in series}
    desc = (
        f"{len(buckets)} buckets of one {timeline.unit} from {timeline.label(buckets[0])}"
        f" to {timeline.label(buckets[-1])} UTC; totals: "
        + ", ".join(f"{name.lower()} {_n(total)}" for name, total in totals.items())
    )
    title = "Human opens, clicks and letters over time"
    return _svg("activity", title, desc, axis + 24, "".join(parts))


def _links_section(stats: CampaignStats) -> str:
    links = stats.links
    if not links:
        return _section("Clicks per link", "", _empty("This campaign has no tracked links."))
    bars = [
        _Bar(_short_url(link.url), (link.unique,), f"{_n(link.unique)} · {_n(link.total)} clicks")
        for link in links
    ]
    desc = "; ".join(
        f"{link.url}: {_n(link.unique)} people, {_n(link.total)} clicks" for link in links
    )
    chart = _hbar_svg("links", "People who clicked each link", desc, bars, ["s2"])
    rows = [[link.url, _n(link.unique), _n(link.total), _n(link.machine)] for link in links]
    headers = ["Link", "People", "Clicks", "Machine"]
    table = _table("Clicks per link", headers, rows, row_class="url")
    intro = "People who clicked each link at least once, and their clicks; scanners apart."
    return _section("Clicks per link", intro, _pair(chart, table))


def _short_url(url: str) -> str:
    return url.split("://", 1)[-1].removeprefix("www.")


def _members_section(stats: CampaignStats) -> str:
    members = stats.members
    if not members:
        return _section("Letters per member", "", _empty("No letters sent yet."))
    bars = [
        _Bar(f"{m.name} ({m.seat})" if m.seat else m.name, (m.letters,), _n(m.letters))
        for m in members
    ]
    desc = "; ".join(f"{bar.label}: {bar.note} letters" for bar in bars)
    chart = _hbar_svg("members", "Letters sent per member of Congress", desc, bars, ["s3"])
    rows = [[m.name, m.seat, m.party, _n(m.letters)] for m in members]
    table = _table("Letters per member", ["Member", "Seat", "Party", "Letters"], rows, scroll=True)
    intro = (
        "Each recipient counts once per member they wrote to,"
        " however often they pressed “I sent it”."
    )
    return _section("Letters per member", intro, _pair(chart, table))


def _states_section(stats: CampaignStats) -> str:
    f = stats.funnel
    if not stats.states:
        return _section("By state", "", _empty("No recipients yet."))

    def base(state: StateStats) -> int:
        return state.delivered if f.delivery_reported else state.sent

    headers = ["State", "Recipients", "Sent"]
    headers += ["Delivered"] if f.delivery_reported else []
    headers += [f"Opened (% of {f.base_name})", f"Clicked (% of {f.base_name})"]
    headers += ["Sent a letter"] if _letters_matter(stats) else []
    rows = []
    for state in stats.states:
        cells = [state.state, _n(state.recipients), _n(state.sent)]
        cells += [_n(state.delivered)] if f.delivery_reported else []
        cells += [
            f"{_n(state.opened)} ({Rate(state.opened, base(state), '').percent})",
            f"{_n(state.clicked)} ({Rate(state.clicked, base(state), '').percent})",
        ]
        cells += [_n(state.letter_writers)] if _letters_matter(stats) else []
        rows.append(cells)
    intro = (
        "Recipients by the state in their subscriber record; rates are of each state's own base."
    )
    return _section("By state", intro, _table("Recipients by state", headers, rows, scroll=True))


def _details_section(stats: CampaignStats) -> str:
    f = stats.funnel
    rows = [
        ["Human opens (events)", _n(f.opens.total), ""],
        ["Machine-made opens", _n(f.opens.machine), "privacy proxies and scanners"],
        ["Human clicks (events)", _n(f.clicks.total), ""],
        ["Machine-made clicks", _n(f.clicks.machine), "link scanners and HEAD requests"],
        ["Failed", _n(f.failed), "SendGrid refused the request"],
        ["Unknown", _n(f.unknown), "the request's fate is unknown"],
        ["Still to send", _n(f.in_progress), "pending or in flight"],
        ["Skipped", _n(f.skipped), "left the list before their turn"],
        ["Bounced", _n(f.bounced), str(Rate(f.bounced, f.sent, "sent"))],
        ["Dropped by SendGrid", _n(f.dropped), str(Rate(f.dropped, f.sent, "sent"))],
        ["Unsubscribed", _n(f.unsubscribes), str(f.rate(f.unsubscribes))],
        ["Reported as spam", _n(f.spam_reports), str(f.rate(f.spam_reports))],
    ]
    if _letters_matter(stats):
        rows[4:4] = [
            ["Letter page views", _n(f.letter_page_views), ""],
            ["Letters sent", _n(f.letters_sent), f"by {_n(f.letter_writers)} people"],
            ["Letters emailed to themselves", _n(f.letters_emailed), "people"],
        ]
    for name, counted in (("opens", f.sendgrid_opens), ("clicks", f.sendgrid_clicks)):
        if counted.raw_unique or counted.machine:
            rows.append(
                [f"SendGrid-tracked {name}", _n(counted.total), f"{_n(counted.unique)} people"]
            )
    table = _table("Events and delivery", ["Figure", "Count", "Note"], rows)
    intro = "Counts of events, the send ledger and SendGrid's reports."
    return _section("Events and delivery", intro, table)


def report_html(stats: CampaignStats, *, generated_at: datetime | None = None) -> str:
    """The one-campaign report as a self-contained HTML page."""
    c = stats.campaign
    kind = "Action alert" if c.kind == "action" else "Update"
    started = c.send_started_at.replace("T", " ").replace("Z", " UTC") if c.send_started_at else ""
    header = (
        f'<header><p class="eyebrow">{escape(kind)} · {escape(c.slug)}</p>'
        f"<h1>{escape(c.subject)}</h1>"
        f'<p class="lede">{f"Sending started {escape(started)}" if started else "Not sent yet"}.'
        "</p>"
        "</header>"
    )
    body = (
        header
        + _cards(stats)
        + "".join(
            section(stats)
            for section in (
                _funnel_section,
                _activity_section,
                _links_section,
                _members_section,
                _states_section,
                _details_section,
            )
            if section is not _members_section or _letters_matter(stats)
        )
    )
    return _page(f"{c.subject} · campaign report", body, generated_at)


def _overview_bar(row: CampaignRow) -> _Bar:
    f = row.funnel
    opened, clicked = f.rate(f.opens.unique), f.rate(f.clicks.unique)
    return _Bar(
        row.campaign.slug,
        ((opened.value or 0) * 100, (clicked.value or 0) * 100),
        f"opened {opened.percent} · clicked {clicked.percent}",
    )


def overview_html(rows: list[CampaignRow], *, generated_at: datetime | None = None) -> str:
    """Every campaign, newest first, as a self-contained HTML page."""
    header = (
        '<header><p class="eyebrow">Campaign report</p><h1>All campaigns</h1>'
        f'<p class="lede">{_n(len(rows))} campaigns, newest first. Each rate is of delivered'
        " when SendGrid's delivery events have arrived for that campaign, else of sent.</p>"
        "</header>"
    )
    if not rows:
        return _page("All campaigns", header + _empty("No campaigns yet."), generated_at)
    bars = [_overview_bar(row) for row in rows[:20]]
    desc = "; ".join(f"{bar.label}: {bar.note.replace(' · ', ', ')}" for bar in bars)
    title = "Unique open and click rates of recent campaigns, out of 100%"
    chart = _hbar_svg("overview", title, desc, bars, ["s1", "s2"], scale=100)
    chart += _legend([("Opened (human)", "s1"), ("Clicked (human)", "s2")])
    headers = [
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
    ]
    table_rows = [
        [
            row.campaign.slug,
            row.campaign.kind,
            row.campaign.sent_on,
            _n(row.funnel.sent),
            _n(row.funnel.delivered),
            row.funnel.rate(row.funnel.opens.unique).percent,
            row.funnel.rate(row.funnel.clicks.unique).percent,
            row.funnel.base_name,
            _n(row.funnel.letters_sent),
            _n(row.funnel.unsubscribes),
        ]
        for row in rows
    ]
    body = (
        header
        + _section(
            "Open and click rates",
            "The 20 most recent campaigns; a full bar is 100% of the campaign's own base.",
            f"<figure>{chart}</figure>",
        )
        + _section(
            "Every campaign",
            "",
            _table("Campaigns, newest first", headers, table_rows, scroll=True),
        )
    )
    return _page("All campaigns · campaign report", body, generated_at)
