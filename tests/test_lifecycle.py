"""The subscriber lifecycle: the one set of rules for status changes and who is mailed."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.db import Database
from alerts.db import subscribers as subscribers_db
from alerts.models import Status, Subscriber
from alerts.subscribers import importing, lifecycle, listing
from alerts.subscribers.lifecycle import Change

S, U, B, C, F = (Status.SUBSCRIBED, Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED,
                 Status.FORGOTTEN)  # fmt: skip

# The status after each change, from each status (columns: S, U, B, C, F).
AFTER = {
    Change.SUBSCRIBE: (S, U, B, C, F),
    Change.UNSUBSCRIBE: (U, U, B, C, F),
    Change.BOUNCE: (B, U, B, C, F),
    Change.COMPLAIN: (C, C, C, C, F),
    Change.FORGET: (F, F, F, F, F),
    # A confirmed signup: new consent brings back who left, never a complaint; a
    # forgotten row stays forgotten (the person comes back as a new row).
    Change.CONFIRM: (S, S, S, C, F),
}


@pytest.mark.parametrize("change", list(Change))
def test_the_rules(change):
    assert [lifecycle.status_after(status, change) for status in (S, U, B, C, F)] == list(
        AFTER[change]
    )


@pytest.mark.parametrize(
    ("change", "status"),
    [(Change.SUBSCRIBE, S), (Change.UNSUBSCRIBE, U), (Change.BOUNCE, B), (Change.COMPLAIN, C),
     (Change.FORGET, F)],
)  # fmt: skip
def test_someone_new_gets_the_status_the_change_names(change, status):
    assert lifecycle.status_after(None, change) == status
    assert lifecycle.change_to(status) is change


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("email", ["a@example.org", None, ""])
def test_sendable_means_the_same_in_python_and_in_sql(db, status, email):
    db.execute(
        "INSERT INTO subscribers (id, email, status, created_at, updated_at)"
        " VALUES (1, ?, ?, '', '')",
        [email, status],
    )
    in_sql = db.execute(
        f"SELECT {subscribers_db.sendable('s')} FROM subscribers AS s WHERE id = 1"
    ).fetchone()[0]
    person = Subscriber(id=1, email=email, status=status)
    assert bool(in_sql) == lifecycle.is_sendable(person)
    assert lifecycle.is_sendable(person) == (status == S and bool(email))


@pytest.mark.parametrize(
    ("status", "copy"), [(S, True), (U, True), (B, False), (C, False), (F, False)]
)
def test_a_letter_copy_goes_to_subscribed_and_unsubscribed_people(status, copy):
    assert (
        lifecycle.may_get_letter_copy(Subscriber(id=1, email="a@example.org", status=status))
        == copy
    )
    assert not lifecycle.may_get_letter_copy(Subscriber(id=1, email=None, status=status))


# --------------------------------------------------------------------------
# Applied to the database


def imported(db: Database, tmp_path: Path, text: str) -> importing.ImportReport:
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return importing.run_import(db, importing.plan_import([path]), rejects_path=tmp_path / "r.csv")


def status_of(db: Database, email: str) -> str:
    return listing.get_subscriber(db, email).status


def test_apply_changes_once_and_follows_the_rules(db, tmp_path):
    imported(db, tmp_path, "email\nana@example.org\n")
    ana = listing.get_subscriber(db, "ana@example.org").id
    assert ana is not None
    assert lifecycle.apply(db, ana, Change.UNSUBSCRIBE)
    assert not lifecycle.apply(db, ana, Change.UNSUBSCRIBE)
    assert not lifecycle.apply(db, ana, Change.BOUNCE)
    assert not lifecycle.apply(db, ana, Change.SUBSCRIBE)
    assert status_of(db, "ana@example.org") == U
    assert lifecycle.apply(db, ana, Change.COMPLAIN)
    assert status_of(db, "ana@example.org") == C
    assert lifecycle.apply(db, ana, Change.FORGET)
    assert subscribers_db.get_subscriber(db, ana).email is None
    assert not lifecycle.apply(db, ana, Change.COMPLAIN)
    assert not lifecycle.apply(db, 999, Change.UNSUBSCRIBE)


def test_an_id_merged_away_still_unsubscribes_its_person(db, tmp_path):
    imported(db, tmp_path, "email\nana@example.org\n")
    ana = listing.get_subscriber(db, "ana@example.org").id
    db.execute("INSERT INTO subscriber_merges (merged_id, subscriber_id) VALUES (77, ?)", [ana])
    contact = subscribers_db.subscriber_contact(db, 77)
    assert contact is not None and contact.email == "ana@example.org"
    assert lifecycle.apply(db, 77, Change.UNSUBSCRIBE)
    assert status_of(db, "ana@example.org") == U


def test_unsubscribe_by_address(db, tmp_path):
    imported(db, tmp_path, "email\nana@example.org\n")
    first = lifecycle.unsubscribe(db, "ANA@example.org")
    assert first.changed and first.person.status == U
    again = lifecycle.unsubscribe(db, "ana@example.org")
    assert not again.changed and again.person.status == U


@pytest.mark.parametrize(
    ("statuses", "final"),
    [
        (("", "unsubscribed"), U),
        (("unsubscribed", "subscribed"), U),  # a later row never resubscribes
        (("complained", "unsubscribed"), C),  # nor turns a complaint into less
        (("bounced", "complained"), C),
        (("unsubscribed", ""), U),
    ],
)
def test_rows_of_one_person_in_one_file_follow_the_rules(db, tmp_path, statuses, final):
    rows = "".join(f"ana@example.org,{status}\n" for status in statuses)
    imported(db, tmp_path, "email,status\n" + rows)
    assert status_of(db, "ana@example.org") == final


@pytest.mark.parametrize(
    ("row", "final", "outcome"),
    [
        ("unsubscribed", U, "updated"),
        ("complained", C, "updated"),
        ("subscribed", S, "unchanged"),
    ],
)
def test_an_import_changes_a_subscribed_person_as_the_rules_say(db, tmp_path, row, final, outcome):
    imported(db, tmp_path, "email\nana@example.org\n")
    report = imported(db, tmp_path, f"email,status\nana@example.org,{row}\n")
    assert status_of(db, "ana@example.org") == final
    assert getattr(report.summary, outcome) == 1


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_an_import_changes_nobody_who_is_off_the_list(db, tmp_path, status):
    imported(db, tmp_path, f"email,status\nana@example.org,{status}\n")
    report = imported(db, tmp_path, "email,status,city\nana@example.org,subscribed,Austin\n")
    assert report.summary.suppressed == 1
    person = listing.get_subscriber(db, "ana@example.org")
    assert (person.status, person.city) == (status, None)
