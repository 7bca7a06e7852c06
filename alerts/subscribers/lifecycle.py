"""A subscriber's lifecycle: how their status may change, and who is mailed.

    subscribe    someone new                          -> subscribed
    unsubscribe  subscribed                           -> unsubscribed
    bounce       subscribed                           -> bounced
    complain     subscribed, unsubscribed or bounced  -> complained
    forget       anyone not forgotten yet             -> forgotten (their data erased)
    confirm      someone new, unsubscribed or bounced -> subscribed (a confirmed signup)

Nothing but a confirmed signup subscribes anyone again: it is new, explicit
consent, so someone who left (or was forgotten: they come back as someone new)
is on the list again, recorded as an event; a complaint is never overridden. A
complaint outranks an earlier unsubscribe or bounce; nothing replaces `forgotten`.
Campaigns go only to subscribed people who have an address (`is_sendable`). An
import changes only subscribed people: anyone else keeps their status and their
data (the import counts them as suppressed).

Every status change goes through here: the import, the command line, the
unsubscribe links and provider events. The rules are plain data and pure
functions; `apply`, `unsubscribe` and `forget` make the changes in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from alerts.db import (
    Database,
    checkpoint_truncate,
    meta_get,
    meta_set,
    utc_now,
    write_transaction,
)
from alerts.db import events as events_db
from alerts.db import imports as imports_db
from alerts.db import signups as signups_db
from alerts.db import subscribers as subscribers_db
from alerts.db import visitors as visitors_db
from alerts.errors import LookupFailed
from alerts.models import Event, EventKind, Status, Subscriber
from alerts.subscribers.listing import get_subscriber
from alerts.subscribers.normalise import email_key, lookup_key


class Change(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"
    COMPLAIN = "complain"
    FORGET = "forget"
    CONFIRM = "confirm"


@dataclass(frozen=True)
class _Rule:
    to: Status
    applies_to: frozenset[Status]  # the statuses it changes; anyone else keeps theirs


_RULES = {
    # Only someone new is subscribed: nobody already on the list is subscribed again.
    Change.SUBSCRIBE: _Rule(Status.SUBSCRIBED, frozenset()),
    Change.UNSUBSCRIBE: _Rule(Status.UNSUBSCRIBED, frozenset({Status.SUBSCRIBED})),
    Change.BOUNCE: _Rule(Status.BOUNCED, frozenset({Status.SUBSCRIBED})),
    Change.COMPLAIN: _Rule(
        Status.COMPLAINED, frozenset({Status.SUBSCRIBED, Status.UNSUBSCRIBED, Status.BOUNCED})
    ),
    Change.FORGET: _Rule(Status.FORGOTTEN, frozenset(Status) - {Status.FORGOTTEN}),
    Change.CONFIRM: _Rule(Status.SUBSCRIBED, frozenset({Status.UNSUBSCRIBED, Status.BOUNCED})),
}
# What an import row's status asks for: a row saying `subscribed` never confirms anyone.
_CHANGE_TO = {rule.to: change for change, rule in _RULES.items() if change is not Change.CONFIRM}


def change_to(status: str) -> Change:
    """The change that gives a person `status`: what an import row or a provider event asks for."""
    return _CHANGE_TO[Status(status)]


def status_after(current: str | None, change: Change) -> Status:
    """A person's status after `change`; `current` None is someone new, not yet on the list."""
    rule = _RULES[change]
    if current is None or current in rule.applies_to:
        return rule.to
    return Status(current)


def is_sendable(person: Subscriber) -> bool:
    """Campaigns go to this person. db/subscribers.py sendable says the same in SQL."""
    return person.status == Status.SUBSCRIBED and bool(person.email)


def may_get_letter_copy(person: Subscriber) -> bool:
    """A copy of their own letter, asked for on the letter page, may be mailed to them.

    Unsubscribing stops campaigns, not the mail a person asks for; an address that
    bounced, a complaint or a forgotten person gets nothing.
    """
    return bool(person.email) and person.status in (Status.SUBSCRIBED, Status.UNSUBSCRIBED)


# --------------------------------------------------------------------------
# Changing a status in the database


def apply(db: Database, subscriber_id: int, change: Change) -> bool:
    """Make `change` to a subscriber if the rules allow it. True if their status changed.

    Idempotent, and atomic on its own: a second call, or a change the rules do not
    allow, changes nothing. The id may be one a merge of duplicates retired.
    """
    if change is Change.FORGET:
        contact = subscribers_db.subscriber_contact(db, subscriber_id)
        if contact is None or contact.email is None:
            return False
        return forget(db, contact.email).erased
    rule = _RULES[change]
    if not rule.applies_to:
        return False
    return subscribers_db.change_status(db, subscriber_id, rule.to, tuple(sorted(rule.applies_to)))


@dataclass(frozen=True)
class Unsubscribed:
    person: Subscriber  # as they are now
    changed: bool  # False: they were not subscribed, and keep their status


def unsubscribe(db: Database, email: str) -> Unsubscribed:
    """Unsubscribe the person with this address. Raises NotFoundError."""
    with write_transaction(db):
        person = get_subscriber(db, email)
        assert person.id is not None
        if not apply(db, person.id, Change.UNSUBSCRIBE):
            return Unsubscribed(person, changed=False)
        return Unsubscribed(subscribers_db.get_subscriber(db, person.id), changed=True)


