"""Compiling campaigns once and personalising them per recipient; letters."""

from __future__ import annotations

import html
import re
import shutil
import textwrap
from pathlib import Path

import lxml.html
import pytest

from alerts import pipeline
from alerts.campaigns import files as campaigns
from alerts.config import bundled_dir
from alerts.delivery import providers
from alerts.delivery.provider import Batch, Content
from alerts.delivery.providers.sendgrid import standin, wire
from alerts.email import compile as compiler
from alerts.email import letter_text, personalise
from alerts.email.letter_copy import render_letter_copy
from alerts.email.links import NO_TRACK
from alerts.errors import CampaignError
from alerts.models import (
    PLACEHOLDER_LABELS,
    PLACEHOLDER_RE,
    Campaign,
    CampaignKind,
    Confidence,
    Member,
    SiteSettings,
    Subscriber,
    Targets,
    labelled_placeholders,
)

TEMPLATES = bundled_dir("templates")
EXAMPLES = bundled_dir("campaigns")
SITE = SiteSettings(
    org_name="Citizens & Friends Against Qualified Immunity",
    postal_address="1 Test Street, Springfield, IL 62701",
    from_email="updates@example.org",
    from_name="End QI",
    reply_to="team@example.org",
    base_url="https://act.example.org",
)
BASE = "https://act.example.org"
HOSTILE = [
    "<script>alert(1)</script>",
    '"Quoted" O\'Brien & <b>Co</b>',
    "Zoë 🎉 Ñúñez",
    "Line\r\nBcc: victim@example.org",
]
REP = Member(
    bioguide="X000001",
    chamber="house",
    state="CA",
    district=12,
    title="Representative",
    full_name="Nancy <Example>",
    last_name="Example",
    twitter="RepExample",
)


def targets_with(rep: Member | None) -> Targets:
    return Targets(
        state="CA",
        confidence=Confidence.EXACT if rep else Confidence.UNKNOWN,
        house=[rep] if rep else [],
        district=rep.district if rep else None,
    )


def write_campaign(tmp_path: Path, text: str, name: str = "test-campaign") -> Campaign:
    path = tmp_path / f"{name}.md"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return campaigns.load_campaign(path)


def action_example() -> Campaign:
    return campaigns.find_campaign(EXAMPLES, "end-qualified-immunity-act")


def update_example() -> Campaign:
    return campaigns.find_campaign(EXAMPLES, "progress-report")


def prepared_for(db, campaign: Campaign, templates: Path = TEMPLATES):
    compiled = pipeline.compile_campaign(campaign, SITE, templates)
    return pipeline.prepare_campaign(db, compiled, secret="test secret", base_url=BASE)


def message_for(db, campaign: Campaign, subscriber: Subscriber, rep: Member | None = REP):
    prepared = prepared_for(db, campaign)
    return personalise.build_message(prepared, subscriber, targets_with(rep))


def person(first: str | None = "Alex", last: str | None = "Doe", sid: int = 7) -> Subscriber:
    return Subscriber(id=sid, email="alex@example.org", first_name=first, last_name=last)


# --------------------------------------------------------------------------
# Compiling


