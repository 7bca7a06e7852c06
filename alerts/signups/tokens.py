"""The signed tokens of signing up: the /join form's token and the confirmation link.

Both are email/links.py tokens (ids only, an HMAC under the server's key), of
their own kinds. A form token's first id is the Unix time the form was made; a
confirmation token's ids are the signup's id and the Unix time it was made. The
time makes them expire without a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from alerts import clock
from alerts.email.links import Token, TokenKind, make_token, read_token
from alerts.errors import TokenError

FORM_TOKEN_SECONDS = 24 * 3600  # a form left open for a day must be loaded again
DAY_SECONDS = 24 * 3600


EMBEDDED = 1  # the second id of the snippet's token: a form on another website


def form_token(key: bytes, now: float | None = None, *, embedded: bool = False) -> str:
    """The token a signup form carries: it says this server's key made the form, and when.

    The /join page's token expires after FORM_TOKEN_SECONDS; the snippet's
    (`embedded`) lives as long as the secret, since it is pasted into a website.
    """
    made = int(clock.now().timestamp() if now is None else now)
    return make_token(key, Token(TokenKind.SIGNUP_FORM, made, EMBEDDED if embedded else 0))


@lru_cache(maxsize=4096)
def _form_token(key: bytes, text: str) -> Token:
    """A form token's ids once its signature is verified: the snippet's token, pasted into a
    website, and a /join page's come back many times. A bad one raises and is not kept."""
    return read_token(key, text, TokenKind.SIGNUP_FORM)


def check_form_token(key: bytes, text: str, now: float | None = None) -> bool:
    """Raise TokenError unless `text` is a live form token of this key. True: the snippet's."""
    token = _form_token(key, text)
    if token.subscriber_id == EMBEDDED:
        return True
    age = int(clock.now().timestamp() if now is None else now) - token.campaign_id
    if age < -60 or age > FORM_TOKEN_SECONDS:
        raise TokenError("the form has expired")
    return False


def confirm_token(key: bytes, signup_id: int, made: int) -> str:
    return make_token(key, Token(TokenKind.SIGNUP_CONFIRM, signup_id, made))


@dataclass(frozen=True)
class ConfirmLink:
    signup_id: int
    expired: bool


def read_confirm_token(key: bytes, text: str, days: int, now: float | None = None) -> ConfirmLink:
    """The signup a confirmation link names, and whether it is past `days`. Raises TokenError."""
    token = read_token(key, text, TokenKind.SIGNUP_CONFIRM)
    age = int(clock.now().timestamp() if now is None else now) - token.subscriber_id
    return ConfirmLink(token.campaign_id, expired=age > days * DAY_SECONDS)


def confirm_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/confirm/{token}"
