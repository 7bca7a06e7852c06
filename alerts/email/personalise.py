"""Personalising: one recipient's message from a campaign compiled once.

compile.py leaves a placeholder for every per-recipient value. Here each
recipient gets the map from placeholder to value (`recipient_values`: names,
their representative's stance sentence, the signed unsubscribe, open, letter
and click URLs), escaped for the
placeholder's context, and `personalise` fills the placeholders in. A
provider that substitutes values itself is handed the same map, so what it
delivers is what `personalise` shows.

    compiled = compile.compile_campaign(campaign, site, templates_dir)
    prepared = PreparedCampaign(compiled, campaign_id, link_ids, key, base_url)
    values = recipient_values(prepared, subscriber, targets)
    message = personalise(compiled, values)     # build_message does both

A preview (`preview_message`) fills in the same names but no signed URL, and
has no open pixel: opening it or following its links records nothing.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType

from alerts.email import links
from alerts.email.compile import CAP_SUFFIX, OPEN_PIXEL
from alerts.email.links import TokenKind, TokenMaker
from alerts.errors import CampaignError
from alerts.models import (
    HTML_CONTEXT,
    PLACEHOLDER_RE,
    TEXT_CONTEXT,
    CampaignKind,
    CompiledCampaign,
    RenderedMessage,
    Subscriber,
    Targets,
    placeholder,
)

NAME_LIMIT = 100  # characters kept of a subscriber's or member's name
STANCE_TEXT_LIMIT = 150  # characters kept of a stance_text sentence
NO_STANCE_TEXTS: Mapping[str, str] = MappingProxyType({})
UNSUBSCRIBE_TEXT_KEY = placeholder("unsubscribe_url", TEXT_CONTEXT)
ONE_CLICK = "List-Unsubscribe=One-Click"


def one_line(value: str) -> str:
    """A value safe for a subject or header: no CR, LF or other control characters."""
    if value.isprintable():
        return value
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe, as Gmail and Yahoo require of bulk senders."""
    return {"List-Unsubscribe": f"<{one_line(url)}>", "List-Unsubscribe-Post": ONE_CLICK}


def campaign_headers(compiled: CompiledCampaign, unsubscribe_url: str) -> dict[str, str]:
    """Every list header of one recipient's copy: one-click unsubscribe and List-Id."""
    headers = unsubscribe_headers(unsubscribe_url)
    if compiled.list_id:
        headers["List-Id"] = one_line(compiled.list_id)
    return headers


@dataclass(frozen=True, slots=True)
class PlaceholderKey:
    """One placeholder spelling, such as `-ALRT.link.3.h-`, and what it stands for."""

    key: str
    name: str  # link.3
    context: str  # h (HTML-escaped), t (plain text) or n (neutral)

    @classmethod
    def parse(cls, key: str) -> PlaceholderKey:
        match = PLACEHOLDER_RE.fullmatch(key)
        if match is None:
            raise ValueError(f"not a placeholder: {key!r}")
        return cls(key, match.group(1), match.group(2))


def placeholder_plan(compiled: CompiledCampaign) -> tuple[PlaceholderKey, ...]:
    """Every placeholder a compiled campaign uses, in a stable order."""
    return tuple(PlaceholderKey.parse(key) for key in sorted(compiled.keys))


@dataclass(frozen=True)
class PreparedCampaign:
    """A compiled campaign registered in the database, ready to personalise."""

    compiled: CompiledCampaign
    campaign_id: int
    link_ids: tuple[int, ...]  # link_ids[i] is the links row of compiled.links[i]
    key: bytes
    base_url: str
    # Each member's stance_text sentence by bioguide id (email/stance_text.py), for the
    # campaigns that have one; members left out get none.
    stance_texts: Mapping[str, str] = field(default_factory=lambda: NO_STANCE_TEXTS)

    @cached_property
    def plan(self) -> tuple[PlaceholderKey, ...]:
        """Every placeholder the message uses, in a stable order."""
        return placeholder_plan(self.compiled)

    @cached_property
    def tokens(self) -> TokenMaker:
        return TokenMaker(self.key, self.campaign_id)

    @cached_property
    def fallbacks(self) -> dict[str, str]:
        return dict(self.compiled.fallbacks)

    @cached_property
    def names_representative(self) -> bool:
        """Whether any message part shows the recipient's representative or senators."""
        return any(slot.name.startswith(("rep_", "sen_")) for slot in self.plan)


def stored_id(subscriber: Subscriber) -> int:
    """The id of a subscriber read from the database (or the sample); tokens name it."""
    if subscriber.id is None:
        raise ValueError("a message can only be made for a stored subscriber")
    return subscriber.id


def short_name(value: str | None) -> str:
    """A name as messages show it: one line, at most NAME_LIMIT characters."""
    return one_line(value or "").strip()[:NAME_LIMIT]


def _name_values(
    fallbacks: Mapping[str, str],
    subscriber: Subscriber,
    targets: Targets | None,
    stance_texts: Mapping[str, str] = NO_STANCE_TEXTS,
) -> dict[str, str]:
    """The recipient's and their representative's names (and stance sentence) by
    placeholder name, not escaped."""
    rep = targets.representative if targets else None
    known = {
        "first_name": short_name(subscriber.first_name),
        "last_name": short_name(subscriber.last_name),
        "full_name": short_name(subscriber.full_name),
        "rep_full_name": short_name(rep.full_name) if rep else "",
        "rep_last_name": short_name(rep.surname) if rep else "",
        "rep_title": short_name(rep.title) if rep else "",
    }
    values: dict[str, str] = {}
    for name, value in known.items():
        fallback = fallbacks.get(name, "")
        values[name] = value or fallback
        values[name + CAP_SUFFIX] = value or fallback[:1].upper() + fallback[1:]
    values["rep_stance_text"] = stance_texts.get(rep.bioguide, "") if rep else ""
    senators = targets.senate if targets else []
    values["sen_stance_text"] = " ".join(
        stance_texts[s.bioguide] for s in senators if s.bioguide in stance_texts
    )
    return values


