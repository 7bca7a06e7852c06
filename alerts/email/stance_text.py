"""A campaign's `stance_text` sentences, rendered for each member of Congress.

`stance_text` maps a stance on the campaign's bill to one sentence. Each sentence
is a Jinja template over the member, who is `target` as in letters (`target.title`,
`target.last_name`, `target.full_name`, `target.stance`...), and nothing else: it
cannot name the subscriber. The email prints it with
`{{ representative.stance_text }}`, a per-recipient value: before a send each
sentence is rendered once per member (`render_stance_texts`), and each recipient's
message takes their representative's (personalise.py). A sentence is plain text on
one line, cut at STANCE_TEXT_LIMIT characters; `check_stance_text` refuses one that
does not render or is longer than that for a sample member.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from alerts.email.letter_text import member_fields
from alerts.email.personalise import STANCE_TEXT_LIMIT, one_line
from alerts.email.sandbox import TemplateProblem, render_source
from alerts.errors import CampaignError
from alerts.models import Campaign, Member, SourceText, Stance


def _sentence(campaign: Campaign, stance: str, source: SourceText, member: Member) -> str:
    """The sentence for `member`, whose stance it is, on one line (not yet cut)."""
    context = {"target": member_fields(member, stance)}
    try:
        text = render_source(source, campaign.path, f"stance_text: {stance}", context)
    except TemplateProblem as problem:
        raise CampaignError(str(problem)) from None
    return " ".join(one_line(text).split())


def render_stance_texts(
    campaign: Campaign, members: Iterable[Member], stance_of: Callable[[str], str]
) -> dict[str, str]:
    """Each member's sentence by bioguide id; a member whose stance has none is left out."""
    sentences = dict(campaign.stance_text)
    rendered: dict[str, str] = {}
    for member in members:
        stance = stance_of(member.bioguide)
        source = sentences.get(stance)
        if source is not None:
            text = _sentence(campaign, stance, source, member)
            rendered[member.bioguide] = text[:STANCE_TEXT_LIMIT]
    return rendered


def check_stance_text(campaign: Campaign, members: Sequence[Member]) -> list[str]:
    """Problems rendering each sentence for sample members: template errors, too long."""
    problems: list[str] = []
    for stance, source in campaign.stance_text:
        for member in members:
            problem = _sentence_problem(campaign, Stance(stance), source, member)
            if problem is not None and problem not in problems:
                problems.append(problem)
    return problems


def _sentence_problem(
    campaign: Campaign, stance: Stance, source: SourceText, member: Member
) -> str | None:
    try:
        text = _sentence(campaign, stance, source, member)
    except CampaignError as exc:
        return str(exc)
    if len(text) <= STANCE_TEXT_LIMIT:
        return None
    return (
        f"{campaign.path}:{source.line}: stance_text: {stance}: {len(text)} characters for"
        f" {member.full_name}, over the limit of {STANCE_TEXT_LIMIT}"
    )
