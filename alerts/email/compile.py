"""Building messages: Jinja, Markdown, MJML and premailer live here and only here.

A campaign is compiled once (`compile_campaign`): its texts go through a
sandboxed Jinja pass in which every per-recipient variable becomes a
placeholder (models.placeholder), the Markdown body becomes HTML and plain
text, the MJML template wraps it, mjml-python compiles it and premailer
inlines the CSS. Each recipient's message is then plain substitution of the
placeholders (`personalise`), the same substitution SendGrid performs when it
is handed the compiled content and the map from pipeline.recipient_values.

Letters (`render_letter`, `render_call_script`, `render_tweet`) are plain
text rendered per visit with the real `target` and `subscriber`; they are
not HTML-escaped here, so the page that shows them must escape them.

The pages of `alerts serve` (`render_page`) are rendered here too, from
alerts/pages/, with autoescaping on.
"""

from __future__ import annotations

import html
import logging
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from markupsafe import Markup
from mjml import mjml2html
from premailer import Premailer

from alerts.errors import CampaignError
from alerts.models import (
    HTML_CONTEXT,
    NEUTRAL_CONTEXT,
    PLACEHOLDER_MARK,
    PLACEHOLDER_RE,
    TEXT_CONTEXT,
    Campaign,
    CampaignKind,
    CompiledCampaign,
    Member,
    RenderedMessage,
    SiteSettings,
    SourceText,
    Subscriber,
    placeholder,
)

DEFAULT_BUTTON = "Send your letter"
TEXT_WIDTH = 76
FOOTER_MARK = "<!--alerts:end-of-content-->"
OPEN_PIXEL = (
    '<img src="{src}" width="1" height="1" alt="" '
    'style="display:block;width:1px;height:1px;border:0;overflow:hidden;">'
)
UNSUBSCRIBE_TEXT_KEY = placeholder("unsubscribe_url", TEXT_CONTEXT)
ONE_CLICK = "List-Unsubscribe=One-Click"

# Per-recipient variables: (Jinja name, field) -> placeholder name.
SUBSCRIBER_FIELDS = {"first_name": "first_name", "last_name": "last_name", "full_name": "full_name"}
REPRESENTATIVE_FIELDS = {
    "full_name": "rep_full_name",
    "last_name": "rep_last_name",
    "title": "rep_title",
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
}

_NAME_RE = r"[a-z0-9_.]+?"
_NEUTRAL_RE = re.compile(rf"-ALRT\.({_NAME_RE})\.{NEUTRAL_CONTEXT}-")


# --------------------------------------------------------------------------
# Jinja: sandboxed, strict, with errors as file:line


class _Fields(dict):
    """A namespace of per-recipient fields, named in error messages."""

    def __init__(self, label: str, values: Mapping[str, Any]):
        super().__init__(values)
        self.label = label


class _StrictUndefined(jinja2.StrictUndefined):
    """StrictUndefined with messages that name the variable a person wrote."""

    @property
    def _undefined_message(self) -> str:
        obj, name = self._undefined_obj, self._undefined_name
        if self._undefined_hint:
            return self._undefined_hint
        if isinstance(obj, _Fields):
            known = ", ".join(sorted(obj))
            return f"{obj.label} has no field {name!r} (known: {known})"
        if obj is jinja2.utils.missing:
            return f"undefined variable {name!r}"
        return super()._undefined_message


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


def _environment(loader: jinja2.BaseLoader | None = None, autoescape: bool = False) -> Any:
    return ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=_StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_TEXT_ENV = _environment()


class _Problem(Exception):
    """One `file:line: message`, raised inside this module and collected by callers."""


def _error_line(exc: BaseException, filename: str) -> int | None:
    """The template line of the innermost traceback frame that ran `filename`."""
    line = getattr(exc, "lineno", None) if isinstance(exc, jinja2.TemplateSyntaxError) else None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _message(exc: BaseException) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"not allowed in a campaign: {exc}"
    if isinstance(exc, jinja2.UndefinedError | jinja2.TemplateRuntimeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@lru_cache(maxsize=256)
def _compile_text(text: str, filename: str) -> jinja2.Template:
    code = _TEXT_ENV.compile(text, name=filename, filename=filename)
    return _TEXT_ENV.template_class.from_code(_TEXT_ENV, code, _TEXT_ENV.make_globals(None))


def _render_source(source: SourceText, path: Path, label: str, context: Mapping[str, Any]) -> str:
    """Render one text of a campaign file; errors become `path:line: message`."""
    filename = f"{path}#{label}"
    try:
        return _compile_text(source.text, filename).render(context)
    except Exception as exc:  # user templates can fail in many ways; all are reported
        line = _error_line(exc, filename)
        where = source.line + (line - 1 if line else 0)
        raise _Problem(f"{path}:{where}: {label}: {_message(exc)}") from None


# --------------------------------------------------------------------------
# Markdown: to HTML, and to plain text from the same tokens


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"linkify": True, "typographer": False})
    md.enable(["linkify", "table", "strikethrough"])
    md.linkify.set({"fuzzy_link": False, "fuzzy_email": False})
    return md