def _raw_values(
    prepared: PreparedCampaign, subscriber: Subscriber, targets: Targets | None
) -> dict[str, str]:
    """Every per-recipient value by placeholder name: one line each, not yet escaped."""
    values = _name_values(prepared.fallbacks, subscriber, targets, prepared.stance_texts)
    sid = stored_id(subscriber)
    base = prepared.base_url
    make = prepared.tokens.make
    values["unsubscribe_url"] = links.unsubscribe_url(base, make(TokenKind.UNSUBSCRIBE, sid))
    values["open_url"] = links.open_url(base, make(TokenKind.OPEN, sid))
    if prepared.compiled.kind is CampaignKind.ACTION:
        values["letter_url"] = links.letter_url(base, make(TokenKind.LETTER, sid))
    for index, link_id in enumerate(prepared.link_ids):
        values[f"link.{index}"] = links.click_url(base, make(TokenKind.CLICK, sid, link_id))
    return values


def recipient_values(
    prepared: PreparedCampaign, subscriber: Subscriber, targets: Targets | None
) -> dict[str, str]:
    """The substitution map for one recipient: placeholder spelling -> value.

    HTML placeholders get HTML-escaped values, text ones the raw value on one
    line. A provider substitutes them itself; `personalise` does it locally.
    """
    return _escaped(prepared.plan, _raw_values(prepared, subscriber, targets))


def _escaped(plan: Iterable[PlaceholderKey], raw: Mapping[str, str]) -> dict[str, str]:
    escape = html.escape
    return {
        slot.key: escape(raw[slot.name]) if slot.context == HTML_CONTEXT else raw[slot.name]
        for slot in plan
    }


def recipient_headers(prepared: PreparedCampaign, subscriber_id: int) -> dict[str, str]:
    """The list headers for one recipient (campaign_headers with their unsubscribe URL)."""
    token = prepared.tokens.make(TokenKind.UNSUBSCRIBE, subscriber_id)
    return campaign_headers(prepared.compiled, links.unsubscribe_url(prepared.base_url, token))


def personalise(compiled: CompiledCampaign, values: Mapping[str, str]) -> RenderedMessage:
    """One recipient's message: the compiled parts with every placeholder replaced.

    `values` maps each placeholder spelling (compiled.keys) to its value, escaped
    for its context (`recipient_values` builds it). Raises CampaignError if one
    is missing.
    """
    try:
        subject_plan, html_plan, text_plan = compiled.plans
        subject = subject_plan.fill(values)
        html_part = html_plan.fill(values)
        text_part = text_plan.fill(values)
        unsubscribe = values[UNSUBSCRIBE_TEXT_KEY]
    except KeyError as exc:
        raise CampaignError(f"{compiled.slug}: no value for placeholder {exc.args[0]}") from None
    return RenderedMessage(
        one_line(subject), html_part, text_part, campaign_headers(compiled, unsubscribe)
    )


def build_message(
    prepared: PreparedCampaign, subscriber: Subscriber, targets: Targets | None
) -> RenderedMessage:
    """One recipient's full message, as the provider will deliver it."""
    return personalise(prepared.compiled, recipient_values(prepared, subscriber, targets))


# --------------------------------------------------------------------------
# Previews: the message as a recipient sees it, with nothing in it that works

INERT_URL = "#preview"  # where a preview's letter and unsubscribe links point: nowhere


def without_open_pixel(compiled: CompiledCampaign) -> CompiledCampaign:
    """The campaign with its open pixel taken out of the HTML."""
    pixel = OPEN_PIXEL.format(src=placeholder("open_url", HTML_CONTEXT))
    return replace(compiled, html=compiled.html.replace(pixel, ""))


def preview_values(
    compiled: CompiledCampaign,
    subscriber: Subscriber,
    targets: Targets | None,
    stance_texts: Mapping[str, str] = NO_STANCE_TEXTS,
) -> dict[str, str]:
    """A recipient's names, but no token: links go to their own URLs, the rest nowhere."""
    raw = _name_values(dict(compiled.fallbacks), subscriber, targets, stance_texts)
    raw.update(unsubscribe_url=INERT_URL, letter_url=INERT_URL, open_url=INERT_URL)
    raw.update((f"link.{index}", url) for index, url in enumerate(compiled.links))
    return _escaped(placeholder_plan(compiled), raw)


def preview_message(
    compiled: CompiledCampaign,
    subscriber: Subscriber,
    targets: Targets | None,
    stance_texts: Mapping[str, str] = NO_STANCE_TEXTS,
) -> RenderedMessage:
    """What `alerts preview` shows: the recipient's message, recording nothing when opened.

    No open pixel, no signed token: tracked links point straight at their pages
    and the letter and unsubscribe links at INERT_URL.
    """
    inert = without_open_pixel(compiled)
    return personalise(inert, preview_values(inert, subscriber, targets, stance_texts))
