"""Composition of a send: from a campaign file to each recipient's message, sent and recorded.

    campaign = campaigns.find_campaign(campaigns_dir, slug)
    compiled = compile_campaign(campaign, site_settings(config), templates_dir)
    prepared = prepare_campaign(db, compiled, secret=..., base_url=...)
    for each recipient:
        values = recipient_values(prepared, subscriber, targets)   # the provider's substitutions
        message = personalise(compiled, values)                     # the same, done locally

MJML and premailer run once, in compile_campaign (email/compile.py); each
recipient's message is substitution only (email/personalise.py). The sender
hands the provider `compiled.subject`, `compiled.text` and `compiled.html`
as message-level content and each recipient's `values` as substitutions.

Sending a campaign (`alerts send`):

    plan = plan_send(db, config, campaigns_dir, templates_dir, slug)   # every check
    frozen = freeze_recipients(db, plan)       # the list (or a top-up), before anyone is asked
    summary = run_send(db, frozen.plan, limit=..., progress=...)   # exactly that list
    unfreeze_recipients(db, frozen)            # or: nobody confirmed, the freeze is undone
    dry_run(db, plan, outbox_path=...)                       # no HTTP, no ledger
    send_test(plan, ["me@example.org"])                      # the sample, "[TEST] "
    send_status(db, campaigns_dir, slug)                     # `alerts campaigns status`

Previews and checks (`alerts campaigns preview`, `alerts campaigns check`)
render for a real subscriber or the sample one below.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alerts.bills import frozen as frozen_stances
from alerts.campaigns import files as campaigns
from alerts.campaigns.segments import uses_member_stance
from alerts.config import Config, ConfigError
from alerts.db import Database, is_busy, set_durable
from alerts.db import campaigns as campaigns_db
from alerts.db import ledger as ledger_db
from alerts.db import roster as roster_db
from alerts.db import segments as segments_db
from alerts.db import subscribers as subscribers_db
from alerts.delivery import engine, providers
from alerts.delivery.provider import Batch, Content, DeliveryProvider, Recipient, SendSettings
from alerts.email import compile as compiler
from alerts.email import letter_text, links, outbox
from alerts.email.links import token_key
from alerts.email.personalise import (
    NAME_LIMIT,
    NO_STANCE_TEXTS,
    STANCE_TEXT_LIMIT,
    UNSUBSCRIBE_TEXT_KEY,
    PlaceholderKey,
    PreparedCampaign,
    campaign_headers,
    personalise,
    recipient_headers,
    recipient_values,
    stored_id,
)
from alerts.email.stance_text import check_stance_text, render_stance_texts
from alerts.errors import CampaignError, SendError, SendInterrupted
from alerts.models import (
    HTML_CONTEXT,
    SAMPLE_SUBSCRIBER_ID,
    Campaign,
    CampaignKind,
    Chamber,
    CompiledCampaign,
    Confidence,
    DeliveryState,
    Member,
    SendSummary,
    SiteSettings,
    Stance,
    Subscriber,
    Targets,
    readable_placeholders,
)
from alerts.subscribers import lifecycle, listing
from alerts.targets import freshness
from alerts.targets import lookup as targets

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
    return links.track_links(compiler.compile_campaign(campaign, site, templates_dir))


def check_campaign(campaign: Campaign, site: SiteSettings, templates_dir: Path) -> CompiledCampaign:
    """Everything `alerts campaigns check` verifies; raises CampaignError with every problem."""
    problems: list[str] = []
    compiled = None
    try:
        compiled = compile_campaign(campaign, site, templates_dir)
    except CampaignError as exc:
        problems.extend(exc.problems)
    problems.extend(campaigns.letter_campaign_problems(campaign))
    if campaign.kind is CampaignKind.ACTION:
        samples = [SAMPLE_REPRESENTATIVE, *SAMPLE_SENATORS]
        if campaign.letter is not None:  # a follow-up opens another campaign's letter
            problems.extend(letter_text.check_letter(campaign, SAMPLE_SUBSCRIBER, samples))
        problems.extend(check_stance_text(campaign, samples))
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
# Preparing a send: the campaign and its links registered, the signing key


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
    """Register the campaign and its links (idempotent): ready to personalise."""
    base = check_base_url(base_url)
    substitution_bytes_limit(compiled, base)
    # The stored subject is for lists and reports: placeholders read as {first_name}.
    subject = readable_placeholders(compiled.subject)
    campaign_id = campaigns_db.register_campaign(
        db, compiled.slug, str(compiled.kind), subject, compiled.source_sha256
    )
    link_ids = campaigns_db.register_links(db, campaign_id, compiled.links)
    return PreparedCampaign(compiled, campaign_id, tuple(link_ids), token_key(secret), base)


def _worst_value_bytes(name: str, context: str, base_url: str) -> int:
    if name.startswith("link.") or name.endswith("_url"):
        return len(base_url) + 8 + TOKEN_ALLOWANCE
    if name.endswith("stance_text"):  # the senators' is two sentences and a space
        sentences = 2 if name.startswith("sen_") else 1
        chars = (STANCE_TEXT_LIMIT + 1) * sentences
        return chars * (6 if context == HTML_CONTEXT else 4)
    per_char = 6 if context == HTML_CONTEXT else 4  # &quot; in HTML; 4-byte UTF-8 in text
    return NAME_LIMIT * per_char


def substitution_bytes_limit(compiled: CompiledCampaign, base_url: str) -> int:
    """The most substitution bytes a recipient can need; fails over the provider's limit."""
    total = 0
    for key in compiled.keys:
        slot = PlaceholderKey.parse(key)
        total += len(key.encode()) + _worst_value_bytes(slot.name, slot.context, base_url)
    limits = providers.batch_limits()
    most = limits.max_substitution_bytes
    if most is not None and total > most:
        raise CampaignError(
            f"{compiled.slug}: each message may need {total:,} bytes of substitutions, over "
            f"{limits.provider}'s {most:,}: use fewer links or per-recipient variables"
        )
    return total


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


