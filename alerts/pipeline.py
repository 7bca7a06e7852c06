"""Composition of the domain: from a campaign file to each recipient's message.

    campaign = campaigns.find_campaign(campaigns_dir, slug)
    compiled = compile_campaign(campaign, site_settings(config), templates_dir)
    prepared = prepare_campaign(db, compiled, secret=..., base_url=...)
    for each recipient:
        values = recipient_values(prepared, subscriber, targets)   # SendGrid substitutions
        headers = recipient_headers(prepared, subscriber.id)        # List-Unsubscribe...
        message = render.personalise(compiled, values)              # the same, done locally

MJML and premailer run once, in compile_campaign. The sender hands SendGrid
`compiled.subject`, `compiled.text` and `compiled.html` as message-level
content and each recipient's `values` as `substitutions`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from alerts import db as store
from alerts import links, render, targets
from alerts.config import Config, ConfigError
from alerts.db import Database
from alerts.errors import CampaignError
from alerts.links import TokenKind, TokenMaker, token_key
from alerts.models import (
    HTML_CONTEXT,
    Campaign,
    CampaignKind,
    Chamber,
    CompiledCampaign,
    Confidence,
    Member,
    RenderedMessage,
    SiteSettings,
    Subscriber,
    Targets,
)

SUBSTITUTIONS_LIMIT = 10_000  # SendGrid: bytes of substitutions per personalization
NAME_LIMIT = 100  # characters kept of a subscriber's or member's name
TOKEN_ALLOWANCE = 40  # characters a token may take in the size estimate (they are ~20)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
TYPICAL_BASE_URL = "https://act.example-organisation.org"  # for checks without base_url


# --------------------------------------------------------------------------
# Settings and compiling


def site_settings(config: Config) -> SiteSettings:
    """What messages need from alerts.toml; org_name and postal_address are required."""
    return SiteSettings(
        org_name=config.require("org_name"),
        postal_address=config.require("postal_address"),
        from_email=config.get("from_email"),
        from_name=config.get("from_name"),
        reply_to=config.get("reply_to"),
        base_url=config.get("base_url"),
    )


def compile_campaign(
    campaign: Campaign, site: SiteSettings, templates_dir: Path
) -> CompiledCampaign:
    """Render the campaign once and turn its links into tracked-link placeholders."""
    return links.track_links(render.compile_campaign(campaign, site, templates_dir))


def check_campaign(campaign: Campaign, site: SiteSettings, templates_dir: Path) -> CompiledCampaign:
    """Everything `alerts campaigns check` verifies; raises CampaignError with every problem."""
    problems: list[str] = []
    compiled = None
    try:
        compiled = compile_campaign(campaign, site, templates_dir)
    except CampaignError as exc:
        problems.extend(exc.problems)
    if campaign.kind is CampaignKind.ACTION:
        samples = [SAMPLE_REPRESENTATIVE, *SAMPLE_SENATORS]
        problems.extend(render.check_letter(campaign, SAMPLE_SUBSCRIBER, samples))
    if compiled is not None and not problems:
        try:
            substitution_bytes_limit(compiled, site.base_url or TYPICAL_BASE_URL)
        except CampaignError as exc:
            problems.append(f"{campaign.path}: {exc}")
    if problems:
        raise CampaignError.collected(problems)
    assert compiled is not None
    return compiled


# --------------------------------------------------------------------------
# Preparing a send: ids, keys and the plan of placeholders


@dataclass(frozen=True)
class PreparedCampaign:
    """A compiled campaign registered in the database, ready to personalise."""

    compiled: CompiledCampaign
    campaign_id: int
    link_ids: tuple[int, ...]  # link_ids[i] is the links row of compiled.links[i]
    key: bytes
    base_url: str
    plan: tuple[tuple[str, str, str], ...]  # (placeholder, name, context) for each key

    @cached_property
    def tokens(self) -> TokenMaker:
        return TokenMaker(self.key, self.campaign_id)

    @cached_property
    def fallbacks(self) -> dict[str, str]:
        return dict(self.compiled.fallbacks)


def check_base_url(base_url: str | None) -> str:
    """base_url must be https (RFC 8058 one-click); plain http only on this machine."""
    if not base_url:
        raise ConfigError("base_url is not set: add it to alerts.toml or set ALERTS_BASE_URL")
    parts = urlsplit(base_url)
    loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if not (parts.scheme == "https" or loopback) or not parts.hostname:
        raise ConfigError(
            f"base_url must be an https:// URL (one-click unsubscribe needs it), not {base_url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"base_url must not have a query or fragment: {base_url!r}")
    return base_url.rstrip("/")


def prepare_campaign(
    db: Database, compiled: CompiledCampaign, *, secret: str, base_url: str
) -> PreparedCampaign:
    """Register the campaign and its links (idempotent) and make the placeholder plan."""
    base = check_base_url(base_url)
    substitution_bytes_limit(compiled, base)
    subject = compiled.subject
    campaign_id = store.register_campaign(
        db, compiled.slug, str(compiled.kind), subject, compiled.source_sha256
    )
    link_ids = store.register_links(db, campaign_id, compiled.links)
    plan = tuple((key, *render.placeholder_name(key)) for key in sorted(compiled.keys))
    return PreparedCampaign(compiled, campaign_id, tuple(link_ids), token_key(secret), base, plan)


def _worst_value_bytes(name: str, context: str, base_url: str) -> int:
    if name.startswith("link.") or name.endswith("_url"):
        return len(base_url) + 8 + TOKEN_ALLOWANCE
    per_char = 6 if context == HTML_CONTEXT else 4  # &quot; in HTML; 4-byte UTF-8 in text
    return NAME_LIMIT * per_char


def substitution_bytes_limit(compiled: CompiledCampaign, base_url: str) -> int:
    """The most substitution bytes a recipient can need; fails over SendGrid's limit."""
    total = 0
    for key in compiled.keys:
        name, context = render.placeholder_name(key)
        total += len(key.encode()) + _worst_value_bytes(name, context, base_url)
    if total > SUBSTITUTIONS_LIMIT:
        raise CampaignError(
            f"{compiled.slug}: each message may need {total:,} bytes of substitutions, over "
            f"SendGrid's {SUBSTITUTIONS_LIMIT:,}: use fewer links or per-recipient variables"
        )
    return total


