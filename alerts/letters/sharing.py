"""The share panel of letter pages: post the campaign's public page, email it, copy its link.

The page's links go to our own `/share/<slug>/<network>` (web/act.py), which
counts the click and redirects to the network's documented share address:
Facebook's sharer (`u`: the page) and X's post intent (`text` and `url`), or a
mailto: link. The URLs carry the campaign's slug and nothing about the visitor.
Texts come from the campaign's `share` key (campaigns/files.py), by default
DEFAULT_SHARE_TEXT and the campaign's public page, /act/<slug>.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from alerts.letters import urls
from alerts.letters.page import LetterPage
from alerts.models import ShareNetwork as Network
from alerts.models import ShareSpec

FACEBOOK_SHARER = "https://www.facebook.com/sharer/sharer.php"
X_POST_INTENT = "https://x.com/intent/tweet"
DEFAULT_SHARE_TEXT = "I just wrote to my members of Congress. Will you write to yours?"


LINKED = (Network.FACEBOOK, Network.X, Network.EMAIL)  # followed through /share/<slug>/<network>


def public_page_url(base_url: str, slug: str) -> str:
    return f"{base_url.rstrip('/')}/act/{slug}"


@dataclass(frozen=True)
class SharePanel:
    """What the panel shares: the text and the page, and our links that count each share."""

    slug: str
    text: str
    url: str  # the page being shared

    def link(self, network: Network) -> str:
        """The panel's link for a network: our route, which counts and redirects."""
        return f"/share/{self.slug}/{network}"

    @property
    def facebook_link(self) -> str:
        return self.link(Network.FACEBOOK)

    @property
    def x_link(self) -> str:
        return self.link(Network.X)

    @property
    def email_link(self) -> str:
        return self.link(Network.EMAIL)

    @property
    def copy_link(self) -> str:
        return self.link(Network.COPY)

    def destination(self, network: Network) -> str | None:
        """Where a share on `network` goes, its values percent-encoded; None for copy."""
        page = quote(self.url, safe="")
        if network is Network.FACEBOOK:
            return f"{FACEBOOK_SHARER}?u={page}"
        if network is Network.X:
            return f"{X_POST_INTENT}?text={quote(self.text, safe='')}&url={page}"
        if network is Network.EMAIL:
            return urls.mailto_url(self.text, f"{self.text}\n\n{self.url}\n")
        return None


def share_panel(slug: str, share: ShareSpec | None, base_url: str) -> SharePanel:
    """The panel of a campaign's letter pages, from its `share` key and the server's address."""
    text = (share.text if share else None) or DEFAULT_SHARE_TEXT
    url = (share.url if share else None) or public_page_url(base_url, slug)
    return SharePanel(slug, text, url)


def page_share_panel(page: LetterPage, base_url: str) -> SharePanel | None:
    """The share panel of a letter page, or None when the page shows no letter."""
    if not page.available or page.slug is None:
        return None
    return share_panel(page.slug, page.share, base_url)