@dataclass(frozen=True)
class PreviewRecipient:
    """Whom a preview is rendered for: a subscriber and their targets, or the sample."""

    subscriber: Subscriber
    targets: Targets
    is_sample: bool


def preview_recipient(db: Database, email: str | None) -> PreviewRecipient:
    """The subscriber with that email, else the sample (with that email, if given)."""
    if email:
        found = listing.find_subscriber(db, email)
        if found is not None and found.id is not None:
            return PreviewRecipient(found, targets.targets_for(db, found.id), False)
    sample = SAMPLE_SUBSCRIBER
    if email:
        sample = replace(sample, email=email)
    return PreviewRecipient(sample, sample_targets(), True)


# --------------------------------------------------------------------------
# Sending a campaign (issue 5): check, freeze, build each batch's request, send

TEST_SUBJECT_PREFIX = "[TEST] "
TEST_CATEGORY = "test-send"

CONFIRMED = "confirmed"  # snapshot key: sent rows confirmed by the provider's events
TargetsOf = Callable[[list[Subscriber]], Mapping[int, Targets]]


@dataclass(frozen=True)
class SendPlan:
    """A campaign checked, registered and ready to send: what the confirmation shows."""

    campaign: Campaign
    prepared: PreparedCampaign
    provider: DeliveryProvider
    settings: SendSettings | None  # None for a dry run, which needs no API key
    started: bool  # an earlier run already froze the recipients
    changed: bool  # the campaign file changed since that run started
    ledger: dict[str, int]  # recipients per ledger state so far
    segment_size: int  # subscribed people the segment selects now (first run)
    stale_targets: tuple[str, ...] = ()  # out-of-date targets the send was allowed to use

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
    allow_stale_targets: bool = False,
) -> SendPlan:
    """Every check a send needs, before anything is frozen or sent.

    Raises NotFoundError (no such campaign), ConfigError (a missing setting, or the
    provider's API key) or CampaignError (the campaign does not pass the check, or
    its letters would use out-of-date targets and `allow_stale_targets` is False).
    """
    campaign = campaigns.find_campaign(campaigns_dir, slug)
    site = site_settings(config)
    secret = config.require("secret")
    base_url = check_base_url(config.get("base_url"))
    provider = providers.provider_for(config, env)
    settings = None
    if not dry_run:
        provider.check_sending()
        settings = providers.send_settings(config, rate)
    compiled = check_campaign(campaign, site, templates_dir)
    if not compiled.from_email:
        raise ConfigError(
            f"from_email is not set: add it to alerts.toml or to {campaign.path}'s front matter"
        )
    stale = _allowed_stale_targets(db, campaign, allow_stale_targets)
    unknown = unknown_stances(db, campaign)
    if unknown:
        raise CampaignError(unknown[0])
    prepared = prepare_campaign(db, compiled, secret=secret, base_url=base_url)
    campaigns_db.record_deadline(db, prepared.campaign_id, campaign.deadline)
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
        provider=provider,
        settings=settings,
        started=started,
        changed=started and record is not None and record.source_sha256 != compiled.source_sha256,
        ledger=ledger_db.ledger_counts(db, prepared.campaign_id),
        segment_size=segment_size,
        stale_targets=stale,
    )


