"""`alerts stats [SLUG]`: what each campaign achieved, as a table, JSON, CSV or an HTML report."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import click

from alerts.files import write_whole
from alerts.reports.figures import (
    OVERVIEW_HEADINGS,
    CampaignRow,
    CampaignStats,
    all_campaigns,
    campaign_stats,
)
from alerts.reports.report import overview_html, report_html
from alerts.reports.signups import SignupFigures

from ._context import AppContext, pass_app
from ._output import format_option, print_table, write_csv

OVERVIEW_COLUMNS = [
    "slug",
    "kind",
    "sent_on",
    "sent",
    "delivered",
    "unique_opens",
    "unique_open_rate_pct",
    "unique_clicks",
    "unique_click_rate_pct",
    "rate_denominator",
    "letters_sent",
    "unsubscribes",
]
TABLE_COLUMNS = [heading.lower() for heading in OVERVIEW_HEADINGS]


@click.command()
@click.argument("slug", required=False)
@format_option("table", "json", "csv", "html")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE (replaced whole, never half-written) instead of standard output.",
)
@pass_app
def stats(app: AppContext, slug: str | None, fmt: str, out: Path | None) -> None:
    """Campaign statistics: every campaign, or the funnel of the campaign SLUG.

    Without SLUG: one row per campaign, newest first. With SLUG: recipients,
    sent, delivered, opens, clicks, letters, unsubscribes and spam reports,
    clicks per link, letters per member, a breakdown by state and activity over
    time. Every rate names its base: delivered once SendGrid's delivery events
    have arrived, else sent. Machine-made opens and clicks are counted apart.

    --format csv writes the per-campaign table (one row for SLUG). --format html
    writes a self-contained report; on a terminal without --out it goes to
    stats-SLUG.html (or stats.html) in the current folder.
    """
    if out is not None:
        app.check_output(out, "--out")
    db = app.db()
    organisation = app.config().get("org_name")
    if slug is None:
        text = _overview(all_campaigns(db), fmt, organisation)
    else:
        text = _one_campaign(campaign_stats(db, slug), fmt, organisation)
    if out is None and fmt == "html" and sys.stdout.isatty():
        out = app.check_output(Path(f"stats-{slug}.html" if slug else "stats.html"), "")
    if out is None:
        click.echo(text, nl=False)
        return
    _write_whole(out, text)
    click.echo(f"Wrote {out}", err=True)


def _overview(rows: list[CampaignRow], fmt: str, organisation: str | None) -> str:
    if fmt == "json":
        return json.dumps([row.as_dict() for row in rows], indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(rows)
    if fmt == "html":
        return overview_html(rows, organisation=organisation)
    if not rows:
        return "No campaigns yet.\n"
    return _captured(lambda out: print_table([_table_row(row) for row in rows], TABLE_COLUMNS, out))


def _one_campaign(report: CampaignStats, fmt: str, organisation: str | None) -> str:
    if fmt == "json":
        return json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv([CampaignRow(report.campaign, report.funnel)])
    if fmt == "html":
        return report_html(report, organisation=organisation)

    def draw(out: TextIO) -> None:
        _print_funnel(report, out)
        _print_sharing(report, out)
        _print_signups(report.signups, out)

    return _captured(draw)


def _csv(rows: list[CampaignRow]) -> str:
    buffer = io.StringIO()
    write_csv([row.as_dict() for row in rows], OVERVIEW_COLUMNS, buffer)
    return buffer.getvalue()


def _table_row(row: CampaignRow) -> dict[str, object]:
    return {heading.lower(): cell for heading, cell in row.cells().items()}


def _captured(draw: Callable[[TextIO], None]) -> str:
    """What `draw(out)` writes, as a string (so --out can take it too)."""
    buffer = io.StringIO()
    draw(buffer)
    return buffer.getvalue()


def _print_funnel(report: CampaignStats, out: TextIO) -> None:
    c, f = report.campaign, report.funnel
    click.echo(f"{c.slug} ({c.kind}): {c.readable_subject}", file=out)
    click.echo(
        f"Sending started {c.send_started_at}" if c.send_started_at else "Not sent yet", file=out
    )
    if f.delivery_reported:
        click.echo(f"Rates are of delivered ({f.delivered:,}) unless they say otherwise.", file=out)
    else:
        click.echo(f"No delivery events yet: rates are of sent ({f.sent:,}).", file=out)
    click.echo(file=out)
    print_table(_funnel_rows(report), ["figure", "count", "rate", "note"], out)
    if report.links:
        _heading("Clicks per link (human; machine-made apart)", out)
        rows = [
            {"url": link.url, "people": link.unique, "clicks": link.total, "machine": link.machine}
            for link in report.links
        ]
        print_table(rows, ["url", "people", "clicks", "machine"], out)
    if report.members:
        _print_members(report, out)
    for table in report.outcomes.tables():
        _heading(f"{table.heading}. {table.intro}", out)
        columns = [header.lower() for header in table.headers]
        print_table([dict(zip(columns, row, strict=True)) for row in table.rows], columns, out)
    if report.addressing_matters:
        _heading("House districts of the recipients, as known when they were chosen", out)
        lines = report.addressed_lines()
        rows = [{"addressed": label, "recipients": f"{n:,}"} for label, n in lines]
        print_table(rows, ["addressed", "recipients"], out)
    if report.states:
        _heading(f"By state (rates of each state's {f.base_name})", out)
        print_table(
            _state_rows(report),
            ["state", "recipients", "sent", "opened", "clicked", "letters"],
            out,
        )
    _print_timeline(report, out)


def _print_members(report: CampaignStats, out: TextIO) -> None:
    """Letters per member: subscribers', and beside them the public page's when it has any."""
    public = report.public.letters > 0
    _heading("Letters per member (each recipient once per member)", out)
    rows = [
        {"member": m.name, "seat": m.seat, "letters": m.letters, "public": m.public_letters}
        for m in report.members
    ]
    print_table(rows, ["member", "seat", "letters", *(["public"] if public else [])], out)
    if public:
        click.echo("public: letters from the public page, by people not on the list", file=out)


def _print_sharing(report: CampaignStats, out: TextIO) -> None:
    """The public page's visits and letters, and the share panel's clicks."""
    shares = report.shares_json()
    if not (report.public.visits or report.public.letters or shares["total"]):
        return
    _heading(f"Public page /act/{report.campaign.slug} and sharing", out)
    rows = [
        {"figure": "Visitors of the public page", "count": report.public.visits},
        {"figure": "Letters sent from it", "count": report.public.letters},
        *({"figure": f"Shared: {name}", "count": n} for name, n in shares.items()),
    ]
    print_table(rows, ["figure", "count"], out)


def _print_signups(signups: SignupFigures, out: TextIO) -> None:
    """The signups the campaign's website forms brought, by source and by day."""
    if not signups.any:
        return
    columns = ["confirmed", "pending", "expired"]
    _heading("Signups from the website (double opt-in)", out)
    print_table(signups.by_source, ["source", *columns], out)
    click.echo("", file=out)
    print_table(signups.by_day, ["day", *columns], out)


