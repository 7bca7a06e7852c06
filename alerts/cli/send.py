"""`alerts send SLUG`: confirm, send through SendGrid, and report what became of everyone."""

from __future__ import annotations

import sys
import time
from typing import NoReturn

import click

from alerts import pipeline
from alerts.campaigns import deadline as deadlines
from alerts.campaigns import files as campaign_files
from alerts.campaigns.segments import describe_segment
from alerts.db import Database
from alerts.delivery import providers
from alerts.delivery.provider import UNSUPPORTED_ADDRESS
from alerts.email.outbox import is_folder
from alerts.errors import CampaignError, SendError
from alerts.models import DeliveryState, SendSummary
from alerts.pipeline import FrozenRecipients, SendPlan

from ._context import AppContext, pass_app
from ._output import format_option, print_json, progress_bar
from .campaigns import campaigns_dir, templates_dir


@click.command("send")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Send without asking for confirmation.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Do everything but the HTTP call; nothing is marked sent.",
)
@click.option(
    "--outbox",
    type=click.Path(),  # a str: Path() would drop the trailing slash that asks for a folder
    help="With --dry-run: write every message to PATH, an mbox file, or a folder of "
    ".eml files when PATH ends with a slash or is a folder.",
)
@click.option(
    "--test",
    "test_addresses",
    multiple=True,
    metavar="ADDR",
    help="Send the message as rendered for a sample subscriber to ADDR (repeatable), "
    '"[TEST] " before the subject; the campaign\'s recipients are not touched.',
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    help="Send to at most N pending recipients this run (a staged rollout).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    metavar="N",
    help="At most N messages a second (overrides sendgrid_rate).",
)
@click.option(
    "--retry-unknown",
    is_flag=True,
    help="Also send to recipients left unknown (their request may have reached SendGrid).",
)
@click.option(
    "--allow-stale-targets",
    is_flag=True,
    help="Send an action alert even though members it addresses have left office or a state's "
    "ZIP map is out of date (see `alerts targets status`).",
)
@format_option("text", "json")
@pass_app
def send_command(
    app: AppContext,
    slug: str,
    yes: bool,
    dry_run: bool,
    outbox: str | None,
    test_addresses: tuple[str, ...],
    limit: int | None,
    rate: float | None,
    retry_unknown: bool,
    allow_stale_targets: bool,
    fmt: str,
) -> None:
    """Send campaign SLUG to every subscribed person in its segment, exactly once.

    Freezes the recipients into the campaign's send ledger, then shows the
    campaign and their number and asks for confirmation (--yes skips it;
    without a terminal, --yes is required): exactly those are sent. Running the
    command again continues with those still pending, and offers the people who
    joined the segment since as a top-up, with its own question. See
    docs/sending.md.
    """
    _check_options(dry_run, outbox, test_addresses, limit, retry_unknown)
    db = app.db()
    plan = pipeline.plan_send(
        db,
        app.config(),
        campaigns_dir(app),
        templates_dir(app),
        slug,
        dry_run=dry_run,
        rate=rate,
        # A test send addresses the sample members only, never the roster's.
        allow_stale_targets=allow_stale_targets or bool(test_addresses),
    )
    if allow_stale_targets:
        for reason in plan.stale_targets:
            click.echo(f"Sending anyway (--allow-stale-targets): {reason}.", err=True)
    if plan.changed:
        click.echo(
            f"Note: {plan.campaign.path} changed since this send started; "
            "the recipients still to send get the new version.",
            err=True,
        )
    _check_deadline(plan, rehearsal=dry_run or bool(test_addresses))
    if test_addresses:
        _send_test(plan, test_addresses, fmt)
    elif dry_run:
        _dry_run(plan, app, outbox, retry_unknown, limit, fmt)
    else:
        _send(plan, app, yes, retry_unknown, limit, fmt)


def _check_deadline(plan: SendPlan, *, rehearsal: bool) -> None:
    """Refuse a send once the campaign's deadline has passed; warn when it is near.

    A dry run or a test send only says so.
    """
    try:
        warning = deadlines.send_warning(campaign_files.deadline_holder(plan.campaign))
    except CampaignError as exc:
        if not rehearsal:
            raise
        click.echo(f"Note: {exc} (a real send would be refused)", err=True)
        return
    if warning:
        click.echo(f"Warning: {warning}.", err=True)


def _check_options(
    dry_run: bool,
    outbox: str | None,
    test_addresses: tuple[str, ...],
    limit: int | None,
    retry_unknown: bool,
) -> None:
    if outbox is not None and not dry_run:
        raise click.UsageError("--outbox needs --dry-run")
    if test_addresses and (dry_run or limit is not None or retry_unknown):
        raise click.UsageError(
            "--test cannot be combined with --dry-run, --limit or --retry-unknown"
        )


