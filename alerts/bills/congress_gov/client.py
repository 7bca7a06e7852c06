"""A client of the Congress.gov API v3 for one bill's sponsor and cosponsors, on urllib.

The key is an api.data.gov key from the CONGRESS_API_KEY variable. It travels only in
the X-Api-Key header, never in a URL, so no URL that is printed or logged holds it,
and redirects are refused so that it never reaches another host. Cosponsors come in
pages: the client follows `pagination.next`, taking only its offset and limit (the
documented `next` has no key, and once pointed at another host).

A 429, a 5xx, a timeout or a broken connection is tried again a few times (a GET can
be repeated safely), waiting as long as a Retry-After header asks. A refused key, a
missing bill or an answer that is not the documented JSON is a one-line
CongressApiError.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

from alerts import __version__
from alerts.bills.congress_gov.wire import (
    HOURLY_LIMIT,
    KEY_ERRORS,
    KEY_HEADER,
    MAX_LIMIT,
    OVER_RATE_LIMIT,
    bill_path,
    cosponsors_path,
)
from alerts.errors import CongressApiError
from alerts.models import BillDetails, BillId, Sponsorship

API_KEY_VARIABLE = "CONGRESS_API_KEY"
SIGN_UP_URL = "https://api.congress.gov/sign-up/"
MAX_PAGES = 40  # 10,000 cosponsors, far more than Congress has members
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MESSAGE_CHARS = 200


def api_key_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The key in CONGRESS_API_KEY; a CongressApiError saying how to get one when unset."""
    key = (os.environ if environ is None else environ).get(API_KEY_VARIABLE, "").strip()
    if not key:
        raise CongressApiError(
            f"{API_KEY_VARIABLE} is not set: get a free key at {SIGN_UP_URL} "
            f"and export {API_KEY_VARIABLE}=<key>"
        )
    return key


@dataclass(frozen=True)
class RetryPolicy:
    """How often to ask again after a 429, a 5xx or a network failure, and how long to wait."""

    retries: int = 4
    first_wait: float = 1.0  # seconds before the first retry, doubled before each next one
    max_wait: float = 60.0  # the longest wait; a longer Retry-After gives up at once


