"""Signed tokens for tracking, letter and unsubscribe URLs.

A token names a kind, a campaign, a recipient and (for clicks) a link by
their integer ids, and nothing else: no personal data. It is the compact
varint encoding of those numbers followed by a truncated HMAC-SHA256 over
them, in URL-safe base64 without padding, about 20 characters long. Any
change to a single character makes verification fail.

`track_links` rewrites the links of a compiled campaign: every http(s) link
becomes the placeholder of a tracked link (`<base_url>/c/<token>` once
personalised), except links written with the `notrack:` prefix, which are
left as they are without the prefix.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import re
from dataclasses import dataclass, replace
from enum import IntEnum

from alerts.errors import CampaignError, TokenError
from alerts.models import (
    HTML_CONTEXT,
    PLACEHOLDER_MARK,
    TEXT_CONTEXT,
    CompiledCampaign,
    placeholder,
    readable_placeholders,
)

MAC_BYTES = 10  # 80 bits: forging one by guessing would take ~2**79 requests
MAX_ID = 2**63 - 1
_KEY_LABEL = b"alerts/token/v1"


class TokenKind(IntEnum):
    OPEN = 1
    CLICK = 2
    LETTER = 3
    UNSUBSCRIBE = 4
    SIGNUP_FORM = 5  # the /join form: its ids are the time it was made (signups/tokens.py)
    SIGNUP_CONFIRM = 6  # a confirmation link: a signup's id and the time it was made


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    campaign_id: int
    subscriber_id: int
    link_id: int = 0


def token_key(secret: str) -> bytes:
    """Derive the signing key from the configured secret."""
    if not secret:
        raise TokenError("the secret is empty: tokens cannot be signed")
    return hmac.digest(secret.encode("utf-8"), _KEY_LABEL, "sha256")


def _put_varint(out: bytearray, value: int) -> None:
    if value < 0 or value > MAX_ID:
        raise ValueError(f"id out of range: {value}")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _get_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise TokenError("malformed token")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            # Reject non-minimal encodings so each token has exactly one spelling.
            if byte == 0 and shift:
                raise TokenError("malformed token")
            return value, pos
        shift += 7


def make_token(key: bytes, token: Token) -> str:
    payload = bytearray([int(token.kind)])
    _put_varint(payload, token.campaign_id)
    _put_varint(payload, token.subscriber_id)
    _put_varint(payload, token.link_id)
    mac = hmac.digest(key, bytes(payload), "sha256")[:MAC_BYTES]
    return base64.urlsafe_b64encode(bytes(payload) + mac).rstrip(b"=").decode("ascii")


class TokenMaker:
    """Makes the tokens of one campaign quickly: the same text as make_token.

    Sending makes several tokens per recipient; the campaign's part of the
    payload and the encodings of link ids are computed once.
    """

    def __init__(self, key: bytes, campaign_id: int):
        self._key = key
        self._prefix = {
            kind: _varint_bytes(int(kind)) + _varint_bytes(campaign_id) for kind in TokenKind
        }
        self._ids: dict[int, bytes] = {}

    def _id(self, value: int) -> bytes:
        encoded = self._ids.get(value)
        if encoded is None:
            encoded = _varint_bytes(value)
            if len(self._ids) < 4096:
                self._ids[value] = encoded
        return encoded

    def make(self, kind: TokenKind, subscriber_id: int, link_id: int = 0) -> str:
        payload = self._prefix[kind] + _varint_bytes(subscriber_id) + self._id(link_id)
        mac = hmac.digest(self._key, payload, "sha256")[:MAC_BYTES]
        return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode("ascii")


def _varint_bytes(value: int) -> bytes:
    if 0 <= value < 0x80:
        return bytes((value,))
    out = bytearray()
    _put_varint(out, value)
    return bytes(out)


def read_token(key: bytes, text: str, kind: TokenKind | None = None) -> Token:
    """Verify and decode a token; raise TokenError if it is malformed, forged or of another kind."""
    if not text or len(text) > 64 or not text.isascii():
        raise TokenError("malformed token")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed token") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise TokenError("malformed token")
    if len(raw) < MAC_BYTES + 4:
        raise TokenError("malformed token")
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    expected = hmac.digest(key, payload, "sha256")[:MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise TokenError("token signature does not match")
    try:
        token_kind = TokenKind(payload[0])
    except ValueError:
        raise TokenError("unknown token kind") from None
    campaign_id, pos = _get_varint(payload, 1)
    subscriber_id, pos = _get_varint(payload, pos)
    link_id, pos = _get_varint(payload, pos)
    if pos != len(payload):
        raise TokenError("malformed token")
    if kind is not None and token_kind != kind:
        raise TokenError(f"expected a {kind.name.lower()} token")
    return Token(token_kind, campaign_id, subscriber_id, link_id)


# --------------------------------------------------------------------------
# Link rewriting

NO_TRACK = "notrack:"  # a link written `notrack:https://...` is left as it is, untracked
_NO_TRACK_RE = re.escape(NO_TRACK)
_HREF_RE = re.compile(rf'(<(?:a|area)\s[^>]*?\bhref=")({_NO_TRACK_RE})?([^"]*)"', re.IGNORECASE)
_TEXT_LINK_RE = re.compile(rf"<({_NO_TRACK_RE})?([a-z][a-z0-9+.-]*:[^<>\s]*)>", re.IGNORECASE)
_TRACKABLE_RE = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)


def link_placeholder(index: int, context: str) -> str:
    """The placeholder of the campaign's `index`-th tracked link."""
    return placeholder(f"link.{index}", context)


class _LinkTable:
    """Tracked URLs in order of first appearance; one index per distinct URL."""

    def __init__(self) -> None:
        self.urls: dict[str, int] = {}

    def index(self, url: str) -> int:
        return self.urls.setdefault(url, len(self.urls))


def _rewrite_href(match: re.Match[str], table: _LinkTable) -> str:
    start, untracked, value = match.group(1), match.group(2), match.group(3)
    url = html.unescape(value)
    if untracked or not _TRACKABLE_RE.match(url):
        return f'{start}{value}"'
    return f'{start}{link_placeholder(table.index(url), HTML_CONTEXT)}"'


def _rewrite_text_link(match: re.Match[str], table: _LinkTable) -> str:
    untracked, url = match.group(1), match.group(2)
    if untracked or not _TRACKABLE_RE.match(url):
        return f"<{url}>"
    return f"<{link_placeholder(table.index(url), TEXT_CONTEXT)}>"


def track_links(compiled: CompiledCampaign) -> CompiledCampaign:
    """Replace every http(s) link of the HTML and text with a tracked-link placeholder.

    The same URL in both parts gets one index: `links[i]` is the URL behind
    `link.<i>`. `notrack:` links lose the prefix and stay as written.
    """
    table = _LinkTable()
    document = _HREF_RE.sub(lambda m: _rewrite_href(m, table), compiled.html)
    text = _TEXT_LINK_RE.sub(lambda m: _rewrite_text_link(m, table), compiled.text)
    for url in table.urls:
        if PLACEHOLDER_MARK in url:  # one the body check did not see: from a template
            raise CampaignError(
                f"{compiled.slug}: the link {readable_placeholders(url)} holds a per-recipient "
                "variable; a tracked link is the same for every recipient, so write it without one"
            )
    return replace(compiled, html=document, text=text, links=tuple(table.urls))


def click_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/c/{token}"


def open_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/o/{token}.gif"


def letter_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/a/{token}"


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/u/{token}"
