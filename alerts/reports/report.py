"""The HTML report: one self-contained page per campaign, and one for all campaigns.

Each page is a Jinja template in templates/ with report.css inlined and its
charts drawn in inline SVG, each beside a table of the same figures: nothing
to fetch, no script. Autoescaping is on, so every value from the database is
escaped. Here the figures become the page's parts (cards, sections, tables and
chart geometry); the templates only lay them out.

Charts have no viewBox: their geometry is in percentages of the width and in
pixels of height, so the text keeps its size on a phone as on a wide screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import ClassVar

import jinja2

from alerts import __version__
from alerts.models import CampaignKind
from alerts.reports.figures import (
    OVERVIEW_HEADINGS,
    CampaignRow,
    CampaignStats,
    Funnel,
    FunnelLine,
    Timeline,
    counted,
    grouped,
    people,
)

LABEL_CHARS = 30
LINE_CHARS = 34  # a bar's label and figure share a line: about this many fit at 320 px
MIN_LABEL_CHARS = 12
BAR = 12  # pixels
OVERVIEW_BARS = 20
MEMBER_BARS = 15  # the chart shows the members with most letters; the table shows all
NUMERIC_START = "0123456789–"


@dataclass(frozen=True)
class Card:
    label: str
    figure: str
    note: str


@dataclass(frozen=True)
class Table:
    """A table whose first column heads each row; columns of figures are right-aligned."""

    caption: str
    headers: Sequence[str]
    rows: list[list[str]]
    scroll: bool = False  # long: scrolls inside its own box
    row_class: str = ""

    @property
    def numeric(self) -> list[bool]:
        return [
            i > 0 and all(not row[i] or row[i][0] in NUMERIC_START for row in self.rows)
            for i in range(len(self.headers))
        ]


@dataclass(frozen=True)
class SvgText:
    tag: ClassVar[str] = "text"
    x: str
    y: str
    text: str
    anchor: str = ""
    css: str = ""
    title: str = ""  # shown on hover: the whole of a clipped label


@dataclass(frozen=True)
class SvgRect:
    tag: ClassVar[str] = "rect"
    css: str
    x: str
    y: str
    width: str
    height: str
    rounded: bool = False
    title: str = ""


@dataclass(frozen=True)
class SvgLine:
    """A horizontal line across the chart: the axis, or a gridline at a tick."""

    tag: ClassVar[str] = "line"
    y: str
    css: str = "axis"


@dataclass(frozen=True)
class Chart:
    """An inline SVG image with a text title and description for screen readers."""

    id: str
    title: str
    desc: str
    height: str
    shapes: list[SvgText | SvgRect | SvgLine] = field(default_factory=list)  # in drawing order


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # s1, s2 or s3: the colour --series-N

    @property
    def swatch(self) -> str:
        return f"var(--series-{self.css[-1]})"


@dataclass(frozen=True)
class Section:
    """A heading and intro, then an empty-state line, a chart and/or a table."""

    heading: str
    intro: str = ""
    chart: Chart | None = None
    legend: list[Series] = field(default_factory=list)
    table: Table | None = None
    empty: str = ""
    more: str = ""  # under the chart: what it leaves out


@dataclass(frozen=True)
class _Bar:
    label: str
    values: tuple[float, ...]  # one per series
    note: str  # printed after the bars


def report_html(
    stats: CampaignStats,
    *,
    organisation: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The one-campaign report as a self-contained HTML page, under the organisation's name."""
    c = stats.campaign
    started = c.send_started_at.replace("T", " ").replace("Z", " UTC") if c.send_started_at else ""
    return _render(
        "report.html",
        generated_at,
        organisation,
        title=f"{c.readable_subject} · {_report_name(organisation)}",
        eyebrow=f"{'Action alert' if c.kind == CampaignKind.ACTION else 'Update'} · {c.slug}",
        subject=c.readable_subject,
        lede=f"Sending started {started}." if started else "Not sent yet.",
        cards=_cards(stats),
        sections=[
            _funnel_section(stats),
            _activity_section(stats),
            _links_section(stats),
            *([_members_section(stats)] if stats.letters_matter else []),
            *([_sharing_section(stats)] if stats.letters_matter else []),
            *_outcome_sections(stats),
            *([_addressed_section(stats)] if stats.addressing_matters else []),
            _states_section(stats),
            _details_section(stats),
        ],
    )