_MD = _markdown()
_TAG_RE = re.compile(r"<[^>]*>")


def markdown_to_html(text: str) -> str:
    return _MD.render(text)


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
        bare = href.removeprefix("notrack:")
        return f"<{href}>" if shown in (bare, href, "") else f"{inner} <{href}>"
    return inner


# Widths a placeholder is counted as when wrapping text: about what it becomes.
URL_WIDTH = 45
NAME_WIDTH = 8


def _wrap(text: str, indent: str = "") -> str:
    """Fill lines to TEXT_WIDTH, counting each placeholder as the width of a typical value."""
    stand_ins: dict[str, str] = {}

    def stand_in(match: re.Match[str]) -> str:
        width = URL_WIDTH if match.group(1).endswith("_url") else NAME_WIDTH
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
    subscriber = _Fields(
        "subscriber",
        {f: _Placeholder(name, f"subscriber.{f}") for f, name in SUBSCRIBER_FIELDS.items()},
    )
    representative = _Fields(
        "representative",
        {f: _Placeholder(name, f"representative.{f}") for f, name in REPRESENTATIVE_FIELDS.items()},
    )
    context: dict[str, Any] = {
        "subscriber": subscriber,
        "representative": representative,
        "unsubscribe_url": _Placeholder("unsubscribe_url", "unsubscribe_url"),
    }
    if campaign.kind is CampaignKind.ACTION:
        context["letter_url"] = _Placeholder("letter_url", "letter_url")
    else:
        context["letter_url"] = _StrictUndefined(
            hint="letter_url is only available in action campaigns", name="letter_url"
        )
    return context


