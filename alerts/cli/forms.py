"""`alerts forms snippet`: the signup form to paste into the campaign's website."""

from __future__ import annotations

import click

from alerts.email.links import token_key
from alerts.signups.form import SignupSettings
from alerts.signups.snippet import signup_snippet

from ._context import AppContext, pass_app


@click.group()
def forms() -> None:
    """The campaign website's signup form."""


@forms.command()
@click.option("--source", help="Record this source with every signup from this form.")
@click.option("--tag", help="Tag every signup from this form.")
@pass_app
def snippet(app: AppContext, source: str | None, tag: str | None) -> None:
    """Print an HTML signup form that posts to <base_url>/join; it needs no JavaScript.

    Add the website's origin (https://www.example.org) to form_origins, or the
    server refuses its posts. See docs/forms.md.
    """
    config = app.config()
    settings = SignupSettings.of(config)
    click.echo(
        signup_snippet(
            config.require("base_url"),
            settings,
            token_key(config.require("secret")),
            source=source,
            tag=tag,
        ),
        nl=False,
    )


COMMANDS = [forms]