def overview_html(
    rows: list[CampaignRow],
    *,
    organisation: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    """Every campaign, newest first, as a self-contained HTML page."""
    return _render(
        "overview.html",
        generated_at,
        organisation,
        title=f"All campaigns · {_report_name(organisation)}",
        count=counted(len(rows), "campaign"),
        sections=_overview_sections(rows) if rows else [],
    )


def _report_name(organisation: str | None) -> str:
    return f"{organisation} campaign report" if organisation else "campaign report"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("alerts.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _css() -> str:
    return resources.files("alerts.reports").joinpath("report.css").read_text("utf-8")


def _render(
    template: str, generated_at: datetime | None, organisation: str | None, **context: object
) -> str:
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    page = _environment().get_template(template)
    return (
        page.render(
            css=_css(),
            version=__version__,
            generated=when,
            organisation=organisation or "",
            **context,
        )
        + "\n"
    )


def _cards(stats: CampaignStats) -> list[Card]:
    f = stats.funnel
    cards = [
        Card("Sent", grouped(f.sent), f"of {counted(f.recipients, 'recipient')}"),
        Card(
            "Delivered",
            grouped(f.delivered) if f.delivery_reported else "–",
            str(f.of_sent(f.delivered)) if f.delivery_reported else "not reported yet",
        ),
        Card(
            "Opened",
            f.rate(f.opens.unique).percent,
            f"{people(f.opens.unique)}, of {f.base_name}",
        ),
        Card(
            "Clicked",
            f.rate(f.clicks.unique).percent,
            f"{people(f.clicks.unique)}, of {f.base_name}",
        ),
    ]
    if stats.letters_matter:
        cards.append(
            Card("Letters sent", grouped(f.letters_sent), f"by {people(f.letter_writers)}")
        )
    cards.append(Card("Unsubscribed", grouped(f.unsubscribes), str(f.rate(f.unsubscribes))))
    return cards


def _base_sentence(funnel: Funnel) -> str:
    if funnel.delivery_reported:
        return (
            f"Rates are of the {counted(funnel.delivered, 'recipient')} SendGrid reported as"
            " delivered unless a row says otherwise."
        )
    return (
        f"No delivery events have arrived from SendGrid, so rates are of the"
        f" {counted(funnel.sent, 'message')} sent unless a row says otherwise."
    )


def _line_cells(line: FunnelLine) -> list[str]:
    return [line.label, grouped(line.count), str(line.rate or ""), line.note]


def _funnel_section(stats: CampaignStats) -> Section:
    stages = [line for line in stats.funnel_lines() if line.stage]
    bars = [
        _Bar(
            line.label,
            (line.count,),
            f"{grouped(line.count)} · {line.rate.percent}" if line.rate else grouped(line.count),
        )
        for line in stages
    ]
    desc = "; ".join(
        f"{line.label}: {grouped(line.count)}" + (f" ({line.rate})" if line.rate else "")
        for line in stages
    )
    return Section(
        "Funnel",
        _base_sentence(stats.funnel),
        chart=_hbar_chart("funnel", "Campaign funnel, in people", desc, bars, ["s1"]),
        table=Table(
            "People at each stage",
            ["Stage", "People", "Rate"],
            [_line_cells(line)[:3] for line in stages],
        ),
    )


def _details_section(stats: CampaignStats) -> Section:
    return Section(
        "Events and delivery",
        "Counts of events, the send ledger and SendGrid's reports.",
        table=Table(
            "Events and delivery",
            ["Figure", "Count", "Rate", "Note"],
            [_line_cells(line) for line in stats.funnel_lines() if not line.stage],
        ),
    )


def _activity_section(stats: CampaignStats) -> Section:
    heading = "Opens and clicks over time"
    timeline = stats.timeline
    if not timeline.buckets:
        return Section(heading, "Human events per bucket.", empty="No activity yet.")
    series = [Series("Opens", "s1"), Series("Clicks", "s2")]
    if stats.letters_matter:
        series.append(Series("Letters", "s3"))
    headers = [f"{timeline.unit.capitalize()} starting (UTC)", *(s.name for s in series)]
    rows = [
        [timeline.label(b), grouped(b.opens), grouped(b.clicks), grouped(b.letters)][: len(headers)]
        for b in timeline.buckets
        if b.active
    ]
    return Section(
        heading,
        f"Human opens, clicks and letters per {timeline.unit} (UTC);"
        " machine-made ones are left out.",
        chart=_timeline_chart(timeline, series),
        legend=series,
        table=Table(f"Human events per {timeline.unit}", headers, rows, scroll=True),
    )


def _links_section(stats: CampaignStats) -> Section:
    links = stats.links
    if not links:
        return Section("Clicks per link", empty="This campaign has no tracked links.")
    bars = [
        _Bar(
            _short_url(link.url),
            (link.unique,),
            f"{grouped(link.unique)} · {counted(link.total, 'click')}",
        )
        for link in links
    ]
    desc = "; ".join(
        f"{link.url}: {people(link.unique)}, {counted(link.total, 'click')}" for link in links
    )
    rows = [
        [link.url, grouped(link.unique), grouped(link.total), grouped(link.machine)]
        for link in links
    ]
    return Section(
        "Clicks per link",
        "People who clicked each link at least once, and their clicks; scanners apart.",
        chart=_hbar_chart("links", "People who clicked each link", desc, bars, ["s2"]),
        table=Table(
            "Clicks per link", ["Link", "People", "Clicks", "Machine"], rows, row_class="url"
        ),
    )


def _short_url(url: str) -> str:
    return url.split("://", 1)[-1].removeprefix("www.")


def _members_section(stats: CampaignStats) -> Section:
    members = stats.members
    if not members:
        return Section("Letters per member", empty="No letters sent yet.")
    shown = members[:MEMBER_BARS]
    bars = [_Bar(m.short_label, (m.letters,), grouped(m.letters)) for m in shown]
    left_out = len(members) - len(shown)
    more = f"…and {counted(left_out, 'more member')}: the table lists all." if left_out else ""
    desc = "; ".join(
        f"{m.name}{f' ({m.seat})' if m.seat else ''}: {counted(m.letters, 'letter')}" for m in shown
    )
    title = "Letters sent per member of Congress"
    if left_out:
        title = f"Letters sent to the {len(shown)} members with the most letters"
        desc += f"; {more}"
    public = stats.public.letters > 0
    rows = [
        [m.name, m.seat, m.party, grouped(m.letters)]
        + ([grouped(m.public_letters)] if public else [])
        for m in members
    ]
    headers = ["Member", "Seat", "Party", "Letters"] + (["Public letters"] if public else [])
    return Section(
        "Letters per member",
        "Each recipient counts once per member they wrote to,"
        " however often they pressed “I sent it”."
        + (" Public letters came from the campaign's public page." if public else ""),
        chart=_hbar_chart("members", title, desc, bars, ["s3"]),
        table=Table("Letters per member", headers, rows, scroll=True),
        more=more,
    )


def _sharing_section(stats: CampaignStats) -> Section:
    shares = stats.shares_json()
    rows = [
        ["Visitors of the public page", grouped(stats.public.visits)],
        ["Letters sent from it", grouped(stats.public.letters)],
        *([f"Shared: {name}", grouped(n)] for name, n in shares.items()),
    ]
    return Section(
        "Public page and sharing",
        f"The campaign's public letter page, /act/{stats.campaign.slug}, for people not on"
        " the list, and the share links of letter pages, counted when followed.",
        table=Table("Public page and share clicks", ["Figure", "Count"], rows),
    )


def _addressed_section(stats: CampaignStats) -> Section:
    rows = [[label, grouped(n)] for label, n in stats.addressed_lines()]
    return Section(
        "House districts",
        "How each recipient's House district was known when the campaign chose its"
        " recipients: from their street address, their ZIP, their own pick, or not at all.",
        table=Table("Recipients by how their House district was known", ["Known", "Recipients"],
                    rows),
    )  # fmt: skip


def _outcome_sections(stats: CampaignStats) -> list[Section]:
    """Letters per stance, wins, letters by email and the deadline, where they matter."""
    return [
        Section(table.heading, table.intro, table=Table(table.heading, table.headers, table.rows))
        for table in stats.outcomes.tables()
    ]


def _states_section(stats: CampaignStats) -> Section:
    f = stats.funnel
    if not stats.states:
        return Section("By state", empty="No recipients yet.")
    headers = ["State", "Recipients", "Sent"]
    headers += ["Delivered"] if f.delivery_reported else []
    headers += [f"Opened (% of {f.base_name})", f"Clicked (% of {f.base_name})"]
    headers += ["Sent a letter"] if stats.letters_matter else []
    rows = []
    for state in stats.states:
        cells = [state.state, grouped(state.recipients), grouped(state.sent)]
        cells += [grouped(state.delivered)] if f.delivery_reported else []
        cells += [
            f"{grouped(count)} ({stats.state_rate(state, count).percent})"
            for count in (state.opened, state.clicked)
        ]
        cells += [grouped(state.letter_writers)] if stats.letters_matter else []
        rows.append(cells)
    return Section(
        "By state",
        "Recipients by the state in their subscriber record when the campaign was sent;"
        " rates are of each state's own base.",
        table=Table("Recipients by state", headers, rows, scroll=True),
    )


def _overview_sections(rows: list[CampaignRow]) -> list[Section]:
    bars = [
        _Bar(
            row.campaign.slug,
            ((row.opened.value or 0) * 100, (row.clicked.value or 0) * 100),
            f"{row.opened.percent} · {row.clicked.percent}",
        )
        for row in rows[:OVERVIEW_BARS]
    ]
    desc = "; ".join(
        f"{row.campaign.slug}: opened {row.opened.percent}, clicked {row.clicked.percent}"
        for row in rows[:OVERVIEW_BARS]
    )
    title = "Unique open and click rates of recent campaigns, out of 100%"
    return [
        Section(
            "Open and click rates",
            f"The {OVERVIEW_BARS} most recent campaigns; a full bar is 100% of the campaign's"
            " own base.",
            chart=_hbar_chart("overview", title, desc, bars, ["s1", "s2"], scale=100),
            legend=[Series("Opened (human)", "s1"), Series("Clicked (human)", "s2")],
        ),
        Section(
            "Every campaign",
            table=Table(
                "Campaigns, newest first",
                OVERVIEW_HEADINGS,
                [list(row.cells().values()) for row in rows],
                scroll=True,
            ),
        ),
    ]


def _clip(text: str, limit: int = LABEL_CHARS) -> str:
    """At most `limit` characters, cut between words or after a `/`: "Representative Jo…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space, slash = cut.rfind(" "), cut.rfind("/") + 1
    end = space if space > 0 else slash if slash > 1 else len(cut)
    return cut[:end].rstrip(" ,(") + "…"


def _label_limit(bars: list[_Bar]) -> int:
    """How long labels may be so that each fits on its line beside the bar's figure."""
    longest_note = max((len(bar.note) for bar in bars), default=0)
    return max(MIN_LABEL_CHARS, min(LABEL_CHARS, LINE_CHARS - longest_note - 2))


def _hbar_chart(
    chart_id: str,
    title: str,
    desc: str,
    bars: list[_Bar],
    classes: list[str],
    scale: float | None = None,
) -> Chart:
    """Horizontal bars, one group per item and one bar per series; label and note above.

    A full bar is `scale`, by default the largest value.
    """
    row = 22 + len(classes) * (BAR + 4) + 8
    scale = scale or max([max(bar.values) for bar in bars] + [0]) or 1
    chart = Chart(chart_id, title, desc, f"{row * len(bars)}")
    limit = _label_limit(bars)
    for index, bar in enumerate(bars):
        top = index * row
        chart.shapes.append(SvgText("0", f"{top + 15}", _clip(bar.label, limit), title=bar.label))
        chart.shapes.append(SvgText("100%", f"{top + 15}", bar.note, anchor="end"))
        for series, (value, css) in enumerate(zip(bar.values, classes, strict=True)):
            y = f"{top + 22 + series * (BAR + 4)}"
            chart.shapes.append(SvgRect("track", "0", y, "100%", f"{BAR}", rounded=True))
            width = f"{100 * value / scale:.2f}%"
            chart.shapes.append(SvgRect(css, "0", y, width, f"{BAR}", rounded=True))
    return chart


def scale_ticks(peak: int, most_steps: int = 3) -> list[int]:
    """Round tick values from 0 to a top at or above `peak`: 0, 20, 40 for 37; 0-60 for 59.

    The step is the smallest of 1, 2, 2.5 and 5 times a power of ten (whole
    numbers) that reaches `peak` in at most `most_steps` steps.
    """
    magnitude = 1
    while True:
        for factor in (1, 2, 2.5, 5) if magnitude >= 10 else (1, 2, 5):
            step = int(factor * magnitude)
            steps = max(1, math.ceil(peak / step))
            if steps <= most_steps:
                return list(range(0, step * steps + 1, step))
        magnitude *= 10


def _timeline_chart(timeline: Timeline, series: list[Series]) -> Chart:
    """One panel of columns per series, sharing the time axis, each with its own scale.

    Each panel has gridlines at round values, labelled at its right end.
    """
    panel, gap = 80, 34
    buckets = timeline.buckets
    slot = 100 / len(buckets)
    axis = (len(series) - 1) * (panel + gap) + 22 + panel
    totals = {s.name: sum(getattr(b, s.name.lower()) for b in buckets) for s in series}
    chart = Chart(
        "activity",
        "Human opens, clicks and letters over time",
        f"{len(buckets)} buckets of one {timeline.unit} from {timeline.label(buckets[0])}"
        f" to {timeline.label(buckets[-1])} UTC; totals: "
        + ", ".join(f"{name.lower()} {grouped(total)}" for name, total in totals.items()),
        f"{axis + 24}",
    )
    for index, one in enumerate(series):
        values = [getattr(b, one.name.lower()) for b in buckets]
        top = index * (panel + gap) + 22
        ticks = scale_ticks(max(values))
        scale = ticks[-1]
        chart.shapes.append(SvgText("0", f"{top - 8}", f"{one.name} per {timeline.unit}"))
        for tick in ticks:
            y = top + panel - panel * tick / scale
            chart.shapes.append(SvgLine(f"{y:.1f}", "axis" if tick == 0 else "grid"))
        for position, value in enumerate(values):
            if value:
                tall = panel * value / scale
                chart.shapes.append(
                    SvgRect(
                        one.css,
                        f"{position * slot + slot * 0.1:.3f}%",
                        f"{top + panel - tall:.1f}",
                        f"{slot * 0.8:.3f}%",
                        f"{tall:.1f}",
                        title=f"{timeline.label(buckets[position])}: {grouped(value)}",
                    )
                )
        for tick in ticks:  # over the columns, each with a halo of the page colour
            y = top + panel - panel * tick / scale
            chart.shapes.append(
                SvgText("100%", f"{y - 3:.1f}", grouped(tick), anchor="end", css="tick")
            )
    for position, x, anchor in ((0, "0", "start"), (-1, "100%", "end")):
        label = timeline.label(buckets[position])
        chart.shapes.append(SvgText(x, f"{axis + 18}", label, anchor=anchor, css="muted"))
    return chart
