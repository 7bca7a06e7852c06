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
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alerts import campaigns, links, render, send, targets
from alerts import db as store
from alerts.config import Config, ConfigError
from alerts.db import Database
from alerts.errors import AlertsError, CampaignError
from alerts.links import TokenKind, TokenMaker, token_key
from alerts.models import (
    HTML_CONTEXT,
    Campaign,
    CampaignKind,
    CampaignRecord,
    Chamber,
    CompiledCampaign,
    Confidence,
    DistrictFlag,
    Member,
    RenderedMessage,
    SiteSettings,
    Status,
    Subscriber,
    Targets,
    TextCode,
    seat_name,
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


# ==========================================================================
# Letter pages (issue 6, part 2): what `GET /a/<token>` shows, and "Email me a
# copy". A section of its own, apart from the send above: alerts/web.py calls
# these, which compose campaigns, targets, render and send.
#
# The campaign behind a page is the file campaigns/<slug>.md as it is now
# (docs/tracking.md, "The letter page"): a file edited since sending shows its
# edited letter (a typo fixed after sending reaches everyone); a file that is
# gone, no longer valid or no longer an action campaign leaves the page
# without a letter, saying so, and the server logs why.

LETTER_COPY_RETRIES = 1  # a person is waiting: one retry at most, then an apology
LETTER_COPY_TIMEOUT = 15.0
LETTER_COPY_CATEGORY = "letter-copy"
LETTER_SUBJECT_LIMIT = 300  # characters, for edits posted back
LETTER_BODY_LIMIT = 20_000
COPY_STATUSES = (Status.SUBSCRIBED, Status.UNSUBSCRIBED)  # not bounced, complained, forgotten

letter_log = logging.getLogger("alerts.letters")


class LetterCampaigns:
    """The action campaigns behind letter pages, read from campaigns/ and cached per file version.

    Used from one thread (the server's event loop). The file is looked at on
    every call (one stat); it is parsed again only when it changed.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, tuple[tuple[int, int], Campaign | None]] = {}
        self._warned: set[tuple[str, str]] = set()

    def get(self, record: CampaignRecord) -> Campaign | None:
        """The campaign as its file is now, or None (file gone, invalid, or not an action)."""
        try:
            path = campaigns.campaign_path(self.folder, record.slug)
            stat = path.stat()
        except (AlertsError, OSError):
            self.warn(record.slug, "gone", f"its file is gone from {self.folder}")
            return None
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(record.slug)
        if cached is not None and cached[0] == version:
            return cached[1]
        campaign = self._load(record, path)
        self._cache[record.slug] = (version, campaign)
        return campaign

    def _load(self, record: CampaignRecord, path: Path) -> Campaign | None:
        try:
            campaign = campaigns.load_campaign(path)
        except AlertsError as exc:
            self.warn(record.slug, str(exc), f"its file does not load ({exc})")
            return None
        if campaign.letter is None:
            self.warn(record.slug, "no letter", "its file is no longer an action campaign")
            return None
        if record.source_sha256 and campaign.source_sha256 != record.source_sha256:
            self.warn(
                record.slug,
                campaign.source_sha256,
                "its file changed since it was sent: letter pages show it as it is now",
                quiet=True,
            )
        return campaign

    def warn(self, slug: str, key: str, what: str, *, quiet: bool = False) -> None:
        if (slug, key) in self._warned:
            return
        self._warned.add((slug, key))
        suffix = "" if quiet else "; its letter pages show no letter"
        letter_log.warning("campaign %s: %s%s", slug, what, suffix)


@dataclass(frozen=True)
class LetterTarget:
    """One member of Congress on a letter page, with their letter (plain text)."""

    member: Member
    subject: str
    letter: str  # "The Honorable ..." and the body, as the textarea starts
    call_script: str | None = None
    tweet: str | None = None
    sent: bool = False  # the subscriber pressed "I sent it" for this member

    @property
    def contact_url(self) -> str | None:
        return render.web_url(self.member.contact_url) or render.web_url(self.member.website)

    @property
    def contact_is_form(self) -> bool:
        """True when the link is a contact form, not just the member's home page."""
        form = render.web_url(self.member.contact_url)
        return form is not None and form != render.web_url(self.member.website)

    @property
    def phone_url(self) -> str | None:
        return render.tel_url(self.member.phone)

    @property
    def mailto_url(self) -> str:
        return render.mailto_url(self.subject, self.letter)

    @property
    def tweet_url(self) -> str | None:
        return render.tweet_url(self.tweet) if self.tweet else None


class HouseAnswer(StrEnum):
    """What the page can say about the subscriber's House member."""

    NOT_ASKED = "not_asked"  # the letter goes to senators only
    KNOWN = "known"
    CHOOSE = "choose"  # the ZIP spans several districts and nobody was picked yet
    VACANT = "vacant"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LetterPage:
    """Everything `GET /a/<token>` shows; None fields mean "not known"."""

    campaign_id: int
    subscriber: Subscriber
    available: bool  # False: the campaign file is gone or broken: no letter to show
    chambers: tuple[Chamber, ...] = ()
    targets: tuple[LetterTarget, ...] = ()
    house: HouseAnswer = HouseAnswer.NOT_ASKED
    candidates: tuple[Member, ...] = ()  # House members to pick from (ambiguous ZIP)
    picked: Member | None = None  # the House member the subscriber picked earlier
    seat: str | None = None  # the known House seat (NY-10), also when vacant
    state: str | None = None
    flags: tuple[str, ...] = ()
    topic: str | None = None
    text_code: TextCode | None = None

    @property
    def can_email(self) -> bool:
        """Whether a copy may go to the subscriber's address at all."""
        return bool(self.subscriber.email) and self.subscriber.status in COPY_STATUSES

    @property
    def asks_senate(self) -> bool:
        return Chamber.SENATE in self.chambers

    @property
    def text_code_url(self) -> str | None:
        code = self.text_code
        return render.sms_url(code.number, code.keyword) if code else None

    def target(self, bioguide: str) -> LetterTarget | None:
        return next((t for t in self.targets if t.member.bioguide == bioguide), None)

    def edited(self, bioguide: str, subject: str, letter: str) -> LetterPage:
        """The page showing a letter as the visitor edited it (after a POST)."""
        return self._with(bioguide, subject=subject, letter=letter)

    def marked_sent(self, bioguide: str) -> LetterPage:
        return self._with(bioguide, sent=True)

    def _with(self, bioguide: str, **changes: Any) -> LetterPage:
        targets = tuple(
            replace(t, **changes) if t.member.bioguide == bioguide else t for t in self.targets
        )
        return replace(self, targets=targets)


def letter_page(
    db: Database, letters: LetterCampaigns, campaign_id: int, subscriber_id: int
) -> LetterPage | None:
    """The letter page of one subscriber in one campaign, or None when either is unknown.

    A forgotten subscriber has no page. Nothing here writes.
    """
    record = store.campaign_record_by_id(db, campaign_id)
    subscriber = store.subscriber_or_none(db, subscriber_id)
    if record is None or subscriber is None or subscriber.status == Status.FORGOTTEN:
        return None
    campaign = letters.get(record) if record.kind == CampaignKind.ACTION else None
    if campaign is None or campaign.letter is None:
        return LetterPage(campaign_id, subscriber, available=False)
    found = targets.targets_for(db, subscriber_id)
    chambers = campaign.letter.to
    try:
        built = _letter_targets(db, campaign, subscriber, found, chambers, campaign_id)
    except CampaignError as exc:
        letters.warn(record.slug, str(exc), f"its letter does not render ({exc})")
        return LetterPage(campaign_id, subscriber, available=False)
    answer = _house_answer(found, chambers)
    chosen = DistrictFlag.CHOSEN in found.flags
    return LetterPage(
        campaign_id=campaign_id,
        subscriber=subscriber,
        available=True,
        chambers=chambers,
        targets=built,
        house=answer,
        candidates=tuple(_candidates(db, found)) if Chamber.HOUSE in chambers else (),
        picked=found.representative if chosen else None,
        seat=seat_name(found.state, found.district)
        if found.state and found.district is not None
        else None,
        state=found.state,
        flags=found.flags,
        topic=campaign.letter.topic,
        text_code=campaign.letter.text_code,
    )


def _letter_targets(
    db: Database,
    campaign: Campaign,
    subscriber: Subscriber,
    found: Targets,
    chambers: tuple[Chamber, ...],
    campaign_id: int,
) -> tuple[LetterTarget, ...]:
    members: list[Member] = []
    for chamber in chambers:
        if chamber is Chamber.HOUSE and found.representative is not None:
            members.append(found.representative)
        elif chamber is Chamber.SENATE:
            members.extend(found.senate)
    sent = store.letter_targets_sent(db, campaign_id, subscriber.id or 0)
    return tuple(_letter_target(campaign, subscriber, m, m.bioguide in sent) for m in members)


def _letter_target(
    campaign: Campaign, subscriber: Subscriber, member: Member, sent: bool
) -> LetterTarget:
    letter = render.render_letter(campaign, subscriber, member)
    tweet = render.render_tweet(campaign, subscriber, member)
    return LetterTarget(
        member=member,
        subject=letter.subject,
        letter=render.addressed_letter(member, letter.body),
        call_script=render.render_call_script(campaign, subscriber, member),
        tweet=render.addressed_tweet(tweet, member.twitter) if tweet else None,
        sent=sent,
    )


def _house_answer(found: Targets, chambers: tuple[Chamber, ...]) -> HouseAnswer:
    if Chamber.HOUSE not in chambers:
        return HouseAnswer.NOT_ASKED
    if found.representative is not None:
        return HouseAnswer.KNOWN
    if found.vacant_house:
        return HouseAnswer.VACANT
    if found.confidence is Confidence.AMBIGUOUS and found.house:
        return HouseAnswer.CHOOSE
    return HouseAnswer.UNKNOWN


def _candidates(db: Database, found: Targets) -> list[Member]:
    """The sitting House members of an ambiguous ZIP's districts, also after a pick."""
    if found.confidence is not Confidence.AMBIGUOUS or not found.state:
        return []
    members: list[Member] = []
    for district in found.candidates:
        members.extend(store.members_for_seat(db, found.state, district))
    return members


def choose_district(db: Database, subscriber_id: int, district: int) -> None:
    """Remember the House district a subscriber picked on the letter page (a writer job)."""
    store.set_district_choice(db, subscriber_id, district)


def check_letter_edit(subject: str, letter: str) -> str | None:
    """What is wrong with a letter posted back, in a sentence for the page, or None."""
    if not letter.strip():
        return "The letter is empty: write something before asking for a copy."
    if len(letter) > LETTER_BODY_LIMIT:
        return f"The letter is longer than {LETTER_BODY_LIMIT:,} characters: please shorten it."
    if len(subject) > LETTER_SUBJECT_LIMIT:
        return f"The subject is longer than {LETTER_SUBJECT_LIMIT} characters: please shorten it."
    return None


@dataclass(frozen=True)
class LetterCopySender:
    """Emails a subscriber the letter they edited: one message, no tracking, no custom_args."""

    settings: send.SendSettings
    from_email: str
    from_name: str | None = None
    reply_to: str | None = None
    org_name: str | None = None
    postal_address: str | None = None

    def send(self, page: LetterPage, target: LetterTarget, page_url: str) -> str:
        """Send `target`'s letter as `page` holds it; returns SendGrid's message id."""
        copy = render.render_letter_copy(
            first_name=_name(page.subscriber.first_name),
            member=target.member,
            contact_url=target.contact_url,
            contact_is_form=target.contact_is_form,
            phone=target.member.phone,
            page_url=page_url,
            letter_subject=target.subject,
            letter=target.letter,
            org_name=self.org_name,
            postal_address=self.postal_address,
        )
        body = send.message_body(
            from_email=self.from_email,
            from_name=self.from_name,
            reply_to=self.reply_to,
            subject=copy.subject,
            html=copy.html,
            text=copy.text,
            personalizations=[send.personalization(page.subscriber)],
            categories=[LETTER_COPY_CATEGORY],
        )
        return send.send_message(self.settings, body)


def letter_copy_sender(
    config: Config, env: Mapping[str, str] | None = None
) -> LetterCopySender | None:
    """The sender of letter copies, or None (and a log line) when sending is not set up."""
    try:
        settings = send.SendSettings.from_config(config, env=env)
        from_email = config.require("from_email")
    except ConfigError as exc:
        letter_log.warning("'Email me a copy' is off on letter pages: %s", exc)
        return None
    settings = replace(
        settings,
        retries=min(settings.retries, LETTER_COPY_RETRIES),
        timeout=min(settings.timeout, LETTER_COPY_TIMEOUT),
        tracking=False,
        rate=None,
    )
    return LetterCopySender(
        settings,
        from_email,
        config.get("from_name"),
        config.get("reply_to"),
        config.get("org_name"),
        config.get("postal_address"),
    )
