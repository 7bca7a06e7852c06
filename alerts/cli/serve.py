"""`alerts serve` (the tracking server under uvicorn) and `alerts events ingest`."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from alerts import clock
from alerts.config import Config, ConfigError
from alerts.db import write_transaction
from alerts.delivery import providers
from alerts.errors import InputFileError
from alerts.tracking import ingest as tracking_ingest

from ._context import AppContext, pass_app
from ._output import format_option, print_json, progress_bar

DEFAULT_WORKERS = 1


def check_settings(config: Config) -> None:
    """Fail before starting anything when a setting the server needs is missing or bad."""
    base_url = config.require("base_url")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"base_url must be an http(s) URL, not {base_url!r}")
    config.require("secret")
    providers.provider_for(config).check_webhooks()  # the server logs its warning itself


def check_port(host: str, port: int) -> None:
    """Bind the address once, as uvicorn will, so a taken port is one clear line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is already in use") from None
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def log_config(log_access: bool) -> dict[str, Any]:
    """uvicorn's logging: one line per record on stderr; uvicorn's own access log off."""
    line = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    handler = {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": line},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "alerts": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "alerts.access": {
                "handlers": ["stderr"],
                "level": "INFO" if log_access else "WARNING",
                "propagate": False,
            },
        },
    }


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Worker processes. One suits a 2-core machine (see docs/deploying.md).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log each request (method, route, status, time; never tokens or addresses).",
)
@pass_app
def serve(app: AppContext, host: str, port: int, workers: int, access_log: bool) -> None:
    """Run the tracking server at base_url: opens, clicks, unsubscribe, SendGrid events.

    Put it behind a TLS reverse proxy (docs/deploying.md). Stop it with Ctrl-C.
    """
    import uvicorn  # only here: the other commands need not load the server stack

    check_settings(app.config())
    clock.today()  # a bad ALERTS_TODAY stops here, not in every letter page
    app.db()  # creates or migrates the database before any worker opens it
    app.close()
    check_port(host, port)
    os.environ["ALERTS_DB"] = str(Path(app.db_path).resolve())
    os.environ["ALERTS_CONFIG"] = str(Path(app.config_path).resolve())
    os.environ["ALERTS_SERVE_ACCESS_LOG"] = "1" if access_log else "0"
    uvicorn.run(
        "alerts.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        server_header=False,
        access_log=False,
        log_config=log_config(access_log),
    )


@click.group()
def events() -> None:
    """SendGrid events: load a saved webhook payload."""


@events.command("ingest")
@click.argument("file", type=click.Path(path_type=Path))
@format_option("text", "json")
@pass_app
def ingest(app: AppContext, file: Path, fmt: str) -> None:
    """Load FILE, a saved Event Webhook payload (a JSON array), as the webhook would.

    Events already stored (same sg_event_id) are skipped, so a file can be
    loaded twice safely.
    """
    try:
        body = file.read_bytes()
    except OSError as exc:
        raise InputFileError(f"{file}: {exc.strerror or exc}") from None
    provider = providers.provider_for(app.config())
    parsed = provider.parse_events(body, str(file))
    db = app.db()
    with progress_bar("Ingesting", len(parsed.events)) as bar, write_transaction(db):
        progress = bar.advance if bar else None
        summary = tracking_ingest.ingest_events(db, provider.name, parsed, progress)
    if fmt == "json":
        print_json(summary.as_dict())
        return
    counts = summary.as_dict()
    click.echo(f"{file}: {counts.pop('received')} events")
    for name, value in counts.items():
        click.echo(f"  {name.replace('_', ' ')}: {value}")


COMMANDS = [serve, events]
