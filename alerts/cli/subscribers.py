"""`alerts import` and `alerts subscribers ...`: bring signups in, look after the list."""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import Any

import click

from alerts.models import ImportSummary, Status, Subscriber, SubscriberFilter, Targets, seat_name
from alerts.subscribers import importing as importer
from alerts.subscribers import lifecycle, listing
from alerts.targets import lookup as targets
from alerts.targets.geocoder import DEFAULT_TIMEOUT

from ._context import AppContext, pass_app
from ._geocode import geocode_and_print
from ._output import format_option, print_json, print_table, progress_bar

PROGRESS_MIN_BYTES = 1 << 20  # smaller files finish before a bar would help
SHOWN_WARNINGS = 10


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", help="Where these people signed up. Default: the file name.")
@click.option("--tag", "tags", multiple=True, help="Tag everyone in the files (repeatable).")
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar='"COLUMN=FIELD"',
    help="Read a CSV column as a field (repeatable): email, first_name, last_name, name, "
    "street, street2, address, city, state, zip, phone, consent_at, tags, status, extra, skip.",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV for rejected rows. Default: <first file's name>.rejects.csv here, "
    "written only when a row is rejected.",
)
@click.option("--dry-run", is_flag=True, help="Check and count everything, save nothing.")
@click.option(
    "--geocode",
    is_flag=True,
    help="Once the import is saved, geocode the street addresses of the people it added or"
    " changed (`alerts targets geocode`'s rules; its JSON goes to stderr).",
)
@format_option("text", "json")
@pass_app
def import_command(
    app: AppContext,
    files: tuple[Path, ...],
    source: str | None,
    tags: tuple[str, ...],
    maps: tuple[str, ...],
    rejects: Path | None,
    dry_run: bool,
    geocode: bool,
    fmt: str,
) -> None:
    """Import signup CSV exports (Gravity Forms, Mailchimp, Action Network or plain).

    People are matched by email whatever the letter case: blanks are filled,
    changed values updated, tags added; nobody unsubscribed or forgotten is
    ever subscribed again. All files are imported or, on any error, none.
    """
    # Imported here: the provider's package loads its webhook's cryptography, which
    # no other subscribers command needs.
    from alerts.delivery import providers

    exports = importer.plan_import(files, maps)  # every file checked before the db is opened
    rejects_path = rejects or importer.default_rejects_path(exports[0].path)
    app.check_output(
        rejects_path,
        "--rejects" if rejects else "the rejects file",
        files,
        inputs_are="a file being imported",
    )
    total = sum(export.facts.size for export in exports)
    with progress_bar("Importing", total, at_least=PROGRESS_MIN_BYTES, show_counts=False) as bar:
        report = importer.run_import(
            app.db(),
            exports,
            source=source,
            tags=tags,
            rejects_path=rejects,
            dry_run=dry_run,
            progress=bar.advance if bar else None,
            address_check=providers.provider_for(app.config()).limits.unsupported_address,
            collect_ids=geocode and not dry_run,
        )
    if fmt == "json":
        print_json(report.summary.as_dict())
        if report.rejects_path is not None:
            click.echo(f"Rejected rows: {report.rejects_path}", err=True)
    else:
        _print_report(report)
    _print_warnings(report)
    if geocode and not dry_run:
        geocode_and_print(
            app, fmt, ids=report.touched_ids, timeout=DEFAULT_TIMEOUT, json_to_stderr=True
        )


def _counts(summary: ImportSummary) -> str:
    return ", ".join(f"{value} {name}" for name, value in summary.as_dict().items())


def _print_report(report: importer.ImportReport) -> None:
    verb = "Checked (dry run)" if report.dry_run else "Imported"
    for result in report.files:
        rows = f"{result.rows} row{'s' if result.rows != 1 else ''}"
        click.echo(f"{verb} {result.path.name} ({rows}): {_counts(result.summary)}")
    if len(report.files) > 1:
        click.echo(f"Total: {_counts(report.summary)}")
    if report.rejects_path is not None:
        click.echo(f"Rejected rows, with line numbers and reasons: {report.rejects_path}")
    if report.dry_run:
        click.echo("Dry run: nothing was saved.")


def _print_warnings(report: importer.ImportReport) -> None:
    if not report.warning_count:
        return
    plural = "s" if report.warning_count != 1 else ""
    click.echo(f"{report.warning_count} warning{plural}:", err=True)
    for warning in report.warnings[:SHOWN_WARNINGS]:
        click.echo(f"  {_printable(str(warning))}", err=True)
    if report.warning_count > SHOWN_WARNINGS:
        click.echo(f"  ... and {report.warning_count - SHOWN_WARNINGS} more", err=True)


# --------------------------------------------------------------------------
# alerts subscribers ...


@click.group()
def subscribers() -> None:
    """Count, list, show, unsubscribe, forget and export subscribers."""


def filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--state", help="Only this state (USPS code or name).")(fn)
    fn = click.option("--tag", help="Only people with this tag.")(fn)
    return click.option(
        "--status", type=click.Choice([str(s) for s in Status]), help="Only this status."
    )(fn)


def _filter(status: str | None, tag: str | None, state: str | None) -> SubscriberFilter:
    return listing.subscriber_filter(status=status, tag=tag, state=state)


@subscribers.command()
@filter_options
@format_option("table", "json")
@pass_app
def count(
    app: AppContext, status: str | None, tag: str | None, state: str | None, fmt: str
) -> None:
    """How many people are on the list, by status."""
    counts = listing.count_subscribers(app.db(), _filter(status, tag, state))
    if fmt == "json":
        print_json(counts)
        return
    print_table([{"status": k, "count": v} for k, v in counts.items()], ["status", "count"])


LIST_COLUMNS = ("id", "email", "name", "city", "state", "zip", "status", "tags")


