"""What a visitor does on a letter page: "I sent it", picking a House member, editing a letter.

The recording functions are writer jobs: the server runs them in its group
committer (tracking/committer.py).
"""

from __future__ import annotations

from enum import StrEnum

from alerts.db import Database
from alerts.letters.page import LetterPage
from alerts.targets import districts
from alerts.tracking import recording
from alerts.tracking.machines import Visit

LETTER_SUBJECT_LIMIT = 300  # characters, for edits posted back
LETTER_BODY_LIMIT = 20_000


def record_sent(db: Database, page: LetterPage, bioguide: str, visit: Visit) -> bool:
    """Record "I sent it" for one of the page's members; True only the first time.

    Late once the action has closed; a follow-up's page names the follow-up too.
    """
    return recording.record_letter_sent(
        db,
        page.campaign_id,
        page.subscriber_id,
        bioguide,
        visit,
        via_campaign_id=page.via_campaign_id,
        late=page.closed,
    )


def choose_district(db: Database, page: LetterPage, district: int) -> None:
    """Remember the House district the subscriber picked on the page.

    Raises LookupFailed when the district map no longer offers that district.
    """
    districts.choose_district(db, page.subscriber_id, district)


def forget_choice(db: Database, page: LetterPage) -> None:
    """Forget the House district the subscriber picked, when "None of these" is theirs."""
    districts.forget_district_choice(db, page.subscriber_id)


class LetterProblem(StrEnum):
    """Why a letter posted back cannot be emailed as it is."""

    EMPTY = "empty"
    LONG_LETTER = "long_letter"
    LONG_SUBJECT = "long_subject"

    @property
    def message(self) -> str:
        """The problem in a sentence for the page."""
        if self is LetterProblem.EMPTY:
            return "The letter is empty: write something before asking for a copy."
        if self is LetterProblem.LONG_LETTER:
            return f"The letter is longer than {LETTER_BODY_LIMIT:,} characters: please shorten it."
        return f"The subject is longer than {LETTER_SUBJECT_LIMIT} characters: please shorten it."


def check_letter_edit(subject: str, letter: str) -> LetterProblem | None:
    """What is wrong with a letter posted back, or None."""
    if not letter.strip():
        return LetterProblem.EMPTY
    if len(letter) > LETTER_BODY_LIMIT:
        return LetterProblem.LONG_LETTER
    if len(subject) > LETTER_SUBJECT_LIMIT:
        return LetterProblem.LONG_SUBJECT
    return None
