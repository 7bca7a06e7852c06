"""What every page family of the server shares: its state, reading requests, waiting for commits.

Rules every route follows:
- The token in the URL is the credential. It is signed, names only ids, and
  is never logged; forms post back to the same URL, so no CSRF token is
  needed: a forged form cannot name anyone without their token.
- An event is acknowledged (redirect, GIF, 2xx) only after it is committed;
  the group committer batches many requests' events into one transaction.
- Bad input is a 4xx: bad or tampered tokens 404, oversized bodies 413,
  other encodings 415. A database that cannot commit answers 503 so that
  the client tries again.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request

from alerts.email.links import Token, TokenKind, read_token
from alerts.errors import TokenError
from alerts.targets.geocoder import Geocoder
from alerts.tracking.committer import Tracker
from alerts.tracking.machines import Visit
from alerts.web.pages import Pages

T = TypeVar("T")

FORM_BODY_LIMIT = 64 * 1024
FORM_FIELDS_LIMIT = 20


@dataclass(frozen=True)
class Server:
    """One server's state: the signing key, its public URL, the database, the pages,
    and the geocoder of typed street addresses (None: geocoding is off)."""

    key: bytes
    base_url: str
    tracker: Tracker
    pages: Pages
    geocoder: Geocoder | None = None

    def token(self, request: Request, kind: TokenKind) -> Token | None:
        """The request's token of that kind, or None when it is malformed, forged or another."""
        try:
            return read_token(self.key, request.path_params["token"], kind)
        except TokenError:
            return None


async def committed(future: Future[T]) -> T:
    """Wait for the group committer without blocking the event loop."""
    return await asyncio.wrap_future(future)


def visit_of(request: Request) -> Visit:
    return Visit(
        at=time.time(),
        user_agent=request.headers.get("user-agent"),
        ip=request.client.host if request.client else None,
        head=request.method == "HEAD",
    )


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
    claimed = claimed.strip().lower()
    if base_url and claimed == origin_of(base_url):
        return True  # the usual case, decided before the request's URL is built
    return claimed == origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")
