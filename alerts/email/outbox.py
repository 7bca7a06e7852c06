"""Dry-run outboxes: personalised messages as real RFC 5322 files a mail program opens.

`alerts send --dry-run --outbox PATH` writes every message it would have sent:

- PATH ending with a slash, or an existing folder: a folder of `.eml` files,
  one per recipient, named `<slug>-<subscriber id>.eml` (CRLF line endings; a file of the same
  name is replaced);
- anything else: one mbox file (body lines starting with `From ` quoted as
  `>From `, LF endings), replaced if it exists.

Each message is multipart/alternative (text/plain, then text/html) with From,
To, Reply-To, Subject, Date, Message-ID and the List-Unsubscribe headers, built
with the standard library's email package. Nothing is half-written: the mbox is
written to a temporary file renamed into place when complete, each .eml file
likewise. Files are created readable by their owner only (they hold addresses).
"""

from __future__ import annotations

import mailbox
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from types import TracebackType

from alerts.errors import InputFileError
from alerts.files import temporary_beside, write_whole
from alerts.models import RenderedMessage
from alerts.subscribers.normalise import strip_controls

MBOX_POLICY = policy.default  # LF line endings; .eml files get CRLF, as RFC 5322 has it


@dataclass(frozen=True)
class Mailbox:
    """A name and an address for a From or To header."""

    email: str
    name: str | None = None

    def address(self) -> Address:
        local, _, domain = self.email.rpartition("@")
        return Address(display_name=strip_controls(self.name or ""), username=local, domain=domain)


def is_folder(path: Path | str) -> bool:
    """The rule for --outbox: a trailing slash or an existing folder means .eml files."""
    text = str(path)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def email_message(
    message: RenderedMessage,
    *,
    sender: Mailbox,
    recipient: Mailbox,
    reply_to: str | None,
    date: str,
) -> EmailMessage:
    """One recipient's message as an RFC 5322 multipart/alternative message.

    Headers are ASCII (RFC 2047 encoded words for names and subjects), unless an
    address itself is not: then the message is written in UTF-8 (RFC 6532), as
    an address may not be encoded.
    """
    ascii_only = sender.email.isascii() and recipient.email.isascii()
    mail = EmailMessage(policy=MBOX_POLICY if ascii_only else MBOX_POLICY.clone(utf8=True))
    mail["From"] = sender.address()
    mail["To"] = recipient.address()
    if reply_to:
        mail["Reply-To"] = reply_to
    mail["Subject"] = strip_controls(message.subject)
    mail["Date"] = date
    mail["Message-ID"] = make_msgid(domain=sender.email.rpartition("@")[2] or None)
    for name, value in message.headers.items():
        mail[name] = strip_controls(value)
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


def message_date() -> str:
    """The Date header of a dry run's messages: now, in UTC."""
    return format_datetime(datetime.now(UTC))


class Outbox:
    """Writes messages to an mbox file or a folder of .eml files (see `is_folder`)."""

    def __init__(self, path: Path | str, slug: str):
        self.path = Path(path)
        self.slug = slug
        self.folder = is_folder(path)
        self.count = 0
        self._mbox: mailbox.mbox | None = None
        self._temporary: Path | None = None

    def __enter__(self) -> Outbox:
        if self.folder:
            self._make_folder()
        else:
            self._open_mbox()
        return self

    def _make_folder(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputFileError(f"--outbox {self.path}: {exc.strerror or exc}") from None

    def _open_mbox(self) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            raise InputFileError(f"--outbox {self.path}: folder {folder} does not exist")
        handle, self._temporary = temporary_beside(self.path)
        os.close(handle)
        self._mbox = mailbox.mbox(self._temporary, create=True)

    def add(self, mail: EmailMessage, subscriber_id: int) -> None:
        if self._mbox is not None:
            self._mbox.add(mail)
        else:
            target = self.path / f"{self.slug}-{subscriber_id}.eml"
            write_whole(target, mail.as_bytes(policy=mail.policy.clone(linesep="\r\n")))
        self.count += 1

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._mbox is None or self._temporary is None:
            return
        try:
            self._mbox.close()
            if kind is None:
                os.replace(self._temporary, self.path)
        finally:
            self._temporary.unlink(missing_ok=True)