def _heading(text: str, out: TextIO) -> None:
    click.echo(file=out)
    click.echo(text, file=out)


def _funnel_rows(report: CampaignStats) -> list[dict[str, object]]:
    return [
        {
            "figure": line.label,
            "count": f"{line.count:,}",
            "rate": line.rate or "",
            "note": line.note,
        }
        for line in report.funnel_lines()
    ]


def _state_rows(report: CampaignStats) -> list[dict[str, object]]:
    return [
        {
            "state": s.state,
            "recipients": f"{s.recipients:,}",
            "sent": f"{s.sent:,}",
            "opened": f"{s.opened:,} ({report.state_rate(s, s.opened).percent})",
            "clicked": f"{s.clicked:,} ({report.state_rate(s, s.clicked).percent})",
            "letters": f"{s.letter_writers:,}",
        }
        for s in report.states
    ]


def _print_timeline(report: CampaignStats, out: TextIO) -> None:
    timeline = report.timeline
    rows = [
        {"start": timeline.label(b), "opens": b.opens, "clicks": b.clicks, "letters": b.letters}
        for b in timeline.buckets
        if b.active
    ]
    if rows:
        _heading(f"Activity per {timeline.unit} (UTC, human events)", out)
        print_table(rows, ["start", "opens", "clicks", "letters"], out)


def _write_whole(out: Path, text: str) -> None:
    """Write through a temporary file beside `out`: readers never see half a file."""
    try:
        write_whole(out, text.encode("utf-8"))
    except OSError as exc:
        raise click.ClickException(f"--out {out}: cannot write ({exc.strerror})") from None


COMMANDS = [stats]