# --------------------------------------------------------------------------
# The real send


def _send(
    plan: SendPlan, app: AppContext, yes: bool, retry_unknown: bool, limit: int | None, fmt: str
) -> None:
    slug = plan.compiled.slug
    if not yes and not on_terminal():
        raise click.ClickException(
            "not sending without confirmation: run it on a terminal, or add --yes"
        )
    db = app.db()
    # Frozen before anyone is asked: the question is about this list, and the run sends it.
    frozen = pipeline.freeze_recipients(db, plan, retry_unknown=retry_unknown)
    try:
        frozen = _agreed(db, frozen, yes, retry_unknown, limit)
    except BaseException:  # declined, Ctrl-C at the question: this run freezes nobody
        pipeline.unfreeze_recipients(db, frozen)
        raise
    try:
        with progress_bar("Sending") as bar:
            summary = pipeline.run_send(
                db,
                frozen.plan,
                retry_unknown=retry_unknown,
                limit=limit,
                progress=bar.report if bar else None,
            )
    except SendError as exc:
        if isinstance(exc.summary, SendSummary):
            _report(exc.summary, app, slug, fmt)
        raise
    _report(summary, app, slug, fmt)


def _agreed(
    db: Database, frozen: FrozenRecipients, yes: bool, retry_unknown: bool, limit: int | None
) -> FrozenRecipients:
    """The recipients this run may send to: asked about unless --yes; a declined top-up unfrozen.

    Raises CampaignError when a first run finds nobody, Exit(1) when nothing is to be sent.
    """
    plan = frozen.plan
    if frozen.first_run and not frozen.added:
        segment = describe_segment(plan.campaign.segment)
        raise CampaignError(
            f"{plan.campaign.path}: the segment ({segment}) selects no subscribed person: "
            "nothing to send"
        )
    to_send = plan.to_send(retry_unknown, limit)
    if to_send == 0:
        # Still a run: it turns what a dead run left in flight into unknown, and
        # confirms unknown recipients SendGrid has reported on since.
        click.echo(
            f"Nothing to send: every recipient of {plan.compiled.slug} has been handled.",
            err=True,
        )
        return frozen
    if yes:
        return frozen
    for label, value in _description(frozen, to_send, retry_unknown, limit):
        click.echo(f"{label:<11}{value}", err=True)
    if frozen.first_run or frozen.earlier:
        count = to_send if frozen.first_run else _capped(frozen.earlier, limit)
        if not ask(f"Send to {count:,} recipients now?"):
            _nothing_sent()
    if frozen.top_up and not ask(_top_up_question(frozen)):
        pipeline.unfreeze_recipients(db, frozen)
        if not frozen.earlier:
            _nothing_sent()
        click.echo("The top-up was not sent; running the command again offers it.", err=True)
    return frozen


def _capped(count: int, limit: int | None) -> int:
    return count if limit is None else min(count, limit)


def _top_up_question(frozen: FrozenRecipients) -> str:
    also = "Also send" if frozen.earlier else "Send"
    return f"{also} to the {frozen.top_up:,} new recipients of the top-up now?"


def _nothing_sent() -> NoReturn:
    click.echo("Nothing was sent.", err=True)
    raise click.exceptions.Exit(1)


def ask(question: str) -> bool:
    """The one question of a send (yes or no, no by default), asked on the terminal."""
    return click.confirm(question, default=False, err=True)


def on_terminal() -> bool:
    """Whether someone can answer the question: standard input is a terminal."""
    return sys.stdin.isatty()


def _description(
    frozen: FrozenRecipients, to_send: int, retry_unknown: bool, limit: int | None
) -> list[tuple[str, str]]:
    plan = frozen.plan
    compiled = plan.compiled
    sender = compiled.from_email or ""
    if compiled.from_name:
        sender = f"{compiled.from_name} <{sender}>"
    lines = [
        ("Campaign", f"{compiled.slug} ({compiled.kind})"),
        ("Subject", plan.campaign.subject.text),
        ("From", sender),
        ("Segment", describe_segment(plan.campaign.segment)),
        ("Recipients", _recipients_line(frozen, to_send, retry_unknown, limit)),
    ]
    if frozen.top_up:
        lines.append(
            ("Top-up", f"{frozen.top_up:,} people joined the segment since this send started")
        )
    unknown = plan.ledger[DeliveryState.UNKNOWN] + plan.ledger[DeliveryState.IN_FLIGHT]
    provider = plan.provider.limits.provider
    if retry_unknown and unknown:
        lines.append(
            (
                "Unknown",
                f"{unknown:,} are sent again, except those {provider}'s events confirm; "
                f"any others {provider} had accepted get it twice",
            )
        )
    settings = plan.settings
    if settings is not None:
        pace = f", at most {settings.rate:g} messages a second" if settings.rate else ""
        lines.append((provider, f"{plan.provider.endpoint}{pace}"))
    return lines


