"""`alerts import` of awkward files: mixed encodings, control characters, odd headers."""

from __future__ import annotations

import csv
import email
import json
import mailbox
from email import policy
from pathlib import Path
from typing import Any

from send_helpers import UPDATE, project_db, use_fake

from alerts.db import subscribers as subscribers_db
from alerts.delivery.provider import Recipient
from alerts.delivery.providers.sendgrid.standin import FakeSendGrid
from alerts.delivery.providers.sendgrid.wire import personalization
from alerts.models import Subscriber, SubscriberFilter

MOST_COLUMNS = 1000  # the documented limit (docs/importing.md)
ACCENTED = ["José", "Zoë", "Bérénice", "Łukasz", "Ñandú", "François", "Chloé", "Søren"]


def stored(project: Path) -> dict[str, Subscriber]:
    db = project_db(project)
    try:
        return {p.email: p for p in subscribers_db.iter_subscribers(db, SubscriberFilter())}
    finally:
        db.close()


def import_json(cli: Any, *args: str, ok: bool = True) -> Any:
    return cli("import", *args, "--format", "json", ok=ok)


def warnings_of(result: Any) -> list[str]:
    return [line.strip() for line in result.stderr.splitlines() if ": line " in line]


# --------------------------------------------------------------------------
# One Windows-1252 line in a UTF-8 file


def test_one_windows_1252_line_does_not_garble_the_utf8_ones(cli, project):
    lines = [b"email,first_name,zip\r\n"]
    for index in range(200):
        name = ACCENTED[index % len(ACCENTED)]
        lines.append(f"p{index}@example.org,{name},05401\r\n".encode())
    lines.insert(58, "old@example.org,Renée,05401\r\n".encode("cp1252"))  # line 59
    (project / "mixed.csv").write_bytes(b"".join(lines))

    result = import_json(cli, "mixed.csv")

    people = stored(project)
    assert json.loads(result.stdout)["added"] == 201
    garbled = [p.email for p in people.values() if p.first_name not in [*ACCENTED, "Renée"]]
    assert garbled == []
    assert people["p0@example.org"].first_name == "José"
    assert people["old@example.org"].first_name == "Renée"
    assert warnings_of(result) == [
        "mixed.csv: line 59: not valid UTF-8: read as Windows-1252; check its accented letters"
    ]


def test_a_big_mixed_file_read_by_the_second_process_warns_the_same(cli, project):
    path = project / "big.csv"
    with path.open("wb") as out:
        out.write(b"email,first_name,notes\n")
        padding = "x" * 200
        for index in range(45_000):
            out.write(f"p{index}@example.org,Zoë,{padding}\n".encode())
        out.write("late@example.org,Mañana,\n".encode("cp1252"))  # line 45,002
    assert path.stat().st_size > 8 << 20  # the size at which a second process reads the rows

    result = import_json(cli, "big.csv")

    assert json.loads(result.stdout)["added"] == 45_001
    assert warnings_of(result) == [
        "big.csv: line 45002: not valid UTF-8: read as Windows-1252; check its accented letters"
    ]
    people = stored(project)
    assert people["p44999@example.org"].first_name == "Zoë"
    assert people["late@example.org"].first_name == "Mañana"


def test_a_file_all_in_windows_1252_still_imports_without_warnings(cli, project):
    text = "email,first_name\r\n" + "".join(f"p{i}@example.org,Renée\r\n" for i in range(5))
    (project / "old.csv").write_bytes(text.encode("cp1252"))
    result = import_json(cli, "old.csv")
    assert warnings_of(result) == []
    assert {p.first_name for p in stored(project).values()} == {"Renée"}


# --------------------------------------------------------------------------
# Control characters, after the first 64 KiB too


