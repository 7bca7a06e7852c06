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

Sending a campaign (`alerts send`):

    plan = plan_send(db, config, campaigns_dir, templates_dir, slug)   # every check
    summary = run_send(db, plan, limit=..., progress=...)   # freeze once, then send.py
    dry_run(db, plan, outbox_path=...)                       # no HTTP, no ledger
    send_test(plan, ["me@example.org"])                      # the sample, "[TEST] "
    send_status(db, campaigns_dir, slug)                     # `alerts campaigns status`
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alerts.campaigns import files as campaigns
from alerts.config import Config, ConfigError
from alerts.db import Database, set_durable
from alerts.db import campaigns as campaigns_db
from alerts.db import districts as districts_db
from alerts.db import events as events_db
from alerts.db import ledger as ledger_db
from alerts.db import roster as roster_db
from alerts.db import segments as segments_db
from alerts.db import subscribers as subscribers_db
from alerts.delivery import engine as send
from alerts.delivery.engine import SendSettings
from alerts.email import compile as render
from alerts.email import links, outbox
from alerts.email.links import TokenKind, TokenMaker, token_key
from alerts.errors import AlertsError, CampaignError, SendInterrupted
from alerts.models import (
    HTML_CONTEXT,
    SAMPLE_SUBSCRIBER_ID,
    Campaign,
    CampaignKind,
    CampaignRecord,
    Chamber,
    CompiledCampaign,
    Confidence,
    DeliveryState,
    DistrictFlag,
    Member,
    RenderedMessage,
    SendSummary,
    SiteSettings,
    Status,
    Subscriber,
    Targets,
    TextCode,
    readable_placeholders,
    seat_name,
)
from alerts.targets import lookup as targets

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
    # The stored subject is for lists and reports: placeholders read as {first_name}.
    subject = readable_placeholders(compiled.subject)
    campaign_id = campaigns_db.register_campaign(
        db, compiled.slug, str(compiled.kind), subject, compiled.source_sha256
    )
    link_ids = campaigns_db.register_links(db, campaign_id, compiled.links)
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
    id=SAMPLE_SUBSCRIBER_ID,
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
        found = subscribers_db.find_subscriber(db, email)
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
    record = campaigns_db.campaign_record_by_id(db, campaign_id)
    subscriber = subscribers_db.subscriber_or_none(db, subscriber_id)
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
    sent = events_db.letter_targets_sent(db, campaign_id, subscriber.id or 0)
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
        members.extend(roster_db.members_for_seat(db, found.state, district))
    return members


def choose_district(db: Database, subscriber_id: int, district: int) -> None:
    """Remember the House district a subscriber picked on the letter page (a writer job)."""
    districts_db.set_district_choice(db, subscriber_id, district)


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


# --------------------------------------------------------------------------
# Sending a campaign (issue 5): check, freeze, build each batch's request, send

TEST_SUBJECT_PREFIX = "[TEST] "
TEST_CATEGORY = "test-send"

CONFIRMED = "confirmed"  # snapshot key: sent rows confirmed by SendGrid's events
TargetsOf = Callable[[list[Subscriber]], Mapping[int, Targets]]


@dataclass(frozen=True)
class SendPlan:
    """A campaign checked, registered and ready to send: what the confirmation shows."""

    campaign: Campaign
    prepared: PreparedCampaign
    settings: SendSettings | None  # None for a dry run, which needs no API key
    started: bool  # an earlier run already froze the recipients
    changed: bool  # the campaign file changed since that run started
    ledger: dict[str, int]  # recipients per ledger state so far
    segment_size: int  # subscribed people the segment selects now (first run)

    @property
    def compiled(self) -> CompiledCampaign:
        return self.prepared.compiled

    @property
    def campaign_id(self) -> int:
        return self.prepared.campaign_id

    def to_send(self, retry_unknown: bool, limit: int | None = None) -> int:
        """How many recipients this run would send to (before skipping the unsubscribed)."""
        if not self.started:
            count = self.segment_size
        else:
            count = self.ledger[DeliveryState.PENDING]
            if retry_unknown:
                count += self.ledger[DeliveryState.UNKNOWN] + self.ledger[DeliveryState.IN_FLIGHT]
        return count if limit is None else min(count, limit)


