"""The tracking server: the Starlette app that `alerts serve` runs under uvicorn.

Entry point only: nothing imports it; uvicorn loads
`alerts.web.app:app_from_environment` in each worker process. This module
builds the app from its page families (tracking.py: the pixel, clicks and
unsubscribe pages; letters.py: the letter page; webhooks.py: the delivery
provider's event webhook),
adds security headers and the access log, and turns errors into answers.
The rules every route follows are in common.py.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts.config import Config
from alerts.db import open_db
from alerts.email.links import token_key
from alerts.errors import StorageError
from alerts.letters.address import LOOKUP_TIMEOUT
from alerts.letters.campaigns import LetterCampaigns
from alerts.letters.copies import letter_copy_sender
from alerts.signups.form import SignupSettings
from alerts.signups.mail import ConfirmationSender, confirmation_mailer
from alerts.targets.geocoder import configured_geocoder
from alerts.tracking.committer import Tracker
from alerts.web.act import ActRoutes
from alerts.web.common import Server
from alerts.web.forms import FormRoutes
from alerts.web.letters import LetterRoutes
from alerts.web.pages import NO_STORE, STATIC_DIR, Pages
from alerts.web.tracking import TrackingRoutes
from alerts.web.webhooks import WEBHOOK_PATHS, WebhookRoutes

access_log = logging.getLogger("alerts.access")
log = logging.getLogger("alerts.web")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
        b" frame-ancestors 'none'; base-uri 'none'",
    ),
]
# Paths whose second segment is a token: logged as /c/{token} and so on.
TOKEN_PREFIXES = ("/o/", "/c/", "/u/", "/a/", "/confirm/")
# Public pages by campaign: logged as /act/{slug}, whatever was typed.
SLUG_PREFIXES = ("/act/", "/share/")
KNOWN_PATHS = ("/healthz", "/join", *WEBHOOK_PATHS)


# --------------------------------------------------------------------------
# Access log and security headers


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response's headers plus the security headers it did not set itself."""
    present = {name.lower() for name, _ in headers}
    return [*headers, *(h for h in SECURITY_HEADERS if h[0] not in present)]


def route_label(path: str) -> str:
    """The path as the access log shows it: never a token, nothing unknown verbatim."""
    for prefix in TOKEN_PREFIXES:
        if path.startswith(prefix):
            return prefix + "{token}"
    for prefix in SLUG_PREFIXES:
        if path.startswith(prefix):
            return prefix + "{slug}"
    if path in KNOWN_PATHS:
        return path
    if path.startswith("/static/"):
        return "/static/{file}"
    return "(other)"


class ServerMiddleware:
    """Adds security headers, writes the access log, and turns a crash into a bare 500.

    The access log has method, route, status and duration: no client address,
    no user agent, no token, no query string.
    """

    def __init__(self, app: ASGIApp, log_access: bool = True) -> None:
        self.app = app
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = with_security_headers(message.get("headers", []))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], route_label(scope["path"]))
            if status == 0:
                status = 500
                await PlainTextResponse("Internal error\n", 500)(scope, receive, send)
        finally:
            if self.log_access:
                elapsed = (time.perf_counter() - start) * 1000
                access_log.info(
                    "%s %s %d %.1fms", scope["method"], route_label(scope["path"]), status, elapsed
                )


# --------------------------------------------------------------------------
# The app


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n", headers=NO_STORE)


class ErrorAnswers:
    """What the server answers for errors no route handles itself."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def handlers(self) -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
        return {HTTPException: self.http_error, StorageError: self.unavailable}

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return self.pages.not_found()
        return PlainTextResponse(f"{exc.detail}\n", exc.status_code, headers=exc.headers)

    async def unavailable(self, request: Request, exc: Exception) -> Response:
        return PlainTextResponse(
            "The database is busy: nothing was recorded. Try again.\n",
            503,
            headers={"Retry-After": "5"},
        )


def create_app(
    db_path: Path | str,
    config: Config,
    *,
    log_access: bool = True,
    campaigns_dir: Path | str | None = None,
) -> Starlette:
    """The tracking server for the database at `db_path` with these settings.

    Letter pages read campaign files from `campaigns_dir`: by default the
    campaigns/ folder beside alerts.toml (or in the current folder).
    """
    if campaigns_dir is None:
        home = config.path.parent if config.path is not None else Path.cwd()
        campaigns_dir = home / "campaigns"
    pages = Pages(config)
    server = Server(
        key=token_key(config.require("secret")),
        base_url=str(config.get("base_url") or ""),
        tracker=Tracker(Path(db_path)),
        pages=pages,
        geocoder=configured_geocoder(config.get("geocoder_url"), timeout=LOOKUP_TIMEOUT),
    )
    campaigns = LetterCampaigns(Path(campaigns_dir))
    copy_sender = letter_copy_sender(config)
    letters = LetterRoutes(server, campaigns, copy_sender)
    webhooks = WebhookRoutes(server, config)
    signup_settings = SignupSettings.of(config)
    sender = ConfirmationSender(
        lambda: open_db(db_path, migrate=False),
        confirmation_mailer(config, server.key, signup_settings.confirm_days),
    )
    routes: list[BaseRoute] = [
        *FormRoutes(server, signup_settings, sender.wake).routes(),
        *TrackingRoutes(server).routes(),
        *letters.routes(),
        *ActRoutes(server, campaigns, copy_sender, signup_settings, sender.wake).routes(),
        *webhooks.routes(),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.tracker.start()
        sender.start()
        try:
            yield
        finally:
            sender.close()
            server.tracker.close()

    return Starlette(
        routes=routes,
        exception_handlers={**ErrorAnswers(pages).handlers(), **webhooks.handlers()},
        middleware=[Middleware(ServerMiddleware, log_access=log_access)],
        lifespan=lifespan,
    )


# Environment variables through which `alerts serve` configures its workers.
ENV_DB = "ALERTS_DB"
ENV_CONFIG = "ALERTS_CONFIG"
ENV_ACCESS_LOG = "ALERTS_SERVE_ACCESS_LOG"


def app_from_environment() -> Starlette:
    """The factory uvicorn calls in each worker process (see alerts/cli/serve.py)."""
    config_path = Path(os.environ[ENV_CONFIG])
    config = Config.load(config_path)
    log_access = os.environ.get(ENV_ACCESS_LOG, "1") == "1"
    return create_app(
        os.environ[ENV_DB],
        config,
        log_access=log_access,
        campaigns_dir=config_path.parent / "campaigns",
    )
