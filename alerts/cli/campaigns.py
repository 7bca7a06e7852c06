"""`alerts campaigns list|new|check|status` and `alerts preview`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from alerts import pipeline
from alerts.campaigns import files as campaigns
from alerts.campaigns.segments import describe_segment
from alerts.config import bundled_dir
from alerts.db import campaigns as campaigns_db
from alerts.db import segments as segments_db
from alerts.email.personalise import PreparedCampaign, preview_message
from alerts.errors import AlertsError, CampaignError
from alerts.files import write_whole
from alerts.letters.variants import variant_counts
from alerts.models import (
    Campaign,
    CampaignKind,
    CompiledCampaign,
    DeliveryState,
    RenderedMessage,
    Subscriber,
)

from ._context import AppContext, pass_app
from ._output import format_option, print_json, print_table


def campaigns_dir(app: AppContext) -> Path:
    """The project's campaigns/ folder, beside alerts.toml."""
    return app.campaigns_dir()


def templates_dir(app: AppContext) -> Path:
    """The project's templates/, or the bundled ones when the project has none."""
    own = app.config_path.parent / "templates"
    return own if own.is_dir() else bundled_dir("templates")


@click.group("campaigns")
def campaigns_group() -> None:
    """Write and check campaigns: files in campaigns/<slug>.md."""


@campaigns_group.command("list")
@format_option("table", "json")
@pass_app
def list_campaigns(app: AppContext, fmt: str) -> None:
    """Every campaign file with its kind, subject and status (draft, sending, sent, invalid)."""
    records = campaigns_db.campaign_records(app.db()) if app.db_path.exists() else []
    rows = campaigns.summaries(campaigns_dir(app), records)
    if fmt == "json":
        print_json([row.as_dict() for row in rows])
        return
    if not rows:
        click.echo(f"No campaigns in {campaigns_dir(app)}/: make one with `alerts campaigns new`.")
        return
    print_table([row.as_dict() for row in rows], ["slug", "kind", "subject", "status"])
    for row in rows:
        if row.problem:
            click.echo(f"{row.slug}: {row.problem}", err=True)


@campaigns_group.command("new")
@click.argument("slug")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in CampaignKind]),
    default=CampaignKind.UPDATE.value,
    show_default=True,
    help="update: an infrequent newsletter; action: a call to action with a letter.",
)
@pass_app
def new_campaign(app: AppContext, slug: str, kind: str) -> None:
    """Create campaigns/SLUG.md from a scaffold that passes the check."""
    path = campaigns.create_campaign(campaigns_dir(app), slug, CampaignKind(kind))
    click.echo(f"Created  {path}")
    click.echo(f"Next: edit it, then `alerts campaigns check {slug}` and `alerts preview {slug}`.")


@campaigns_group.command("check")
@click.argument("slugs", nargs=-1, metavar="[SLUG]...")
@pass_app
def check_campaigns(app: AppContext, slugs: tuple[str, ...]) -> None:
    """Check campaign files (all of them when no SLUG is given).

    Reports YAML errors, unknown keys, undefined variables and template errors as
    file:line: message, MJML errors and missing footer parts, and an action alert
    whose letters would go to members who left office or through an out-of-date
    ZIP map; exits non-zero on any. Warns, without failing, of a campaign that
    `alerts send` refuses until `alerts bills update SLUG` fetched its bill.
    """
    folder = campaigns_dir(app)
    names = list(slugs) or [path.stem for path in campaigns.campaign_files(folder)]
    if not names:
        raise CampaignError(f"no campaign files in {folder}/")
    site = pipeline.site_settings(app.config())
    failed = 0
    for name in names:
        try:
            campaign = campaigns.find_campaign(folder, name)
            compiled = pipeline.check_campaign(campaign, site, templates_dir(app))
        except CampaignError as exc:
            failed += 1
            for problem in exc.problems:
                click.echo(problem, err=True)
            continue
        except AlertsError as exc:
            failed += 1
            click.echo(str(exc), err=True)
            continue
        stale = pipeline.stale_targets(app.db(), campaign) if app.db_path.exists() else None
        if stale is not None:
            failed += 1
            click.echo(f"{campaign.path}: {stale.refusal()}", err=True)
            continue
        click.echo(f"ok       {campaign.slug}: {_check_summary(app, campaign, compiled)}")
        _echo_unknown_stances(app, campaign)
        _echo_variant_counts(app, campaign)
    if failed:
        raise CampaignError(f"{failed} of {len(names)} campaign(s) failed the check")


def _check_summary(app: AppContext, campaign: Campaign, compiled: CompiledCampaign) -> str:
    links = len(compiled.links)
    parts = [f"{campaign.kind}", f"{links} tracked link{'s' if links != 1 else ''}"]
    audience = describe_segment(campaign.segment)
    if app.db_path.exists():
        count = segments_db.segment_count(app.db(), campaign.segment)
        audience += f" ({count:,} now)"
    parts.append(f"to {audience}")
    return ", ".join(parts)


def _echo_unknown_stances(app: AppContext, campaign: Campaign) -> None:
    """A warning for each reason `alerts send` would refuse until the bill was fetched."""
    if not app.db_path.exists():
        return
    for reason in pipeline.unknown_stances(app.db(), campaign):
        click.echo(f"Warning: {reason}; `alerts send` refuses it until then.", err=True)