def stale_targets(db: Database, campaign: Campaign) -> freshness.Staleness | None:
    """What is out of date among the members and maps an action alert's letters would use.

    The letters are its own, or for a follow-up those of the campaign it opens (their
    chambers), written by the follow-up's recipients. None for an update, or when
    everything they use is current.
    """
    holder = campaigns.letter_holder(campaign)
    letter = holder.letter if holder is not None else None
    if letter is None:
        return None
    record = campaigns_db.campaign_record(db, campaign.slug)
    found = freshness.campaign_staleness(
        db,
        campaign.segment,
        letter.to,
        exclude_campaign_id=record.id if record else None,
    )
    return found if found.refuses else None


def unknown_stances(db: Database, campaign: Campaign) -> list[str]:
    """Why `alerts send` refuses the campaign until its bill was fetched: [] when it need not.

    A campaign whose texts differ by stance (letter variants, stance_text), or whose
    segment picks members by stance, needs to know where each member stands.
    """
    why = frozen_stances.unfetched_bill(db, campaign)
    if why is None:
        return []
    found = []
    if campaign.stance_text or (campaign.letter is not None and campaign.letter.variants):
        found.append(f"{campaign.path}: its letter variants and stance_text: {why}")
    if uses_member_stance(campaign.segment):
        found.append(f"{campaign.path}: segment: member_stance: {why}")
    return found


def stance_texts(
    db: Database, campaign: Campaign, campaign_id: int | None, *extra: Member
) -> Mapping[str, str]:
    """Each member's stance_text sentence (the roster's and `extra`), by the send's stances."""
    if not campaign.stance_text:
        return NO_STANCE_TEXTS
    stances = frozen_stances.send_stances(db, campaign, campaign_id)
    members = [*extra, *roster_db.roster_members(db)]
    return render_stance_texts(campaign, members, stances.of)


def _with_stance_texts(db: Database, plan: SendPlan, *extra: Member) -> PreparedCampaign:
    """The plan's prepared campaign, holding the sentences its recipients' members get."""
    texts = stance_texts(db, plan.campaign, plan.campaign_id, *extra)
    return replace(plan.prepared, stance_texts=texts) if texts else plan.prepared


def _allowed_stale_targets(db: Database, campaign: Campaign, allowed: bool) -> tuple[str, ...]:
    found = stale_targets(db, campaign)
    if found is None:
        return ()
    if not allowed:
        raise CampaignError(
            f"{campaign.path}: {found.refusal()}; `alerts send --allow-stale-targets` sends anyway"
        )
    return tuple(found.refusing())


class CampaignMessages:
    """Builds a batch's messages from the campaign compiled once.

    Shared by every message: the subject, text and HTML with placeholders; per
    recipient, the substitutions (recipient_values) and the List-Unsubscribe
    headers. The engine tags the batch with the campaign.
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
        self.content = Content(
            from_email=compiled.from_email or "",
            subject=subject_prefix + compiled.subject,
            html=compiled.html,
            text=compiled.text,
            from_name=compiled.from_name,
            reply_to=compiled.reply_to,
            categories=(compiled.slug, str(compiled.kind), *extra_categories),
        )

    def __call__(self, batch: list[Subscriber]) -> Batch:
        found = self.targets_of(batch)
        recipients = (self.recipient(person, found.get(stored_id(person))) for person in batch)
        return Batch(self.content, tuple(recipients))

    def recipient(self, person: Subscriber, found: Targets | None) -> Recipient:
        values = recipient_values(self.prepared, person, found)
        unsubscribe = values.get(UNSUBSCRIBE_TEXT_KEY)  # saves signing a token again
        if unsubscribe is None:
            headers = recipient_headers(self.prepared, stored_id(person))
        else:
            headers = campaign_headers(self.prepared.compiled, unsubscribe)
        return Recipient.of(person, values, headers)


def _targets_reader(db: Database, prepared: PreparedCampaign) -> TargetsOf:
    """Each batch's targets in one go, or none when the campaign names no representative."""
    if not prepared.names_representative:
        return lambda batch: {}
    return lambda batch: targets.targets_for_many(db, [stored_id(p) for p in batch])


@dataclass(frozen=True)
class FrozenRecipients:
    """A run's recipients, frozen into the ledger before anyone is asked to confirm them.

    The run sends to the ledger's pending recipients and nobody else: people who
    join the segment after the freeze wait for the next run's top-up.
    """

    plan: SendPlan  # as it stands after the freeze: started, with the ledger's counts
    added: tuple[int, ...]  # frozen by this run: every recipient on a first run, else a top-up
    first_run: bool  # this run started the send
    earlier: int  # frozen by earlier runs and still to send (pending; unknown when retried)

    @property
    def top_up(self) -> int:
        """People who joined the segment since the send started, frozen by this run."""
        return 0 if self.first_run else len(self.added)