@pytest.mark.parametrize(
    ("example", "untracked"),
    [
        (action_example, set()),
        (update_example, {"https://www.law.cornell.edu/uscode/text/42/1983"}),
    ],
)
def test_examples_compile_with_placeholders_only(example, untracked):
    compiled = pipeline.compile_campaign(example(), SITE, TEMPLATES)
    assert compiled.html.startswith("<!doctype html>")
    assert '<html lang="en"' in compiled.html
    assert "mj-" not in re.sub(r"mj-(column|outlook)[\w-]*", "", compiled.html)
    assert "{{" not in compiled.html and "{%" not in compiled.html
    # Every http(s) link is tracked but those marked notrack: (links.NO_TRACK).
    assert set(re.findall(r'(?:href|src)="(https?://[^"]*)"', compiled.html)) == untracked
    assert set(re.findall(r"<(https?://[^>]*)>", compiled.text)) == untracked
    # No remote assets: no web fonts, no stylesheets, only the open pixel image.
    assert "fonts.googleapis" not in compiled.html and "<link" not in compiled.html
    assert re.findall(r"<img [^>]*>", compiled.html) == [
        '<img src="-ALRT.open_url.h-" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;overflow:hidden;">'
    ]
    # CSS was inlined by premailer.
    assert 'style="color:#0b4f8a; text-decoration:underline"' in compiled.html
    for name in ("unsubscribe_url", "open_url"):
        assert f"-ALRT.{name}.h-" in compiled.keys
    assert "-ALRT.unsubscribe_url.t-" in compiled.keys
    assert html.escape(SITE.org_name) in compiled.html and SITE.org_name in compiled.text
    assert SITE.postal_address in compiled.html and SITE.postal_address in compiled.text
    assert all(PLACEHOLDER_RE.fullmatch(key) for key in compiled.keys)


def test_action_compiles_letter_button_and_subject_placeholders():
    compiled = pipeline.compile_campaign(action_example(), SITE, TEMPLATES)
    assert compiled.kind is CampaignKind.ACTION
    assert compiled.subject == (
        "-ALRT.first_name.cap.t-, ask -ALRT.rep_full_name.t- to end qualified immunity"
    )
    assert 'href="-ALRT.letter_url.h-"' in compiled.html
    assert "Write to my representative: <-ALRT.letter_url.t->" in compiled.text
    assert compiled.links == ("https://www.law.cornell.edu/uscode/text/42/1983",)
    assert compiled.from_email == "updates@example.org" and compiled.reply_to == "team@example.org"


def test_update_has_no_letter_and_an_untracked_link():
    compiled = pipeline.compile_campaign(update_example(), SITE, TEMPLATES)
    assert not any("letter_url" in key for key in compiled.keys)
    assert compiled.links == ("https://leg.colorado.gov/bills/sb20-217",)
    # The notrack: link is kept as written, without the prefix, in both parts.
    untracked = re.findall(
        r'href="(https://www\.law[^"]*)"',
        personalise.build_message(_offline_prepared(compiled), person(), None).html,
    )
    assert untracked == ["https://www.law.cornell.edu/uscode/text/42/1983"]
    assert "<https://www.law.cornell.edu/uscode/text/42/1983>" in compiled.text
    assert NO_TRACK not in compiled.html and NO_TRACK not in compiled.text


# --------------------------------------------------------------------------
# List headers, dark mode and the hidden preview text


def test_every_message_carries_one_list_id(db):
    message = message_for(db, action_example(), person())
    list_id = "Citizens & Friends Against Qualified Immunity"
    list_id += " <citizens-friends-against-qualified-immunity.example.org>"
    assert message.headers["List-Id"] == list_id
    # The same header reaches every recipient of a send, and SendGrid allows it.
    prepared = prepared_for(db, update_example())
    recipient = pipeline.CampaignMessages(prepared, lambda batch: {}).recipient(person(), None)
    assert recipient.headers["List-Id"] == list_id
    body = wire.mail_body(Batch(Content("a@example.org", "s", "h", "t"), (recipient,)), False)
    assert standin._check_reserved_headers(body["personalizations"][0]["headers"], "h") == []


@pytest.mark.parametrize(
    ("org", "from_email", "base_url", "expected"),
    [
        ("End QI", "news@Mail.Example.org", None, "End QI <end-qi.mail.example.org>"),
        ("Amigos, Unidos", "a@example.org", None, '"Amigos, Unidos" <amigos-unidos.example.org>'),
        (
            "Año Nuevo",
            "a@bücher.example",
            None,
            "=?utf-8?q?A=C3=B1o_Nuevo?= <ano-nuevo.xn--bcher-kva.example>",
        ),
        (
            "東京",
            None,
            "https://act.example.org/x",
            "=?utf-8?b?5p2x5Lqs?= <alerts.act.example.org>",
        ),
        ("End QI", None, None, None),
    ],
)
def test_the_list_id_comes_from_the_organisation_and_its_domain(
    org, from_email, base_url, expected
):
    site = SiteSettings(org_name=org, postal_address="x", from_email=from_email, base_url=base_url)
    assert compiler.list_id(site) == expected


