"""`alerts targets`: load and update the roster of Congress, look up a ZIP, show status."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from alerts.models import Chamber, RosterDiff, SeatChange, seat_name
from alerts.targets import blocks, roster
from alerts.targets import lookup as targets
from alerts.targets.congresses import ordinal
from alerts.targets.freshness import UPDATE_COMMAND
from alerts.targets.geocoder import DEFAULT_TIMEOUT

from ._context import AppContext, pass_app
from ._geocode import geocode_and_print
from ._output import format_option, print_json, print_table

FILE = click.Path(dir_okay=False, path_type=Path)
_STATE_LIST = re.compile(r"[A-Za-z]{2}(,[A-Za-z]{2})*")
DROPPED_REASONS = {
    "not_a_district": "in no district (ZZ)",
    "water_only": "water only",
    "outside_any_zip": "in no ZIP",
}


def _states(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    given = value.replace(" ", "")
    if not _STATE_LIST.fullmatch(given):
        raise click.BadParameter("a comma-separated list of USPS codes, like TX,CA")
    return sorted({state.upper() for state in given.split(",")})


congress_option = click.option(
    "--congress",
    type=click.IntRange(min=1),
    metavar="N",
    help="The Congress of the ZIP map's districts (119 for 2025-2027); required for a file"
    " that does not say, such as zccd.csv.",
)
redrawn_option = click.option(
    "--redrawn",
    type=FILE,
    help="The redrawn-states file to use instead of the one shipped with alerts.",
)


@click.group(name="targets")
def targets_group() -> None:
    """Members of Congress: the roster, the ZIP -> district map, lookups."""


@targets_group.command()
@click.option("--legislators", type=FILE, help="legislators-current.yaml or .csv")
@click.option("--social", type=FILE, help="legislators-social-media.yaml (Twitter handles).")
@click.option(
    "--zip-districts",
    type=FILE,
    help="The ZIP -> district map: a Census relationship file"
    " (tab20_cd11920_zcta520_natl.txt) or zccd.csv.",
)
@congress_option
@click.option(
    "--states",
    callback=_states,
    metavar="XX,YY",
    help="Replace the map of these states only (default: every state in the file).",
)
@redrawn_option
@format_option("text", "json")
@pass_app
def load(
    app: AppContext,
    legislators: Path | None,
    social: Path | None,
    zip_districts: Path | None,
    congress: int | None,
    states: list[str] | None,
    redrawn: Path | None,
    fmt: str,
) -> None:
    """Load the roster, a ZIP map, or both, in one transaction with the subscribers' districts.

    The roster replaces the previous one; the map replaces that of each state it
    covers (or of --states only). Prints who left, arrived or changed seat, per
    state how many ZIPs changed districts and how many subscribers moved, the
    vacant House seats, and the subscribers' districts as re-resolved.
    """
    if states is not None and zip_districts is None:
        raise click.UsageError("--states needs --zip-districts")
    diff = roster.load_roster(
        app.db(),
        legislators,
        zip_districts,
        social,
        congress=congress,
        states=states,
        redrawn=redrawn,
    )
    _print_diff(diff, fmt)


@targets_group.command()
@click.option(
    "--legislators-url",
    default=roster.DEFAULT_LEGISLATORS_URL,
    show_default=True,
    help="Where to fetch legislators-current.yaml (or .csv).",
)
@click.option(
    "--social-url",
    default=roster.DEFAULT_SOCIAL_URL,
    show_default=True,
    help="Where to fetch legislators-social-media.yaml.",
)
@click.option("--no-social", is_flag=True, help="Do not fetch Twitter handles.")
@click.option(
    "--zip-districts-url",
    default=roster.DEFAULT_ZIP_DISTRICTS_URL,
    show_default=True,
    help="Where to fetch the ZIP map: a Census relationship file, or zccd.csv (with --congress).",
)
@congress_option
@redrawn_option
@click.option(
    "--redrawn-url",
    metavar="URL",
    help="Where to fetch the redrawn-states file (default: the one shipped with alerts).",
)
@click.option("--timeout", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Seconds to wait for each server.")  # fmt: skip
@click.option(
    "--blocks",
    "only_blocks",
    is_flag=True,
    help="Download and load the block files of the states that have subscribers instead"
    " (for --congress N, else the roster's Congress); the roster and ZIP maps stay as they are.",
)
@click.option(
    "--blocks-url",
    default=blocks.DEFAULT_BLOCKS_URL,
    show_default=True,
    metavar="URL",
    help="With --blocks: where the block files are; {fips}, {state} and {congress} are"
    " filled in per state (a URL without {fips} or {state} is downloaded once).",
)
@format_option("text", "json")
@pass_app
def update(
    app: AppContext,
    legislators_url: str,
    social_url: str,
    no_social: bool,
    zip_districts_url: str,
    congress: int | None,
    redrawn: Path | None,
    redrawn_url: str | None,
    timeout: float,
    only_blocks: bool,
    blocks_url: str,
    fmt: str,
) -> None:
    """Download the newest roster and ZIP map from their public sources, then load them.

    Files are downloaded to a temporary folder and checked before anything is
    written: a failed download or a bad file leaves the current roster as it is.
    A state whose map is for a later Congress than the downloaded one keeps it.
    With --blocks, the block files are downloaded and loaded instead, as by
    `alerts targets load-blocks`.
    """
    _blocks_options_agree(only_blocks)
    if only_blocks:
        found = blocks.update_blocks(
            app.db(),
            blocks_url,
            congress=congress,
            timeout=timeout,
            progress=lambda url: click.echo(f"Downloading {url}", err=True),
        )
        _print_blocks(found, fmt)
        return
    diff = roster.update_roster(
        app.db(),
        legislators_url,
        zip_districts_url,
        None if no_social else social_url,
        congress=congress,
        redrawn=redrawn,
        redrawn_url=redrawn_url,
        timeout=timeout,
        progress=lambda url: click.echo(f"Downloading {url}", err=True),
    )
    _print_diff(diff, fmt)


def _blocks_options_agree(only_blocks: bool) -> None:
    """--blocks-url goes with --blocks; the roster's URLs and files do not."""
    ctx = click.get_current_context()

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT

    if not only_blocks and given("blocks_url"):
        raise click.UsageError("--blocks-url needs --blocks")
    roster_options = ("legislators_url", "social_url", "no_social", "zip_districts_url",
                      "redrawn", "redrawn_url")  # fmt: skip
    if only_blocks and (named := [n for n in roster_options if given(n)]):
        option = "--" + named[0].replace("_", "-")
        raise click.UsageError(f"{option} updates the roster: it does not go with --blocks")


