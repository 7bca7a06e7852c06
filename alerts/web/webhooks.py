"""The delivery provider's event webhook: POST /webhooks/<provider name>.

The provider checks the request (its signature scheme) and reads its events;
tracking/ingest.py records them and applies the status changes they ask for,
in the group committer. The answer is 200 with the ingest counts; a request
that is not signed as the provider signs is 403, a body that is not the
provider's payload 400, and a database that cannot commit 503 (common.py), so
that the provider tries again later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from alerts.config import Config
from alerts.delivery import providers
from alerts.delivery.provider import DeliveryProvider
from alerts.errors import EventPayloadError, WebhookAuthError
from alerts.models import IngestSummary, ParsedEvents
from alerts.tracking import ingest
from alerts.web.common import Server, committed, read_body

log = logging.getLogger("alerts.web")

# Far above the batches providers post (under a megabyte each), far below harm.
WEBHOOK_BODY_LIMIT = 8 * 1024 * 1024
WEBHOOK_PATHS = tuple(f"/webhooks/{name}" for name in providers.PROVIDERS)

Handler = Callable[[Request, Exception], Awaitable[Response]]


class WebhookRoutes:
    """The webhook of the configured provider; ConfigError for bad webhook settings."""

    def __init__(self, server: Server, config: Config) -> None:
        self.server = server
        self.provider = providers.provider_for(config)
        warning = self.provider.check_webhooks()
        if warning is not None:
            log.warning("%s", warning)

    def routes(self) -> list[Route]:
        return [Route(f"/webhooks/{self.provider.name}", self.webhook, methods=["POST"])]

    def handlers(self) -> dict[Any, Handler]:
        return {WebhookAuthError: self.forbidden, EventPayloadError: self.bad_payload}

    async def webhook(self, request: Request) -> Response:
        body = await read_body(request, WEBHOOK_BODY_LIMIT)
        parsed = await run_in_threadpool(_checked_events, self.provider, body, request.headers)
        name = self.provider.name
        summary: IngestSummary = await committed(
            self.server.tracker.submit(lambda db: ingest.ingest_events(db, name, parsed))
        )
        counts = " ".join(f"{k}={v}" for k, v in summary.as_dict().items())
        log.info("%s webhook: %s", name, counts)
        return JSONResponse(summary.as_dict())

    async def forbidden(self, request: Request, exc: Exception) -> Response:
        log.warning("%s webhook refused: %s", self.provider.name, exc)
        return PlainTextResponse(f"{exc}\n", 403)

    async def bad_payload(self, request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"{exc}\n", 400)


def _checked_events(
    provider: DeliveryProvider, body: bytes, headers: Mapping[str, str]
) -> ParsedEvents:
    provider.verify_webhook(body, headers, time.time())
    return provider.parse_events(body, "webhook body")