def _style(element) -> dict[str, str]:
    pairs = (part.partition(":") for part in (element.get("style") or "").split(";"))
    return {name.strip().lower(): value.strip().lower() for name, _, value in pairs if value}


def _rgb(colour: str) -> tuple[int, int, int]:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    def luminance(rgb: tuple[int, int, int]) -> float:
        channels = [c / 255 for c in rgb]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _inherited(element, read) -> str | None:
    for node in [element, *element.iterancestors()]:
        found = read(node)
        if found:
            return found
    return None


@pytest.mark.parametrize("example", [action_example, update_example])
def test_the_preview_text_is_hidden_without_a_colour_like_its_background(example):
    campaign = example()
    assert campaign.preheader is not None
    compiled = pipeline.compile_campaign(campaign, SITE, TEMPLATES)
    document = personalise.build_message(_offline_prepared(compiled), person(), None).html
    tree = lxml.html.fromstring(document)
    [hidden] = [e for e in tree.iter() if (e.text or "").strip() == campaign.preheader.text.strip()]
    # What SpamAssassin compares (HTML_FONT_LOW_CONTRAST): the text's colour and the
    # background it sits on. Unset, the text is the mail app's default black.
    colour = _inherited(hidden, lambda e: _style(e).get("color")) or "#000000"
    background = (
        _inherited(hidden, lambda e: _style(e).get("background-color") or e.get("bgcolor"))
        or "#ffffff"
    )
    assert _contrast(_rgb(colour), _rgb(background)) >= 4.5
    style = _style(hidden)
    assert style.get("display") == "none" and style.get("mso-hide") == "all"
    assert style.get("max-height") in ("0", "0px") and style.get("overflow") == "hidden"
    assert "<mj-preview" not in (TEMPLATES / "_head.mjml").read_text(encoding="utf-8")


DARK_RULES = re.compile(r"@media \(prefers-color-scheme: dark\) \{(.*?\})\s*\}", re.DOTALL)


@pytest.mark.parametrize("example", [action_example, update_example])
def test_dark_mode_styles_survive_mjml_and_premailer(example):
    compiled = pipeline.compile_campaign(example(), SITE, TEMPLATES)
    letter_box = {"letter-box", "box-text"}  # only action alerts have one
    absent = letter_box if compiled.kind is CampaignKind.UPDATE else set()
    document = compiled.html
    head = document[: document.index("</head>")]
    assert '<meta name="color-scheme" content="light dark">' in head
    assert '<meta name="supported-color-schemes" content="light dark">' in head
    assert re.search(
        r":root \{color-scheme:light dark[^}]*supported-color-schemes:light dark", head
    )
    [rules] = DARK_RULES.findall(head)
    declarations = re.findall(r"([^{}]+)\{([^{}]*)\}", rules)
    assert len(declarations) >= 8
    for selectors, body in declarations:
        assert all(d.strip().endswith("!important") for d in body.split(";") if d.strip())
        # Every class a dark rule names is in the message, so the rule applies.
        for name in set(re.findall(r"\.([\w-]+)", selectors)) - absent:
            assert re.search(rf'class="([^"]* )?{name}( [^"]*)?"', document), name
    assert "card" in rules and "content" in rules and "footer" in rules


def _offline_prepared(compiled):
    return personalise.PreparedCampaign(
        compiled=compiled,
        campaign_id=1,
        link_ids=tuple(range(1, len(compiled.links) + 1)),
        key=b"k" * 32,
        base_url=BASE,
    )


def test_no_placeholder_is_part_of_another():
    """SendGrid replaces keys one by one: none may contain another."""
    keys = sorted(pipeline.compile_campaign(action_example(), SITE, TEMPLATES).keys)
    for a in keys:
        for b in keys:
            assert a == b or a not in b