def _campaign_context(campaign: Campaign, site: SiteSettings) -> dict[str, Any]:
    text_code = campaign.letter.text_code if campaign.letter else None
    return {
        **_recipient_context(campaign),
        "org": _Fields("org", {"name": site.org_name, "postal_address": site.postal_address}),
        "campaign": _Fields("campaign", {"slug": campaign.slug, "kind": str(campaign.kind)}),
        "text_code": (
            _Fields("text_code", {"keyword": text_code.keyword, "number": text_code.number})
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
            raise _Problem(
                f"{path}:{line}: {label}: a per-recipient variable was changed by a filter "
                "or expression; print it as it is, e.g. {{ subscriber.first_name }}"
            )


def _render_campaign_text(
    source: SourceText, campaign: Campaign, label: str, context: Mapping[str, Any]
) -> str:
    rendered = _render_source(source, campaign.path, label, context)
    _check_placeholders(rendered, campaign.path, source, label)
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
        except _Problem as problem:
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
def _template_environment(templates_dir: str) -> Any:
    return _environment(jinja2.FileSystemLoader(templates_dir), autoescape=True)


def _render_template(templates_dir: Path, name: str, context: Mapping[str, Any]) -> str:
    env = _template_environment(str(templates_dir.resolve()))
    path = templates_dir / name
    try:
        template = env.get_template(name)
        return template.render(context)
    except jinja2.TemplateNotFound as exc:
        raise CampaignError(f"{templates_dir / exc.name}: template not found") from None
    except Exception as exc:  # a template error is reported with its file and line
        filename = getattr(exc, "filename", None) or _innermost_template(exc) or str(path)
        line = _error_line(exc, filename) or 1
        raise CampaignError(f"{_relative(filename)}:{line}: {_message(exc)}") from None


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
    inlined = inliner.transform(pretty_print=False)
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
        rep = placeholder(REPRESENTATIVE_FIELDS["full_name"])
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
        "campaign": _Fields(
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
    return CompiledCampaign(
        slug=campaign.slug,
        kind=campaign.kind,
        subject=_contextualise(texts.subject, TEXT_CONTEXT),
        html=_contextualise(document, HTML_CONTEXT),
        text=_contextualise(text, TEXT_CONTEXT),
        source_sha256=campaign.source_sha256,
        from_email=campaign.from_email or site.from_email,
        from_name=campaign.from_name or site.from_name,
        reply_to=campaign.reply_to or site.reply_to,
        fallbacks=(
            ("first_name", fallback),
            ("full_name", fallback),
            *REPRESENTATIVE_FALLBACKS.items(),
        ),
    )


# --------------------------------------------------------------------------
# Per recipient: substitution only


def one_line(value: str) -> str:
    """A value safe for a subject or header: no CR, LF or other control characters."""
    if value.isprintable():
        return value
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())


def personalise(compiled: CompiledCampaign, values: Mapping[str, str]) -> RenderedMessage:
    """One recipient's message: the compiled parts with every placeholder replaced.

    `values` maps each placeholder spelling (compiled.keys) to its value, escaped
    for its context (pipeline.recipient_values builds it). Raises CampaignError
    if one is missing.
    """
    try:
        subject_plan, html_plan, text_plan = compiled.plans
        subject = subject_plan.fill(values)
        html_part = html_plan.fill(values)
        text_part = text_plan.fill(values)
        unsubscribe = values[UNSUBSCRIBE_TEXT_KEY]
    except KeyError as exc:
        raise CampaignError(f"{compiled.slug}: no value for placeholder {exc.args[0]}") from None
    headers = {"List-Unsubscribe": f"<{one_line(unsubscribe)}>", "List-Unsubscribe-Post": ONE_CLICK}
    return RenderedMessage(one_line(subject), html_part, text_part, headers)


def placeholder_name(key: str) -> tuple[str, str]:
    """(name, context) of a placeholder spelling such as `-ALRT.link.3.h-`."""
    match = PLACEHOLDER_RE.fullmatch(key)
    if match is None:
        raise ValueError(f"not a placeholder: {key!r}")
    return match.group(1), match.group(2)


# --------------------------------------------------------------------------
# Letters: plain text per target, rendered when the letter page is shown


class LetterText(NamedTuple):
    subject: str
    body: str


LETTER_SUBSCRIBER_FIELDS = ("first_name", "last_name", "full_name", "city", "state", "zip")


def _letter_context(subscriber: Subscriber, target: Member) -> dict[str, Any]:
    person = {name: getattr(subscriber, name) or "" for name in LETTER_SUBSCRIBER_FIELDS}
    member = {f.name: getattr(target, f.name) for f in fields(Member)}
    member = {k: ("" if v is None else v) for k, v in member.items()}
    return {
        "subscriber": _Fields("subscriber", person),
        "target": _Fields("target", member),
    }


def _render_letter_part(
    campaign: Campaign, label: str, source: SourceText, subscriber: Subscriber, target: Member
) -> str:
    try:
        return _render_source(source, campaign.path, label, _letter_context(subscriber, target))
    except _Problem as problem:
        raise CampaignError(str(problem)) from None


def _letter(campaign: Campaign) -> Any:
    if campaign.letter is None:
        raise CampaignError(f"{campaign.path}: {campaign.slug} is not an action campaign")
    return campaign.letter


def render_letter(campaign: Campaign, subscriber: Subscriber, target: Member) -> LetterText:
    """The letter's subject and body for one target. Plain text: escape it to show it."""
    letter = _letter(campaign)
    subject = _render_letter_part(campaign, "letter subject", letter.subject, subscriber, target)
    body = _render_letter_part(campaign, "letter body", letter.body, subscriber, target)
    return LetterText(one_line(subject).strip(), body.strip() + "\n")


def render_call_script(campaign: Campaign, subscriber: Subscriber, target: Member) -> str | None:
    letter = _letter(campaign)
    if letter.call_script is None:
        return None
    text = _render_letter_part(campaign, "call_script", letter.call_script, subscriber, target)
    return text.strip() + "\n"


def render_tweet(campaign: Campaign, subscriber: Subscriber, target: Member) -> str | None:
    letter = _letter(campaign)
    if letter.tweet is None:
        return None
    return " ".join(
        _render_letter_part(campaign, "tweet", letter.tweet, subscriber, target).split()
    )


TWEET_LIMIT = 280


def check_letter(
    campaign: Campaign, subscriber: Subscriber, targets: Iterable[Member]
) -> list[str]:
    """Problems found rendering each part of the letter for sample targets."""
    letter = _letter(campaign)
    parts = [
        ("letter subject", letter.subject),
        ("letter body", letter.body),
        ("call_script", letter.call_script),
        ("tweet", letter.tweet),
    ]
    problems: list[str] = []
    for label, source in parts:
        if source is None:
            continue
        for target in targets:
            try:
                text = _render_letter_part(campaign, label, source, subscriber, target)
            except CampaignError as exc:
                problem = str(exc)
            else:
                length = len(" ".join(text.split()))
                if label != "tweet" or length <= TWEET_LIMIT:
                    continue
                problem = (
                    f"{campaign.path}:{source.line}: tweet: {length} characters "
                    f"for {target.full_name}, over the limit of {TWEET_LIMIT}"
                )
            if problem not in problems:
                problems.append(problem)
    return problems


# ==========================================================================
# Pages of `alerts serve` (issue 6: the tracking server)
#
# Every page extends pages/base.html (layout, footer, the one stylesheet in
# pages/static/, nothing from third parties). The environment autoescapes
# everything and refuses undefined names, so a subscriber's values always
# reach the page escaped and a typo in a template fails loudly in the tests.

PAGES_DIR = Path(__file__).resolve().parent.parent / "web" / "pages"
PAGE_STATIC_DIR = PAGES_DIR / "static"


@cache
def page_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PAGES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(name: str, **context: Any) -> str:
    """Render pages/<name> with `context`; every value is HTML-escaped."""
    return page_environment().get_template(name).render(**context)


# --------------------------------------------------------------------------
# The letter page (issue 6, part 2): links built from letter text, and the copy
# a subscriber can email to themselves. Values are plain text until the page
# template escapes them; every URL here percent-encodes what it carries.

TWEET_INTENT = "https://twitter.com/intent/tweet"
LETTER_COPY_DIR = PAGES_DIR / "email"


def addressed_letter(member: Member, body: str) -> str:
    """The letter as it is pasted into a form: "The Honorable <name>", then the body.

    A body that already starts with "The Honorable" is left as the author wrote it.
    """
    text = body.strip("\n")
    if text.lower().startswith("the honorable"):
        return text + "\n"
    return f"The Honorable {member.full_name}\n\n{text}\n"


def web_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL, else None: nothing else becomes a link."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def tel_url(phone: str | None) -> str | None:
    """A US phone number as a tel: link (tel:+12025550100), or None if it is not one."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return f"tel:+1{digits}" if len(digits) == 10 else None


def mailto_url(subject: str, body: str) -> str:
    """An address-less mailto: link with subject and body (RFC 6068: CRLF line breaks)."""
    crlf = body.replace("\r\n", "\n").replace("\n", "\r\n")
    return f"mailto:?subject={quote(subject, safe='')}&body={quote(crlf, safe='')}"


def tweet_url(text: str) -> str:
    """X's (Twitter's) web intent with the post's text filled in."""
    return f"{TWEET_INTENT}?text={quote(text, safe='')}"


def addressed_tweet(text: str, handle: str | None) -> str:
    """The tweet, starting with @handle when the member has one the text leaves out."""
    if not handle or f"@{handle}".lower() in text.lower():
        return text
    return f"@{handle} {text}"


def sms_url(number: str, keyword: str) -> str:
    """An sms: link with the keyword as the message (the `?&body=` form suits iOS and Android)."""
    recipient = re.sub(r"[^\d+]", "", number)
    return f"sms:{recipient}?&body={quote(keyword, safe='')}"


class LetterCopy(NamedTuple):
    subject: str
    text: str
    html: str


@cache
def _letter_copy_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(LETTER_COPY_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_letter_copy(**context: Any) -> LetterCopy:
    """The "Email me a copy" message: pages/email/letter_copy.{txt,html} with `context`.

    The HTML part escapes every value; the text part is plain. The subject is
    "Your letter to <title> <name>".
    """
    member: Member = context["member"]
    environment = _letter_copy_environment()
    subject = one_line(f"Your letter to {member.title} {member.full_name}")
    text = environment.get_template("letter_copy.txt").render(**context)
    document = environment.get_template("letter_copy.html").render(subject=subject, **context)
    return LetterCopy(subject, text, document)
