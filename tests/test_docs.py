"""The documentation keeps up with the code."""

from __future__ import annotations

import re
from pathlib import Path

import click

from alerts.cli import _docs, main
from alerts.config import SETTINGS

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


def test_cli_reference_is_current():
    written = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert written == _docs.render(), (
        "docs/cli.md is out of date: run `python -m alerts.cli._docs > docs/cli.md`"
    )


def test_every_command_is_in_the_cli_reference_with_help():
    written = (DOCS / "cli.md").read_text(encoding="utf-8")
    for path, command in _docs.walk(main):
        title = " ".join(("alerts", *path))
        assert f"## {title}\n" in written, f"{title} is missing from docs/cli.md"
        assert (command.help or "").strip(), f"{title} has no help text"
        if not isinstance(command, click.Group):
            assert f"Usage: {title} " in written


def test_every_setting_and_variable_is_documented():
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for name, setting in SETTINGS.items():
        assert f"`{name}`" in page, f"docs/configuration.md does not describe {name}"
        assert f"`{setting.env}`" in page, f"docs/configuration.md does not name {setting.env}"
    for variable in ("SENDGRID_API_KEY", "ALERTS_DB", "ALERTS_CONFIG"):
        assert f"`{variable}`" in page


def test_links_between_pages_lead_somewhere():
    pages = [REPO / "README.md", *DOCS.glob("*.md")]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", page.read_text("utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_sql_examples_in_the_docs_run(tmp_path):
    from alerts.db import open_db

    database = open_db(tmp_path / "docs.db")
    for page in DOCS.glob("*.md"):
        for query in re.findall(r"```sql\n(.*?)```", page.read_text("utf-8"), re.S):
            if query.lstrip().lower().startswith(("select", "with")):
                database.execute(query).fetchall()
