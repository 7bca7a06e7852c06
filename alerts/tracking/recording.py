"""Recording what the tracking server sees: opens, clicks, unsubscribes and letter actions.

Each `record_*` function is a job: it runs inside the caller's transaction
(the server's group committer, see committer.py) and returns what it
recorded. Opens, clicks and letter visits that a machine rule flags
(machines.py) are recorded all the same, marked as machine-made.
A provider's events are ingested by ingest.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from alerts.db import Database
from alerts.db import campaigns as campaigns_db
from alerts.db import events as events_db
from alerts.db import subscribers as subscribers_db
from alerts.models import SAMPLE_SUBSCRIBER_ID, Event, EventKind, Status
from alerts.subscribers import lifecycle
from alerts.tracking.machines import (
    BURST_LINKS,
    BURST_WINDOW,
    Visit,
    click_machine_reason,
    clip_user_agent,
    machine_detail,
    open_machine_reason,
)

# --------------------------------------------------------------------------
# Opens, clicks and unsubscribes: jobs that run inside the writer's transaction


def is_recordable(db: Database, subscriber_id: int) -> bool:
    """Whether what this recipient does may be recorded: not the sample, not a forgotten person.

    A forgotten person's old messages still reach the server; nothing they do there
    is tied to them again (their links keep working, and record nothing).
    """
    if subscriber_id == SAMPLE_SUBSCRIBER_ID:
        return False
    contact = subscribers_db.subscriber_contact(db, subscriber_id)
    return contact is None or contact.status != Status.FORGOTTEN


def record_open(db: Database, campaign_id: int, subscriber_id: int, visit: Visit) -> Event | None:
    """Record an open.

    None (nothing recorded) for an unknown campaign, or someone not `is_recordable`.
    """
    if not is_recordable(db, subscriber_id) or not campaigns_db.campaign_exists(db, campaign_id):
        return None
    reason = open_machine_reason(visit, events_db.delivery_time(db, campaign_id, subscriber_id))
    return _record_seen(db, EventKind.OPEN, campaign_id, subscriber_id, visit, reason)


def _record_seen(
    db: Database,
    kind: str,
    campaign_id: int,
    subscriber_id: int,
    visit: Visit,
    reason: str | None,
    link_id: int | None = None,
) -> Event:
    """Insert an open, click or visit, with the machine rule that fired (if any)."""
    event = Event(
        kind=kind,
        campaign_id=campaign_id,
        subscriber_id=subscriber_id,
        at=int(visit.at),
        link_id=link_id,
        user_agent=clip_user_agent(visit.user_agent),
        machine=reason is not None,
        detail=machine_detail(reason),
    )
    events_db.insert_event(db, event)
    return event


def record_click(
    db: Database, campaign_id: int, subscriber_id: int, link_id: int, visit: Visit
) -> Event | None:
    """Record a click on a link the caller has checked belongs to the campaign.

    A click by the sample recipient of a preview or test send, or by a forgotten
    person, is not recorded.

    A scanner follows every link of a message at once: when this click makes
    BURST_LINKS distinct links within BURST_WINDOW seconds, the earlier ones
    of the burst are flagged too.
    """
    if not is_recordable(db, subscriber_id):
        return None
    at = int(visit.at)
    since = at - BURST_WINDOW
    clicked = events_db.recent_click_links(db, campaign_id, subscriber_id, since) | {link_id}
    burst = len(clicked) >= BURST_LINKS
    delivered_at = events_db.delivery_time(db, campaign_id, subscriber_id)
    reason = click_machine_reason(visit, delivered_at, burst)
    if burst:
        events_db.flag_machine_clicks(db, campaign_id, subscriber_id, since, "link_burst")
    return _record_seen(db, EventKind.CLICK, campaign_id, subscriber_id, visit, reason, link_id)


def unsubscribe(db: Database, campaign_id: int, subscriber_id: int, at: float) -> bool:
    """Unsubscribe a subscriber from everything. True if this call changed their status.

    Idempotent: a second call changes nothing and records nothing. Someone who
    bounced or complained is already never mailed, so they stay as they are.
    """
    changed = lifecycle.apply(db, subscriber_id, lifecycle.Change.UNSUBSCRIBE)
    if changed:
        campaign = campaign_id if campaigns_db.campaign_exists(db, campaign_id) else None
        events_db.insert_event(
            db, Event(EventKind.UNSUBSCRIBE, campaign, subscriber_id, at=int(at))
        )
    return changed


# --------------------------------------------------------------------------
# Letter pages: visits, "I sent it", and the rate limit of "Email me a copy"

# "Email me a copy" sends whatever the visitor typed to the subscriber's own
# address: at most this many copies per subscriber in each window.
LETTER_COPY_LIMITS = ((3600, 5), (86400, 12))  # (seconds, copies)


def record_letter_visit(
    db: Database, campaign_id: int, subscriber_id: int, visit: Visit
) -> Event | None:
    """Record a view of the letter page, flagged like a click when a machine made it.

    None (nothing recorded) for a forgotten person.
    """
    if not is_recordable(db, subscriber_id):
        return None
    reason = click_machine_reason(
        visit, events_db.delivery_time(db, campaign_id, subscriber_id), False
    )
    return _record_seen(db, EventKind.LETTER_VISIT, campaign_id, subscriber_id, visit, reason)


def record_letter_sent(
    db: Database,
    campaign_id: int,
    subscriber_id: int,
    target: str,
    visit: Visit,
    *,
    via_campaign_id: int | None = None,
    late: bool = False,
) -> bool:
    """Record that the subscriber sent their letter to `target` (a bioguide id).

    Idempotent per campaign, subscriber and target: True only the first time, and
    never for a forgotten person. The check and the insert share the writer's
    transaction, so two presses at once still make one row. `via_campaign_id` is
    the follow-up whose email brought them; `late`, after the campaign's deadline.
    """
    if not is_recordable(db, subscriber_id):
        return False
    if target in events_db.letter_targets_sent(db, campaign_id, subscriber_id):
        return False
    events_db.insert_event(
        db,
        Event(
            kind=EventKind.LETTER_SENT,
            campaign_id=campaign_id,
            subscriber_id=subscriber_id,
            at=int(visit.at),
            target=target,
            user_agent=clip_user_agent(visit.user_agent),
            via_campaign_id=via_campaign_id,
            late=late,
        ),
    )
    return True


@dataclass(frozen=True)
class CopyPermit:
    """The answer to a request for a letter copy: a reserved event, or when to retry."""

    event_id: int | None  # the letter_emailed row counting this copy; None when refused
    retry_after: int = 0  # seconds until the oldest copy of the full window expires

    @property
    def granted(self) -> bool:
        return self.event_id is not None


def reserve_letter_copy(
    db: Database,
    campaign_id: int,
    subscriber_id: int,
    target: str,
    visit: Visit,
    limits: tuple[tuple[int, int], ...] = LETTER_COPY_LIMITS,
) -> CopyPermit:
    """Count a copy against the subscriber's limits before it is sent.

    The letter_emailed row is written (and committed) first, so that requests
    racing each other cannot all pass the check; if sending then fails, the
    caller removes it with `release_letter_copy`.
    """
    at = int(visit.at)
    longest = max(seconds for seconds, _ in limits)
    times = events_db.letter_copy_times(db, subscriber_id, at - longest)
    for seconds, most in limits:
        recent = [t for t in times if t > at - seconds]
        if len(recent) >= most:
            return CopyPermit(None, retry_after=max(1, recent[-most] + seconds - at))
    events_db.insert_event(
        db,
        Event(
            kind=EventKind.LETTER_EMAILED,
            campaign_id=campaign_id,
            subscriber_id=subscriber_id,
            at=at,
            target=target,
            user_agent=clip_user_agent(visit.user_agent),
        ),
    )
    return CopyPermit(events_db.last_event_id(db))


def release_letter_copy(db: Database, event_id: int) -> None:
    events_db.delete_letter_copy(db, event_id)


# --------------------------------------------------------------------------
# What the pages of the tracking server read


@dataclass(frozen=True)
class UnsubscribeView:
    """What the unsubscribe page may show: a first name and a masked address."""

    first_name: str | None
    masked_email: str | None
    subscribed: bool


def mask_email(email: str | None) -> str | None:
    """j…@example.org: enough to tell two addresses apart, not enough to read one."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}…@{domain}"


def http_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL, else None.

    Clicks are redirected, and letter pages link, only to such URLs.
    """
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


class LinkTargets:
    """Where clicks on campaigns' links go. Links never change: each is looked up once."""

    def __init__(self) -> None:
        self._urls: dict[tuple[int, int], str] = {}

    def url(self, db: Database, campaign_id: int, link_id: int) -> str | None:
        """Where a click on this campaign's link goes, or None."""
        key = (campaign_id, link_id)
        url = self._urls.get(key)
        if url is None:
            url = http_url(campaigns_db.link_url(db, campaign_id, link_id))
            if url is not None:
                self._urls[key] = url
        return url


def unsubscribe_view(db: Database, subscriber_id: int) -> UnsubscribeView | None:
    contact = subscribers_db.subscriber_contact(db, subscriber_id)
    if contact is None:
        return None
    return UnsubscribeView(
        contact.first_name, mask_email(contact.email), contact.status == Status.SUBSCRIBED
    )