def test_plain_text_from_the_same_markdown(tmp_path):
    campaign = write_campaign(
        tmp_path,
        """\
        ---
        subject: Hello
        kind: update
        ---
        # Big news

        Hi {{ subscriber.first_name }}, read [the bill](https://example.org/bill?a=1&b=2)
        or https://example.org/bare and *this*.

        1. one
        2. two

        > quoted

        Mail [us](mailto:team@example.org).
        """,
    )
    compiled = pipeline.compile_campaign(campaign, SITE, TEMPLATES)
    text = compiled.text
    assert text.startswith(
        "Big news\n========\n\nHi -ALRT.first_name.t-, read the bill <-ALRT.link.0.t->"
    )
    assert "<-ALRT.link.1.t->" in text and "1. one\n2. two" in text and "> quoted" in text
    assert "us <mailto:team@example.org>" in text
    assert compiled.links == ("https://example.org/bill?a=1&b=2", "https://example.org/bare")
    assert (
        'href="-ALRT.link.0.h-"' in compiled.html
        and 'href="mailto:team@example.org"' in compiled.html
    )


# --------------------------------------------------------------------------
# Personalising


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_escaped(db, name):
    message = message_for(db, action_example(), person(first=name, last=name))
    flat = " ".join(name.split())
    assert html.escape(flat, quote=True) in message.html
    assert name not in message.html or name == html.escape(name)
    assert "<script>" not in message.html
    assert f"Hi {flat}," in message.text
    assert "\r" not in message.subject and "\n" not in message.subject
    assert message.subject.startswith(flat + ", ask Nancy <Example>")
    assert "Nancy &lt;Example&gt;" in message.html
    for value in message.headers.values():
        assert "\r" not in value and "\n" not in value


def test_headers_and_urls(db):
    message = message_for(db, action_example(), person())
    unsubscribe = message.headers["List-Unsubscribe"]
    assert re.fullmatch(r"<https://act\.example\.org/u/[A-Za-z0-9_-]+>", unsubscribe)
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f'href="{unsubscribe[1:-1]}"' in message.html
    assert re.search(r'src="https://act\.example\.org/o/[A-Za-z0-9_-]+\.gif"', message.html)
    assert re.search(r'href="https://act\.example\.org/a/[A-Za-z0-9_-]+"', message.html)
    assert re.search(r'href="https://act\.example\.org/c/[A-Za-z0-9_-]+"', message.html)
    assert "-ALRT." not in message.html + message.text + message.subject
    assert "alex@example.org" not in message.html  # no personal data in any URL


@pytest.mark.parametrize("blank", [None, "", "   ", "\n"])
def test_blank_first_name_falls_back(db, blank):
    message = message_for(db, action_example(), person(first=blank, last=None), rep=None)
    assert message.subject == "Friend, ask your representative to end qualified immunity"
    assert "Hi friend," in message.text and "Hi friend," in message.html
    assert "Hi ," not in message.text + message.html
    assert not message.subject.startswith(",")
    assert "carries weight with\nyour representative" in message.text or (
        "carries weight with your representative" in message.text
    )
    assert "Your letter to <strong>your representative</strong>" in message.html


def test_fallback_can_be_chosen_and_capitalises_only_at_sentence_starts(db, tmp_path):
    campaign = write_campaign(
        tmp_path,
        """\
        ---
        subject: "{{ subscriber.first_name }}: news. Thanks {{ subscriber.first_name }}"
        kind: update
        first_name_fallback: supporter
        ---
        {{ subscriber.first_name }}, hello. Dear {{ subscriber.first_name }}!
        {{ subscriber.first_name }} rocks.
        """,
    )
    blank = message_for(db, campaign, person(first=""))
    assert blank.subject == "Supporter: news. Thanks supporter"
    assert "Supporter, hello. Dear supporter!\nSupporter rocks." in blank.text
    named = message_for(db, campaign, person(first="dana"))
    assert named.subject == "dana: news. Thanks dana"  # real names are left as written


