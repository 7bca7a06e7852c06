"""The tracking routes: the open pixel, tracked clicks and the unsubscribe page.

GET  /o/<token>.gif   records an open, answers a 1x1 GIF (also for bad tokens)
GET  /c/<token>       records a click, redirects to the link's URL
GET  /u/<token>       the unsubscribe page
POST /u/<token>       unsubscribes: our button and RFC 8058 one-click alike
"""

from __future__ import annotations

import base64
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from alerts.email.links import TokenKind
from alerts.tracking import recording
from alerts.web.common import FORM_BODY_LIMIT, Server, committed, read_body, visit_of
from alerts.web.pages import NO_STORE

# A 1x1 transparent GIF (42 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


class TrackingRoutes:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.pages = server.pages
        self.links = recording.LinkTargets()

    def routes(self) -> list[Route]:
        return [
            Route("/o/{token}.gif", self.open_pixel, methods=["GET", "HEAD"]),
            Route("/c/{token}", self.click, methods=["GET", "HEAD"]),
            Route("/u/{token}", self.unsubscribe_page, methods=["GET", "HEAD"]),
            Route("/u/{token}", self.unsubscribe, methods=["POST"]),
        ]

    async def open_pixel(self, request: Request) -> Response:
        token = self.server.token(request, TokenKind.OPEN)
        if token is not None:
            visit = visit_of(request)
            await committed(
                self.server.tracker.submit(
                    lambda db: recording.record_open(
                        db, token.campaign_id, token.subscriber_id, visit
                    )
                )
            )
        return Response(PIXEL, media_type="image/gif", headers=NO_STORE)

    async def click(self, request: Request) -> Response:
        token = self.server.token(request, TokenKind.CLICK)
        if token is None:
            return self.pages.not_found()
        reader = self.server.tracker.reader
        url = self.links.url(reader, token.campaign_id, token.link_id)
        if url is None:
            return self.pages.not_found()
        visit = visit_of(request)
        await committed(
            self.server.tracker.submit(
                lambda db: recording.record_click(
                    db, token.campaign_id, token.subscriber_id, token.link_id, visit
                )
            )
        )
        return RedirectResponse(url, 302, headers=NO_STORE)

    async def unsubscribe_page(self, request: Request) -> Response:
        token = self.server.token(request, TokenKind.UNSUBSCRIBE)
        if token is None:
            return self.pages.not_found()
        view = recording.unsubscribe_view(self.server.tracker.reader, token.subscriber_id)
        return self.pages.html("unsubscribe.html", view=view)

    async def unsubscribe(self, request: Request) -> Response:
        """Any POST with a valid token unsubscribes: our button and RFC 8058 one-click alike."""
        token = self.server.token(request, TokenKind.UNSUBSCRIBE)
        if token is None:
            return self.pages.not_found()
        await read_body(request, FORM_BODY_LIMIT)
        at = time.time()
        await committed(
            self.server.tracker.submit(
                lambda db: recording.unsubscribe(db, token.campaign_id, token.subscriber_id, at)
            )
        )
        view = recording.unsubscribe_view(self.server.tracker.reader, token.subscriber_id)
        return self.pages.html("unsubscribed.html", view=view)
