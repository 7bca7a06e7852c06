"""A hand-built campaign whose figures are known, shared by the stats tests.

Ten recipients (CA, TX, NY and one without a state) of the action alert
`qi-letter`; events written straight into the tables the way the tracking
server and the provider's webhook write them. EXPECTED_JSON is worked out by hand
from the comments below.
"""

from __future__ import annotations

from alerts.db import Database

T0 = 1_790_000_000  # 2026-09-21 14:13:20 UTC, when sending started
LINK_A = "https://act.example.org/letter"
LINK_B = "https://example.org/qualified-immunity-explained"
LINK_C = "https://example.org/donate"
STATES = {1: "CA", 2: "CA", 3: "CA", 4: "CA", 5: "TX", 6: "TX", 7: "TX", 8: "NY", 9: "NY"}


def add_campaign(db: Database, slug: str, *, started: str | None, kind: str = "action") -> int:
    return (
        db["campaigns"]
        .insert(
            {
                "slug": slug,
                "kind": kind,
                "subject": f"Subject of {slug}",
                "created_at": started or "2026-09-01T00:00:00Z",
                "send_started_at": started,
                "send_finished_at": started,
            }
        )
        .last_pk
    )


def add_event(
    db: Database,
    campaign: int,
    subscriber: int | None,
    kind: str,
    at: int,
    *,
    machine: int = 0,
    link: int | None = None,
    target: str | None = None,
    provider_id: str | None = None,
) -> None:
    """Insert one event; a provider's event id seen before is ignored, as the webhook does.

    A database from before migration 70 gets the id in its sg_event_id column.
    """
    row = {
        "campaign_id": campaign,
        "subscriber_id": subscriber,
        "kind": kind,
        "link_id": link,
        "target": target,
        "at": at,
        "machine": machine,
    }
    if "provider_event_id" in db["events"].columns_dict:
        row |= {"provider": "sendgrid" if provider_id else None, "provider_event_id": provider_id}
    else:
        row["sg_event_id"] = provider_id
    db.execute(
        f"INSERT OR IGNORE INTO events ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
        list(row.values()),
    )


def add_people(db: Database, count: int = 10) -> None:
    for n in range(1, count + 1):
        db["subscribers"].insert(
            {
                "id": n,
                "email": f"person{n}@example.org",
                "first_name": f"Person{n}",
                "state": STATES.get(n),
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            }
        )
    db["members"].insert_all(
        [
            {
                "bioguide": "S000001",
                "chamber": "senate",
                "state": "CA",
                "title": "Senator",
                "full_name": "Alex Padilla",
                "last_name": "Padilla",
                "party": "Democrat",
            },
            {
                "bioguide": "R000012",
                "chamber": "house",
                "state": "CA",
                "district": 12,
                "title": "Representative",
                "full_name": "Lateefah Simon",
                "last_name": "Simon",
                "party": "Democrat",
            },
        ]
    )