def test_personalise_equals_sendgrid_style_substitution(db):
    prepared = prepared_for(db, action_example())
    values = personalise.recipient_values(prepared, person(first=HOSTILE[1]), targets_with(REP))
    compiled = prepared.compiled
    assert set(values) == set(compiled.keys)
    assert all(isinstance(v, str) for v in values.values())
    size = sum(len(k.encode()) + len(v.encode()) for k, v in values.items())
    assert size <= providers.batch_limits().max_substitution_bytes

    def sendgrid(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    message = personalise.personalise(compiled, values)
    assert message.html == sendgrid(compiled.html)
    assert message.text == sendgrid(compiled.text)
    assert message.subject == sendgrid(compiled.subject)


def test_missing_value_is_an_error(db):
    prepared = prepared_for(db, update_example())
    values = personalise.recipient_values(prepared, person(), None)
    values.pop("-ALRT.first_name.h-")
    with pytest.raises(CampaignError, match=r"no value for placeholder -ALRT\.first_name\.h-"):
        personalise.personalise(prepared.compiled, values)


def test_braces_in_content_survive(db, tmp_path):
    campaign = write_campaign(
        tmp_path,
        """\
        ---
        subject: "Set {braces} {0} {{ '{{' }}"
        kind: update
        ---
        Code: `{"a": {0}}` and {{ subscriber.first_name }}.
        """,
    )
    message = message_for(db, campaign, person())
    assert message.subject == "Set {braces} {0} {{"
    assert 'Code: {"a": {0}} and Alex.' in message.text


# --------------------------------------------------------------------------
# Errors reported as file:line


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("Hi {{ nobody }}\n", 5, "body: undefined variable 'nobody'"),
        ("ok\n\nHi {{ subscriber.middle_name }}\n", 7, "subscriber has no field 'middle_name'"),
        ("ok\n{{ representative.phone }}\n", 6, "representative has no field 'phone'"),
        ("{% if subscriber.first_name %}x{% endif %}\n", 5, "not tested with if"),
        ("ok\n{{ subscriber.first_name | upper }}\n", 6, "changed by a filter"),
        ("{{ letter_url }}\n", 5, "letter_url is only available in action campaigns"),
        ("ok\n{% for x in %}\n", 6, "template syntax error"),
        ("{{ ''.__class__.__mro__ }}\n", 5, "not allowed"),
    ],
)
def test_body_errors_name_the_file_line(tmp_path, body, line, message):
    campaign = write_campaign(tmp_path, "---\nsubject: S\nkind: update\n---\n" + body)
    with pytest.raises(CampaignError) as caught:
        pipeline.check_campaign(campaign, SITE, TEMPLATES)
    problem = caught.value.problems[0]
    assert problem.startswith(f"{campaign.path}:{line}: "), problem
    assert message in problem


def test_subject_and_letter_errors_are_all_reported(tmp_path):
    campaign = write_campaign(
        tmp_path,
        """\
        ---
        subject: "Hi {{ subscriber.nickname }}"
        kind: action
        letter:
          to: [house]
          subject: "About {{ target.nickname }}"
          body: |
            Dear {{ target.title }},

            {{ subscriber.favourite_colour }}
          tweet: "{{ 'x' * 300 }}"
        ---
        Body
        """,
    )
    with pytest.raises(CampaignError) as caught:
        pipeline.check_campaign(campaign, SITE, TEMPLATES)
    path = campaign.path
    assert caught.value.problems == [
        f"{path}:2: subject: subscriber has no field 'nickname'"
        " (known: first_name, full_name, last_name)",
        f"{path}:6: letter subject: target has no field 'nickname' (known: bioguide, chamber,"
        " contact_url, district, first_name, full_name, last_name, party, phone, senate_class,"
        " stance, state, state_rank, term_end, term_start, title, twitter, website)",
        f"{path}:10: letter body: subscriber has no field 'favourite_colour' (known: city,"
        " first_name, full_name, last_name, state, zip)",
        f"{path}:11: tweet: 300 characters for Jordan Sample, over the limit of 280",
        f"{path}:11: tweet: 300 characters for Casey Example, over the limit of 280",
    ]