def _recipients_line(
    frozen: FrozenRecipients, to_send: int, retry_unknown: bool, limit: int | None
) -> str:
    plan = frozen.plan
    if frozen.first_run:
        line = f"{len(frozen.added):,} subscribed people match the segment"
    else:
        counts = plan.ledger
        done = ", ".join(
            f"{counts[state]:,} {state}"
            for state in ("sent", "failed", "unknown", "skipped")
            if counts[state]
        )
        line = f"continuing: {frozen.earlier:,} still to send ({done or 'none yet'})"
    if limit is not None and limit < plan.to_send(retry_unknown):
        line += f"; this run sends to {to_send:,} (--limit)"
    return line


# --------------------------------------------------------------------------
# Dry runs and test sends


def _dry_run(
    plan: SendPlan,
    app: AppContext,
    outbox: str | None,
    retry_unknown: bool,
    limit: int | None,
    fmt: str,
) -> None:
    if outbox is not None:
        app.check_output(outbox, "--outbox", [plan.campaign.path], folder=is_folder(outbox))
    with progress_bar("Rendering") as bar:
        result = pipeline.dry_run(
            app.db(),
            plan,
            outbox_path=outbox,
            retry_unknown=retry_unknown,
            limit=limit,
            progress=bar.report if bar else None,
        )
    where = f", written to {result.outbox}" if result.outbox else ""
    click.echo(
        f"Dry run: {result.messages:,} messages rendered{where}; nothing was sent.", err=True
    )
    _report(result.summary, app, plan.compiled.slug, fmt)


def _send_test(plan: SendPlan, addresses: tuple[str, ...], fmt: str) -> None:
    started = time.monotonic()
    message_id, sent_to = pipeline.send_test(plan, addresses)
    summary = SendSummary(sent=len(sent_to), seconds=time.monotonic() - started)
    click.echo(
        f"Sent a test of {plan.compiled.slug} to {', '.join(sent_to)} "
        f"(X-Message-Id {message_id}); the campaign's recipients were not touched.",
        err=True,
    )
    if fmt == "json":
        print_json(summary.as_dict())


# --------------------------------------------------------------------------
# Output


def _report(summary: SendSummary, app: AppContext, slug: str, fmt: str) -> None:
    """The summary on stdout (exactly its five keys in JSON); what to do next on stderr."""
    if fmt == "json":
        print_json(summary.as_dict())
    else:
        for key, value in summary.as_dict().items():
            shown = f"{value:.1f}" if key == "seconds" else f"{value:,}"
            click.echo(f"{key:<8} {shown}")
    for note in _next_steps(summary, app, slug):
        click.echo(note, err=True)


def _next_steps(summary: SendSummary, app: AppContext, slug: str) -> list[str]:
    status = pipeline.send_status(app.db(), campaigns_dir(app), slug)
    notes = []
    if summary.failed:
        top = "; ".join(f"{n:,}: {reason}" for reason, n in status.failures[:3])
        notes.append(f"{summary.failed:,} failed ({top}); see `alerts campaigns status {slug}`.")
    if summary.unknown:
        notes.append(
            f"{summary.unknown:,} recipients are unknown: their request went out but no answer "
            f"came back, so SendGrid may have accepted it. List them with `alerts campaigns "
            f"status {slug} --list unknown`; send to them again with `alerts send {slug} "
            "--retry-unknown` (see docs/sending.md first)."
        )
    unsupported = status.skipped_for(UNSUPPORTED_ADDRESS)
    if unsupported:
        provider = providers.batch_limits().provider
        notes.append(
            f"{unsupported:,} recipients of {slug} are skipped as {UNSUPPORTED_ADDRESS}: "
            f"{provider} drops addresses with non-ASCII characters before the @. List them "
            f"with `alerts campaigns status {slug} --list skipped`; allow_smtputf8 sends them "
            "through a provider that supports SMTPUTF8 (see docs/sending.md)."
        )
    pending = status.counts[DeliveryState.PENDING]
    if pending:
        notes.append(f"{pending:,} still pending: run `alerts send {slug}` again to continue.")
    return notes


COMMANDS = [send_command]
