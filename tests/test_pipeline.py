"""Composition: registering a campaign, substitution maps, headers, samples."""

from __future__ import annotations

import pytest

from alerts import pipeline
from alerts.campaigns import files as campaigns
from alerts.config import Config, ConfigError, bundled_dir
from alerts.db import campaigns as campaigns_db
from alerts.delivery import providers
from alerts.email import personalise
from alerts.errors import CampaignError
from alerts.models import SiteSettings, Subscriber
from alerts.subscribers.normalise import email_key

TEMPLATES = bundled_dir("templates")
SITE = SiteSettings("Org", "1 Street, Town, ST 00000")
BASE = "https://act.example.org"


def compiled_example(slug: str = "end-qualified-immunity-act"):
    campaign = campaigns.find_campaign(bundled_dir("campaigns"), slug)
    return pipeline.compile_campaign(campaign, SITE, TEMPLATES)


def test_prepare_registers_campaign_and_links_idempotently(db):
    compiled = compiled_example()
    first = pipeline.prepare_campaign(db, compiled, secret="s", base_url=BASE)
    again = pipeline.prepare_campaign(db, compiled, secret="s", base_url=BASE + "/")
    assert (first.campaign_id, first.link_ids) == (again.campaign_id, again.link_ids)
    assert again.base_url == BASE
    record = campaigns_db.campaign_record(db, compiled.slug)
    assert record is not None and record.kind == "action" and record.status == "draft"
    assert record.source_sha256 == compiled.source_sha256
    assert campaigns_db.campaign_record_by_id(db, first.campaign_id) == record
    rows = db.execute("SELECT id, url FROM links ORDER BY id").fetchall()
    assert [(i, u) for i, u in rows] == list(zip(first.link_ids, compiled.links, strict=True))


def test_register_links_keeps_order_and_adds_new_ones(db):
    cid = campaigns_db.register_campaign(db, "c", "update", "S", "x")
    assert campaigns_db.register_campaign(db, "c", "update", "S2", "y") == cid
    ids = campaigns_db.register_links(db, cid, ["https://b.example", "https://a.example"])
    more = campaigns_db.register_links(
        db, cid, ["https://a.example", "https://c.example", "https://b.example"]
    )
    assert more[0] == ids[1] and more[2] == ids[0] and more[1] not in ids


def test_a_sent_campaign_row_is_not_rewritten(db):
    cid = campaigns_db.register_campaign(db, "c", "update", "Old subject", "x")
    db.execute("UPDATE campaigns SET send_started_at = '2025-01-01T00:00:00Z' WHERE id = ?", [cid])
    assert campaigns_db.register_campaign(db, "c", "update", "New subject", "y") == cid
    record = campaigns_db.campaign_record(db, "c")
    assert record is not None and record.subject == "Old subject" and record.status == "sending"


@pytest.mark.parametrize(
    ("base_url", "ok"),
    [
        ("https://act.example.org", True),
        ("https://act.example.org/path/", True),
        ("http://127.0.0.1:8000", True),
        ("http://act.example.org", False),
        ("ftp://act.example.org", False),
        ("https://act.example.org/?x=1", False),
        ("", False),
        (None, False),
    ],
)
def test_base_url_must_be_https(base_url, ok):
    if ok:
        assert pipeline.check_base_url(base_url) == base_url.rstrip("/")
    else:
        with pytest.raises(ConfigError, match="base_url"):
            pipeline.check_base_url(base_url)


def test_values_cover_every_key_and_headers_agree(db):
    prepared = pipeline.prepare_campaign(db, compiled_example(), secret="s", base_url=BASE)
    subscriber = Subscriber(id=5, email="a@example.org", first_name="Ana")
    values = personalise.recipient_values(prepared, subscriber, pipeline.sample_targets())
    assert set(values) == set(prepared.compiled.keys)
    assert values["-ALRT.rep_full_name.t-"] == "Jordan Sample"
    message = personalise.personalise(prepared.compiled, values)
    assert message.headers == personalise.recipient_headers(prepared, 5)
    assert message.headers["List-Unsubscribe"] == f"<{values['-ALRT.unsubscribe_url.t-']}>"


def test_huge_names_are_cut_and_fit_sendgrid_limits(db):
    prepared = pipeline.prepare_campaign(db, compiled_example(), secret="s", base_url=BASE)
    subscriber = Subscriber(
        id=5, email="a@example.org", first_name='"' * 5000, last_name="é" * 5000
    )
    values = personalise.recipient_values(prepared, subscriber, None)
    assert values["-ALRT.first_name.h-"] == "&quot;" * personalise.NAME_LIMIT
    size = sum(len(k.encode()) + len(v.encode()) for k, v in values.items())
    assert size <= pipeline.substitution_bytes_limit(prepared.compiled, BASE)
    assert size <= providers.batch_limits().max_substitution_bytes


def test_too_many_links_for_sendgrid_is_refused(db, tmp_path):
    body = "\n\n".join(f"[link {i}](https://example.org/{i})" for i in range(120))
    path = tmp_path / "many-links.md"
    path.write_text(f"---\nsubject: S\nkind: update\n---\n{body}\n", encoding="utf-8")
    campaign = campaigns.load_campaign(path)
    with pytest.raises(CampaignError, match="bytes of substitutions, over SendGrid's 10,000"):
        pipeline.check_campaign(campaign, SITE, TEMPLATES)
    compiled = pipeline.compile_campaign(campaign, SITE, TEMPLATES)
    with pytest.raises(CampaignError, match="use fewer links"):
        pipeline.prepare_campaign(db, compiled, secret="s", base_url=BASE)


def test_site_settings_require_name_and_address(tmp_path):
    config = Config.load(tmp_path / "none.toml", env={"ALERTS_ORG_NAME": "Org"})
    with pytest.raises(ConfigError, match="postal_address is not set"):
        pipeline.site_settings(config)
    config = Config.load(
        tmp_path / "none.toml", env={"ALERTS_ORG_NAME": "Org", "ALERTS_POSTAL_ADDRESS": "1 St"}
    )
    assert pipeline.site_settings(config) == SiteSettings("Org", "1 St")


def test_preview_recipient_uses_the_subscriber_or_a_sample(db):
    sid = (
        db["subscribers"]
        .insert(
            {
                "email": "real@example.org",
                "email_key": email_key("real@example.org"),
                "first_name": "Real",
                "created_at": "x",
                "updated_at": "x",
            }
        )
        .last_pk
    )
    real = pipeline.preview_recipient(db, "REAL@example.org")
    assert (real.subscriber.id, real.subscriber.first_name, real.is_sample) == (sid, "Real", False)
    assert real.targets.representative is None  # no district known
    nobody = pipeline.preview_recipient(db, "nobody@example.org")
    assert nobody.is_sample and nobody.subscriber.email == "nobody@example.org"
    assert nobody.targets.representative == pipeline.SAMPLE_REPRESENTATIVE
    assert pipeline.preview_recipient(db, None).subscriber == pipeline.SAMPLE_SUBSCRIBER