def copy_templates(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(TEMPLATES, target)
    return target


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('<a href="{{ unsubscribe_url }}">Unsubscribe</a>', "Unsubscribe", "an unsubscribe link"),
        ("{{ org.postal_address }}<br />", "", "the postal address"),
        ("<strong>{{ org.name }}</strong><br />", "", None),
    ],
)
def test_footer_must_carry_name_address_and_unsubscribe(tmp_path, old, new, message):
    templates = copy_templates(tmp_path)
    footer = templates / "_footer.mjml"
    text = footer.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new)
    if message is None:  # remove every mention of the name
        text = text.replace("{{ org.name }}", "us")
        message = "the organisation's name"
    footer.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignError, match="the footer after the content must show") as caught:
        pipeline.compile_campaign(update_example(), SITE, templates)
    assert message in str(caught.value)
    assert "update.mjml" in str(caught.value)


def test_template_errors_name_the_template_line(tmp_path):
    templates = copy_templates(tmp_path)
    header = templates / "_header.mjml"
    text = header.read_text(encoding="utf-8").replace("{{ org.name }}", "{{ org.slogan }}")
    header.write_text(text, encoding="utf-8")
    line = text[: text.index("{{ org.slogan }}")].count("\n") + 1
    with pytest.raises(CampaignError, match=rf"_header\.mjml:{line}: org has no field 'slogan'"):
        pipeline.compile_campaign(update_example(), SITE, templates)


def test_mjml_errors_are_reported(tmp_path):
    templates = copy_templates(tmp_path)
    (templates / "update.mjml").write_text("<mjml><mj-body><mj-section>{{ content }}\n")
    with pytest.raises(CampaignError, match=r"update\.mjml: MJML error: "):
        pipeline.compile_campaign(update_example(), SITE, templates)


# --------------------------------------------------------------------------
# Letters


def test_letter_for_a_target_is_plain_text():
    campaign = action_example()
    subscriber = Subscriber(
        id=1, email="x@example.org", first_name="<b>Zoë</b>", last_name="O'Brien", city="Oakland",
        state="CA", zip="94612",
    )  # fmt: skip
    letter = letter_text.render_letter(campaign, subscriber, REP)
    assert letter.subject == "Please cosponsor the Ending Qualified Immunity Act"
    assert letter.body.startswith("Dear Representative Example:\n")
    assert "<b>Zoë</b> O'Brien\nOakland, CA 94612" in letter.body  # unescaped: the page escapes
    script = letter_text.render_call_script(campaign, subscriber, REP)
    assert script is not None and "ask Representative Example to cosponsor" in script
    assert "where the representative stands" in script
    tweet = letter_text.render_tweet(campaign, subscriber, REP)
    assert tweet is not None and tweet.startswith("@RepExample, nobody should be above")
    assert len(tweet) <= letter_text.TWEET_LIMIT
    senator = Member("S1", "senate", "CA", None, "Senator", "Sam Senator", "Senator")
    assert letter_text.render_tweet(campaign, subscriber, senator).startswith("Senator Senator,")


def test_letter_of_an_update_is_an_error():
    with pytest.raises(CampaignError, match="not an action campaign"):
        letter_text.render_letter(update_example(), person(), REP)


# --------------------------------------------------------------------------
# What a person sees