@subscribers.command("list")
@filter_options
@click.option("--limit", type=click.IntRange(min=1), help="At most this many.")
@format_option("table", "csv", "json")
@pass_app
def list_command(
    app: AppContext,
    status: str | None,
    tag: str | None,
    state: str | None,
    limit: int | None,
    fmt: str,
) -> None:
    """List subscribers by id (forgotten people, who have no data left, are not shown)."""
    where = _filter(status, tag, state)
    people = listing.list_subscribers(app.db(), where, limit)
    if fmt == "csv":
        listing.write_subscribers(app.db(), sys.stdout, where, limit)
    elif fmt == "json":
        _stream_json(asdict(person) for person in people)
    else:
        _stream_table(({c: _list_value(p, c) for c in LIST_COLUMNS} for p in people), LIST_COLUMNS)


def _list_value(person: Subscriber, column: str) -> Any:
    return person.full_name if column == "name" else getattr(person, column)


@subscribers.command()
@click.argument("email")
@format_option("table", "json")
@pass_app
def show(app: AppContext, email: str, fmt: str) -> None:
    """Everything stored about one subscriber, and their members of Congress."""
    person = listing.get_subscriber(app.db(), email)
    assert person.id is not None
    district = _district_view(targets.targets_for(app.db(), person.id))
    if fmt == "json":
        print_json({**asdict(person), "district": district})
        return
    fields = asdict(person)
    extra = fields.pop("extra")
    rows = [{"field": k, "value": v} for k, v in fields.items()]
    rows += [{"field": f"extra: {k}", "value": v} for k, v in extra.items()]
    rows += [{"field": f"district: {k}", "value": v} for k, v in district.items()]
    print_table([{k: _printable(v) for k, v in row.items()} for row in rows], ["field", "value"])


def _district_view(found: Targets) -> dict[str, Any]:
    """Where a subscriber's letters go: their seat, how sure we are, and the members."""
    seat = None
    if found.state and found.district is not None:
        seat = seat_name(found.state, found.district)
    return {
        "seat": seat,
        "confidence": str(found.confidence),
        "candidates": [seat_name(found.state, d) for d in found.candidates] if found.state else [],
        "flags": list(found.flags),
        "house": [f"{m.title} {m.full_name}" for m in found.house],
        "senate": [f"{m.title} {m.full_name}" for m in found.senate],
    }


@subscribers.command()
@click.argument("email")
@pass_app
def unsubscribe(app: AppContext, email: str) -> None:
    """Stop mailing someone. They stay on the list as unsubscribed."""
    result = lifecycle.unsubscribe(app.db(), email)
    shown = _printable(result.person.email)
    if result.changed:
        click.echo(f"Unsubscribed {shown}.")
    else:
        click.echo(f"{shown} is already {result.person.status}; nothing changed.")


@subscribers.command()
@click.argument("email")
@pass_app
def forget(app: AppContext, email: str) -> None:
    """Erase someone's personal data for good; no later import can add them back."""
    result = lifecycle.forget(app.db(), email)
    if result.erased:
        click.echo("Forgotten: their data is erased; only a one-way hash of the address is kept.")
    else:
        click.echo(
            "Nobody on the list has that address; a one-way hash of it is kept so no "
            "import adds it."
        )
    if not result.wal_emptied:
        click.echo(
            "Warning: another process was reading the database, so its write-ahead log "
            "still holds the old values; run the same command again to erase them there.",
            err=True,
        )


@subscribers.command()
@format_option("text", "json")
@pass_app
def pending(app: AppContext, fmt: str) -> None:
    """List the signups waiting for confirmation: they are not subscribers and get no mail.

    A signup not confirmed within signup_confirm_days expires and its data is erased.
    """
    from alerts.signups import listing as signups_listing

    found = signups_listing.pending(app.db())
    if fmt == "json":
        print_json(found)
    elif not found:
        click.echo("No signups are waiting for confirmation.")
    else:
        print_table(found, signups_listing.PENDING_COLUMNS)


@subscribers.command()
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@filter_options
@pass_app
def export(
    app: AppContext, path: Path, status: str | None, tag: str | None, state: str | None
) -> None:
    """Write subscribers to a CSV file that is safe to open in a spreadsheet ("-": stdout)."""
    where = _filter(status, tag, state)
    if str(path) == "-":
        listing.write_subscribers(app.db(), sys.stdout, where)
        return
    app.check_output(path, "")
    written = listing.export_subscribers(app.db(), path, where)
    click.echo(f"Exported {written} subscriber{'s' if written != 1 else ''} to {path}")


# --------------------------------------------------------------------------
# Output that streams, for lists of any length


def _printable(value: Any) -> str:
    """Text safe to print on a terminal: control characters (escape codes too) become spaces."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    if text.isprintable():
        return text
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


def _stream_table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """An aligned table; widths come from the first rows so any number of rows streams."""
    iterator = iter(rows)
    first = [{c: _printable(row[c]) for c in columns} for row in islice(iterator, 500)]
    widths = [max([len(c)] + [len(row[c]) for row in first]) for c in columns]

    def line(cells: Iterable[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    click.echo(line(columns))
    click.echo(line("-" * w for w in widths))
    for row in first:
        click.echo(line(row[c] for c in columns))
    for row in iterator:
        click.echo(line(_printable(row[c]) for c in columns))


def _stream_json(items: Iterable[dict[str, Any]]) -> None:
    """A JSON array written one item at a time."""
    click.echo("[", nl=False)
    for index, item in enumerate(items):
        text = json.dumps(item, ensure_ascii=False)
        click.echo(("," if index else "") + "\n  " + text, nl=False)
    click.echo("\n]")


COMMANDS = [import_command, subscribers]
