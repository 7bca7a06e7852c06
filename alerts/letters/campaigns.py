"""The action campaigns behind letter pages, read from campaigns/ as the files are now.

A file edited since sending shows its edited letter (a typo fixed after
sending reaches everyone); a file that is gone, no longer valid or no longer
an action campaign leaves the page without a letter, saying so, and the
server logs why (once per file version).
"""

from __future__ import annotations

import logging
from pathlib import Path

from alerts.campaigns import files as campaigns
from alerts.errors import AlertsError
from alerts.models import Campaign, CampaignRecord

letter_log = logging.getLogger("alerts.letters")


class LetterCampaigns:
    """The action campaigns behind letter pages, cached per file version.

    Used from one thread (the server's event loop). The file is looked at on
    every call (one stat); it is parsed again only when it changed.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, tuple[tuple[int, int], Campaign | None]] = {}
        self._warned: set[tuple[str, str]] = set()

    def get(self, record: CampaignRecord) -> Campaign | None:
        """The campaign as its file is now, or None (file gone, invalid, or not an action)."""
        return self.by_slug(record.slug, record.source_sha256)

    def by_slug(
        self, slug: str, sent_sha256: str | None = None, *, warn_gone: bool = True
    ) -> Campaign | None:
        """The action campaign `campaigns/<slug>.md` as it is now, or None.

        `sent_sha256` is the file's hash when it was sent, if it was: a changed
        file is logged once. A public page, whose slug anyone can type, passes
        `warn_gone=False` so that a missing file is not logged.
        """
        try:
            path = campaigns.campaign_path(self.folder, slug)
            stat = path.stat()
        except (AlertsError, OSError):
            if warn_gone:
                self.warn(slug, "gone", f"its file is gone from {self.folder}")
            return None
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(slug)
        if cached is not None and cached[0] == version:
            return cached[1]
        campaign = self._load(slug, sent_sha256, path)
        self._cache[slug] = (version, campaign)
        return campaign

    def _load(self, slug: str, sent_sha256: str | None, path: Path) -> Campaign | None:
        try:
            campaign = campaigns.load_campaign(path)
        except AlertsError as exc:
            self.warn(slug, str(exc), f"its file does not load ({exc})")
            return None
        if campaign.letter is None and campaign.letter_campaign is None:
            self.warn(slug, "no letter", "its file is no longer an action campaign")
            return None
        if sent_sha256 and campaign.source_sha256 != sent_sha256:
            self.warn(
                slug,
                campaign.source_sha256,
                "its file changed since it was sent: letter pages show it as it is now",
                quiet=True,
            )
        return campaign

    def warn(self, slug: str, key: str, what: str, *, quiet: bool = False) -> None:
        """Log a problem with a campaign's file once per slug and `key`."""
        if (slug, key) in self._warned:
            return
        self._warned.add((slug, key))
        suffix = "" if quiet else "; its letter pages show no letter"
        letter_log.warning("campaign %s: %s%s", slug, what, suffix)
