"""The links a letter page builds from its texts: tel:, mailto:, X's intent, sms:.

Values are plain text; every URL here percent-encodes what it carries. Web
links are only absolute http(s) URLs (tracking.recording.http_url).
"""

from __future__ import annotations

import re
from urllib.parse import quote

TWEET_INTENT = "https://twitter.com/intent/tweet"


def tel_url(phone: str | None) -> str | None:
    """A US phone number as a tel: link (tel:+12025550100), or None if it is not one."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return f"tel:+1{digits}" if len(digits) == 10 else None


def mailto_url(subject: str, body: str) -> str:
    """An address-less mailto: link with subject and body (RFC 6068: CRLF line breaks)."""
    crlf = body.replace("\r\n", "\n").replace("\n", "\r\n")
    return f"mailto:?subject={quote(subject, safe='')}&body={quote(crlf, safe='')}"


def tweet_url(text: str) -> str:
    """X's (Twitter's) web intent with the post's text filled in."""
    return f"{TWEET_INTENT}?text={quote(text, safe='')}"


def sms_url(number: str, keyword: str) -> str:
    """An sms: link with the keyword as the message (the `?&body=` form suits iOS and Android)."""
    recipient = re.sub(r"[^\d+]", "", number)
    return f"sms:{recipient}?&body={quote(keyword, safe='')}"
