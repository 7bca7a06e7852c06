"""Running a geocode and printing it: shared by `alerts targets geocode` and `import --geocode`."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from alerts.targets import geocoding
from alerts.targets.geocoder import OFF_MESSAGE, configured_geocoder

from ._context import AppContext
from ._output import print_json, progress_bar


def geocode_and_print(
    app: AppContext,
    fmt: str,
    *,
    everyone: bool = False,
    limit: int | None = None,
    ids: Sequence[int] | None = None,
    timeout: float,
    json_to_stderr: bool = False,
) -> None:
    """Geocode, print the summary; exit 1 after it when a batch failed.

    `json_to_stderr` keeps stdout for the JSON of a command that printed its own.
    """
    geocoder = configured_geocoder(app.config().get("geocoder_url"), timeout=timeout)
    if geocoder is None:
        click.echo(OFF_MESSAGE, err=True)
        if fmt == "json":
            _print_json(geocoding.GeocodeSummary(), json_to_stderr)
        return
    with progress_bar("Geocoding") as bar:
        summary = geocoding.run_geocode(
            app.db(),
            geocoder,
            everyone=everyone,
            limit=limit,
            ids=ids,
            progress=bar.report if bar else None,
            on_failure=lambda message: click.echo(f"Error: {message}", err=True),
        )
    if fmt == "json":
        _print_json(summary, json_to_stderr)
    else:
        _print_summary(summary)
    if summary.failures:
        click.get_current_context().exit(1)


def _print_json(summary: geocoding.GeocodeSummary, to_stderr: bool) -> None:
    if to_stderr:
        click.echo(json.dumps(summary.as_dict(), indent=2), err=True)
    else:
        print_json(summary.as_dict())


def _print_summary(summary: geocoding.GeocodeSummary) -> None:
    if not summary.sent:
        click.echo(
            f"No address to send: {summary.skipped:,} with a street address need no new"
            " geocode (`alerts targets geocode --all` sends them again)."
        )
    else:
        batches = f"{summary.batches} batch{'' if summary.batches == 1 else 'es'}"
        click.echo(
            f"Sent {summary.sent:,} address{'' if summary.sent == 1 else 'es'} to the geocoder"
            f" in {batches}: {summary.matched:,} matched, {summary.not_matched:,} not matched,"
            f" {summary.ties:,} tied, {summary.failed:,} failed; {summary.skipped:,} skipped."
        )
    counts = ", ".join(f"{n:,} {name}" for name, n in summary.confidence.items())
    click.echo(f"Subscribers' districts: {counts}")