def _echo_variant_counts(app: AppContext, campaign: Campaign) -> None:
    """How many of the recipients' letters each letter variant would be, one line each."""
    if campaign.letter is None or not campaign.letter.variants or not app.db_path.exists():
        return
    db = app.db()
    record = campaigns_db.campaign_record(db, campaign.slug)
    for count in variant_counts(db, campaign, record.id if record else None):
        name = "default letter" if count.variant == "default" else f"variant {count.variant}"
        members = f"{count.members:,} member{'s' if count.members != 1 else ''}"
        click.echo(
            f"         {name} ({', '.join(count.stances) or 'no stance'}):"
            f" {count.letters:,} letter{'s' if count.letters != 1 else ''} to {members}"
        )


@campaigns_group.command("status")
@click.argument("slug")
@click.option(
    "--list",
    "list_state",
    type=click.Choice([state.value for state in DeliveryState]),
    help="Also list the recipients in this state (id, email, reason).",
)
@format_option("table", "json")
@pass_app
def status(app: AppContext, slug: str, list_state: str | None, fmt: str) -> None:
    """The send ledger of campaign SLUG: recipients per state, why they failed or were skipped."""
    report = pipeline.send_status(app.db(), campaigns_dir(app), slug, list_state=list_state)
    if fmt == "json":
        print_json(report.as_dict(listed_state=list_state))
        return
    click.echo(f"{slug}: {_status_line(report)}")
    click.echo()
    rows = [{"state": state, "recipients": f"{n:,}"} for state, n in report.counts.items()]
    rows.append({"state": "total", "recipients": f"{sum(report.counts.values()):,}"})
    print_table(rows, ["state", "recipients"])
    _reasons_table("Reasons of failures", report.failures)
    _reasons_table("Reasons of skips", report.skips)
    if list_state:
        click.echo()
        click.echo(f"Recipients {list_state} ({len(report.listed):,})")
        listed = [
            {"id": r.subscriber_id, "email": r.email, "reason": r.reason} for r in report.listed
        ]
        print_table(listed, ["id", "email", "reason"])


def _reasons_table(title: str, reasons: list[tuple[str, int]]) -> None:
    if reasons:
        click.echo()
        click.echo(title)
        rows = [{"recipients": f"{n:,}", "reason": reason} for reason, n in reasons]
        print_table(rows, ["recipients", "reason"])


def _status_line(report: pipeline.SendStatus) -> str:
    if report.status == "draft":
        return "not sent yet"
    line = f"{report.status}, started {report.started_at}"
    if report.finished_at:
        line += f", finished {report.finished_at}"
    if report.runs:
        last = report.runs[-1]
        outcome = last["outcome"] or "running"
        line += f"; {len(report.runs)} run{'s' if len(report.runs) != 1 else ''}, last {outcome}"
        if last["message"]:
            line += f" ({last['message']})"
    return line


@click.command("preview")
@click.argument("slug")
@click.option("--email", help="Show the message as this subscriber gets it (default: a sample).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the message to FILE instead of standard output.",
)
@click.option("--text", "as_text", is_flag=True, help="The plain-text part, with its headers.")
@click.option("--open", "open_it", is_flag=True, help="Open the message in the browser.")
@pass_app
def preview(
    app: AppContext, slug: str, email: str | None, out: Path | None, as_text: bool, open_it: bool
) -> None:
    """Show campaign SLUG exactly as a subscriber will get it.

    Uses the subscriber with --email when there is one, else a sample subscriber
    and a sample representative. A preview records nothing and carries no working
    token: it has no open pixel, its links go straight to the pages they name,
    and the letter and unsubscribe links lead nowhere.
    """
    config = app.config()
    campaign = campaigns.find_campaign(campaigns_dir(app), slug)
    if out is not None:
        app.check_output(out, "--out", [campaign.path])
    compiled = pipeline.compile_campaign(
        campaign, pipeline.site_settings(config), templates_dir(app)
    )
    db = app.db()
    prepared = pipeline.prepare_campaign(
        db, compiled, secret=config.require("secret"), base_url=config.require("base_url")
    )
    recipient = pipeline.preview_recipient(db, email)
    if recipient.is_sample:
        why = f"no subscriber has the email {email}" if email else "no --email given"
        click.echo(f"Showing a sample subscriber and representative ({why}).", err=True)
    texts = pipeline.stance_texts(
        db, campaign, prepared.campaign_id, pipeline.SAMPLE_REPRESENTATIVE
    )
    message = preview_message(prepared.compiled, recipient.subscriber, recipient.targets, texts)
    content = _as_text(prepared, recipient.subscriber, message) if as_text else message.html
    if out is None and not open_it:
        click.echo(content, nl=False)
        return
    suffix = ".txt" if as_text else ".html"
    target = out or Path(tempfile.gettempdir()) / f"alerts-preview-{campaign.slug}{suffix}"
    _write_atomically(target, content)
    click.echo(f"Wrote    {target}", err=True)
    if open_it:
        click.launch(str(target.resolve()))


def _as_text(prepared: PreparedCampaign, subscriber: Subscriber, message: RenderedMessage) -> str:
    compiled = prepared.compiled
    sender = (
        f"{compiled.from_name} <{compiled.from_email}>"
        if compiled.from_name
        else compiled.from_email
    )
    lines = [
        f"From: {sender or '(from_email is not set)'}",
        f"To: {subscriber.email or ''}",
        f"Subject: {message.subject}",
    ]
    if compiled.reply_to:
        lines.insert(1, f"Reply-To: {compiled.reply_to}")
    lines += [f"{name}: {value}" for name, value in message.headers.items()]
    return "\n".join(lines) + "\n\n" + message.text


def _write_atomically(path: Path, content: str) -> None:
    """Write via a temporary file in the same folder: a failure leaves nothing half-written."""
    try:
        write_whole(path, content.encode("utf-8"))
    except OSError as exc:
        raise CampaignError(f"{path}: cannot write ({exc.strerror})") from None


COMMANDS = [campaigns_group, preview]