@targets_group.command(name="load-blocks")
@click.argument("files", metavar="FILE...", nargs=-1, required=True, type=FILE)
@click.option(
    "--congress",
    type=click.IntRange(min=1),
    metavar="N",
    required=True,
    help="The Congress of the files' districts (119 for 2025-2027).",
)
@click.option(
    "--states",
    callback=_states,
    metavar="XX,YY",
    help="Load the blocks of these states only (default: every state in the files).",
)
@format_option("text", "json")
@pass_app
def load_blocks(
    app: AppContext, files: tuple[Path, ...], congress: int, states: list[str] | None, fmt: str
) -> None:
    """Load Census block files: each block's House district, for geocoded subscribers.

    FILE is a Block Assignment File (BlockAssign_ST06_CA_CD.txt: BLOCKID|DISTRICT), a
    Block Equivalency File (NationalCD119.txt, 01_AL_CD119.txt: GEOID,CDFP), or a zip of
    them (cd119.zip). One transaction: a bad file changes nothing. Each state loaded
    replaces that state's blocks of the Congress; a later FILE replaces an earlier one's
    state. Geocoded subscribers of those states are resolved again.
    """
    _print_blocks(blocks.load_blocks(app.db(), list(files), congress=congress, states=states), fmt)


def _print_blocks(found: blocks.BlockLoad, fmt: str) -> None:
    if fmt == "json":
        print_json(found.as_dict())
        return
    states = ", ".join(f"{state} {n:,}" for state, n in found.states.items())
    click.echo(f"Loaded block files for {_congress_name(found.congress)}: {states or 'none'}.")
    for file in found.files:
        listed = ", ".join(file["states"]) or "no state loaded"
        click.echo(f"  {file['file']}  sha256 {file['sha256']}  ({listed})")
    if found.dropped:
        parts = [f"{n:,} {DROPPED_REASONS.get(why, why)}" for why, n in found.dropped.items()]
        click.echo(f"Blocks left out: {', '.join(parts)}.")
    changed = found.subscribers_changed
    click.echo(
        f"Geocoded subscribers resolved again: {changed:,}"
        f" changed district{'' if changed == 1 else 's'}."
    )


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
    """The loaded roster version, its counts, and subscribers by district confidence.

    Also the Congress the roster and each state's ZIP map and block files are for,
    and a warning for whatever is out of date (a term or a Congress that ended, a map that is
    not current in a state that redrew its districts).
    """
    facts = {**roster.roster_status(app.db()), "blocks": blocks.block_status(app.db())}
    if fmt == "json":
        print_json(facts)
        return
    version = facts["version"]
    if version is None:
        click.echo("No roster loaded: run `alerts targets load` or `alerts targets update`.")
    else:
        click.echo(f"Roster version {version['id']}, loaded {version['loaded_at']}")
        for kind in ("legislators", "social", "zip", "redrawn"):
            name, digest = version[f"{kind}_file"], version[f"{kind}_sha256"]
            if name:
                click.echo(f"  {name}  sha256 {digest}")
        members = ", ".join(f"{n} {title}" for title, n in facts["members"].items())
        click.echo(f"Members: {members}")
        click.echo(f"Roster: {_congress_name(facts['roster_congress'])}")
        click.echo(f"ZIP maps: {_maps_line(facts['maps'])}")
        click.echo(f"Block files: {_blocks_line(facts['blocks'])}")
        click.echo(f"ZIP codes: {facts['zip_codes']}")
        click.echo(f"Vacant House seats: {', '.join(facts['vacant_seats']) or 'none'}")
    counts = ", ".join(f"{n} {name}" for name, n in facts["subscribers"].items())
    click.echo(f"Subscribers' districts: {counts}")
    if facts["flags"]:
        click.echo("Flags: " + ", ".join(f"{n} {flag}" for flag, n in facts["flags"].items()))
    for reason in facts["stale"]:
        click.echo(f"Warning: {reason}.")
    if facts["stale"]:
        click.echo(f"Run `{UPDATE_COMMAND}` (docs/representatives.md: the changeover checklist).")


