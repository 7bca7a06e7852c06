"""The subscriber list: finding people, counting, listing and exporting them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from alerts.db import Database
from alerts.db import subscribers as subscribers_db
from alerts.errors import LookupFailed, NotFoundError
from alerts.models import Status, Subscriber, SubscriberFilter
from alerts.subscribers.csvfiles import SafeCsvFile, safe_csv_writer
from alerts.subscribers.normalise import InvalidValue, clean_text, lookup_key, normalise_state


def subscriber_filter(
    status: str | None = None, tag: str | None = None, state: str | None = None
) -> SubscriberFilter:
    """A filter from command-line values; the state may be a name. Raises LookupFailed."""
    if status is not None and status not in set(Status):
        raise LookupFailed(f"status {status!r} is not one of {', '.join(Status)}")
    code = None
    if state:
        try:
            code = normalise_state(state)
        except InvalidValue as exc:
            raise LookupFailed(str(exc)) from None
    return SubscriberFilter(status=status, tag=clean_text(tag) if tag else None, state=code)


def count_subscribers(db: Database, where: SubscriberFilter) -> dict[str, int]:
    """Counts by status (every status, zero included) and `total`."""
    found = subscribers_db.count_by_status(db, where)
    counts = {str(status): found.get(str(status), 0) for status in Status}
    counts["total"] = sum(counts.values())
    return counts


def list_subscribers(
    db: Database, where: SubscriberFilter, limit: int | None = None
) -> Iterator[Subscriber]:
    return subscribers_db.iter_subscribers(db, where, limit)


def find_subscriber(db: Database, email: str) -> Subscriber | None:
    """The person with this address, however it is typed (normalise.email_key), or None."""
    return subscribers_db.find_subscriber(db, lookup_key(email)) if email.strip() else None


def get_subscriber(db: Database, email: str) -> Subscriber:
    """Like find_subscriber; raises NotFoundError when nobody has the address."""
    found = find_subscriber(db, email)
    if found is None:
        raise NotFoundError(f"no subscriber with email {email.strip()!r}")
    return found


EXPORT_COLUMNS = (
    "email", "first_name", "last_name", "street", "city", "state", "zip", "phone",
    "status", "source", "tags", "consent_at", "created_at", "updated_at",
)  # fmt: skip


def write_subscribers(
    db: Database, out: TextIO, where: SubscriberFilter, limit: int | None = None
) -> int:
    """Write matching subscribers as spreadsheet-safe CSV, extra fields as more columns."""
    return _write_rows(db, safe_csv_writer(out), where, limit)


def export_subscribers(db: Database, path: Path, where: SubscriberFilter) -> int:
    """Write the CSV export to `path` (UTF-8 with BOM for Excel), all or nothing."""
    with SafeCsvFile(path) as out:
        return _write_rows(db, out.write, where)


def _write_rows(
    db: Database,
    write: Callable[[Sequence[Any]], None],
    where: SubscriberFilter,
    limit: int | None = None,
) -> int:
    columns = EXPORT_COLUMNS
    extra = [k for k in subscribers_db.extra_keys(db, where) if k not in columns]
    write([*columns, *extra])
    count = 0
    for person in subscribers_db.iter_subscribers(db, where, limit):
        cells = [_export_value(person, name) for name in columns]
        write([*cells, *(person.extra.get(k, "") for k in extra)])
        count += 1
    return count


def _export_value(person: Subscriber, name: str) -> Any:
    value = getattr(person, name)
    return ", ".join(value) if isinstance(value, list) else value