def plan_send(
    db: Database,
    config: Config,
    campaigns_dir: Path,
    templates_dir: Path,
    slug: str,
    *,
    dry_run: bool = False,
    rate: float | None = None,
    env: Mapping[str, str] | None = None,
) -> SendPlan:
    """Every check a send needs, before anything is frozen or sent.

    Raises NotFoundError (no such campaign), ConfigError (a missing setting or
    SENDGRID_API_KEY) or CampaignError (the campaign does not pass the check).
    """
    campaign = campaigns.find_campaign(campaigns_dir, slug)
    site = site_settings(config)
    secret = config.require("secret")
    base_url = check_base_url(config.get("base_url"))
    settings = None if dry_run else SendSettings.from_config(config, env=env, rate=rate)
    compiled = check_campaign(campaign, site, templates_dir)
    if not compiled.from_email:
        raise ConfigError(
            f"from_email is not set: add it to alerts.toml or to {campaign.path}'s front matter"
        )
    prepared = prepare_campaign(db, compiled, secret=secret, base_url=base_url)
    record = campaigns_db.campaign_record_by_id(db, prepared.campaign_id)
    started = bool(record and record.send_started_at)
    segment_size = 0
    if not started:
        segment_size = segments_db.segment_count(
            db, campaign.segment, exclude_campaign_id=prepared.campaign_id
        )
    return SendPlan(
        campaign=campaign,
        prepared=prepared,
        settings=settings,
        started=started,
        changed=started and record is not None and record.source_sha256 != compiled.source_sha256,
        ledger=ledger_db.ledger_counts(db, prepared.campaign_id),
        segment_size=segment_size,
    )


class MessageBodies:
    """Builds the mail/send body for a batch from the campaign compiled once.

    Message-level subject, text and HTML with placeholders; per recipient, the
    substitutions (pipeline.recipient_values) and the List-Unsubscribe headers.
    The engine adds custom_args and tracking_settings.
    """

    def __init__(
        self,
        prepared: PreparedCampaign,
        targets_of: TargetsOf,
        *,
        subject_prefix: str = "",
        extra_categories: tuple[str, ...] = (),
    ):
        self.prepared = prepared
        self.targets_of = targets_of
        compiled = prepared.compiled
        self.subject = subject_prefix + compiled.subject
        self.categories = [compiled.slug, str(compiled.kind), *extra_categories]

    def __call__(self, batch: list[Subscriber]) -> dict[str, Any]:
        compiled = self.prepared.compiled
        found = self.targets_of(batch)
        items = [self.personalization(person, found.get(person.id or 0)) for person in batch]
        return send.message_body(
            from_email=compiled.from_email or "",
            from_name=compiled.from_name,
            reply_to=compiled.reply_to,
            subject=self.subject,
            html=compiled.html,
            text=compiled.text,
            personalizations=items,
            categories=self.categories,
        )

    def personalization(self, person: Subscriber, found: Targets | None) -> dict[str, Any]:
        values = recipient_values(self.prepared, person, found)
        item = send.personalization(person, substitutions=values)
        unsubscribe = values.get(render.UNSUBSCRIBE_TEXT_KEY)  # saves signing a token again
        if unsubscribe is None:
            item["headers"] = recipient_headers(self.prepared, person.id or 0)
        else:
            item["headers"] = {
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": render.ONE_CLICK,
            }
        return item


def _targets_reader(db: Database, prepared: PreparedCampaign) -> TargetsOf:
    """Each batch's targets in one go, or none when the campaign names no representative."""
    if not any(name.startswith("rep_") for _, name, _ in prepared.plan):
        return lambda batch: {}
    return lambda batch: targets.targets_for_many(db, [p.id or 0 for p in batch])


