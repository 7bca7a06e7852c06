"""An action campaign's letter for one member of Congress: subject, body, call script, tweet.

The letter's texts are Jinja (sandbox.py) with the real `target` and
`subscriber`, rendered each time a letter page is shown. They are plain
text: nothing here escapes them, so whatever shows them must. A member gets
the letter variant of their stance on the campaign's bill (campaigns/stances.py),
and `target.stance` prints that stance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from alerts.campaigns.stances import letter_for
from alerts.email.personalise import one_line
from alerts.email.sandbox import Fields, TemplateProblem, render_source
from alerts.errors import CampaignError
from alerts.models import Campaign, LetterSpec, Member, SourceText, Stance, Subscriber

TWEET_LIMIT = 280
LETTER_SUBSCRIBER_FIELDS = ("first_name", "last_name", "full_name", "city", "state", "zip")


@dataclass(frozen=True)
class LetterText:
    subject: str
    body: str


_MEMBER_FIELDS = tuple(f.name for f in fields(Member))


@dataclass(frozen=True)
class LetterParts:
    """Every text of one member's letter, as a letter page shows them (plain text)."""

    letter: LetterText
    call_script: str | None
    tweet: str | None
    topic: str | None


def member_fields(target: Member, stance: str = Stance.UNKNOWN) -> Fields:
    """A member as campaign texts see them: `target.title`, `target.last_name`, `target.stance`."""
    member = {name: getattr(target, name) for name in _MEMBER_FIELDS}
    member = {k: ("" if v is None else v) for k, v in member.items()}
    member["last_name"] = target.surname  # as the display name spells it: one name per member
    member["stance"] = str(stance)
    return Fields("target", member)


def _letter_context(subscriber: Subscriber, target: Member, stance: str) -> dict[str, Any]:
    person = {name: getattr(subscriber, name) or "" for name in LETTER_SUBSCRIBER_FIELDS}
    return {
        "subscriber": Fields("subscriber", person),
        "target": member_fields(target, stance),
    }


def _render_part(
    campaign: Campaign, label: str, source: SourceText, context: dict[str, Any]
) -> str:
    try:
        return render_source(source, campaign.path, label, context)
    except TemplateProblem as problem:
        raise CampaignError(str(problem)) from None


def _letter(campaign: Campaign, stance: str = Stance.UNKNOWN) -> LetterSpec:
    """The letter members of `stance` get: their variant, else the default."""
    if campaign.letter is None:
        raise CampaignError(f"{campaign.path}: {campaign.slug} is not an action campaign")
    return letter_for(campaign.letter, stance)


def _letter_text(campaign: Campaign, letter: LetterSpec, context: dict[str, Any]) -> LetterText:
    subject = _render_part(campaign, "letter subject", letter.subject, context)
    body = _render_part(campaign, "letter body", letter.body, context)
    return LetterText(one_line(subject).strip(), body.strip() + "\n")


def _call_script(campaign: Campaign, letter: LetterSpec, context: dict[str, Any]) -> str | None:
    if letter.call_script is None:
        return None
    return _render_part(campaign, "call_script", letter.call_script, context).strip() + "\n"


def _tweet(campaign: Campaign, letter: LetterSpec, context: dict[str, Any]) -> str | None:
    if letter.tweet is None:
        return None
    return " ".join(_render_part(campaign, "tweet", letter.tweet, context).split())


def render_letter(
    campaign: Campaign, subscriber: Subscriber, target: Member, stance: str = Stance.UNKNOWN
) -> LetterText:
    """The letter's subject and body for one target. Plain text: escape it to show it."""
    context = _letter_context(subscriber, target, stance)
    return _letter_text(campaign, _letter(campaign, stance), context)


def render_call_script(
    campaign: Campaign, subscriber: Subscriber, target: Member, stance: str = Stance.UNKNOWN
) -> str | None:
    context = _letter_context(subscriber, target, stance)
    return _call_script(campaign, _letter(campaign, stance), context)


def render_tweet(
    campaign: Campaign, subscriber: Subscriber, target: Member, stance: str = Stance.UNKNOWN
) -> str | None:
    context = _letter_context(subscriber, target, stance)
    return _tweet(campaign, _letter(campaign, stance), context)


def render_topic(campaign: Campaign, stance: str = Stance.UNKNOWN) -> str | None:
    """What to pick in a contact form's topic list for members of `stance` (plain text)."""
    return _letter(campaign, stance).topic


def render_parts(
    campaign: Campaign, subscriber: Subscriber, target: Member, stance: str = Stance.UNKNOWN
) -> LetterParts:
    """The letter, call script, tweet and topic for one target, from one context."""
    letter = _letter(campaign, stance)
    context = _letter_context(subscriber, target, stance)
    text = _letter_text(campaign, letter, context)
    tweet = _tweet(campaign, letter, context)
    call_script = _call_script(campaign, letter, context)
    return LetterParts(text, call_script, tweet, letter.topic)


def check_letter(
    campaign: Campaign, subscriber: Subscriber, targets: Sequence[Member]
) -> list[str]:
    """Problems found rendering each part of every variant of the letter for sample targets."""
    problems: list[str] = []
    for stance in Stance:
        letter = _letter(campaign, stance)
        parts = [
            ("letter subject", letter.subject),
            ("letter body", letter.body),
            ("call_script", letter.call_script),
            ("tweet", letter.tweet),
        ]
        for label, source in parts:
            if source is None:
                continue
            for target in targets:
                problem = _part_problem(campaign, label, source, subscriber, target, stance)
                if problem is not None and problem not in problems:
                    problems.append(problem)
    return problems


def _part_problem(
    campaign: Campaign,
    label: str,
    source: SourceText,
    subscriber: Subscriber,
    target: Member,
    stance: str,
) -> str | None:
    try:
        text = _render_part(campaign, label, source, _letter_context(subscriber, target, stance))
    except CampaignError as exc:
        return str(exc)
    length = len(" ".join(text.split()))
    if label != "tweet" or length <= TWEET_LIMIT:
        return None
    return (
        f"{campaign.path}:{source.line}: tweet: {length} characters "
        f"for {target.full_name}, over the limit of {TWEET_LIMIT}"
    )