# Visible text whose colour against its background is below WCAG AA (4.5:1).
LOW_CONTRAST_TEXT = """() => {
  const rgba = (c) => c.match(/[\\d.]+/g).map(Number);
  const channel = (x) => {
    x /= 255;
    return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ([r, g, b]) =>
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    const hidden = style.display === "none" || style.opacity === "0" || el.offsetHeight <= 1;
    if (!text || hidden) continue;
    const a = luminance(rgba(style.color)), b = luminance(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push([ratio, el.textContent.trim().slice(0, 40)]);
  }
  return low;
}"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(
    ("example", "name", "title", "button"),
    [
        (
            action_example,
            "example-action-alert",
            "Alex, ask Jordan Sample to end qualified immunity",
            "Write to my representative",
        ),
        (update_example, "example-update", "What your support made possible this season", None),
    ],
)
def test_screenshots_of_the_examples(db, browser, artifacts, example, name, title, button):
    rep = pipeline.SAMPLE_REPRESENTATIVE
    message = message_for(db, example(), person(first="Alex", last="Doe"), rep=rep)
    path = artifacts / f"{name}.html"
    path.write_text(message.html, encoding="utf-8")
    for width, device in ((375, "phone"), (1024, "desktop")):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.route("**/*", lambda route: route.abort()
                   if not route.request.url.startswith("file:") else route.continue_())  # fmt: skip
        page.goto(path.as_uri())
        page.screenshot(path=str(artifacts / f"{name}-{device}.png"), full_page=True)
        # Nothing wider than the screen; readable contrast; the language and title are set.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.evaluate(LOW_CONTRAST_TEXT) == []
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.title() == title
        unsubscribe = page.get_by_role("link", name="Unsubscribe")
        assert unsubscribe.get_attribute("href") == message.headers["List-Unsubscribe"][1:-1]
        if button:  # on screen and large enough to tap
            box = page.get_by_role("link", name=button).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            assert box["height"] >= 44
        page.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(
    ("example", "name"), [(action_example, "action"), (update_example, "update")]
)
def test_dark_mode_is_dark_and_readable(db, browser, artifacts, example, name):
    message = message_for(db, example(), person(), rep=pipeline.SAMPLE_REPRESENTATIVE)
    path = artifacts / f"example-{name}-dark.html"
    path.write_text(message.html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 375, "height": 900}, color_scheme="dark")
    page.route("**/*", lambda route: route.abort()
               if not route.request.url.startswith("file:") else route.continue_())  # fmt: skip
    page.goto(path.as_uri())
    page.screenshot(path=str(artifacts / f"example-{name}-dark.png"), full_page=True)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(16, 21, 28)"
    card = page.locator(".card").first
    assert card.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(27, 35, 48)"
    assert page.evaluate(LOW_CONTRAST_TEXT) == []
    page.close()


# --------------------------------------------------------------------------
# The "Email me a copy" message


def test_the_letter_copy_escapes_html_but_not_text():
    member = pipeline.SAMPLE_REPRESENTATIVE
    copy = render_letter_copy(
        first_name="<b>Ann</b>",
        member=member,
        contact_url="https://example.org/contact?a=1&b=2",
        contact_is_form=True,
        phone=member.phone,
        page_url="https://act.example.org/a/TOKEN",
        letter_subject="Subject & more",
        letter="Dear <you>,\nHi.",
        org_name="Org & Co",
        postal_address="1 Street",
    )
    assert copy.subject == "Your letter to Representative Jordan Sample"
    assert "Hi <b>Ann</b>," in copy.text and "Dear <you>,\nHi." in copy.text
    assert "Hi &lt;b&gt;Ann&lt;/b&gt;," in copy.html and "Dear &lt;you&gt;," in copy.html
    assert 'href="https://example.org/contact?a=1&amp;b=2"' in copy.html
    assert "Org &amp; Co" in copy.html and "<img" not in copy.html


def test_every_per_recipient_variable_has_a_name_in_words():
    names = {
        *compiler.SUBSCRIBER_PLACEHOLDERS.values(),
        *compiler.REPRESENTATIVE_PLACEHOLDERS.values(),
        *compiler.SENATORS_PLACEHOLDERS.values(),
    }
    assert set(PLACEHOLDER_LABELS) == names
    assert labelled_placeholders("{first_name}, {rep_title} {nope} {{x}}") == (
        "[first name], [representative's title] {nope} {{x}}"
    )