@targets_group.command()
@click.option(
    "--all",
    "everyone",
    is_flag=True,
    help="Send every street address again, not only those that need a geocode.",
)
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Send at most N addresses.")
@click.option("--timeout", type=click.FloatRange(min=1), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds to wait for the geocoder's answer to one batch.")  # fmt: skip
@format_option("text", "json")
@pass_app
def geocode(app: AppContext, everyone: bool, limit: int | None, timeout: float, fmt: str) -> None:
    """Find the census block of subscribers' street addresses, for exact districts.

    Sends the addresses to the geocoder (geocoder_url: the Census Bureau's) in
    batches of 10,000; each batch is stored as it is answered, so an interrupted
    run loses at most one batch and the next run goes on. By default only people
    whose district is not exact and whose address changed since their last
    geocode are sent. Only the block, the outcome, the time and a hash of the
    address are kept (docs/geocoding.md, docs/privacy.md).
    """
    geocode_and_print(app, fmt, everyone=everyone, limit=limit, timeout=timeout)


def _congress_name(number: int | None) -> str:
    return "Congress not recorded" if number is None else f"the {ordinal(number)} Congress"


def _blocks_line(files: dict[str, list[int]]) -> str:
    """Block files by Congress, like the ZIP maps (a state may have several Congresses')."""
    return _by_congress([(state, congress) for state, found in files.items() for congress in found])


def _maps_line(maps: dict[str, int | None]) -> str:
    """ZIP maps by Congress: "119th Congress: 50 states; 120th: TX, UT"."""
    return _by_congress(list(maps.items()))


def _by_congress(pairs: list[tuple[str, int | None]]) -> str:
    by_congress: dict[int | None, list[str]] = {}
    for state, congress in pairs:
        by_congress.setdefault(congress, []).append(state)
    parts = []
    for congress, states in sorted(by_congress.items(), key=lambda item: item[0] or 0):
        listed = ", ".join(states) if len(states) <= 5 else f"{len(states)} states"
        parts.append(f"{_congress_name(congress)}: {listed}")
    return "; ".join(parts) or "none"


def _print_targets(found: list[dict[str, Any]]) -> None:
    rows = []
    for target in found:
        seat = target["state"]
        if target["chamber"] == Chamber.HOUSE:
            seat = seat_name(target["state"], target["district"])
        marks = [
            "candidate" if target.get("ambiguous") else "",
            f"{target['share']:.0%} of the ZIP" if target.get("share") is not None else "",
            "term ended" if target.get("term_ended") else "vacant" if target.get("vacant") else "",
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
    if not diff.roster_replaced:
        click.echo("The roster is unchanged: this load replaced ZIP maps only.")
    elif diff.first_load:
        click.echo("First roster: no previous one to compare with.")
    elif diff.unchanged:
        click.echo("No member left, arrived or changed seat since the previous roster.")
    else:
        _print_members("Left", [f"{m.full_name} ({m.seat})" for m in diff.left])
        _print_members("Arrived", [f"{m.full_name} ({m.seat})" for m in diff.arrived])
        _print_members("Changed seat", [_seat_change(c) for c in diff.changed_seat])
    click.echo(f"Roster: {_congress_name(diff.congress)}")
    _print_maps(diff)
    click.echo(f"Vacant House seats: {', '.join(diff.vacant_seats) or 'none'}")
    counts = ", ".join(f"{n} {name}" for name, n in diff.confidence.items())
    click.echo(f"Subscribers' districts: {counts}")


def _print_maps(diff: RosterDiff) -> None:
    if diff.maps:
        click.echo(f"ZIP maps replaced ({_congress_name(diff.maps[0].congress)}):")
    for change in diff.maps:
        zips, moved = change.zips_changed, change.subscribers_moved
        click.echo(
            f"  {change.state}: {zips:,} ZIP{'' if zips == 1 else 's'} changed districts,"
            f" {moved:,} subscriber{'' if moved == 1 else 's'} moved"
        )
    for state, congress in diff.maps_kept.items():
        click.echo(
            f"Kept {state}'s map for the {ordinal(congress)} Congress, newer than the file's."
        )
    if diff.dropped:
        parts = [f"{n:,} {DROPPED_REASONS.get(why, why)}" for why, n in diff.dropped.items()]
        click.echo(f"Rows left out of the map: {', '.join(parts)}.")


def _print_members(label: str, lines: list[str]) -> None:
    if lines:
        click.echo(f"{label} ({len(lines)}):")
        for line in lines:
            click.echo(f"  {line}")


def _seat_change(change: SeatChange) -> str:
    return f"{change.member.full_name}: {change.old_seat} -> {change.new_seat}"


COMMANDS = [targets_group]
