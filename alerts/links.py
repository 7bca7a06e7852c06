"""Signed tokens for tracking, letter and unsubscribe URLs.

A token names a kind, a campaign, a recipient and (for clicks) a link by
their integer ids, and nothing else: no personal data. It is the compact
varint encoding of those numbers followed by a truncated HMAC-SHA256 over
them, in URL-safe base64 without padding, about 20 characters long. Any
change to a single character makes verification fail.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from enum import IntEnum

from alerts.errors import TokenError

MAC_BYTES = 10  # 80 bits: forging one by guessing would take ~2**79 requests
MAX_ID = 2**63 - 1
_KEY_LABEL = b"alerts/token/v1"


class TokenKind(IntEnum):
    OPEN = 1
    CLICK = 2
    LETTER = 3
    UNSUBSCRIBE = 4


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
