"""What a letter page's form did, carried from its POST to the GET that shows it.

Every form on the page answers with a 303 redirect to the page's own URL with
`?done=<outcome>`, so that reloading the page shows the outcome again and never
repeats the action (a second copy, a second "I sent it"). An outcome names
what happened, the public bioguide id of the member it is about and a short
detail (a district number, a count of minutes), never anything about the
visitor. It is signed with the server's key for this page only (campaign and
subscriber) and lasts OUTCOME_TTL seconds; after that the page shows no notice.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from alerts.letters.actions import LetterProblem
from alerts.letters.page import LetterPage, LetterTarget
from alerts.tracking import recording

OUTCOME_TTL = 10 * 60  # seconds
_KEY_LABEL = b"alerts/letter-outcome/v1"
_MAC_BYTES = 10
_FIELD = re.compile(r"[A-Za-z0-9_]{0,40}")


class Done(StrEnum):
    SENT = "sent"  # "I sent it"
    EMAILED = "emailed"  # "Email me a copy", and the copy went out
    COPY_INVALID = "copy_invalid"  # detail: the LetterProblem
    COPY_UNAVAILABLE = "copy_unavailable"
    COPY_LIMITED = "copy_limited"  # detail: minutes until the next copy
    COPY_FAILED = "copy_failed"
    CHOSEN = "chosen"  # a House district picked; detail: its number
    PICK_INVALID = "pick_invalid"
    PICK_GONE = "pick_gone"  # the district map no longer offers the district
    NONE_OF_THESE = "none_of_these"  # none of the candidates is the subscriber's
    ADDRESS = "address"  # a public page's street gave no district; detail: the address.Lookup


@dataclass(frozen=True)
class Outcome:
    done: Done
    target: str = ""  # the bioguide id of the letter it is about
    detail: str = ""

    @property
    def anchor(self) -> str:
        """Where the page scrolls to when it shows the outcome."""
        if self.done in (Done.PICK_INVALID, Done.PICK_GONE):
            return "pick"
        if self.done is Done.ADDRESS:
            return "address"
        return f"letter-{self.target}" if self.target else "main"


@dataclass(frozen=True)
class Notice:
    """A message at the top of a page, under the picker or under one member's letter."""

    text: str
    target: str | None = None  # a bioguide id, "pick", or None for the top of the page
    error: bool = False
    done: Done | None = None  # the outcome it tells of
    next: LetterTarget | None = None  # after "I sent it": the next letter not sent yet


def _key(server_key: bytes) -> bytes:
    return hmac.digest(server_key, _KEY_LABEL, "sha256")


def _mac(key: bytes, campaign_id: int, subscriber_id: int, payload: bytes) -> str:
    signed = f"{campaign_id}.{subscriber_id}.".encode() + payload
    mac = hmac.digest(_key(key), signed, "sha256")[:_MAC_BYTES]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def outcome_token(
    key: bytes, campaign_id: int, subscriber_id: int, outcome: Outcome, now: float
) -> str:
    """The `done` value of the page's URL after a POST, valid on this page only."""
    if not (_FIELD.fullmatch(outcome.target) and _FIELD.fullmatch(outcome.detail)):
        raise ValueError("an outcome's target and detail are short words")
    expires = int(now) + OUTCOME_TTL
    payload = f"{outcome.done}.{outcome.target}.{outcome.detail}.{expires}".encode("ascii")
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")
    return f"{body}.{_mac(key, campaign_id, subscriber_id, payload)}"


def read_outcome(
    key: bytes, campaign_id: int, subscriber_id: int, value: str, now: float
) -> Outcome | None:
    """The outcome a `done` value names, or None: forged, for another page, or expired."""
    body, _, mac = value.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(mac, _mac(key, campaign_id, subscriber_id, payload)):
        return None
    try:
        done, target, detail, expires = payload.decode("ascii").split(".")
        outcome = Outcome(Done(done), target, detail)
        still_valid = now <= int(expires)
    except ValueError:
        return None
    return outcome if still_valid else None


def notice(page: LetterPage, outcome: Outcome) -> Notice | None:
    """What the page says about an outcome, or None when it no longer applies.

    A street that gave no district is told in the address section, not as a notice.
    """
    if outcome.done is Done.ADDRESS:
        return None
    if outcome.done in _PICK_NOTICES:
        return _pick_notice(page, outcome)
    target = page.target(outcome.target)
    if target is None:  # the member is no longer on the page
        return None
    bioguide = target.member.bioguide
    if outcome.done is Done.SENT:
        text = f"Thank you for writing to {target.name}!"
        return Notice(text, bioguide, done=outcome.done, next=page.next_unsent(bioguide))
    if outcome.done is Done.EMAILED:
        where = recording.mask_email(page.subscriber.email) or "your address"
        return Notice(f"We emailed a copy to {where}.", bioguide, done=outcome.done)
    return Notice(_copy_problem(outcome), bioguide, error=True, done=outcome.done)


def _copy_problem(outcome: Outcome) -> str:
    if outcome.done is Done.COPY_INVALID:
        try:
            return LetterProblem(outcome.detail).message
        except ValueError:
            return "This letter cannot be emailed as it is."
    if outcome.done is Done.COPY_UNAVAILABLE:
        return "We cannot email copies from this page. Copy the letter instead."
    if outcome.done is Done.COPY_LIMITED:
        minutes = int(outcome.detail) if outcome.detail.isdigit() else 60
        return (
            "You have asked for several copies already. You can ask for another in"
            f" {minutes} minute{'s' if minutes != 1 else ''}; until then, copy the letter."
        )
    return "We could not send the copy just now. Please try again in a few minutes."


_PICK_NOTICES = {
    Done.CHOSEN: "",
    Done.PICK_INVALID: "Pick one of the members listed.",
    Done.PICK_GONE: "That choice is no longer possible: please pick again.",
    Done.NONE_OF_THESE: "",
}


def _pick_notice(page: LetterPage, outcome: Outcome) -> Notice:
    if outcome.done is Done.NONE_OF_THESE:
        return Notice("Thank you for telling us.", done=outcome.done)
    if outcome.done is not Done.CHOSEN:
        return Notice(_PICK_NOTICES[outcome.done], "pick", error=True, done=outcome.done)
    if page.picked is not None:
        name = f"{page.picked.title} {page.picked.full_name}"
        return Notice(f"Thank you: we will remember {name}.", done=outcome.done)
    seat = page.seat or "that district"
    return Notice(f"Thank you: we will remember that you live in {seat}.", done=outcome.done)