def run_send(
    db: Database,
    plan: SendPlan,
    *,
    retry_unknown: bool = False,
    limit: int | None = None,
    progress: send.Progress | None = None,
) -> SendSummary:
    """Freeze the recipients (first run only), then send to the pending ones.

    Raises SendError (with `.summary`) when the run has to stop and
    SendInterrupted on Ctrl-C; either way a rerun continues where it stopped.
    """
    if plan.settings is None:
        raise ConfigError(f"{send.API_KEY_ENV} is not set: export your SendGrid API key first")
    campaign_id = plan.campaign_id
    if not plan.started:
        ledger_db.ledger_freeze_segment(db, campaign_id, plan.campaign.segment)
    set_durable(db)  # a claim must survive power loss too, not only a crash
    bodies = MessageBodies(plan.prepared, _targets_reader(db, plan.prepared))
    before, started = _ledger_snapshot(db, campaign_id), time.monotonic()
    try:
        return send.send_campaign(
            db,
            campaign_id,
            bodies,
            plan.settings,
            retry_unknown=retry_unknown,
            limit=limit,
            progress=progress,
        )
    except KeyboardInterrupt:
        summary = _summary_since(db, campaign_id, before, time.monotonic() - started)
        raise SendInterrupted(
            f"interrupted: {summary.sent:,} sent before it stopped; "
            f"run `alerts send {plan.compiled.slug}` again to continue",
            summary,
        ) from None
    finally:
        ledger_db.campaign_send_finished(db, campaign_id)


def _ledger_snapshot(db: Database, campaign_id: int) -> dict[str, int]:
    """Recipients per state, and how many of the sent were confirmed by SendGrid's events."""
    counts = dict(ledger_db.ledger_counts(db, campaign_id))
    reasons = dict(ledger_db.ledger_reasons(db, campaign_id, DeliveryState.SENT))
    counts[CONFIRMED] = reasons.get(ledger_db.CONFIRMED_BY_EVENT, 0)
    return counts


def _summary_since(
    db: Database, campaign_id: int, before: Mapping[str, int], seconds: float
) -> SendSummary:
    """This run's figures from the ledger, for a run that ended without its own summary."""
    after = _ledger_snapshot(db, campaign_id)

    def grown(state: str) -> int:
        return max(0, after[state] - before[state])

    return SendSummary(
        sent=max(0, grown(DeliveryState.SENT) - grown(CONFIRMED)),
        failed=grown(DeliveryState.FAILED),
        unknown=after[DeliveryState.UNKNOWN],
        skipped=grown(DeliveryState.SKIPPED),
        seconds=seconds,
    )


# --------------------------------------------------------------------------
# Dry runs and test sends: the same bodies, no HTTP call, no ledger


@dataclass
class DryRun:
    summary: SendSummary
    messages: int  # personalised messages rendered (and written, with an outbox)
    outbox: Path | str | None


def dry_run(
    db: Database,
    plan: SendPlan,
    *,
    outbox_path: Path | str | None = None,
    retry_unknown: bool = False,
    limit: int | None = None,
    progress: send.Progress | None = None,
) -> DryRun:
    """Everything a send does but the HTTP call, touching neither the ledger nor send_runs.

    Each message is made from the very substitutions the request body would
    carry (render.personalise does what SendGrid's substitution does) and, with
    `outbox_path`, written as an RFC 5322 message (see alerts.outbox).
    """
    started = time.monotonic()
    summary = SendSummary(unknown=plan.ledger[DeliveryState.UNKNOWN])
    candidates = _dry_run_candidates(db, plan, retry_unknown)
    total = len(candidates) if limit is None else min(len(candidates), limit)
    bodies = MessageBodies(plan.prepared, _targets_reader(db, plan.prepared))
    box = outbox.Outbox(outbox_path, plan.compiled.slug) if outbox_path else None
    messages = 0
    with box or contextlib.nullcontext():
        for start in range(0, len(candidates), send.MAX_BATCH):
            if messages >= total:
                break
            chunk = candidates[start : start + send.MAX_BATCH]
            people = [p for p in subscribers_db.subscribers_by_ids(db, chunk) if _sendable(p)]
            summary.skipped += len(chunk) - len(people)
            people = people[: total - messages]
            if people:
                _render_batch(plan, bodies(people), people, box)
            messages += len(people)
            if progress:
                progress(messages, total)
    summary.seconds = time.monotonic() - started
    return DryRun(summary, messages, outbox_path if box else None)


