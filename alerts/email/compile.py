"""Compiling a campaign once: Jinja, Markdown, MJML and premailer.

A campaign's texts go through a sandboxed Jinja pass (sandbox.py) in which
every per-recipient variable becomes a placeholder (models.placeholder), the
Markdown body becomes HTML and plain text, the MJML template wraps it,
mjml-python compiles it and premailer inlines the CSS. Each recipient's
message is then plain substitution of the placeholders (personalise.py), the
same substitution a provider performs when it is handed the compiled content
and the map from personalise.recipient_values.
"""

from __future__ import annotations

import html
import logging
import re
import textwrap
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formataddr
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from markupsafe import Markup
from mjml import mjml2html
from premailer import Premailer

from alerts.email import links
from alerts.email.sandbox import (
    Fields,
    NamedUndefined,
    TemplateProblem,
    error_line,
    error_message,
    render_source,
    sandbox_environment,
)
from alerts.errors import CampaignError
from alerts.models import (
    HTML_CONTEXT,
    NEUTRAL_CONTEXT,
    PLACEHOLDER_MARK,
    TEXT_CONTEXT,
    Campaign,
    CampaignKind,
    CompiledCampaign,
    SiteSettings,
    SourceText,
    placeholder,
    readable_placeholders,
)

DEFAULT_BUTTON = "Send your letter"
TEXT_WIDTH = 76
FOOTER_MARK = "<!--alerts:end-of-content-->"
OPEN_PIXEL = (
    '<img src="{src}" width="1" height="1" alt="" '
    'style="display:block;width:1px;height:1px;border:0;overflow:hidden;">'
)

# Per-recipient variables: (Jinja name, field) -> placeholder name.
SUBSCRIBER_PLACEHOLDERS = {
    "first_name": "first_name",
    "last_name": "last_name",
    "full_name": "full_name",
}
REPRESENTATIVE_PLACEHOLDERS = {
    "full_name": "rep_full_name",
    "last_name": "rep_last_name",
    "title": "rep_title",
    "stance_text": "rep_stance_text",  # the campaign's sentence for their stance (stance_text)
}
SENATORS_PLACEHOLDERS = {
    "stance_text": "sen_stance_text",  # each senator's sentence, one after the other
}
# Placeholders that read well at the start of a sentence only when capitalised
# if their fallback is used ("Friend, ..."): they get a `.cap` twin there.
CAPITALISABLE = frozenset({"first_name", "full_name", "rep_full_name", "rep_last_name"})
CAP_SUFFIX = ".cap"
# What a blank or unknown value reads as. first_name/full_name use the
# campaign's first_name_fallback.
REPRESENTATIVE_FALLBACKS = {
    "rep_full_name": "your representative",
    "rep_last_name": "your representative",
    "rep_title": "",
    "rep_stance_text": "",
    "sen_stance_text": "",
}

_NAME_RE = r"[a-z0-9_.]+?"
_NEUTRAL_RE = re.compile(rf"-ALRT\.({_NAME_RE})\.{NEUTRAL_CONTEXT}-")
# An http(s) URL with a per-recipient placeholder in it: links are tracked, and a
# tracked link is the same for every recipient, so the click would go to the placeholder.
_URL_WITH_PLACEHOLDER_RE = re.compile(
    rf"https?://[^\s<>\"'()\[\]]*?{re.escape(PLACEHOLDER_MARK)}[^\s<>\"'()\[\]]*", re.IGNORECASE
)


class _Placeholder:
    """A per-recipient value during the campaign-level pass: prints as its placeholder."""

    __slots__ = ("label", "name")

    def __init__(self, name: str, label: str):
        self.name = name
        self.label = label

    def __str__(self) -> str:
        return placeholder(self.name)

    def __html__(self) -> str:
        return placeholder(self.name)

    def __bool__(self) -> bool:
        raise jinja2.TemplateRuntimeError(
            f"{self.label} differs per recipient: it can be printed but not tested with if"
        )


# --------------------------------------------------------------------------
# Markdown: to HTML, and to plain text from the same tokens


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"linkify": True, "typographer": False})
    md.enable(["linkify", "table", "strikethrough"])
    assert md.linkify is not None  # linkify-it-py is installed with markdown-it-py
    md.linkify.set({"fuzzy_link": False, "fuzzy_email": False})
    return md


_MD = _markdown()
_TAG_RE = re.compile(r"<[^>]*>")