def freeze_recipients(
    db: Database, plan: SendPlan, *, retry_unknown: bool = False
) -> FrozenRecipients:
    """Freeze the segment's subscribed people now: the whole list, or the top-up of a rerun."""
    earlier = plan.to_send(retry_unknown) if plan.started else 0
    stances = frozen_stances.stance_freeze(db, plan.campaign)
    added = ledger_db.ledger_freeze(db, plan.campaign_id, plan.campaign.segment, stances=stances)
    after = replace(plan, started=True, ledger=ledger_db.ledger_counts(db, plan.campaign_id))
    return FrozenRecipients(after, tuple(added), first_run=not plan.started, earlier=earlier)


def unfreeze_recipients(db: Database, frozen: FrozenRecipients) -> None:
    """Undo a freeze nobody confirmed; a send that had not started is a draft again."""
    ledger_db.ledger_unfreeze(db, frozen.plan.campaign_id, frozen.added)


def run_send(
    db: Database,
    plan: SendPlan,
    *,
    retry_unknown: bool = False,
    limit: int | None = None,
    progress: engine.Progress | None = None,
) -> SendSummary:
    """Send to the pending recipients, freezing them first if no run has yet.

    A caller that asks for confirmation freezes first (freeze_recipients) and
    passes the plan it returns, so the run sends to exactly the list it showed.

    Raises SendError (with `.summary`) when the run has to stop and
    SendInterrupted on Ctrl-C; either way a rerun continues where it stopped.
    """
    settings = _send_settings(plan)
    campaign_id = plan.campaign_id
    if not plan.started:
        stances = frozen_stances.stance_freeze(db, plan.campaign)
        ledger_db.ledger_freeze_segment(db, campaign_id, plan.campaign.segment, stances=stances)
    set_durable(db)  # a claim must survive power loss too, not only a crash
    prepared = _with_stance_texts(db, plan)
    messages = CampaignMessages(prepared, _targets_reader(db, prepared))
    before, started = _ledger_snapshot(db, campaign_id), time.monotonic()
    try:
        return engine.send_campaign(
            db,
            campaign_id,
            messages,
            plan.provider,
            settings,
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
    except Exception as exc:
        if not is_busy(exc):
            raise
        summary = _summary_since(db, campaign_id, before, time.monotonic() - started)
        raise _stopped(
            f"database is busy ({exc}): {summary.sent:,} sent before it stopped; "
            f"run `alerts send {plan.compiled.slug}` again to continue",
            summary,
        ) from None
    finally:
        _record_finish(db, campaign_id)


def _stopped(message: str, summary: SendSummary) -> SendError:
    """The error of a run that had to stop, carrying what it did."""
    error = SendError(message)
    error.summary = summary
    return error


def _record_finish(db: Database, campaign_id: int) -> None:
    """Mark the send finished if nobody is left; a busy database leaves that to the next run."""
    try:
        ledger_db.campaign_send_finished(db, campaign_id)
    except Exception as exc:
        if not is_busy(exc):
            raise


def _send_settings(plan: SendPlan) -> SendSettings:
    if plan.settings is None:
        raise ConfigError("this send was planned as a dry run: plan it again to send")
    return plan.settings


def _ledger_snapshot(db: Database, campaign_id: int) -> dict[str, int]:
    """Recipients per state, and how many of the sent were confirmed by the provider's events."""
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
class DryRunResult:
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
    progress: engine.Progress | None = None,
) -> DryRunResult:
    """Everything a send does but the HTTP call, touching neither the ledger nor send_runs.

    Each message is made from the very substitutions the request body would
    carry (personalise does what the provider's substitution does) and, with
    `outbox_path`, written as an RFC 5322 message (see alerts.outbox).
    """
    started = time.monotonic()
    summary = SendSummary(unknown=plan.ledger[DeliveryState.UNKNOWN])
    candidates = _dry_run_candidates(db, plan, retry_unknown)
    total = len(candidates) if limit is None else min(len(candidates), limit)
    prepared = _with_stance_texts(db, plan)
    build = CampaignMessages(prepared, _targets_reader(db, prepared))
    box = outbox.Outbox(outbox_path, plan.compiled.slug) if outbox_path else None
    size = plan.provider.limits.max_recipients
    messages = 0
    with box or contextlib.nullcontext():
        for start in range(0, len(candidates), size):
            if messages >= total:
                break
            chunk = candidates[start : start + size]
            people = [
                p for p in subscribers_db.subscribers_by_ids(db, chunk) if lifecycle.is_sendable(p)
            ]
            people, _unsupported = engine.split_unsupported(people, plan.provider.limits)
            summary.skipped += len(chunk) - len(people)
            people = people[: total - messages]
            if people:
                _render_batch(plan, build(people), box)
            messages += len(people)
            if progress:
                progress(messages, total)
    summary.seconds = time.monotonic() - started
    return DryRunResult(summary, messages, outbox_path if box else None)


