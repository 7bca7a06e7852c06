"""`alerts init`: a new working folder with settings, database and defaults."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from alerts.config import CONFIG_FILE, DB_FILE, bundled_dir, new_secret, render_config_file
from alerts.db import open_db

from ._context import AppContext, pass_app


@click.command()
@click.argument(
    "directory",
    required=False,
    type=click.Path(file_okay=False, path_type=Path),
)
@pass_app
def init(app: AppContext, directory: Path | None) -> None:
    """Create alerts.toml, subscribers.db, campaigns/ and templates/ in DIRECTORY.

    DIRECTORY defaults to the current folder. Nothing that exists is ever
    overwritten. alerts.toml gets a new random secret; fill in org_name,
    postal_address, from_email, from_name, reply_to and base_url before sending.
    """
    root = directory or Path(".")
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / CONFIG_FILE if directory else app.config_path
    db_path = root / DB_FILE if directory else app.db_path

    existed = db_path.exists()
    open_db(db_path).close()  # first: a bad --db fails before anything is written

    if config_path.exists():
        click.echo(f"Kept     {config_path}")
    else:
        config_path.write_text(render_config_file({"secret": new_secret()}), encoding="utf-8")
        click.echo(f"Created  {config_path}")
    click.echo(f"{'Kept    ' if existed else 'Created '} {db_path}")

    for name in ("campaigns", "templates"):
        added = _copy_defaults(bundled_dir(name), root / name)
        note = f" ({added} example file{'s' if added != 1 else ''} added)" if added else ""
        click.echo(f"Ready    {root / name}/{note}")
    click.echo(
        f"Next: edit {config_path} (org_name, postal_address, from_email, from_name, "
        "reply_to, base_url), then `alerts import FILE`."
    )


def _copy_defaults(source: Path, target: Path) -> int:
    """Copy files from `source` into `target` without replacing any. Returns how many."""
    target.mkdir(parents=True, exist_ok=True)
    added = 0
    if not source.is_dir():
        return 0
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        dest = target / path.relative_to(source)
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        added += 1
    return added


COMMANDS = [init]