def test_control_characters_never_reach_names_the_outbox_or_sendgrid(cli, project, monkeypatch):
    rows = [["email", "first_name", "last_name", "city", "Notes"]]
    rows += [[f"filler{i}@example.org", "Ana", "Ruiz", "Austin", "-" * 700] for i in range(100)]
    rows.append(["bad@example.org", "Ev\x00il\x1b[31m", "Na\x07me\x7f", "Ci\x1bty", "a\x00b"])
    with (project / "controls.csv").open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    assert (project / "controls.csv").stat().st_size > 65536

    cli("import", "controls.csv")

    person = stored(project)["bad@example.org"]
    texts = [person.first_name, person.last_name, person.city, *person.extra.values()]
    assert texts == ["Ev il [31m", "Na me", "Ci ty", "a b"]
    with FakeSendGrid() as fake:
        use_fake(monkeypatch, fake)
        cli("send", UPDATE, "--dry-run", "--outbox", "out.mbox")
    for message in mailbox.mbox(project / "out.mbox"):
        mail = email.message_from_bytes(message.as_bytes(), policy=policy.default)
        for value in mail.values():
            assert value.isprintable(), value

    dirty = Recipient(subscriber_id=1, email="x@example.org", name="A\x00B\x1bC\x7f")
    assert personalization(dirty, None)["to"] == [{"email": "x@example.org", "name": "A B C"}]


# --------------------------------------------------------------------------
# Repeated and very many columns


def test_a_repeated_header_keeps_both_values(cli, project):
    (project / "notes.csv").write_text(
        "email,Notes,zip,Notes\na@example.org,first note,05401,second note\n", encoding="utf-8"
    )
    cli("import", "notes.csv")
    assert stored(project)["a@example.org"].extra == {
        "Notes": "first note",
        "Notes_2": "second note",
    }


def test_a_repeated_header_of_a_known_field_is_refused_naming_it(cli, project):
    (project / "two.csv").write_text(
        "Email,zip,email\na@example.org,05401,b@example.org\n", encoding="utf-8"
    )
    result = cli("import", "two.csv", ok=False)
    assert result.stderr.strip() == (
        "Error: two.csv: column 'Email' (email) appears 2 times (columns 1, 3);"
        " rename or remove all but one"
    )
    assert stored(project) == {}


def test_rejected_rows_keep_both_values_of_a_repeated_header(cli, project):
    (project / "notes.csv").write_text("email,Notes,Notes\nnope,one,two\n", encoding="utf-8")
    cli("import", "notes.csv")
    with (project / "notes.rejects.csv").open(encoding="utf-8-sig", newline="") as rejects:
        rows = list(csv.reader(rejects))
    assert rows[0][3:] == ["email", "Notes", "Notes_2"]
    assert rows[1][3:] == ["nope", "one", "two"]


def test_a_file_with_too_many_columns_is_refused_in_one_line(cli, project):
    header = ["email", *(f"c{i}" for i in range(100_000 - 1))]
    (project / "wide.csv").write_text(
        ",".join(header) + "\nnope\n" + "a@example.org\n", encoding="utf-8"
    )
    result = cli("import", "wide.csv", "--dry-run", ok=False)
    assert result.stderr.strip() == (
        f"Error: wide.csv: the header has 100,000 columns; at most {MOST_COLUMNS:,} are supported"
    )


def test_a_file_with_the_most_columns_allowed_imports(cli, project):
    header = ["email", *(f"c{i}" for i in range(MOST_COLUMNS - 1))]
    rejected = ["nope", *(f"r{i}" for i in range(MOST_COLUMNS - 1))]
    kept = ["a@example.org", *(f"v{i}" for i in range(MOST_COLUMNS - 1))]
    with (project / "wide.csv").open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([header, rejected, kept])
    result = import_json(cli, "wide.csv")
    assert json.loads(result.stdout)["added"] == 1
    person = stored(project)["a@example.org"]
    assert len(person.extra) == MOST_COLUMNS - 1 and person.extra["c998"] == "v998"
    with (project / "wide.rejects.csv").open(encoding="utf-8-sig", newline="") as rejects:
        assert list(csv.reader(rejects))[1][3:] == rejected