def markdown_to_html(text: str) -> str:
    return str(_MD.render(text))


def markdown_to_text(text: str) -> str:
    """Plain text of a Markdown document, links written `label <url>`."""
    tree = SyntaxTreeNode(_MD.parse(text))
    blocks = [_block_text(node) for node in tree.children]
    return "\n\n".join(b for b in blocks if b.strip()).strip() + "\n"


def _inline_text(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "text":
        return node.content
    if kind in ("softbreak", "hardbreak"):
        return "\n"
    if kind == "code_inline":
        return node.content
    if kind == "html_inline":
        return "\n" if re.match(r"<br\b", node.content, re.IGNORECASE) else ""
    if kind == "image":
        alt = "".join(_inline_text(child) for child in node.children)
        return f"[{alt}]" if alt else ""
    inner = "".join(_inline_text(child) for child in node.children)
    if kind == "link":
        href = str(node.attrs.get("href", ""))
        shown = inner.strip()
        bare = href.removeprefix(links.NO_TRACK)
        return f"<{href}>" if shown in (bare, href, "") else f"{inner} <{href}>"
    return inner


# Widths a placeholder is counted as when wrapping text: about what it becomes.
URL_WIDTH = 45
NAME_WIDTH = 8
SENTENCE_WIDTH = 60


def _wrap(text: str, indent: str = "") -> str:
    """Fill lines to TEXT_WIDTH, counting each placeholder as the width of a typical value."""
    stand_ins: dict[str, str] = {}

    def stand_in(match: re.Match[str]) -> str:
        name = match.group(1)
        width = URL_WIDTH if name.endswith("_url") else NAME_WIDTH
        width = SENTENCE_WIDTH if name.endswith("stance_text") else width
        key = chr(0xE000 + len(stand_ins)) + "\ue0ff" * (width - 1)
        stand_ins[key] = match.group(0)
        return key

    shortened = _NEUTRAL_RE.sub(stand_in, text)
    lines = []
    for line in shortened.split("\n"):
        lines.append(
            textwrap.fill(
                line,
                TEXT_WIDTH,
                initial_indent=indent,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            or indent.rstrip()
        )
    filled = "\n".join(lines)
    for key, original in stand_ins.items():
        filled = filled.replace(key, original)
    return filled


def _block_text(node: SyntaxTreeNode, indent: str = "") -> str:
    kind = node.type
    if kind == "paragraph" or kind == "inline":
        return _wrap("".join(_inline_text(c) for c in _inlines(node)), indent)
    if kind == "heading":
        title = "".join(_inline_text(c) for c in _inlines(node)).strip()
        underline = {"h1": "=", "h2": "-"}.get(node.tag)
        return f"{indent}{title}\n{indent}{underline * len(title)}" if underline else indent + title
    if kind in ("bullet_list", "ordered_list"):
        return _list_text(node, indent)
    if kind == "blockquote":
        return "\n\n".join(_block_text(child, indent + "> ") for child in node.children)
    if kind in ("fence", "code_block"):
        return "\n".join(indent + "    " + line for line in node.content.rstrip("\n").split("\n"))
    if kind == "hr":
        return indent + "-" * 24
    if kind == "html_block":
        return _wrap(html.unescape(_TAG_RE.sub("", node.content)).strip(), indent)
    if kind == "table":
        return _table_text(node, indent)
    return "\n\n".join(_block_text(child, indent) for child in node.children)


def _inlines(node: SyntaxTreeNode) -> Iterable[SyntaxTreeNode]:
    for child in node.children:
        if child.type == "inline":
            yield from child.children
        else:
            yield child


def _list_text(node: SyntaxTreeNode, indent: str) -> str:
    start = int(str(node.attrs.get("start", 1))) if node.type == "ordered_list" else 0
    items = []
    for number, item in enumerate(node.children, start):
        bullet = f"{number}. " if node.type == "ordered_list" else "- "
        body = "\n\n".join(
            _block_text(child, indent + " " * len(bullet)) for child in item.children
        )
        items.append(indent + bullet + body[len(indent) + len(bullet) :])
    return "\n".join(items)


def _table_text(node: SyntaxTreeNode, indent: str) -> str:
    rows = []
    for section in node.children:
        for row in section.children:
            cells = [
                "".join(_inline_text(c) for c in _inlines(cell)).strip() for cell in row.children
            ]
            rows.append(indent + " | ".join(cells))
    return "\n".join(rows)


# --------------------------------------------------------------------------
# The campaign-level pass


def _recipient_context(campaign: Campaign) -> dict[str, Any]:
    """Per-recipient variables, as placeholders."""
    subscriber = Fields(
        "subscriber",
        {f: _Placeholder(name, f"subscriber.{f}") for f, name in SUBSCRIBER_PLACEHOLDERS.items()},
    )
    context: dict[str, Any] = {
        "subscriber": subscriber,
        "representative": _member_placeholders(
            "representative", REPRESENTATIVE_PLACEHOLDERS, campaign
        ),
        "senators": _member_placeholders("senators", SENATORS_PLACEHOLDERS, campaign),
        "unsubscribe_url": _Placeholder("unsubscribe_url", "unsubscribe_url"),
    }
    if campaign.kind is CampaignKind.ACTION:
        context["letter_url"] = _Placeholder("letter_url", "letter_url")
    else:
        context["letter_url"] = NamedUndefined(
            hint="letter_url is only available in action campaigns", name="letter_url"
        )
    return context


def _member_placeholders(label: str, names: Mapping[str, str], campaign: Campaign) -> Fields:
    """A recipient's members' values as placeholders; stance_text only with the key."""
    fields = Fields(label, {f: _Placeholder(name, f"{label}.{f}") for f, name in names.items()})
    if not campaign.stance_text:
        fields["stance_text"] = NamedUndefined(
            hint=f"{label}.stance_text needs the campaign's stance_text key", name="stance_text"
        )
    return fields


def _campaign_context(campaign: Campaign, site: SiteSettings) -> dict[str, Any]:
    text_code = campaign.letter.text_code if campaign.letter else None
    return {
        **_recipient_context(campaign),
        "org": Fields("org", {"name": site.org_name, "postal_address": site.postal_address}),
        "campaign": Fields("campaign", {"slug": campaign.slug, "kind": str(campaign.kind)}),
        "text_code": (
            Fields("text_code", {"keyword": text_code.keyword, "number": text_code.number})
            if text_code
            else None
        ),
    }


_SENTENCE_END = re.compile(r"(^|[.!?:]|\n)[\s*_#>\"'“‘(\[-]*$")


def _capitalise_sentence_starts(text: str) -> str:
    """Use the `.cap` twin of a name placeholder where it starts a sentence."""

    def swap(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in CAPITALISABLE and _SENTENCE_END.search(text, 0, match.start()):
            return placeholder(name + CAP_SUFFIX)
        return match.group(0)

    return _NEUTRAL_RE.sub(swap, text)


def _check_placeholders(text: str, path: Path, source: SourceText, label: str) -> None:
    """A filter such as `|upper` on a per-recipient variable mangles its placeholder."""
    for match in re.finditer(re.escape(PLACEHOLDER_MARK), text, re.IGNORECASE):
        rest = text[match.start() :]
        if not _NEUTRAL_RE.match(rest):
            line = source.line + text.count("\n", 0, match.start())
            raise TemplateProblem(
                f"{path}:{line}: {label}: a per-recipient variable was changed by a filter "
                "or expression; print it as it is, e.g. {{ subscriber.first_name }}"
            )


def _check_link_urls(text: str, path: Path, source: SourceText, label: str) -> None:
    """A per-recipient variable inside a link's URL would reach nobody: refuse it."""
    match = _URL_WITH_PLACEHOLDER_RE.search(text)
    if match is not None:
        line = source.line + text.count("\n", 0, match.start())
        url = readable_placeholders(match.group(0))
        raise TemplateProblem(
            f"{path}:{line}: {label}: the link {url} holds a per-recipient variable; a link's "
            "URL is the same for every recipient (it is tracked), so write it without one"
        )


def _render_campaign_text(
    source: SourceText, campaign: Campaign, label: str, context: Mapping[str, Any]
) -> str:
    rendered = render_source(source, campaign.path, label, context)
    _check_placeholders(rendered, campaign.path, source, label)
    _check_link_urls(rendered, campaign.path, source, label)
    return _capitalise_sentence_starts(rendered)


@dataclass(frozen=True)
class _Texts:
    subject: str
    preheader: str | None
    body: str


def _render_texts(campaign: Campaign, context: Mapping[str, Any]) -> _Texts:
    """Subject, preheader and body through Jinja, every problem collected."""
    problems: list[str] = []
    out: dict[str, str | None] = {}
    for label, source in (
        ("subject", campaign.subject),
        ("preheader", campaign.preheader),
        ("body", campaign.body),
    ):
        if source is None:
            out[label] = None
            continue
        try:
            out[label] = _render_campaign_text(source, campaign, label, context)
        except TemplateProblem as problem:
            problems.append(str(problem))
    if problems:
        raise CampaignError.collected(problems)
    subject = " ".join((out["subject"] or "").split())
    if not subject:
        raise CampaignError(f"{campaign.path}:{campaign.subject.line}: the subject renders empty")
    preheader = " ".join((out["preheader"] or "").split()) or None
    return _Texts(subject, preheader, out["body"] or "")


# --------------------------------------------------------------------------
# Templates, MJML and premailer


def template_name(kind: CampaignKind) -> str:
    return f"{kind}.mjml"


@lru_cache(maxsize=8)
def _template_environment(templates_dir: str) -> jinja2.Environment:
    return sandbox_environment(jinja2.FileSystemLoader(templates_dir), autoescape=True)


def _render_template(templates_dir: Path, name: str, context: Mapping[str, Any]) -> str:
    env = _template_environment(str(templates_dir.resolve()))
    path = templates_dir / name
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise CampaignError(f"{templates_dir / str(exc.name)}: template not found") from None
    except Exception as exc:  # a template error is reported with its file and line
        filename = getattr(exc, "filename", None) or _innermost_template(exc) or str(path)
        line = error_line(exc, filename) or 1
        raise CampaignError(f"{_relative(filename)}:{line}: {error_message(exc)}") from None


def _innermost_template(exc: BaseException) -> str | None:
    found = None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith(".mjml"):
            found = name
        tb = tb.tb_next
    return found


def _relative(filename: str) -> str:
    path = Path(filename)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return filename


def _compile_mjml(source: str, template: Path) -> str:
    try:
        # fonts={} keeps MJML from adding a web-font link: no remote assets.
        return mjml2html(source, fonts={})
    except ValueError as exc:
        message = str(exc)
        position = re.search(r"at position (\d+)", message)
        where = ""
        if position:
            where = f" (line {source.count(chr(10), 0, int(position.group(1))) + 1} of the MJML)"
        raise CampaignError(f"{_relative(str(template))}: MJML error: {message}{where}") from None


_DOCTYPE_RE = re.compile(r"\s*<!doctype[^>]*>", re.IGNORECASE)


def _inline_css(document: str) -> str:
    inliner = Premailer(
        document,
        allow_network=False,
        allow_loading_external_files=False,
        keep_style_tags=False,  # media queries stay in a <style>; the rest is inlined
        strip_important=False,
        remove_classes=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    )
    inlined = str(inliner.transform(pretty_print=False))
    # lxml drops the doctype; without it mail clients and browsers use quirks mode.
    doctype = _DOCTYPE_RE.match(document)
    if doctype and not _DOCTYPE_RE.match(inlined):
        inlined = doctype.group(0) + "\n" + inlined
    return inlined


def _check_footer(document: str, site: SiteSettings, template: Path) -> str:
    """Refuse a message whose footer lacks the org's name, address or unsubscribe link."""
    head, mark, footer = document.partition(FOOTER_MARK)
    if not mark:
        raise CampaignError(
            f"{_relative(str(template))}: the template never shows {{{{ content }}}}"
        )
    unsubscribe = f'href="{placeholder("unsubscribe_url")}"'
    missing = []
    if html.escape(site.org_name, quote=False) not in footer:
        missing.append("the organisation's name ({{ org.name }})")
    if html.escape(site.postal_address, quote=False) not in footer:
        missing.append("the postal address ({{ org.postal_address }})")
    if unsubscribe not in footer:
        missing.append('an unsubscribe link (<a href="{{ unsubscribe_url }}">)')
    if missing:
        raise CampaignError(
            f"{_relative(str(template))}: the footer after the content must show "
            + ", ".join(missing)
        )
    return head + footer


def _add_open_pixel(document: str) -> str:
    pixel = OPEN_PIXEL.format(src=placeholder("open_url"))
    head, body_end, tail = document.rpartition("</body>")
    if not body_end:
        return document + pixel
    return head + pixel + body_end + tail


def _contextualise(text: str, context: str) -> str:
    """Turn neutral placeholders into HTML or text ones."""
    return _NEUTRAL_RE.sub(lambda m: placeholder(m.group(1), context), text)


# --------------------------------------------------------------------------
# The plain-text message


def _text_message(
    campaign: Campaign, site: SiteSettings, body: str, context: Mapping[str, Any]
) -> str:
    parts = [markdown_to_text(body).rstrip()]
    if campaign.kind is CampaignKind.ACTION:
        rep = placeholder(REPRESENTATIVE_PLACEHOLDERS["full_name"])
        action = [
            f"Your letter to {rep} is already written. Add a line of your own if you",
            "like, then send it: it takes about two minutes.",
            "",
            f"{campaign.button or DEFAULT_BUTTON}: <{placeholder('letter_url')}>",
        ]
        text_code = context.get("text_code")
        if text_code:
            action.append(
                f"No time to write? Text {text_code['keyword']} to {text_code['number']}."
            )
        parts.append("\n".join(action))
    parts.append(
        "-- \n"
        f"{site.org_name}\n{site.postal_address}\n"
        f"You get these emails because you signed up with {site.org_name}.\n"
        f"Unsubscribe with one click: <{placeholder('unsubscribe_url')}>"
    )
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------
# The List-Id header (RFC 2919)

LIST_ID_LIMIT = 255  # octets of the list-id between < and >
DEFAULT_LIST_LABEL = "alerts"


def list_label(org_name: str) -> str:
    """The organisation's name as a list label: lower-case ASCII letters, digits, hyphens."""
    ascii_name = unicodedata.normalize("NFKD", org_name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or DEFAULT_LIST_LABEL


def _ascii_domain(domain: str) -> str | None:
    cleaned = domain.strip().rstrip(".").lower()
    try:
        return cleaned.encode("idna").decode("ascii") if cleaned else None
    except UnicodeError:
        return None


def list_domain(site: SiteSettings, from_email: str | None) -> str | None:
    """The domain that names the list: the settings' from_email, the campaign's, base_url."""
    for address in (site.from_email, from_email):
        if address and "@" in address:
            domain = _ascii_domain(address.rpartition("@")[2])
            if domain:
                return domain
    host = urlsplit(site.base_url).hostname if site.base_url else None
    return _ascii_domain(host) if host else None


def list_id(site: SiteSettings, from_email: str | None = None) -> str | None:
    """`Org Name <org-name.example.org>`: one List-Id for every campaign of the organisation."""
    domain = list_domain(site, from_email)
    if domain is None:
        return None
    room = LIST_ID_LIMIT - len(domain) - 1
    label = list_label(site.org_name)[:room].strip("-") or DEFAULT_LIST_LABEL
    return formataddr((" ".join(site.org_name.split()), f"{label}.{domain}"))


# --------------------------------------------------------------------------
# Compiling a campaign


def compile_campaign(
    campaign: Campaign, site: SiteSettings, templates_dir: Path
) -> CompiledCampaign:
    """Compile a campaign once: subject, HTML and text with placeholders inside.

    Links are left as written; links.track_links turns them into tracked
    placeholders (pipeline.compile_campaign does both).
    """
    context = _campaign_context(campaign, site)
    texts = _render_texts(campaign, context)
    body_html = markdown_to_html(texts.body)
    template = templates_dir / template_name(campaign.kind)
    page_context = {
        **context,
        "campaign": Fields(
            "campaign",
            {
                "slug": campaign.slug,
                "kind": str(campaign.kind),
                "subject": texts.subject,
                "preheader": texts.preheader,
            },
        ),
        "content": Markup(body_html + FOOTER_MARK),
        "button": campaign.button or DEFAULT_BUTTON,
    }
    mjml_source = _render_template(templates_dir, template.name, page_context)
    document = _check_footer(_compile_mjml(mjml_source, template), site, template)
    document = _add_open_pixel(_inline_css(document))
    text = _text_message(campaign, site, texts.body, context)
    fallback = campaign.first_name_fallback
    from_email = campaign.from_email or site.from_email
    return CompiledCampaign(
        slug=campaign.slug,
        kind=campaign.kind,
        subject=_contextualise(texts.subject, TEXT_CONTEXT),
        html=_contextualise(document, HTML_CONTEXT),
        text=_contextualise(text, TEXT_CONTEXT),
        source_sha256=campaign.source_sha256,
        from_email=from_email,
        from_name=campaign.from_name or site.from_name,
        reply_to=campaign.reply_to or site.reply_to,
        fallbacks=(
            ("first_name", fallback),
            ("full_name", fallback),
            *REPRESENTATIVE_FALLBACKS.items(),
        ),
        list_id=list_id(site, from_email),
    )
