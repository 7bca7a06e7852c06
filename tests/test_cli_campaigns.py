"""`alerts campaigns list|new|check` and `alerts preview`, through the CLI."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import click
import pytest
from starlette.testclient import TestClient

from alerts.config import Config
from alerts.db import open_db
from alerts.email.links import read_token, token_key
from alerts.errors import TokenError
from alerts.web.app import create_app

ACTION = "end-qualified-immunity-act"
UPDATE = "progress-report"


def write(project: Path, slug: str, text: str) -> Path:
    path = project / "campaigns" / f"{slug}.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_list_shows_examples_and_status(cli, project):
    result = cli("campaigns", "list")
    lines = result.output.splitlines()
    assert lines[0].split() == ["slug", "kind", "subject", "status"]
    assert any(
        line.startswith(ACTION) and " action " in line and line.endswith("draft") for line in lines
    )
    rows = json.loads(cli("campaigns", "list", "--format", "json").output)
    assert [row["slug"] for row in rows] == [ACTION, UPDATE]
    assert rows[1] == {
        "slug": UPDATE,
        "kind": "update",
        "subject": "What your support made possible this season",
        "status": "draft",
    }


def test_list_marks_invalid_files_and_sent_campaigns(cli, project):
    write(project, "broken", "no front matter\n")
    cli("preview", UPDATE)
    db = open_db(project / "subscribers.db")
    db.execute(
        "UPDATE campaigns SET send_started_at = '2025-01-01T00:00:00Z',"
        " send_finished_at = '2025-01-01T01:00:00Z' WHERE slug = ?",
        [UPDATE],
    )
    db.conn.commit()
    db.close()
    rows = {
        row["slug"]: row for row in json.loads(cli("campaigns", "list", "--format", "json").output)
    }
    assert rows["broken"]["status"] == "invalid"
    assert rows[UPDATE]["status"] == "sent"
    assert rows[ACTION]["status"] == "draft"
    result = cli("campaigns", "list")
    assert (
        "broken: " in result.output
        and "campaigns/broken.md:1: a campaign file starts" in result.output
    )


@pytest.mark.parametrize("kind", ["update", "action"])
def test_new_scaffold_passes_the_check(cli, project, kind):
    result = cli("campaigns", "new", f"my-{kind}", "--kind", kind)
    assert "Created" in result.output
    assert (project / "campaigns" / f"my-{kind}.md").exists()
    result = cli("campaigns", "check", f"my-{kind}")
    assert result.output.startswith(f"ok       my-{kind}: {kind}")
    assert "to every subscriber (0 now)" in result.output
    again = cli("campaigns", "new", f"my-{kind}", "--kind", kind, ok=False)
    assert "already exists" in again.output


def test_new_refuses_bad_slugs_and_kinds(cli, project):
    assert "not a valid campaign slug" in cli("campaigns", "new", "Bad Slug", ok=False).output
    assert (
        "Invalid value for '--kind'"
        in cli("campaigns", "new", "x", "--kind", "poll", ok=False).output
    )
    assert not list((project / "campaigns").glob("x.md"))


def test_check_all_examples(cli, project):
    result = cli("campaigns", "check")
    assert f"ok       {ACTION}: action, 1 tracked link, to every subscriber" in result.output
    assert f"ok       {UPDATE}: update, 1 tracked link" in result.output


CASES = [
    (
        "---\nsubject: Hi\nkind: update\n---\nHello\n\n{{ subscriber.frist_name }}\n",
        ":7: body: subscriber has no field 'frist_name'",
    ),
    (
        "---\nsubject: 'Hi {{ oops }}'\nkind: update\n---\nHello\n",
        ":2: subject: undefined variable 'oops'",
    ),
    (
        "---\nsubject: Hi\nkind: update\ncolor: red\n---\nHello\n",
        ":4: front matter: unknown key 'color'",
    ),
    ("---\nsubject: Hi\nkind: [update\n---\nHello\n", ": YAML error"),
    ("---\nsubject: Hi\nkind: update\n---\n{% if %}\n", ":5: body: template syntax error"),
    (
        "---\nsubject: Hi\nkind: action\nletter:\n  to: house\n  subject: S\n  body: |\n"
        "    Dear {{ target.nick }}\n---\nBody\n",
        ":8: letter body: target has no field 'nick'",
    ),
    (
        "---\nsubject: Hi\nkind: update\n---\nHello\n\n"
        "[Tell us](https://example.org/survey?who={{ subscriber.first_name }})\n",
        ":7: body: the link https://example.org/survey?who={first_name} holds a per-recipient",
    ),
    (
        "---\nsubject: Hi\nkind: action\nletter:\n  to: house\n  subject: S\n  body: B\n"
        "---\nHello\n\n<https://example.org/reps/{{ representative.last_name }}/contact>\n",
        ":11: body: the link https://example.org/reps/{rep_last_name}/contact holds",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_check_reports_file_and_line(cli, project, text, expected):
    path = write(project, "bad", text)
    result = cli("campaigns", "check", "bad", ok=False)
    first = result.output.splitlines()[0]
    assert first.startswith(f"{path.relative_to(project)}") or first.startswith(str(path))
    assert expected in first, result.output
    assert "Error: 1 of 1 campaign(s) failed the check" in result.output


def test_check_reports_missing_footer_parts(cli, project):
    footer = project / "templates" / "_footer.mjml"
    footer.write_text(
        footer.read_text(encoding="utf-8").replace("{{ org.postal_address }}", ""), encoding="utf-8"
    )
    result = cli("campaigns", "check", UPDATE, ok=False)
    assert "update.mjml: the footer after the content must show the postal address" in result.output


def test_check_refuses_a_template_link_with_a_per_recipient_variable(cli, project):
    template = project / "templates" / "update.mjml"
    template.write_text(
        template.read_text(encoding="utf-8").replace(
            "{{ content }}",
            '{{ content }}<a href="https://example.org/?n={{ subscriber.first_name }}">x</a>',
        ),
        encoding="utf-8",
    )
    result = cli("campaigns", "check", UPDATE, ok=False)
    assert "the link https://example.org/?n={first_name} holds a per-recipient" in result.output


def test_check_reports_mjml_errors(cli, project):
    (project / "templates" / "update.mjml").write_text("<mjml><mj-body>{{ content }}", "utf-8")
    result = cli("campaigns", "check", UPDATE, ok=False)
    assert "update.mjml: MJML error" in result.output


def test_check_needs_org_settings(cli, project):
    config = project / "alerts.toml"
    config.write_text(
        re.sub(r"(?m)^postal_address = .*$", "", config.read_text(encoding="utf-8")), "utf-8"
    )
    assert "postal_address is not set" in cli("campaigns", "check", ok=False).output


def test_check_unknown_slug(cli, project):
    assert "no campaign 'nope'" in cli("campaigns", "check", "nope", ok=False).output


def test_check_counts_the_segment(cli, project):
    db = open_db(project / "subscribers.db")
    for email, state in (("a@example.org", "CA"), ("b@example.org", "NY")):
        db["subscribers"].insert(
            {"email": email, "state": state, "created_at": "x", "updated_at": "x"}
        )
    db.conn.commit()
    db.close()
    write(project, "ca-only", "---\nsubject: Hi\nkind: update\nsegment:\n  state: CA\n---\nHello\n")
    result = cli("campaigns", "check", "ca-only")
    assert "to state CA (1 now)" in result.output


def test_preview_html_with_sample(cli, project):
    result = cli("preview", ACTION)
    assert "Showing a sample subscriber and representative (no --email given)." in result.output
    assert "<!doctype html>" in result.output
    assert "Hi Alex," in result.output and "Jordan Sample" in result.output
    assert "-ALRT." not in result.output
    assert '<a href="#preview"' in result.output  # the letter button leads nowhere
    assert "https://act.example.org/" not in result.output


def test_preview_text_shows_headers(cli, project):
    result = cli("preview", UPDATE, "--text")
    assert "From: End QI <updates@example.org>" in result.output
    assert "Reply-To: team@example.org" in result.output
    assert "Subject: What your support made possible this season" in result.output
    assert "List-Unsubscribe: <#preview>" in result.output
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in result.output
    assert (
        "List-Id: Citizens Against Qualified Immunity "
        "<citizens-against-qualified-immunity.example.org>" in result.output
    )
    assert "<html" not in result.output


def test_preview_for_a_real_subscriber(cli, project):
    db = open_db(project / "subscribers.db")
    sid = (
        db["subscribers"]
        .insert(
            {
                "email": "zoe@example.org",
                "email_key": "zoe@example.org",
                "first_name": "<Zoë>",
                "last_name": "O'Hara",
                "created_at": "x",
                "updated_at": "x",
            }
        )
        .last_pk
    )
    db.conn.commit()
    db.close()
    result = cli("preview", ACTION, "--email", "zoe@example.org")
    assert "Showing a sample" not in result.output
    assert "Hi &lt;Zoë&gt;," in result.output
    assert "your representative" in result.output  # no district known for Zoë
    text = cli("preview", ACTION, "--email", "zoe@example.org", "--text").output
    assert "Subject: <Zoë>, ask your representative to end qualified immunity" in text
    assert "To: zoe@example.org" in text
    assert sid not in (None, 0)
    other = cli("preview", ACTION, "--email", "nobody@example.org").output
    assert "no subscriber has the email nobody@example.org" in other


def test_preview_out_and_open(cli, project, monkeypatch):
    opened = []
    monkeypatch.setattr(click, "launch", lambda url, **kw: opened.append(url))
    out = project / "preview.html"
    result = cli("preview", UPDATE, "--out", str(out))
    assert f"Wrote    {out}" in result.output
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert opened == []
    cli("preview", UPDATE, "--text", "--open")
    assert len(opened) == 1 and opened[0].endswith(f"alerts-preview-{UPDATE}.txt")
    assert Path(opened[0]).read_text(encoding="utf-8").startswith("From: ")
    missing = cli("preview", UPDATE, "--out", str(project / "no" / "such" / "x.html"), ok=False)
    assert "does not exist" in missing.output


def test_preview_needs_base_url_and_a_valid_campaign(cli, project):
    write(project, "bad", "---\nsubject: Hi\nkind: update\n---\n{{ nope }}\n")
    assert "bad.md:5: body: undefined variable 'nope'" in cli("preview", "bad", ok=False).output
    config = project / "alerts.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "https://act.example.org", "http://act.example.org"
        ),
        "utf-8",
    )
    assert "base_url must be an https:// URL" in cli("preview", UPDATE, ok=False).output


def _add_subscriber(project: Path, email: str) -> int:
    db = open_db(project / "subscribers.db")
    sid = (
        db["subscribers"]
        .insert(
            {
                "email": email,
                "email_key": email,
                "first_name": "Zoe",
                "status": "subscribed",
                "created_at": "x",
                "updated_at": "x",
            }
        )
        .last_pk
    )
    db.conn.commit()
    db.close()
    return int(sid)


def _urls(document: str, text: str) -> set[str]:
    """Every URL a mail app or browser could fetch or follow in a message and its headers."""
    attributes = re.findall(r'\b(?:href|src)="([^"]*)"', document)
    bracketed = re.findall(r"<((?:[a-z]+:|#)[^<>\s]*)>", text)
    return {html.unescape(url) for url in attributes} | set(bracketed)


@pytest.mark.parametrize("slug", [ACTION, UPDATE])
def test_a_preview_records_nothing_and_carries_no_working_token(cli, project, slug):
    sid = _add_subscriber(project, "zoe@example.org")
    preview = project / "preview.html"
    cli("preview", slug, "--email", "zoe@example.org", "--out", str(preview))
    text = cli("preview", slug, "--email", "zoe@example.org", "--text").output
    document = preview.read_text(encoding="utf-8")
    assert "Hi Zoe," in document  # it is Zoe's message
    urls = _urls(document, text)

    config = Config.load(project / "alerts.toml")
    key = token_key(config.require("secret"))
    base = config.require("base_url")
    with TestClient(create_app(project / "subscribers.db", config), follow_redirects=False) as app:
        app.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"
        for url in sorted(urls):
            for part in filter(None, re.split(r"[/?#=&.]", url)):
                with pytest.raises(TokenError):
                    read_token(key, part)
            if url.startswith(base):
                path = urlsplit(url).path
                assert app.get(path).status_code in (200, 302, 404)
                assert app.post(path, data={"List-Unsubscribe": "One-Click"}).status_code < 500
            else:  # the campaign's own pages, or nowhere
                assert url.startswith(("https://", "mailto:", "#")), url
    db = open_db(project / "subscribers.db")
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    assert db.execute("SELECT status FROM subscribers WHERE id = ?", [sid]).fetchone()[0] == (
        "subscribed"
    )
    db.close()
    assert "#preview" in urls and not any("/o/" in url for url in urls)
