"""Machine rules: which opens, clicks and letter visits were probably not made by a person.

Privacy proxies fetch images and link scanners follow links without anyone
looking. Such events are still recorded, with `machine = 1` and the rule's
name in `detail`; docs/tracking.md explains each rule and its sources.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from functools import lru_cache

DELIVERY_WINDOW = 10  # seconds: no person opens or clicks this soon after delivery
BURST_WINDOW = 5  # seconds
BURST_LINKS = 3  # distinct links of one campaign clicked within BURST_WINDOW
APPLE_PROXY_AGENT = "Mozilla/5.0"  # the bare user agent of Apple's image prefetcher
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")  # Apple's own address block
USER_AGENT_LIMIT = 512  # characters of a user agent kept with an event

# Tools, libraries and security products that announce themselves (matched in
# lower case). Webmail image proxies (Gmail's GoogleImageProxy, Yahoo's) fetch
# when a person opens the message: not here.
AUTOMATED_AGENT_WORDS = (
    "bot/",
    "crawler",
    "spider",
    "headless",
    "scanner",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww-perl",
    "apache-httpclient",
    "phantomjs",
    "barracuda",
    "mimecast",
    "proofpoint",
    "safelinks",
    "symantec",
    "forcepoint",
    "trendmicro",
    "sophos",
    "fortiguard",
    "zscaler",
    "bingpreview",
    "facebookexternalhit",
    "skypeuripreview",
    "microsoft office existence discovery",
)
_BOT_WORD = re.compile(r"bot\b")  # Googlebot, "compatible; bot", not "Cubot" phones


@dataclass(frozen=True)
class Visit:
    """What the server knows of one request: when, from what client, and how."""

    at: float  # Unix seconds
    user_agent: str | None = None
    ip: str | None = None  # the client's address after trusted proxy headers
    head: bool = False  # a HEAD request: nobody looks at a HEAD answer


@lru_cache(maxsize=4096)  # real traffic repeats a few thousand user agents
def _agent_reason(user_agent: str | None) -> str | None:
    if not user_agent or not user_agent.strip():
        return "no_user_agent"
    lowered = user_agent.lower()
    if any(word in lowered for word in AUTOMATED_AGENT_WORDS) or _BOT_WORD.search(lowered):
        return "automated_user_agent"
    return None


def _from_apple(ip: str | None) -> bool:
    try:
        return ip is not None and ipaddress.ip_address(ip) in APPLE_NETWORK
    except ValueError:
        return False


def _soon_after(visit: Visit, delivered_at: int | None) -> bool:
    return delivered_at is not None and visit.at - delivered_at < DELIVERY_WINDOW


def _request_reason(visit: Visit, delivered_at: int | None) -> str | None:
    """The rules that opens and clicks share."""
    if visit.head:
        return "head_request"
    return _agent_reason(visit.user_agent) or (
        "soon_after_delivery" if _soon_after(visit, delivered_at) else None
    )


def open_machine_reason(visit: Visit, delivered_at: int | None) -> str | None:
    """The rule that makes this open look machine-made, or None for a person."""
    if visit.user_agent == APPLE_PROXY_AGENT or _from_apple(visit.ip):
        return "apple_privacy_proxy"
    return _request_reason(visit, delivered_at)


def click_machine_reason(visit: Visit, delivered_at: int | None, burst: bool) -> str | None:
    """The rule that makes this click look like a link scanner's, or None for a person."""
    return _request_reason(visit, delivered_at) or ("link_burst" if burst else None)


def machine_detail(reason: str | None) -> str | None:
    """The `detail` of an event a machine rule flagged: {"machine": "<rule>"}."""
    return json.dumps({"machine": reason}) if reason else None


def clip_user_agent(text: str | None, limit: int = USER_AGENT_LIMIT) -> str | None:
    """A user agent as events store it: at most `limit` characters, None when empty."""
    return text[:limit] if text else None
