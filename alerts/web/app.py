"""The tracking server: the Starlette app that `alerts serve` runs under uvicorn.

Entry point only: it reads tokens and requests, calls the domain (links,
tracking, render) and answers. Nothing imports it; uvicorn loads
`alerts.web.app:app_from_environment` in each worker process.

Design rules every route follows (the letter page, /a/<token>, included):
- The token in the URL is the credential. It is signed, names only ids, and
  is never logged; forms post back to the same URL, so no CSRF token is
  needed: a forged form cannot name anyone without their token.
- An event is acknowledged (redirect, GIF, 2xx) only after it is committed;
  the group committer batches many requests' events into one transaction.
- Bad input is a 4xx: bad or tampered tokens 404, oversized bodies 413,
  bad JSON 400, bad webhook signatures 403. A database that cannot commit
  answers 503 so that the client (or SendGrid) tries again.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts import pipeline
from alerts.config import Config
from alerts.email import compile as render
from alerts.email import links
from alerts.email.links import Token, TokenKind, read_token, token_key
from alerts.errors import (
    AlertsError,
    EventPayloadError,
    LookupFailed,
    StorageError,
    TokenError,
    WebhookAuthError,
)
from alerts.models import IngestSummary
from alerts.tracking import recording as tracking

access_log = logging.getLogger("alerts.access")
log = logging.getLogger("alerts.web")

T = TypeVar("T")

# A 1x1 transparent GIF (42 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
WEBHOOK_BODY_LIMIT = 8 * 1024 * 1024  # SendGrid posts batches of up to about 768 KB
FORM_BODY_LIMIT = 64 * 1024
FORM_FIELDS_LIMIT = 20
NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache"}
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
# The letter page runs one first-party script ("Copy letter") and sends only its
# origin as Referer, never the path with the token, so that our own POSTs carry
# an Origin header to check (with no-referrer, browsers send `Origin: null`).
LETTER_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self';"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "strict-origin",
}
# Paths whose second segment is a token: logged as /c/{token} and so on.
TOKEN_PREFIXES = ("/o/", "/c/", "/u/", "/a/")
KNOWN_PATHS = ("/healthz", "/webhooks/sendgrid")


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
# Helpers shared by the routes


async def committed(future: Future[T]) -> T:
    """Wait for the group committer without blocking the event loop."""
    return await asyncio.wrap_future(future)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes with 413 (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "bad Content-Length")
        if int(declared) > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form (as browsers post ours), CRLF line breaks made LF.

    Anything else is a 4xx: too big 413, another encoding 415, not UTF-8 400.
    """
    body = await read_body(request, FORM_BODY_LIMIT)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=FORM_FIELDS_LIMIT
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form is not UTF-8 urlencoded text") from None
    return {name: value.replace("\r\n", "\n") for name, value in pairs}


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, base_url: str) -> bool:
    """False when Origin (or, without it, Referer) names a site other than this server.

    A request with neither passes: the token in its path is the credential.
    `Origin: null` (sandboxed frames, privacy redirects) is another site.
    """
    claimed = request.headers.get("origin")
    if claimed is None:
        referer = request.headers.get("referer")
        if referer is None:
            return True
        claimed = origin_of(referer)
    own = {origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")}
    if base_url:
        own.add(origin_of(base_url))
    return claimed.strip().lower() in own


@dataclass(frozen=True)
class Notice:
    """A message at the top of a page or under one member's letter after a POST."""

    text: str
    target: str | None = None  # the bioguide id of the letter it is about
    error: bool = False


def visit_of(request: Request) -> tracking.Visit:
    return tracking.Visit(
        at=time.time(),
        user_agent=request.headers.get("user-agent"),
        ip=request.client.host if request.client else None,
        head=request.method == "HEAD",
    )


class Pages:
    """Renders the server's pages with the organisation's footer."""

    def __init__(self, config: Config) -> None:
        self.footer = {
            "org_name": config.get("org_name"),
            "postal_address": config.get("postal_address"),
        }

    def html(
        self,
        name: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        body = render.render_page(name, **self.footer, **context)
        return HTMLResponse(body, status, headers={**NO_STORE, **(headers or {})})

    def error(self, status: int, heading: str, message: str) -> HTMLResponse:
        return self.html("error.html", status, heading=heading, message=message)

    def not_found(self) -> HTMLResponse:
        return self.error(
            404,
            "This link does not work",
            "It may have been copied incompletely. Try the link in the email again.",
        )


# --------------------------------------------------------------------------
# The app


class TrackingApp:
    """The routes, bound to one database, one signing key and one set of settings."""

    def __init__(self, db_path: Path, config: Config, campaigns_dir: Path) -> None:
        self.key = token_key(config.require("secret"))
        self.base_url = str(config.get("base_url") or "")
        self.letters = pipeline.LetterCampaigns(campaigns_dir)
        self.copy_sender = pipeline.letter_copy_sender(config)
        public_key = config.get("sendgrid_webhook_public_key")
        self.verifier = tracking.WebhookVerifier(public_key) if public_key else None
        if self.verifier is None:
            log.warning(
                "sendgrid_webhook_public_key is not set: the SendGrid webhook accepts unsigned"
                " requests (see docs/tracking.md)"
            )
        self.tracker = tracking.Tracker(Path(db_path))
        self.pages = Pages(config)

    def token(self, request: Request, kind: TokenKind) -> Token | None:
        try:
            return read_token(self.key, request.path_params["token"], kind)
        except TokenError:
            return None

    async def open_pixel(self, request: Request) -> Response:
        token = self.token(request, TokenKind.OPEN)
        if token is not None:
            await committed(
                self.tracker.record_open(token.campaign_id, token.subscriber_id, visit_of(request))
            )
        return Response(PIXEL, media_type="image/gif", headers=NO_STORE)

    async def click(self, request: Request) -> Response:
        token = self.token(request, TokenKind.CLICK)
        url = self.tracker.link_url(token.campaign_id, token.link_id) if token else None
        if token is None or url is None:
            return self.pages.not_found()
        await committed(
            self.tracker.record_click(
                token.campaign_id, token.subscriber_id, token.link_id, visit_of(request)
            )
        )
        return RedirectResponse(url, 302, headers=NO_STORE)

    async def unsubscribe_page(self, request: Request) -> Response:
        token = self.token(request, TokenKind.UNSUBSCRIBE)
        if token is None:
            return self.pages.not_found()
        view = self.tracker.unsubscribe_view(token.subscriber_id)
        return self.pages.html("unsubscribe.html", view=view)

    async def unsubscribe(self, request: Request) -> Response:
        """Any POST with a valid token unsubscribes: our button and RFC 8058 one-click alike."""
        token = self.token(request, TokenKind.UNSUBSCRIBE)
        if token is None:
            return self.pages.not_found()
        await read_body(request, FORM_BODY_LIMIT)
        await committed(
            self.tracker.unsubscribe(token.campaign_id, token.subscriber_id, time.time())
        )
        view = self.tracker.unsubscribe_view(token.subscriber_id)
        return self.pages.html("unsubscribed.html", view=view)

    # The letter page -----------------------------------------------------

    async def letter_page(self, request: Request) -> Response:
        """GET: the page. Records a letter_visit (HEAD and scanners as machine visits)."""
        token = self.token(request, TokenKind.LETTER)
        page = self._letter_page(token)
        if token is None or page is None:
            return self.pages.not_found()
        await committed(
            self.tracker.record_letter_visit(
                token.campaign_id, token.subscriber_id, visit_of(request)
            )
        )
        return self._show_letter(page, choosing="choose" in request.query_params)

    async def letter_action(self, request: Request) -> Response:
        """POST: "I sent it", "Email me a copy", or the pick of a House member."""
        token = self.token(request, TokenKind.LETTER)
        page = self._letter_page(token)
        if token is None or page is None:
            return self.pages.not_found()
        if not same_origin(request, self.base_url):
            return self.pages.error(
                403,
                "This form came from another site",
                "Nothing was changed. Open the link in our email again to use your letter page.",
            )
        form = await read_form(request)
        action = form.get("action", "")
        if action == "choose":
            return await self._choose(token, page, form.get("district", ""))
        target = page.target(form.get("target", ""))
        if target is None or action not in ("sent", "email"):
            notice = Notice("That form is not one of this page's.", error=True)
            return self._show_letter(page, 400, notice)
        subject = form.get("subject", target.subject)
        page = page.edited(target.member.bioguide, subject, form.get("letter", target.letter))
        if action == "sent":
            return await self._letter_sent(request, token, page, target)
        return await self._email_copy(request, token, page, target)

    def _letter_page(self, token: Token | None) -> pipeline.LetterPage | None:
        if token is None:
            return None
        return pipeline.letter_page(
            self.tracker.reader, self.letters, token.campaign_id, token.subscriber_id
        )

    def _show_letter(
        self,
        page: pipeline.LetterPage,
        status: int = 200,
        notice: Notice | None = None,
        *,
        choosing: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return self.pages.html(
            "letter.html",
            status,
            {**LETTER_HEADERS, **(headers or {})},
            page=page,
            notice=notice,
            choosing=choosing or page.house is pipeline.HouseAnswer.CHOOSE,
            can_email=self.copy_sender is not None and page.can_email,
            masked_email=tracking.mask_email(page.subscriber.email),
        )

    async def _letter_sent(
        self,
        request: Request,
        token: Token,
        page: pipeline.LetterPage,
        target: pipeline.LetterTarget,
    ) -> Response:
        bioguide = target.member.bioguide
        await committed(
            self.tracker.record_letter_sent(
                token.campaign_id, token.subscriber_id, bioguide, visit_of(request)
            )
        )
        page = page.marked_sent(bioguide)
        name = f"{target.member.title} {target.member.full_name}"
        return self._show_letter(page, notice=Notice(f"Thank you for writing to {name}!", bioguide))

    async def _email_copy(
        self,
        request: Request,
        token: Token,
        page: pipeline.LetterPage,
        target: pipeline.LetterTarget,
    ) -> Response:
        bioguide = target.member.bioguide
        edited = page.target(bioguide)
        assert edited is not None
        problem = pipeline.check_letter_edit(edited.subject, edited.letter)
        if problem is not None:
            return self._show_letter(page, 400, Notice(problem, bioguide, error=True))
        if self.copy_sender is None or not page.can_email:
            message = "We cannot email copies from this page. Copy the letter instead."
            return self._show_letter(page, 409, Notice(message, bioguide, error=True))
        permit = await committed(
            self.tracker.reserve_letter_copy(
                token.campaign_id, token.subscriber_id, bioguide, visit_of(request)
            )
        )
        if not permit.granted:
            minutes = -(-permit.retry_after // 60)
            message = (
                "You have asked for several copies already. You can ask for another in"
                f" {minutes} minute{'s' if minutes != 1 else ''}; until then, copy the letter."
            )
            retry = {"Retry-After": str(permit.retry_after)}
            return self._show_letter(page, 429, Notice(message, bioguide, True), headers=retry)
        assert permit.event_id is not None
        page_url = links.letter_url(self.base_url, request.path_params["token"])
        try:
            await run_in_threadpool(self.copy_sender.send, page, edited, page_url)
        except AlertsError as exc:
            # SendGrid's messages can quote the address: the log names only the kind.
            log.warning("a letter copy could not be sent (%s)", type(exc).__name__)
            await committed(self.tracker.release_letter_copy(permit.event_id))
            message = "We could not send the copy just now. Please try again in a few minutes."
            return self._show_letter(page, 503, Notice(message, bioguide, error=True))
        where = tracking.mask_email(page.subscriber.email) or "your address"
        return self._show_letter(page, notice=Notice(f"We emailed a copy to {where}.", bioguide))

    async def _choose(self, token: Token, page: pipeline.LetterPage, value: str) -> Response:
        chosen = next((m for m in page.candidates if str(m.district) == value.strip()), None)
        if chosen is None or chosen.district is None:
            notice = Notice("Pick one of the members listed.", "pick", error=True)
            return self._show_letter(page, 400, notice, choosing=True)
        district = chosen.district
        try:
            await committed(
                self.tracker.submit(
                    lambda db: pipeline.choose_district(db, token.subscriber_id, district)
                )
            )
        except LookupFailed:  # the district map changed since the page was shown
            notice = Notice("That choice is no longer possible: please pick again.", "pick", True)
            return self._show_letter(self._letter_page(token) or page, 409, notice, choosing=True)
        page = self._letter_page(token) or page
        name = f"{chosen.title} {chosen.full_name}"
        return self._show_letter(page, notice=Notice(f"Thank you: we will remember {name}."))

    async def sendgrid_webhook(self, request: Request) -> Response:
        body = await read_body(request, WEBHOOK_BODY_LIMIT)
        signature = request.headers.get(tracking.SIGNATURE_HEADER)
        timestamp = request.headers.get(tracking.TIMESTAMP_HEADER)
        events = await run_in_threadpool(self._checked_events, body, signature, timestamp)
        summary: IngestSummary = await committed(self.tracker.ingest(events))
        log.info("sendgrid webhook: %s", " ".join(f"{k}={v}" for k, v in summary.as_dict().items()))
        return JSONResponse(summary.as_dict())

    def _checked_events(
        self, body: bytes, signature: str | None, timestamp: str | None
    ) -> list[dict[str, Any]]:
        if self.verifier is not None:
            self.verifier.verify(body, signature, timestamp, time.time())
        return tracking.parse_events(body, "webhook body")

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n", headers=NO_STORE)

    # Errors -------------------------------------------------------------

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return self.pages.not_found()
        return PlainTextResponse(f"{exc.detail}\n", exc.status_code, headers=exc.headers)

    async def forbidden(self, request: Request, exc: Exception) -> Response:
        log.warning("sendgrid webhook refused: %s", exc)
        return PlainTextResponse(f"{exc}\n", 403)

    async def bad_payload(self, request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"{exc}\n", 400)

    async def unavailable(self, request: Request, exc: Exception) -> Response:
        return PlainTextResponse(
            "The database is busy: nothing was recorded. Try again.\n",
            503,
            headers={"Retry-After": "5"},
        )

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.tracker.start()
        try:
            yield
        finally:
            self.tracker.close()

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/o/{token}.gif", self.open_pixel, methods=["GET", "HEAD"]),
            Route("/c/{token}", self.click, methods=["GET", "HEAD"]),
            Route("/u/{token}", self.unsubscribe_page, methods=["GET", "HEAD"]),
            Route("/u/{token}", self.unsubscribe, methods=["POST"]),
            Route("/a/{token}", self.letter_page, methods=["GET", "HEAD"]),
            Route("/a/{token}", self.letter_action, methods=["POST"]),
            Route("/webhooks/sendgrid", self.sendgrid_webhook, methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET", "HEAD"]),
            Mount("/static", StaticFiles(directory=render.PAGE_STATIC_DIR), name="static"),
        ]

    def handlers(self) -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
        return {
            HTTPException: self.http_error,
            WebhookAuthError: self.forbidden,
            EventPayloadError: self.bad_payload,
            StorageError: self.unavailable,
        }


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
    server = TrackingApp(Path(db_path), config, Path(campaigns_dir))
    return Starlette(
        routes=server.routes(),
        exception_handlers=server.handlers(),
        middleware=[Middleware(ServerMiddleware, log_access=log_access)],
        lifespan=server.lifespan,
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
