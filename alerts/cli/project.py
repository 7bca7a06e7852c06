"""`alerts init`: a new working folder with settings, database and defaults."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from alerts.config import CONFIG_FILE, DB_FILE, bundled_dir, new_secret, render_config_file
from alerts.db import open_db
from alerts.errors import InputFileError
from alerts.files import write_whole

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
    _make_folder(root)
    config_path = root / CONFIG_FILE if directory else app.config_path
    db_path = root / DB_FILE if directory else app.db_path

    _make_folder(db_path.parent)
    _make_folder(config_path.parent)
    existed = db_path.exists()
    open_db(db_path).close()  # first: a bad --db fails before anything is written

    if config_path.exists():
        click.echo(f"Kept     {config_path}")
    else:
        # It holds the secret that signs every link: readable by its owner only.
        _write_private(config_path, render_config_file({"secret": new_secret()}))
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


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"{folder}: cannot create the folder ({exc.strerror})") from None


def _write_private(path: Path, text: str) -> None:
    try:
        write_whole(path, text.encode("utf-8"))
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write ({exc.strerror})") from None


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
