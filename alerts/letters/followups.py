"""Whose letter a letter page shows, and what it says once the action has closed.

A follow-up (a campaign with `letter_campaign: SLUG`) has no letter of its own:
its emails' letter links open the letter of campaign SLUG. The letters sent from
there are recorded for SLUG, the campaign whose letter they are, and carry the
follow-up in `via_campaign_id`, so both campaigns' stats can say which email
brought them. Someone who already wrote from SLUG's own email (or another
follow-up's) is thanked instead of being asked again.

After the letter campaign's `deadline` the page says when the action closed and
shows its `after_deadline` text; "I sent it" is still recorded, marked late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alerts.campaigns import deadline as deadlines
from alerts.db import Database
from alerts.db import campaigns as campaigns_db
from alerts.db import events as events_db
from alerts.letters.campaigns import LetterCampaigns
from alerts.models import Campaign, CampaignRecord


@dataclass(frozen=True)
class LetterSource:
    """The campaign whose letter a page shows, where its letters count, and the email's."""

    campaign: Campaign  # the one with the letter: the page's campaign, or the one it opens
    campaign_id: int  # its id: letters are recorded for it
    via_campaign_id: int | None = None  # the follow-up whose email brought the visitor


def letter_source(
    db: Database, letters: LetterCampaigns, record: CampaignRecord, campaign: Campaign
) -> LetterSource | None:
    """Whose letter the page of `campaign` shows; None when a follow-up's is unavailable.

    A follow-up's letter campaign must have been sent (its letters need its row)
    and its file must still hold a letter.
    """
    slug = campaign.letter_campaign
    if slug is None:
        return LetterSource(campaign, record.id)
    lender_record = campaigns_db.campaign_record(db, slug)
    if lender_record is None:
        letters.warn(
            campaign.slug, f"unsent {slug}", f"it opens the letter of {slug}, never sent yet"
        )
        return None
    lender = letters.get(lender_record)
    if lender is None or lender.letter is None:
        return None
    return LetterSource(lender, lender_record.id, record.id)


def wrote_before(db: Database, source: LetterSource, subscriber_id: int) -> bool:
    """Whether a follow-up's visitor already wrote a letter of the campaign another way."""
    if source.via_campaign_id is None:
        return False
    return bool(
        events_db.letter_targets_sent_elsewhere(
            db, source.campaign_id, subscriber_id, source.via_campaign_id
        )
    )


@dataclass(frozen=True)
class Closing:
    """A letter campaign's deadline as its page shows it."""

    deadline: datetime  # in the offset the campaign file gave
    closed: bool  # the deadline had passed when the page was built
    after_text: str | None = None  # the campaign's after_deadline text, plain

    @property
    def sentence(self) -> str:
        """ "This action closed on February 15, 2027 at 5:00 p.m. (UTC-05:00)."."""
        return deadlines.closed_sentence(self.deadline)

    @property
    def paragraphs(self) -> list[str]:
        """The after_deadline text cut at its blank lines."""
        text = (self.after_text or "").strip()
        return [part.strip() for part in text.split("\n\n") if part.strip()]


def closing_of(campaign: Campaign, now: datetime | None = None) -> Closing | None:
    """The campaign's deadline and whether it has passed (clock.now()); None without one."""
    if campaign.deadline is None:
        return None
    after = campaign.after_deadline.text if campaign.after_deadline else None
    return Closing(campaign.deadline, deadlines.has_passed(campaign.deadline, now), after)