def build_letter_campaign(db: Database, *, delivery_events: bool = True) -> int:
    """The `qi-letter` campaign. Returns its id."""
    add_people(db)
    cid = add_campaign(db, "qi-letter", started="2026-09-21T14:13:20Z")
    link_a, link_b, _link_c = (
        db["links"].insert({"campaign_id": cid, "url": url}).last_pk
        for url in (LINK_A, LINK_B, LINK_C)
    )
    # Ledger: 1-8 sent, 9 failed, 10 unknown -> recipients 10, sent 8, failed 1.
    for n in range(1, 11):
        state = "sent" if n <= 8 else ("failed" if n == 9 else "unknown")
        row = {"campaign_id": cid, "subscriber_id": n, "state": state}
        if "subscriber_state" in db["send_ledger"].columns_dict:  # since migration 90
            row["subscriber_state"] = STATES.get(n)
        db["send_ledger"].insert(row)

    def event(subscriber: int | None, kind: str, minutes: int, **kw: object) -> None:
        add_event(db, cid, subscriber, kind, T0 + minutes * 60, **kw)

    if delivery_events:
        # Delivered to 1-7 (8 bounced). Person 1's delivery arrives twice under one
        # provider event id (a webhook retry) and once more under another: still one person.
        for n in range(1, 9):
            event(n, "accepted", 1, provider_id=f"p{n}")
        for n in range(1, 8):
            event(n, "delivered", 2, provider_id=f"d{n}")
        event(1, "delivered", 2, provider_id="d1")
        event(1, "delivered", 3, provider_id="d1-again")
        event(8, "bounce", 2, provider_id="b8")
        event(8, "bounce", 2, provider_id="b8")
    # Opens: 1 three times, 2 once by hand and once by a proxy, 3 only by a proxy,
    # 4 once -> unique 3 (1, 2, 4), total 5, machine 3; 4 people with any open.
    for minutes in (5, 65, 125):
        event(1, "open", minutes)
    event(2, "open", 6)
    event(2, "open", 3, machine=1)
    event(3, "open", 3, machine=1)
    event(3, "open", 4, machine=1)
    event(4, "open", 70)
    # Clicks: 1 on A twice and B once; 2's click on A is a scanner's; 4 on B;
    # 5 on A without an open -> unique 3 (1, 4, 5), total 5, machine 1.
    # A: unique 2, total 3; B: unique 2, total 2; C: never clicked.
    event(1, "click", 6, link=link_a)
    event(1, "click", 66, link=link_a)
    event(1, "click", 7, link=link_b)
    event(2, "click", 3, link=link_a, machine=1)
    event(4, "click", 71, link=link_b)
    event(5, "click", 200, link=link_a)
    # Letter page: 1 twice, 4 once, a scanner for 3 -> 2 visitors.
    event(1, "letter_visit", 6)
    event(1, "letter_visit", 67)
    event(4, "letter_visit", 72)
    event(3, "letter_visit", 4, machine=1)
    # Letters: 1 to the senator (twice) and the representative, 4 to the senator
    # -> 3 letters: Padilla 2, Simon 1.
    event(1, "letter_sent", 8, target="S000001")
    event(1, "letter_sent", 9, target="R000012")
    event(1, "letter_sent", 68, target="S000001")
    event(4, "letter_sent", 73, target="S000001")
    # Unsubscribes: 1 after clicking, by our link and by the provider's group link;
    # 6 through the provider -> 2 people. Spam report: 7.
    event(1, "unsubscribe", 300)
    event(1, "group_unsubscribe", 301, provider_id="g1")
    event(6, "provider_unsubscribe", 20, provider_id="u6")
    event(7, "complaint", 30, provider_id="s7")
    event(7, "complaint", 30, provider_id="s7")
    # The provider's own open tracking: shown apart, never in `opens`.
    event(2, "provider_open", 6, provider_id="o2")
    db.conn.commit()
    return cid


EXPECTED_JSON = {
    "campaign": "qi-letter",
    "recipients": 10,
    "sent": 8,
    "failed": 1,
    "delivered": 7,
    "bounced": 1,
    "opens": {"unique": 3, "total": 5, "machine": 3},
    "clicks": {"unique": 3, "total": 5, "machine": 1},
    "letters": {"visits": 2, "sent": 3},
    "unsubscribes": 2,
    "spam_reports": 1,
    "links": [
        {"url": LINK_A, "unique": 2, "total": 3},
        {"url": LINK_B, "unique": 2, "total": 2},
        {"url": LINK_C, "unique": 0, "total": 0},
    ],
    # Ledger rows written without how each recipient's district was known: all unknown.
    "addressed": {"address": 0, "zip": 0, "chosen": 0, "unknown": 10},
    # No bill, no follow-up, no deadline: every letter came from its own email, in time.
    "stances": {},
    "wins": [],
    "letters_by_email": [{"email": "qi-letter", "counted_in": "qi-letter", "letters": 3}],
    "deadline": {"at": None, "letters_before": 3, "letters_after": 0},
    # The campaign's website forms: no public letters, no signups; nothing shared.
    "shares": {"facebook": 0, "x": 0, "email": 0, "copy": 0, "total": 0},
    "public": {
        "visits": 0,
        "letters": 0,
        "signups": {
            "totals": {"confirmed": 0, "pending": 0, "expired": 0, "refused": 0},
            "by_source": [],
            "by_day": [],
        },
    },
}
