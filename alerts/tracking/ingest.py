"""Ingesting a delivery provider's events: recording them, and the status changes they ask for.

The provider's package reads its webhook (or a saved payload) into
models.ProviderEvent values; here they become rows of the events table,
de-duplicated on (provider, provider_event_id), so a provider's retries and a
file loaded twice change nothing. An event is kept with the campaign it names
if that campaign exists, and with the subscriber it names if the event's address
is still that subscriber's (ids outlive addresses). Events about nobody of
ours are ignored, except those that change a status: they are matched by
address, so that an address that bounces elsewhere is not mailed by us either.
Events about a forgotten person are ignored: nothing ties an event to them again.
Status changes (bounced, complained, unsubscribed) go through the subscriber
lifecycle, whose rules decide whom they may change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from alerts.db import Database
from alerts.db import campaigns as campaigns_db
from alerts.db import events as events_db
from alerts.db import subscribers as subscribers_db
from alerts.models import Event, IngestSummary, ParsedEvents, ProviderEvent, Status
from alerts.subscribers import lifecycle
from alerts.subscribers.listing import find_subscriber
from alerts.subscribers.normalise import same_person
from alerts.tracking.machines import clip_user_agent

PROGRESS_STEP = 1000  # events between two progress reports


def ingest_events(
    db: Database,
    provider: str,
    parsed: ParsedEvents,
    progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Record the events `provider` reported and apply the status changes they call for.

    Runs inside the caller's transaction. `progress` is called with the number of
    events handled since its last call.
    """
    summary = IngestSummary(received=parsed.received, invalid=parsed.invalid)
    summary.ignored = parsed.ignored
    matcher = _Matcher(db)
    for done, event in enumerate(parsed.events, start=1):
        _ingest_one(db, provider, event, matcher, summary)
        if progress is not None and done % PROGRESS_STEP == 0:
            progress(PROGRESS_STEP)
    if progress is not None and len(parsed.events) % PROGRESS_STEP:
        progress(len(parsed.events) % PROGRESS_STEP)
    return summary


def _ingest_one(
    db: Database, provider: str, event: ProviderEvent, matcher: _Matcher, summary: IngestSummary
) -> None:
    campaign_id = matcher.campaign(event)
    subscriber_id = matcher.recipient(event, by_email=event.status_change is not None)
    if (campaign_id is None and subscriber_id is None) or matcher.forgotten(event):
        summary.ignored += 1
        return
    if not events_db.insert_event(db, _row(provider, event, campaign_id, subscriber_id)):
        summary.duplicates += 1
        return
    summary.recorded += 1
    if event.status_change is None or subscriber_id is None:
        return
    if lifecycle.apply(db, subscriber_id, lifecycle.change_to(event.status_change)):
        summary.status_changes += 1


def _row(
    provider: str, event: ProviderEvent, campaign_id: int | None, subscriber_id: int | None
) -> Event:
    return Event(
        kind=event.kind,
        campaign_id=campaign_id,
        subscriber_id=subscriber_id,
        at=event.at,
        user_agent=clip_user_agent(event.user_agent),
        machine=event.machine,
        provider=provider,
        provider_event_id=event.provider_event_id,
        detail=json.dumps(dict(event.detail), sort_keys=True) if event.detail else None,
    )


@dataclass
class _Matcher:
    """Maps events to our campaigns and subscribers, remembering lookups within a batch."""

    db: Database
    campaigns: dict[int, bool] = field(default_factory=dict)
    addresses: dict[int, subscribers_db.SubscriberContact | None] = field(default_factory=dict)

    def campaign(self, event: ProviderEvent) -> int | None:
        campaign_id = event.campaign_id
        if campaign_id is None:
            return None
        if campaign_id not in self.campaigns:
            self.campaigns[campaign_id] = campaigns_db.campaign_exists(self.db, campaign_id)
        return campaign_id if self.campaigns[campaign_id] else None

    def forgotten(self, event: ProviderEvent) -> bool:
        """The event names a subscriber who has been forgotten since the message went out."""
        contact = self._contact(event.subscriber_id)
        return contact is not None and contact.status == Status.FORGOTTEN

    def _contact(self, subscriber_id: int | None) -> subscribers_db.SubscriberContact | None:
        if subscriber_id is None:
            return None
        if subscriber_id not in self.addresses:
            self.addresses[subscriber_id] = subscribers_db.subscriber_contact(
                self.db, subscriber_id
            )
        return self.addresses[subscriber_id]

    def recipient(self, event: ProviderEvent, by_email: bool) -> int | None:
        """The subscriber the event is about: the one it names, if the address is still theirs."""
        subscriber_id = event.subscriber_id
        contact = self._contact(subscriber_id)
        if contact is not None and _same_address(event.email, contact.email):
            return subscriber_id
        if by_email and event.email:
            found = find_subscriber(self.db, event.email)
            return found.id if found is not None else None
        return None


def _same_address(event_email: str | None, our_email: str | None) -> bool:
    """An event without an address keeps the id it names (ingest drops a forgotten one's)."""
    if event_email is None or our_email is None:
        return True
    return same_person(event_email, our_email)