def _dry_run_candidates(db: Database, plan: SendPlan, retry_unknown: bool) -> list[int]:
    """The recipients a real run would claim now, in the order it would claim them."""
    if not plan.started:
        return segments_db.segment_subscriber_ids(
            db, plan.campaign.segment, exclude_campaign_id=plan.campaign_id
        )
    states = [DeliveryState.PENDING]
    if retry_unknown:
        states += [DeliveryState.UNKNOWN, DeliveryState.IN_FLIGHT]
    return ledger_db.ledger_ids(db, plan.campaign_id, states)


def _sendable(person: Subscriber) -> bool:
    return person.status == "subscribed" and bool(person.email)


def _render_batch(
    plan: SendPlan, body: dict[str, Any], people: list[Subscriber], box: outbox.Outbox | None
) -> None:
    compiled = plan.compiled
    sender = outbox.Mailbox(compiled.from_email or "", compiled.from_name)
    date = outbox.message_date()
    for person, item in zip(people, body["personalizations"], strict=True):
        message = render.personalise(compiled, item.get("substitutions") or {})
        if box is None:
            continue
        message = dataclasses.replace(message, headers=item["headers"])
        recipient = outbox.Mailbox(str(person.email), item["to"][0].get("name"))
        mail = outbox.email_message(
            message, sender=sender, recipient=recipient, reply_to=compiled.reply_to, date=date
        )
        box.add(mail, person.id or 0)


def send_test(plan: SendPlan, addresses: Iterable[str]) -> tuple[str, list[str]]:
    """Send the message as rendered for the sample subscriber to each address.

    "[TEST] " before the subject; no custom_args, so SendGrid's events for it
    never count towards the campaign; the ledger is not touched. Returns
    SendGrid's X-Message-Id and the addresses (normalised, each once).
    """
    if plan.settings is None:
        raise ConfigError(f"{send.API_KEY_ENV} is not set: export your SendGrid API key first")
    unique: dict[str, str] = {}  # SendGrid refuses an address twice in one request
    for address in addresses:
        valid = campaigns.valid_address(address, "--test")
        unique.setdefault(valid.lower(), valid)
    people = [dataclasses.replace(SAMPLE_SUBSCRIBER, email=a) for a in unique.values()]
    sample = sample_targets()
    bodies = MessageBodies(
        plan.prepared,
        lambda batch: {SAMPLE_SUBSCRIBER.id or 0: sample},
        subject_prefix=TEST_SUBJECT_PREFIX,
        extra_categories=(TEST_CATEGORY,),
    )
    return send.send_message(plan.settings, bodies(people)), list(unique.values())


# --------------------------------------------------------------------------
# A campaign's send ledger, for `alerts campaigns status`


@dataclass(frozen=True)
class SendStatus:
    slug: str
    status: str  # draft, sending or sent
    started_at: str | None
    finished_at: str | None
    counts: dict[str, int]  # recipients per ledger state
    failures: list[tuple[str, int]]  # (SendGrid's reason, recipients), most frequent first
    runs: list[dict[str, Any]]
    listed: list[tuple[int, str | None, str | None]]  # (id, email, reason) when asked

    def as_dict(self, *, listed_state: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "slug": self.slug,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "counts": self.counts,
            "failures": [{"reason": r, "count": n} for r, n in self.failures],
            "runs": len(self.runs),
        }
        if listed_state:
            data[listed_state] = [
                {"id": sid, "email": email, "reason": reason} for sid, email, reason in self.listed
            ]
        return data


def send_status(
    db: Database, campaigns_dir: Path, slug: str, *, list_state: str | None = None
) -> SendStatus:
    """The ledger counts, failure reasons and runs of a campaign (a draft has none)."""
    record = campaigns_db.campaign_record(db, slug)
    if record is None:
        campaigns.find_campaign(campaigns_dir, slug)  # NotFoundError when there is no file either
        empty = {state.value: 0 for state in DeliveryState}
        return SendStatus(slug, "draft", None, None, empty, [], [], [])
    listed = ledger_db.ledger_recipients(db, record.id, list_state) if list_state else []
    return SendStatus(
        slug=slug,
        status=record.status,
        started_at=record.send_started_at,
        finished_at=record.send_finished_at,
        counts=ledger_db.ledger_counts(db, record.id),
        failures=ledger_db.ledger_reasons(db, record.id, DeliveryState.FAILED),
        runs=ledger_db.send_run_history(db, record.id),
        listed=listed,
    )