# --------------------------------------------------------------------------
# One recipient


def _name(value: str | None) -> str:
    return render.one_line(value or "").strip()[:NAME_LIMIT]


def _raw_values(
    prepared: PreparedCampaign, subscriber: Subscriber, targets: Targets | None
) -> dict[str, str]:
    """Every per-recipient value by placeholder name: one line each, not yet escaped."""
    fallbacks = prepared.fallbacks
    rep = targets.representative if targets else None
    known = {
        "first_name": _name(subscriber.first_name),
        "last_name": _name(subscriber.last_name),
        "full_name": _name(subscriber.full_name),
        "rep_full_name": _name(rep.full_name) if rep else "",
        "rep_last_name": _name(rep.last_name) if rep else "",
        "rep_title": _name(rep.title) if rep else "",
    }
    values: dict[str, str] = {}
    for name, value in known.items():
        fallback = fallbacks.get(name, "")
        values[name] = value or fallback
        values[name + render.CAP_SUFFIX] = value or fallback[:1].upper() + fallback[1:]
    sid = subscriber.id or 0
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
    line. Hand it to SendGrid as the personalization's `substitutions`, or to
    render.personalise.
    """
    raw = _raw_values(prepared, subscriber, targets)
    escape = html.escape
    return {
        key: escape(raw[name]) if context == HTML_CONTEXT else raw[name]
        for key, name, context in prepared.plan
    }


def recipient_headers(prepared: PreparedCampaign, subscriber_id: int) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe headers for one recipient."""
    url = links.unsubscribe_url(
        prepared.base_url, prepared.tokens.make(TokenKind.UNSUBSCRIBE, subscriber_id)
    )
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": render.ONE_CLICK}


def build_message(
    prepared: PreparedCampaign, subscriber: Subscriber, targets: Targets | None
) -> RenderedMessage:
    """One recipient's full message, as SendGrid will deliver it."""
    return render.personalise(prepared.compiled, recipient_values(prepared, subscriber, targets))


# --------------------------------------------------------------------------
# Samples for preview and check

SAMPLE_SUBSCRIBER = Subscriber(
    id=0,
    email="sample.subscriber@example.org",
    first_name="Alex",
    last_name="Sample",
    city="Springfield",
    state="IL",
    zip="62701",
)
SAMPLE_REPRESENTATIVE = Member(
    bioguide="S000000",
    chamber=Chamber.HOUSE,
    state="IL",
    district=13,
    title="Representative",
    full_name="Jordan Sample",
    first_name="Jordan",
    last_name="Sample",
    phone="202-555-0100",
    twitter="RepSample",
    contact_url="https://example.org/contact",
)
SAMPLE_SENATORS = (
    Member(
        bioguide="S000001",
        chamber=Chamber.SENATE,
        state="IL",
        district=None,
        title="Senator",
        full_name="Casey Example",
        first_name="Casey",
        last_name="Example",
        phone="202-555-0101",
    ),
)


def sample_targets() -> Targets:
    return Targets(
        state="IL",
        confidence=Confidence.EXACT,
        house=[SAMPLE_REPRESENTATIVE],
        senate=list(SAMPLE_SENATORS),
        district=13,
    )


def preview_recipient(db: Database, email: str | None) -> tuple[Subscriber, Targets, bool]:
    """(subscriber, targets, is_sample): the subscriber with that email, else a sample."""
    if email:
        found = store.find_subscriber(db, email)
        if found is not None and found.id is not None:
            return found, targets.targets_for(db, found.id), False
    sample = SAMPLE_SUBSCRIBER
    if email:
        sample = Subscriber(**{**sample.__dict__, "email": email})
    return sample, sample_targets(), True
