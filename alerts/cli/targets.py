"""`alerts targets`: load and update the roster of Congress, look up a ZIP, show status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from alerts.models import Chamber, RosterDiff, SeatChange, seat_name
from alerts.targets import lookup as targets

from ._context import AppContext, pass_app
from ._output import format_option, print_json, print_table

FILE = click.Path(dir_okay=False, path_type=Path)


@click.group(name="targets")
def targets_group() -> None:
    """Members of Congress: the roster, the ZIP -> district map, lookups."""


@targets_group.command()
@click.option("--legislators", type=FILE, required=True, help="legislators-current.yaml or .csv")
@click.option("--social", type=FILE, help="legislators-social-media.yaml (Twitter handles).")
@click.option("--zip-districts", type=FILE, required=True, help="zccd.csv (ZIP -> district).")
@format_option("text", "json")
@pass_app
def load(
    app: AppContext, legislators: Path, social: Path | None, zip_districts: Path, fmt: str
) -> None:
    """Load the roster and ZIP map, replacing the previous ones in one transaction.

    Prints who left, arrived or changed seat against the previous roster, the
    vacant House seats, and the subscribers' districts as re-resolved.
    """
    diff = targets.load_roster(app.db(), legislators, zip_districts, social)
    _print_diff(diff, fmt)


@targets_group.command()
@click.option(
    "--legislators-url",
    default=targets.DEFAULT_LEGISLATORS_URL,
    show_default=True,
    help="Where to fetch legislators-current.yaml (or .csv).",
)
@click.option(
    "--social-url",
    default=targets.DEFAULT_SOCIAL_URL,
    show_default=True,
    help="Where to fetch legislators-social-media.yaml.",
)
@click.option("--no-social", is_flag=True, help="Do not fetch Twitter handles.")
@click.option(
    "--zip-districts-url",
    default=targets.DEFAULT_ZIP_DISTRICTS_URL,
    show_default=True,
    help="Where to fetch zccd.csv.",
)
@click.option("--timeout", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Seconds to wait for each server.")  # fmt: skip
@format_option("text", "json")
@pass_app
def update(
    app: AppContext,
    legislators_url: str,
    social_url: str,
    no_social: bool,
    zip_districts_url: str,
    timeout: float,
    fmt: str,
) -> None:
    """Download the newest roster and ZIP map from their public sources, then load them.

    Files are downloaded to a temporary folder and checked before anything is
    written: a failed download or a bad file leaves the current roster as it is.
    """
    diff = targets.update_roster(
        app.db(),
        legislators_url,
        zip_districts_url,
        None if no_social else social_url,
        timeout=timeout,
        progress=lambda url: click.echo(f"Downloading {url}", err=True),
    )
    _print_diff(diff, fmt)


@targets_group.command()
@click.argument("zip_code", metavar="ZIP")
@click.option("--state", help="The person's own state (two letters): decides the senators.")
@format_option("text", "json")
@pass_app
def lookup(app: AppContext, zip_code: str, state: str | None, fmt: str) -> None:
    """The House member(s) for ZIP and the senators of its state."""
    answer = targets.lookup_answer(app.db(), zip_code, state)
    if fmt == "json":
        print_json(answer.targets)
    else:
        _print_targets(answer.targets)
    for note in answer.notes:
        click.echo(f"Note: {note}", err=True)


@targets_group.command()
@format_option("text", "json")
@pass_app
def status(app: AppContext, fmt: str) -> None:
    """The loaded roster version, its counts, and subscribers by district confidence."""
    facts = targets.roster_status(app.db())
    if fmt == "json":
        print_json(facts)
        return
    version = facts["version"]
    if version is None:
        click.echo("No roster loaded: run `alerts targets load` or `alerts targets update`.")
    else:
        click.echo(f"Roster version {version['id']}, loaded {version['loaded_at']}")
        for kind in ("legislators", "social", "zip"):
            name, digest = version[f"{kind}_file"], version[f"{kind}_sha256"]
            if name:
                click.echo(f"  {name}  sha256 {digest}")
        members = ", ".join(f"{n} {title}" for title, n in facts["members"].items())
        click.echo(f"Members: {members}")
        click.echo(f"ZIP codes: {facts['zip_codes']}")
        click.echo(f"Vacant House seats: {', '.join(facts['vacant_seats']) or 'none'}")
    counts = ", ".join(f"{n} {name}" for name, n in facts["subscribers"].items())
    click.echo(f"Subscribers' districts: {counts}")
    if facts["flags"]:
        click.echo("Flags: " + ", ".join(f"{n} {flag}" for flag, n in facts["flags"].items()))


def _print_targets(found: list[dict[str, Any]]) -> None:
    rows = []
    for target in found:
        seat = target["state"]
        if target["chamber"] == Chamber.HOUSE:
            seat = seat_name(target["state"], target["district"])
        marks = [
            "candidate" if target.get("ambiguous") else "",
            "vacant" if target.get("vacant") else "",
        ]
        rows.append(
            {
                **target,
                "seat": seat,
                "name": target["full_name"] or "(vacant)",
                "note": ", ".join(m for m in marks if m),
            }
        )
    columns = ["title", "name", "party", "seat", "phone", "contact_url", "twitter", "note"]
    print_table(rows, columns)


def _print_diff(diff: RosterDiff, fmt: str) -> None:
    if fmt == "json":
        print_json(diff.as_dict())
        return
    click.echo(
        f"Loaded roster version {diff.version}: {diff.members} members,"
        f" {diff.zip_rows} ZIP -> district rows."
    )
    if diff.first_load:
        click.echo("First roster: no previous one to compare with.")
    elif diff.unchanged:
        click.echo("No member left, arrived or changed seat since the previous roster.")
    else:
        _print_members("Left", [f"{m.full_name} ({m.seat})" for m in diff.left])
        _print_members("Arrived", [f"{m.full_name} ({m.seat})" for m in diff.arrived])
        _print_members("Changed seat", [_seat_change(c) for c in diff.changed_seat])
    click.echo(f"Vacant House seats: {', '.join(diff.vacant_seats) or 'none'}")
    counts = ", ".join(f"{n} {name}" for name, n in diff.confidence.items())
    click.echo(f"Subscribers' districts: {counts}")


def _print_members(label: str, lines: list[str]) -> None:
    if lines:
        click.echo(f"{label} ({len(lines)}):")
        for line in lines:
            click.echo(f"  {line}")


def _seat_change(change: SeatChange) -> str:
    return f"{change.member.full_name}: {change.old_seat} -> {change.new_seat}"


COMMANDS = [targets_group]
