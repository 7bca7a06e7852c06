"""`alerts bills update|load`: a campaign's bill from Congress.gov, and stances from a CSV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from alerts.bills import overrides, stance, updates
from alerts.bills.congress_gov.client import CongressGovClient, api_key_from_environment
from alerts.bills.updates import BillUpdate
from alerts.campaigns.files import find_campaign
from alerts.errors import CampaignError, StanceFileError
from alerts.models import BillId, Sponsorship

from ._context import AppContext, pass_app
from ._output import format_option, print_json


@click.group(name="bills")
def bills_group() -> None:
    """A campaign's bill: its sponsor, cosponsors and members' stances."""


@bills_group.command()
@click.argument("slug")
@format_option("text", "json")
@pass_app
def update(app: AppContext, slug: str, fmt: str) -> None:
    """Fetch the bill's sponsor and cosponsors from Congress.gov.

    The bill is the one campaign SLUG names with its `bill` key. The API key comes
    from the CONGRESS_API_KEY variable, the API's address from the congress_api_url
    setting. Every fetch is kept: the second and later ones print who joined and
    who withdrew since the one before.
    """
    slug, bill = _campaign_bill(app, slug)
    client = CongressGovClient(app.config().get("congress_api_url"), api_key_from_environment())
    result = updates.update_bill(app.db(), slug, bill, client)
    counts = stance.campaign_stances(app.db(), slug).counts()
    if fmt == "json":
        print_json({**result.as_dict(), "stances": counts})
        return
    _print_update(result)
    click.echo(f"Stances:    {_stance_counts(counts)}")


@bills_group.command()
@click.argument("slug")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@format_option("text", "json")
@pass_app
def load(app: AppContext, slug: str, file: Path, fmt: str) -> None:
    """Load stances from a bioguide,stance CSV.

    FILE holds what no API knows about campaign SLUG's members, such as public
    statements. A stance is sponsor, cosponsor, supports, opposes or unknown; it
    wins over Congress.gov's answer for that member. The file replaces the one
    loaded before, and a file with any bad row changes nothing.
    """
    slug, _ = _campaign_bill(app, slug)
    try:
        loaded = overrides.load_overrides(app.db(), slug, file)
    except StanceFileError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise
    counts = stance.campaign_stances(app.db(), slug).counts()
    if fmt == "json":
        print_json({**loaded.as_dict(), "stances": counts})
        return
    rows = f"{loaded.loaded} stance{'s' if loaded.loaded != 1 else ''}"
    click.echo(f"Loaded {rows} for {slug} from {file} (replacing {loaded.replaced}).")
    click.echo(f"Stances:    {_stance_counts(counts)}")


def _campaign_bill(app: AppContext, slug: str) -> tuple[str, BillId]:
    campaign = find_campaign(app.campaigns_dir(), slug)
    if campaign.bill is None:
        raise CampaignError(
            f"{campaign.path}: names no bill; add one to its front matter, like bill: hr1234-119"
        )
    return campaign.slug, campaign.bill


def _print_update(result: BillUpdate) -> None:
    fetch = result.fetch
    click.echo(f"{fetch.bill.name}  {fetch.title or '(no title)'}")
    for sponsor in result.sponsors:
        click.echo(f"Sponsor:    {sponsor.name}")
    click.echo(f"Cosponsors: {result.cosponsors} ({result.withdrawn} withdrawn)")
    click.echo(f"Fetched:    {fetch.fetched_at}")
    if result.previous_bill is not None:
        click.echo(f"First fetch of this bill: the last fetch was of {result.previous_bill.name}.")
        return
    if result.previous_fetched_at is None:
        click.echo("First fetch: the next one will show who joined and who withdrew.")
        return
    changes = result.changes
    if not changes.joined and not changes.withdrew:
        since = result.previous_fetched_at
        click.echo(f"Nobody joined or withdrew since the last fetch ({since}).")
        return
    click.echo(f"Since the last fetch ({result.previous_fetched_at}):")
    _print_members("Joined", changes.joined, lambda s: s.sponsorship_date)
    _print_members("Withdrew", changes.withdrew, lambda s: s.withdrawn_date)


def _print_members(
    label: str, members: tuple[Sponsorship, ...], day: Callable[[Sponsorship], str | None]
) -> None:
    if not members:
        return
    click.echo(f"  {label} ({len(members)}):")
    for member in members:
        when = day(member)
        click.echo(f"    {member.name}" + (f"  {when}" if when else ""))


def _stance_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in counts.items()) + ", others unknown"


COMMANDS = [bills_group]
