"""Dry-run outboxes: RFC 5322 messages in an mbox file or a folder of .eml files."""

from __future__ import annotations

import email
import mailbox
from email import policy
from pathlib import Path

import pytest

from alerts.email import outbox
from alerts.errors import InputFileError
from alerts.models import RenderedMessage

SENDER = outbox.Mailbox("updates@example.org", "End QI")
HEADERS = {
    "List-Unsubscribe": "<https://act.example.org/u/TOKEN>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


def rendered(name: str = "Zoë") -> RenderedMessage:
    return RenderedMessage(
        subject=f"{name}, ask Représentante Ñúñez to act",
        html=f"<p>Hi {name} &amp; friends</p>",
        text=f"Hi {name} & friends\nFrom here on, it is up to you.\n",
        headers=HEADERS,
    )


def write(path: Path | str, count: int = 3) -> outbox.Outbox:
    with outbox.Outbox(path, "qi") as box:
        for index in range(count):
            recipient = outbox.Mailbox(f"p{index}@example.org", f'Zoë "Z", O\'Neil {index}')
            box.add(
                outbox.email_message(
                    rendered(),
                    sender=SENDER,
                    recipient=recipient,
                    reply_to="team@example.org",
                    date=outbox.message_date(),
                ),
                index + 1,
            )
    return box


@pytest.mark.parametrize(
    ("given", "folder"),
    [("out.mbox", False), ("out/", True), ("out", False), ("existing", True)],
)
def test_a_trailing_slash_or_an_existing_folder_means_eml_files(tmp_path, given, folder):
    (tmp_path / "existing").mkdir()
    assert outbox.is_folder(f"{tmp_path}/{given}") is folder


def test_an_mbox_holds_every_message_and_quotes_from_lines(tmp_path):
    path = tmp_path / "out.mbox"
    assert write(path).count == 3
    lines = path.read_bytes().split(b"\n")
    assert sum(line.startswith(b"From ") for line in lines) == 3  # only the separators
    assert b">From here on" in path.read_bytes()
    messages = list(mailbox.mbox(path))
    assert len(messages) == 3
    parsed = email.message_from_bytes(messages[2].as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Zoë, ask Représentante Ñúñez to act"
    (to,) = parsed["To"].addresses
    assert (to.display_name, to.addr_spec) == ('Zoë "Z", O\'Neil 2', "p2@example.org")
    assert parsed["List-Unsubscribe"] == HEADERS["List-Unsubscribe"]
    assert parsed["Message-ID"].endswith("@example.org>")
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and "Hi Zoë & friends" in plain.get_content()
    assert html is not None and html.get_content().strip() == "<p>Hi Zoë &amp; friends</p>"


def test_an_mbox_is_replaced_whole_and_never_left_half_written(tmp_path):
    path = tmp_path / "out.mbox"
    write(path, 2)
    with pytest.raises(RuntimeError), outbox.Outbox(path, "qi") as box:
        box.add(
            outbox.email_message(
                rendered(), sender=SENDER, recipient=SENDER, reply_to=None, date="now"
            ),
            1,
        )
        raise RuntimeError("the run stopped")
    assert len(mailbox.mbox(path)) == 2  # the earlier outbox, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out.mbox"]  # no temporary file left
    write(path, 1)
    assert len(mailbox.mbox(path)) == 1


def test_a_folder_gets_one_eml_file_per_recipient(tmp_path):
    folder = tmp_path / "outbox"
    write(f"{folder}/", 2)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["qi-1.eml", "qi-2.eml"]
    raw = (folder / "qi-2.eml").read_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "p1@example.org"
    assert parsed.get_content_type() == "multipart/alternative"
    assert (folder / "qi-2.eml").stat().st_mode & 0o077 == 0  # addresses: owner only


def test_an_mbox_in_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(InputFileError, match=r"folder .*missing does not exist"):
        write(tmp_path / "missing" / "out.mbox")


def test_an_address_that_is_not_ascii_is_written_in_utf8_not_encoded(tmp_path):
    mail = outbox.email_message(
        rendered(),
        sender=SENDER,
        recipient=outbox.Mailbox("josé@example.org", "José"),
        reply_to=None,
        date=outbox.message_date(),
    )
    with outbox.Outbox(tmp_path / "out.mbox", "qi") as box:
        box.add(mail, 1)
    raw = (tmp_path / "out.mbox").read_bytes()
    assert "To: José <josé@example.org>".encode() in raw and b"=?utf-8?" not in raw
    box = mailbox.mbox(tmp_path / "out.mbox")
    (key,) = box.keys()
    parsed = email.message_from_bytes(box.get_bytes(key), policy=policy.default)
    # Python's parser keeps raw UTF-8 header bytes as surrogates; mail programs read UTF-8.
    address = parsed["To"].addresses[0].addr_spec
    assert address.encode("ascii", "surrogateescape").decode() == "josé@example.org"