def _dry_run_candidates(db: Database, plan: SendPlan, retry_unknown: bool) -> list[int]:
    """The recipients a real run would claim now, in the order it would claim them.

    After the first run, that is the ledger's pending recipients and the top-up:
    the people the segment selects now who are not in the ledger yet.
    """
    segment = segments_db.segment_subscriber_ids(
        db, plan.campaign.segment, exclude_campaign_id=plan.campaign_id
    )
    if not plan.started:
        return segment
    states = [DeliveryState.PENDING]
    if retry_unknown:
        states += [DeliveryState.UNKNOWN, DeliveryState.IN_FLIGHT]
    in_ledger = set(ledger_db.ledger_ids(db, plan.campaign_id, list(DeliveryState)))
    top_up = [i for i in segment if i not in in_ledger]
    return sorted(ledger_db.ledger_ids(db, plan.campaign_id, states) + top_up)


def _render_batch(plan: SendPlan, batch: Batch, box: outbox.Outbox | None) -> None:
    compiled = plan.compiled
    sender = outbox.Mailbox(compiled.from_email or "", compiled.from_name)
    date = outbox.message_date()
    for recipient in batch.recipients:
        message = personalise(compiled, recipient.substitutions)
        if box is None:
            continue
        message = dataclasses.replace(message, headers=dict(recipient.headers))
        mail = outbox.email_message(
            message,
            sender=sender,
            recipient=outbox.Mailbox(recipient.email, recipient.name),
            reply_to=compiled.reply_to,
            date=date,
        )
        box.add(mail, recipient.subscriber_id)


def send_test(plan: SendPlan, addresses: Iterable[str]) -> tuple[str, list[str]]:
    """Send the message as rendered for the sample subscriber to each address.

    "[TEST] " before the subject; not tagged with the campaign, so the provider's
    events for it never count towards it; the ledger is not touched. Returns the
    provider's message id and the addresses (normalised, each once).
    """
    settings = _send_settings(plan)
    unique: dict[str, str] = {}  # one message per address
    for address in addresses:
        valid = campaigns.valid_address(address, "--test")
        unique.setdefault(valid.lower(), valid)
    people = [dataclasses.replace(SAMPLE_SUBSCRIBER, email=a) for a in unique.values()]
    sample = sample_targets()
    texts = render_stance_texts(plan.campaign, [SAMPLE_REPRESENTATIVE], lambda _: Stance.UNKNOWN)
    build = CampaignMessages(
        replace(plan.prepared, stance_texts=texts),
        lambda batch: {SAMPLE_SUBSCRIBER_ID: sample},
        subject_prefix=TEST_SUBJECT_PREFIX,
        extra_categories=(TEST_CATEGORY,),
    )
    message_id = engine.send_message(plan.provider, settings, build(people))
    return message_id, list(unique.values())


# --------------------------------------------------------------------------
# A campaign's send ledger, for `alerts campaigns status`


@dataclass(frozen=True)
class SendStatus:
    slug: str
    status: str  # draft, sending or sent
    started_at: str | None
    finished_at: str | None
    counts: dict[str, int]  # recipients per ledger state
    failures: list[tuple[str, int]]  # (the provider's reason, recipients), most frequent first
    runs: list[dict[str, Any]]
    listed: list[ledger_db.LedgerRecipient]  # the recipients in the state asked for, if any
    skips: list[tuple[str, int]] = dataclasses.field(default_factory=list)  # (reason, recipients)

    def skipped_for(self, reason: str) -> int:
        return sum(n for skip, n in self.skips if skip == reason)

    def as_dict(self, *, listed_state: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "slug": self.slug,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "counts": self.counts,
            "failures": [{"reason": r, "count": n} for r, n in self.failures],
            "skips": [{"reason": r, "count": n} for r, n in self.skips],
            "runs": len(self.runs),
        }
        if listed_state:
            data[listed_state] = [
                {"id": r.subscriber_id, "email": r.email, "reason": r.reason} for r in self.listed
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
        skips=ledger_db.ledger_reasons(db, record.id, DeliveryState.SKIPPED),
    )