# --------------------------------------------------------------------------
# Forgetting: a keyed one-way hash of the address, so no import brings a person back

FORGET_KEY = "forget_key"  # meta key: random salt of the hashes in `forgotten`


def _address_hash(salt: str, text: str) -> str:
    """HMAC-SHA256 of an email key: the address cannot be read back, only matched."""
    return hmac.new(salt.encode(), text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ForgetResult:
    erased: bool  # False: nobody had that address; it is recorded all the same
    # False: another connection's read kept the old pages in the WAL for now
    wal_emptied: bool = True


def forget(db: Database, email: str) -> ForgetResult:
    """Erase a person's data, keep only a hash of the address so no import adds them again.

    The row stays (status `forgotten`, no personal data) so campaign counts add up.
    The erased values are zeroed in the file (secure_delete), and the WAL, which
    still holds the pages as they were, is checkpointed and emptied; inside a
    caller's transaction that is the caller's to do once it commits.
    """
    if not email.strip():
        raise LookupFailed("forget: give the email address to forget")
    key = lookup_key(email)
    with write_transaction(db):
        salt = meta_get(db, FORGET_KEY)
        if salt is None:
            salt = secrets.token_hex(32)
            meta_set(db, FORGET_KEY, salt)
        now = utc_now()
        subscribers_db.add_forgotten(db, _address_hash(salt, key), now)
        found = subscribers_db.find_subscriber(db, key)
        if found is not None and found.id is not None:
            subscribers_db.erase_subscriber(db, found.id, now)
        pending = signups_db.erase_signups(db, key)  # a signup not yet confirmed is theirs too
        visitor = visitors_db.erase_visitor(db, key)  # and what they typed on a public page
    emptied = db.conn.in_transaction or checkpoint_truncate(db)
    erased = found is not None or pending > 0 or visitor
    return ForgetResult(erased=erased, wal_emptied=emptied)


@dataclass(frozen=True)
class _ForgottenHashes:
    salt: str

    def __call__(self, address: str) -> list[str]:
        """The hashes a forgotten normalised `address` may be recorded under.

        Before the identity folded every letter (migration 80) the key was the
        lower-cased address; the hashes recorded then differ for a few letters (ß, ς).
        """
        key = email_key(address)
        hashes = [_address_hash(self.salt, key)]
        if address.lower() != key:
            hashes.append(_address_hash(self.salt, address.lower()))
        return hashes


def import_rules(db: Database) -> imports_db.MergeRules:
    """What this lifecycle says about an import, for the SQL that merges it."""
    salt = meta_get(db, FORGET_KEY)
    return imports_db.MergeRules(
        changeable=(Status.SUBSCRIBED,),  # nobody off the list is touched by an import
        status_after=_status_after_row,
        forgotten_hashes=None if salt is None else _ForgottenHashes(salt),
    )


def _status_after_row(current: str | None, row_status: str | None) -> str | None:
    """An import row's status (None: it gives none) applied to a person's status so far."""
    if row_status is None:
        return current
    return status_after(current, change_to(row_status))


# --------------------------------------------------------------------------
# Confirming a signup: new, explicit consent


@dataclass(frozen=True)
class Confirmed:
    subscriber_id: int | None  # None: a complained address, not subscribed
    previous: str | None  # the status they had; None: someone new


def confirm_signup(db: Database, email: str, values: dict[str, object], at: int) -> Confirmed:
    """Subscribe the person who confirmed a signup to `email`, with `values`.

    `values`: the fields they typed, source, tags (a list), extra (a dict) and
    consent_at. Someone new, or someone forgotten (a new person: the old row has
    no data), is added and their address no longer blocks imports; someone who
    unsubscribed or bounced is subscribed again, recorded as a `resubscribe`
    event; a subscriber gets the new source, tags and fields; a complained
    address is left as it is. Inside the caller's transaction.
    """
    key = email_key(email)
    found = subscribers_db.find_subscriber(db, key)
    if found is None or found.id is None:
        salt = meta_get(db, FORGET_KEY)
        hashes = _ForgottenHashes(salt)(email) if salt is not None else []
        previous = Status.FORGOTTEN if signups_db.forget_hashes_cleared(db, hashes) else None
        new_id = signups_db.insert_subscriber(db, {"email": email, "email_key": key, **values})
        if previous is not None:
            _record_resubscribe(db, new_id, previous, at)
        return Confirmed(new_id, previous)
    current = Status(found.status)
    if status_after(current, Change.CONFIRM) != Status.SUBSCRIBED:
        return Confirmed(None, current)
    signups_db.resubscribe(db, found.id, values)
    if current != Status.SUBSCRIBED:
        _record_resubscribe(db, found.id, current, at)
    return Confirmed(found.id, current)


def _record_resubscribe(db: Database, subscriber_id: int, previous: str, at: int) -> None:
    events_db.insert_event(
        db, Event(EventKind.RESUBSCRIBE, None, subscriber_id, at, detail=str(previous))
    )
