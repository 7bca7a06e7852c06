"""The `alerts` command: a Click group whose subcommands live in one module per group.

Entry point only: it parses, calls the domain and prints. Domain errors
(AlertsError) and a database locked by another process become one line on stderr
and a non-zero exit, never a traceback; ALERTS_DEBUG=1 shows their tracebacks.
Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import click

from alerts import __version__
from alerts.clock import ClockError
from alerts.config import CONFIG_FILE, DB_FILE, ConfigError
from alerts.db import is_busy
from alerts.errors import AlertsError

from ._context import AppContext

# Where each command lives: modules are imported only when their command runs, so
# `alerts import` does not pay for loading the email renderer or the web server.
# Each module lists its commands in COMMANDS; tests check this map against them.
COMMAND_MODULES = {
    "init": "project",
    "import": "subscribers",
    "subscribers": "subscribers",
    "targets": "targets",
    "campaigns": "campaigns",
    "preview": "campaigns",
    "send": "send",
    "serve": "serve",
    "events": "serve",
    "stats": "stats",
    "demo": "demo",
    "bills": "bills",
    "forms": "forms",
}


def cli_error(message: str, exit_code: int = 1) -> click.ClickException:
    """`Error: <message>` on stderr, then `exit_code`: click reads the code from the class."""
    error_class: type[click.ClickException]
    error_class = type("CliError", (click.ClickException,), {"exit_code": exit_code})
    return error_class(message)


class AlertsGroup(click.Group):
    """Loads commands on first use; turns expected failures below into a one-line message."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            module = importlib.import_module(f"{__name__}.{COMMAND_MODULES[cmd_name]}")
            for command in module.COMMANDS:
                self.add_command(command)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        if os.environ.get("ALERTS_DEBUG") == "1":
            return super().invoke(ctx)
        try:
            return super().invoke(ctx)
        except (AlertsError, ConfigError, ClockError) as exc:
            raise cli_error(str(exc), exc.exit_code) from None
        except BrokenPipeError:
            ctx.exit(0)
        except Exception as exc:
            if not is_busy(exc):
                raise
            raise cli_error(f"database is busy: {exc}; try again") from None


@click.group(cls=AlertsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DB_FILE,
    envvar="ALERTS_DB",
    show_default=True,
    help="SQLite database file (env ALERTS_DB).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=CONFIG_FILE,
    envvar="ALERTS_CONFIG",
    show_default=True,
    help="Settings file (env ALERTS_CONFIG). ALERTS_<KEY> variables override its keys.",
)
@click.version_option(__version__, prog_name="alerts")
@click.pass_context
def main(ctx: click.Context, db_path: Path, config_path: Path) -> None:
    """Email newsletters and action alerts for advocacy groups.

    Admins import signups, staff write and send campaigns through SendGrid,
    subscribers open pre-filled letters to their own members of Congress, and
    every open, click and letter is counted per campaign.
    """
    app = AppContext(db_path=db_path, config_path=config_path)
    ctx.obj = app
    ctx.call_on_close(app.close)