class _Retryable(Exception):
    """A failure worth asking again for: a 429, a 5xx, a timeout or a lost connection."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


class CongressGovClient:
    """Reads bills from the API at `base_url` (congress_api_url) with one key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirects)

    def bill(self, bill: BillId) -> BillDetails:
        """The bill's title, its sponsor and every cosponsor, withdrawn ones included."""
        path = bill_path(bill)
        what = f"GET {path}"
        item = self._get(path, {}).get("bill")
        if not isinstance(item, dict):
            raise CongressApiError(f"Congress.gov's answer to {what} has no bill object")
        introduced = _day(item.get("introducedDate"))
        sponsors = [_sponsor(entry, introduced, what) for entry in _items(item, "sponsors", what)]
        cosponsors = [_cosponsor(entry, what) for entry in self._cosponsor_items(bill)]
        return BillDetails(bill, _text(item.get("title")), _one_per_member(sponsors + cosponsors))

    def _cosponsor_items(self, bill: BillId) -> Iterator[Any]:
        path = cosponsors_path(bill)
        what = f"GET {path}"
        offset, limit = 0, MAX_LIMIT
        for _ in range(MAX_PAGES):
            page = self._get(path, {"offset": offset, "limit": limit})
            yield from _items(page, "cosponsors", what)
            following = _next_page(page, offset, what)
            if following is None:
                return
            offset, limit = following
        raise CongressApiError(f"{what}: more than {MAX_PAGES} pages of cosponsors; stopped")

    def _get(self, path: str, params: Mapping[str, int]) -> dict[str, Any]:
        query = urllib.parse.urlencode({"format": "json", **params})
        url = f"{self.base_url}{path}?{query}"
        what = f"GET {path}"
        for attempt in range(self.policy.retries):
            try:
                return self._attempt(url, what)
            except _Retryable as failure:
                self._sleep(self._wait(failure, attempt))
        try:
            return self._attempt(url, what)
        except _Retryable as failure:
            tries = self.policy.retries + 1
            raise CongressApiError(f"{failure.reason}; gave up after {tries} tries") from None

    def _attempt(self, url: str, what: str) -> dict[str, Any]:
        request = urllib.request.Request(
            url,
            headers={
                KEY_HEADER: self._api_key,
                "Accept": "application/json",
                "User-Agent": f"alerts/{__version__}",
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise _refusal(exc.code, _read_error_body(exc), exc.headers, what) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise _Retryable(
                f"could not reach {self.base_url} for {what}: {_one_line(str(reason))}"
            ) from None
        return _json_object(body, what)

    def _wait(self, failure: _Retryable, attempt: int) -> float:
        if failure.retry_after is None:
            return min(self.policy.first_wait * 2.0**attempt, self.policy.max_wait)
        if failure.retry_after > self.policy.max_wait:
            raise CongressApiError(
                f"{failure.reason}: it asks to wait {failure.retry_after:.0f} s; try again later"
            )
        return failure.retry_after


# --------------------------------------------------------------------------
# Answers that are not 200


def _refusal(status: int, body: bytes, headers: Message, what: str) -> Exception:
    """The exception for an HTTP error: _Retryable when asking again may succeed."""
    code, message = _api_error(body)
    if status == 429:
        return _Retryable(
            f"Congress.gov answered HTTP 429 {code or OVER_RATE_LIMIT} to {what}: the key is "
            f"over its limit of {HOURLY_LIMIT:,} requests an hour",
            _retry_after(headers),
        )
    if status >= 500:
        return _Retryable(f"Congress.gov answered HTTP {status} to {what}", _retry_after(headers))
    if status == 403 and code in KEY_ERRORS:
        return CongressApiError(
            f"Congress.gov refused the key in {API_KEY_VARIABLE} ({code}: {message})"
        )
    if 300 <= status < 400:
        return CongressApiError(
            f"Congress.gov redirected {what} to {headers.get('Location')}: "
            "check the congress_api_url setting"
        )
    if status == 404:
        return CongressApiError(f"Congress.gov has nothing at {what} (HTTP 404): check the bill")
    detail = f": {message}" if message else ""
    return CongressApiError(f"Congress.gov answered HTTP {status} to {what}{detail}")


def _read_error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""


def _api_error(body: bytes) -> tuple[str | None, str | None]:
    """(code, message) of api.data.gov's `{"error": {"code", "message"}}`, if the body is one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code, message = _text(error.get("code")), _text(error.get("message"))
        return code, _one_line(message) if message else None
    return None, _one_line(error) if isinstance(error, str) else None


def _retry_after(headers: Message) -> float | None:
    """Seconds a Retry-After header asks to wait (seconds or an HTTP date), if it has one."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MESSAGE_CHARS else flat[: _MESSAGE_CHARS - 1] + "…"


# --------------------------------------------------------------------------
# Reading the documented JSON (BillEndpoint.md: the item and cosponsors levels)


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise CongressApiError(
            f"Congress.gov's answer to {what} is not JSON ({_one_line(str(exc))})"
        ) from None
    if not isinstance(data, dict):
        raise CongressApiError(f"Congress.gov's answer to {what} is not a JSON object")
    return data


def _items(owner: dict[str, Any], key: str, what: str) -> list[Any]:
    """A list the API may leave out when it is empty."""
    value = owner.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise CongressApiError(f"Congress.gov's answer to {what}: {key} is not a list")
    return value


def _next_page(page: dict[str, Any], offset: int, what: str) -> tuple[int, int] | None:
    """(offset, limit) of the page `pagination.next` points to; None on the last page."""
    pagination = page.get("pagination")
    following = pagination.get("next") if isinstance(pagination, dict) else None
    if not isinstance(following, str) or not following:
        return None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(following).query)
    try:
        next_offset = int(query["offset"][0])
        limit = int(query.get("limit", [str(MAX_LIMIT)])[0])
    except (KeyError, ValueError):
        raise CongressApiError(
            f"Congress.gov's answer to {what}: pagination.next has no offset ({following})"
        ) from None
    if next_offset <= offset:
        raise CongressApiError(
            f"Congress.gov's answer to {what}: pagination.next does not move on ({following})"
        )
    return next_offset, min(max(limit, 1), MAX_LIMIT)


def _member_fields(entry: Any, what: str) -> dict[str, Any]:
    if not isinstance(entry, dict) or not _text(entry.get("bioguideId")):
        raise CongressApiError(f"Congress.gov's answer to {what} names a member without bioguideId")
    bioguide = str(entry["bioguideId"]).strip()
    name = _text(entry.get("fullName")) or " ".join(
        part for part in (_text(entry.get("firstName")), _text(entry.get("lastName"))) if part
    )
    return {
        "bioguide": bioguide,
        "name": name or bioguide,
        "party": _text(entry.get("party")),
        "state": _text(entry.get("state")),
        "district": _district(entry.get("district")),
    }


def _sponsor(entry: Any, introduced: str | None, what: str) -> Sponsorship:
    return Sponsorship(**_member_fields(entry, what), is_sponsor=True, sponsorship_date=introduced)


def _cosponsor(entry: Any, what: str) -> Sponsorship:
    return Sponsorship(
        **_member_fields(entry, what),
        is_sponsor=False,
        sponsorship_date=_day(entry.get("sponsorshipDate")),
        is_original=_flag(entry.get("isOriginalCosponsor")),
        withdrawn_date=_day(entry.get("sponsorshipWithdrawnDate")),
    )


def _one_per_member(sponsorships: Iterable[Sponsorship]) -> tuple[Sponsorship, ...]:
    """One entry per member: the sponsor's, else a current cosponsorship, else the last one."""
    chosen: dict[str, Sponsorship] = {}
    for sponsorship in sponsorships:
        kept = chosen.get(sponsorship.bioguide)
        if kept is None or _rank(sponsorship) > _rank(kept):
            chosen[sponsorship.bioguide] = sponsorship
    return tuple(chosen.values())


def _rank(sponsorship: Sponsorship) -> tuple[bool, bool, str]:
    current = sponsorship.withdrawn_date is None
    return sponsorship.is_sponsor, current, sponsorship.withdrawn_date or ""


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _day(value: Any) -> str | None:
    """A YYYY-MM-DD date, from a date or a timestamp; None when absent or unreadable."""
    text = _text(value)
    return text[:10] if text and _DAY_RE.match(text) else None


def _district(value: Any) -> int | None:
    """The district number: 0 at large, None for a senator (the API leaves it out)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = _text(value)
    return int(text) if text and text.isdigit() else None


def _flag(value: Any) -> bool:
    """A JSON boolean, or the "True"/"False" strings of JSON converted from the XML."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("true", "y", "yes", "1")
