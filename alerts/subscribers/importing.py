"""Importing signup exports into the subscriber list.

An import checks every file first (csvfiles.py: encoding, delimiter, columns),
then validates and normalises every row (normalise.py) and streams the rows into
a staging table inside one transaction. The merge into `subscribers` is
set-based SQL in db/imports.py, so memory stays flat for files of millions of
rows; people are matched by their email key, and what an import may change is
the lifecycle's to say (lifecycle.py). Rows without a valid email go to a
rejects CSV with their line number; everything else is merged per person.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from alerts.db import Database, utc_now, write_transaction
from alerts.db import districts as districts_db
from alerts.db import imports as imports_db
from alerts.errors import ImportFileError
from alerts.models import ImportSummary
from alerts.subscribers import lifecycle
from alerts.subscribers.csvfiles import (
    FALLBACK_WARNING,
    ExportFile,
    Progress,
    RowNotes,
    SafeCsvFile,
    inspect_export,
    parse_map,
    read_rows,
    restore_cell,
)
from alerts.subscribers.normalise import (
    InvalidValue,
    clean_tags,
    clean_text,
    email_key,
    normalise_email,
    normalise_state,
    normalise_status,
    normalise_time,
    normalise_zip,
    split_mailchimp_address,
    split_name,
    split_tags,
    strip_controls,
)

MAX_KEPT_WARNINGS = 100
_PROGRESS_EVERY = 4096


@dataclass(frozen=True)
class ImportWarning:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}: line {self.line}: {self.message}"


@dataclass
class FileResult:
    path: Path
    rows: int = 0
    warnings: int = 0
    summary: ImportSummary = field(default_factory=ImportSummary)


@dataclass
class ImportReport:
    """What an import did. Counts are per person; `warnings` keeps the first hundred."""

    summary: ImportSummary = field(default_factory=ImportSummary)
    files: list[FileResult] = field(default_factory=list)
    warnings: list[ImportWarning] = field(default_factory=list)
    warning_count: int = 0
    rejects_path: Path | None = None
    dry_run: bool = False
    touched_ids: list[int] = field(default_factory=list)  # with collect_ids: added or changed

    def warn(self, file: str, line: int, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_KEPT_WARNINGS:
            self.warnings.append(ImportWarning(file, line, message))


class _Rejects:
    """The rejects CSV of a whole import: put in place when the import ends, if needed."""

    def __init__(self, path: Path, exports: Sequence[ExportFile], *, keep_empty: bool):
        self.path = path
        self.keep_empty = keep_empty
        self.count = 0
        names = {e.path: e.names for e in exports}
        headers = list(dict.fromkeys(n for e in exports for n in names[e.path]))
        position = {name: index for index, name in enumerate(headers)}
        self._positions = {path: [position[n] for n in own] for path, own in names.items()}
        self._width = len(headers)
        self._file = SafeCsvFile(path, "the rejects file")
        self._file.write(["file", "line", "reason", *headers])

    def add(self, export: ExportFile, line: int, reason: str, row: Sequence[str]) -> None:
        self.count += 1
        cells = [""] * self._width
        for position, value in zip(self._positions[export.path], row, strict=False):
            cells[position] = value
        self._file.write([export.path.name, line, reason, *cells])

    def finish(self) -> Path | None:
        if self.count or self.keep_empty:
            self._file.commit()
            return self.path
        self._file.discard()
        return None

    def abort(self) -> None:
        self._file.discard()


@dataclass
class _FileTally:
    """One file's rejects and warnings, passed on to the rejects file and the report, counted."""

    export: ExportFile
    rejects: _Rejects
    report: ImportReport
    staged: int = 0
    rejected: int = 0
    warnings: int = 0

    def reject(self, line: int, reason: str, row: Sequence[str]) -> None:
        self.rejected += 1
        self.rejects.add(self.export, line, reason, row)

    def warn(self, line: int, message: str) -> None:
        self.warnings += 1
        self.report.warn(self.export.path.name, line, message)

    def counted(self, rows: Iterable[tuple[Any, ...]]) -> Generator[tuple[Any, ...], None, None]:
        for row in rows:
            self.staged += 1
            yield row

    @property
    def rows(self) -> int:
        """Rows that were not blank: each one was staged or rejected."""
        return self.staged + self.rejected


# --------------------------------------------------------------------------
# Rows: from CSV cells to staged people, rejects and warnings

_TEXT_FIELDS = ("first_name", "last_name", "street", "city", "phone")
_CHECKED_FIELDS: dict[str, Callable[[str], str]] = {
    "zip": normalise_zip,
    "state": normalise_state,
    "consent_at": normalise_time,
    "status": normalise_status,
}
_AT = {name: i for i, name in enumerate(imports_db.STAGED_COLUMNS)}


_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_json_string: Callable[[str], str] = json.encoder.encode_basestring


def _clean_cell(value: str) -> str:
    return clean_text(restore_cell(value) if value[:1] == "'" else value)


class _FileRows:
    """Turns the rows of one export into staging tuples, rejecting and warning as it goes.

    This is the hot loop of a large import: field positions are worked out once
    per file, and only the columns the file has are looked at. It holds plain
    values only, so csvfiles.read_rows can run it in a second process.
    """

    def __init__(
        self,
        export: ExportFile,
        run_tags: list[str],
        address_check: Callable[[str], str | None] | None = None,
    ):
        self.export = export
        self.run_tags = run_tags
        self.address_check = address_check  # a warning for an address mail cannot reach
        self.run_tags_json = _to_json(run_tags) if run_tags else None
        fields = export.columns.fields
        self.fields = fields
        self.width = len(export.header)
        self.simple = [(_AT[name], fields[name]) for name in _TEXT_FIELDS if name in fields]
        self.checked = [
            (_AT[name], fields[name], normalise)
            for name, normalise in _CHECKED_FIELDS.items()
            if name in fields
        ]
        # Full names, second street lines and Mailchimp addresses feed the plain fields.
        self.extra_keys = [(i, _json_string(name)) for i, name in export.columns.extra]
        self.composite = any(name in fields for name in ("name", "street2", "address"))
        self.line = 0  # where the current row starts
        self.read_lines = 0  # lines read so far: a row that fails to parse starts after them

    def read(
        self, notes: RowNotes, progress: Progress | None
    ) -> Generator[tuple[Any, ...], None, None]:
        raw, text = self.export.open_text(lambda line: notes.warn(line, FALLBACK_WARNING))
        with raw, text:
            try:
                yield from self.staged(raw, text, notes, progress)
            except (csv.Error, UnicodeDecodeError) as exc:
                where = f"{self.export.path}: line {self.read_lines + 1}"
                raise ImportFileError(f"{where}: {exc}") from None

    def staged(
        self, raw: IO[bytes], text: TextIO, notes: RowNotes, progress: Progress | None
    ) -> Generator[tuple[Any, ...], None, None]:
        reader = csv.reader(text, delimiter=self.export.delimiter)
        for row in reader:  # up to the header: the first row that is not blank
            if any(c.strip() for c in row):
                break
        self.read_lines, reported = reader.line_num, 0
        stage = self.stage
        for count, row in enumerate(reader, 1):
            self.line, self.read_lines = self.read_lines + 1, reader.line_num
            if row:
                staged = stage(row, notes)
                if staged is not None:
                    yield staged
            if progress is not None and count % _PROGRESS_EVERY == 0:
                position = raw.tell()
                progress(position - reported)
                reported = position
        if progress is not None:
            progress(self.export.facts.size - reported)

    def stage(self, row: list[str], notes: RowNotes) -> tuple[Any, ...] | None:
        n = len(row)
        if n < self.width:
            row += [""] * (self.width - n)
        elif n > self.width and any(c.strip() for c in row[self.width :]):
            extra = f"{n} cells but the header has {self.width}; the extra cells were ignored"
            notes.warn(self.line, extra)
        raw_email = row[self.fields["email"]].strip()
        if not raw_email:
            if any(c.strip() for c in row):
                notes.reject(self.line, "missing email", row)
            return None
        try:
            email = normalise_email(restore_cell(raw_email))
        except InvalidValue as exc:
            notes.reject(self.line, f"invalid email: {exc}", row)
            return None
        if self.address_check is not None:
            unreachable = self.address_check(email)
            if unreachable is not None:
                notes.warn(self.line, unreachable)
        values: list[Any] = [None] * len(imports_db.STAGED_COLUMNS)
        values[0] = email
        for position, index in self.simple:  # _clean_cell, inlined: it runs millions of times
            value = row[index]
            if value:
                if value[0] == "'":
                    value = restore_cell(value)
                value = " ".join(value.split())
                if not value.isprintable():
                    value = strip_controls(value)
                if not value.isascii():
                    value = unicodedata.normalize("NFC", value)
                values[position] = value or None
        if self.composite:
            self.stage_composite(row, values, notes)
        for position, index, normalise in self.checked:
            if values[position] is None and row[index]:
                try:
                    values[position] = normalise(row[index])
                except InvalidValue as exc:
                    if row[index].strip():
                        notes.warn(self.line, f"{exc}; left blank")
        values[_AT["tags"]] = self.tags(row)
        if self.export.columns.extra:
            values[_AT["extra"]] = self.extra(row)
        return (email_key(email), *values)

    def cell(self, row: list[str], name: str) -> str:
        index = self.fields.get(name)
        return _clean_cell(row[index]) if index is not None and row[index] else ""

    def stage_composite(self, row: list[str], values: list[Any], notes: RowNotes) -> None:
        """Fill plain fields from a full name, a second street line or a one-column address."""
        full_name = self.cell(row, "name")
        if full_name and not values[_AT["first_name"]] and not values[_AT["last_name"]]:
            split = split_name(full_name)
            values[_AT["first_name"]] = split.first or None
            values[_AT["last_name"]] = split.last or None
        street2 = self.cell(row, "street2")
        if street2:
            values[_AT["street"]] = ", ".join(p for p in (values[_AT["street"]], street2) if p)
        index = self.fields.get("address")
        if index is None or not row[index].strip():
            return
        parts = split_mailchimp_address(restore_cell(row[index]))
        values[_AT["street"]] = values[_AT["street"]] or parts.street or None
        values[_AT["city"]] = values[_AT["city"]] or parts.city or None
        for name, normalise in (("zip", normalise_zip), ("state", normalise_state)):
            own = self.fields.get(name)
            if getattr(parts, name) and (own is None or not row[own].strip()):
                values[_AT[name]] = self.check(getattr(parts, name), normalise, notes)

    def check(self, text: str, normalise: Callable[[str], str], notes: RowNotes) -> str | None:
        """The normalised value, or None with a warning when it cannot be used."""
        try:
            return normalise(text)
        except InvalidValue as exc:
            notes.warn(self.line, f"{exc}; left blank")
            return None

    def tags(self, row: list[str]) -> str | None:
        cell = self.cell(row, "tags")
        if not cell:
            return self.run_tags_json
        return _to_json(clean_tags([*self.run_tags, *split_tags(cell)]))

    def extra(self, row: list[str]) -> str | None:
        """The extra columns as a JSON object, built by hand: json.dumps is slow per row."""
        members = []
        for index, key in self.extra_keys:
            value = row[index] and _clean_cell(row[index])
            if value:
                members.append(f"{key}:{_json_string(value)}")
        return "{" + ",".join(members) + "}" if members else None


# --------------------------------------------------------------------------
# Running an import


def plan_import(paths: Sequence[Path | str], map_specs: Sequence[str] = ()) -> list[ExportFile]:
    """Check every file before anything is written. Raises ImportFileError."""
    if not paths:
        raise ImportFileError("no file to import")
    mapping = parse_map(map_specs)
    return [inspect_export(Path(p), mapping) for p in paths]


def default_rejects_path(first: Path) -> Path:
    """Where rejected rows go without --rejects: <first file's stem>.rejects.csv, here."""
    return Path.cwd() / f"{first.stem}.rejects.csv"


class _DryRun(Exception):
    """Raised inside the import transaction to roll it back on purpose."""


def run_import(
    db: Database,
    exports: Sequence[ExportFile],
    *,
    source: str | None = None,
    tags: Sequence[str] = (),
    rejects_path: Path | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    address_check: Callable[[str], str | None] | None = None,
    collect_ids: bool = False,
) -> ImportReport:
    """Import checked files in one transaction: all of them, or (on any error) nothing.

    Each file is merged on its own (one import_runs row each); the report sums them.
    With `dry_run` everything is computed and then rolled back. New people are
    stored with their district resolved; the districts of the existing people the
    files changed are resolved again before the commit. `address_check` says why
    mail could not reach an address (the delivery provider's rule), or None: each
    such address is imported with that warning. It must pickle (a bound method).
    With `collect_ids` the report lists the ids of the people added or changed.
    """
    report = ImportReport(dry_run=dry_run)
    rejects = _Rejects(
        rejects_path or default_rejects_path(exports[0].path),
        exports,
        keep_empty=rejects_path is not None,
    )
    try:
        with imports_db.import_caches(db), write_transaction(db):
            imports_db.import_begin(db, lifecycle.import_rules(db))
            run_tags = clean_tags(tags)
            for export in exports:
                result = _import_file(
                    db, export, source, run_tags, rejects, report, progress, address_check
                )
                report.files.append(result)
                _add_counts(report.summary, result.summary)
                if collect_ids:
                    imports_db.note_added(db)
            # Inside the transaction, so a person is never stored without their district.
            districts_db.resolve_districts(db, "import_touched")
            if collect_ids:
                report.touched_ids = imports_db.touched_ids(db)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except BaseException:
        rejects.abort()
        raise
    report.rejects_path = rejects.finish()
    return report


def _import_file(
    db: Database,
    export: ExportFile,
    source: str | None,
    run_tags: list[str],
    rejects: _Rejects,
    report: ImportReport,
    progress: Progress | None = None,
    address_check: Callable[[str], str | None] | None = None,
) -> FileResult:
    started = utc_now()
    run_source = source or export.path.name
    run_id = imports_db.import_run_start(
        db,
        file_name=export.path.name,
        sha256=export.facts.sha256,
        source=run_source,
        started_at=started,
    )
    imports_db.stage_begin(db)
    tally = _FileTally(export, rejects, report)
    reader = _FileRows(export, run_tags, address_check)
    with closing(read_rows(reader, tally, progress)) as rows:
        imports_db.stage_rows(db, tally.counted(rows))
    counts = imports_db.merge_staged(db, source=run_source, now=started)
    result = FileResult(export.path, rows=tally.rows, warnings=tally.warnings)
    result.summary = ImportSummary(
        added=counts.get("added", 0),
        updated=counts.get("updated", 0),
        unchanged=counts.get("unchanged", 0),
        rejected=tally.rejected,
        suppressed=counts.get("suppressed", 0),
    )
    imports_db.import_run_finish(
        db,
        run_id,
        {**result.summary.as_dict(), "rows": tally.rows, "warnings": tally.warnings},
        utc_now(),
    )
    return result


def _add_counts(total: ImportSummary, part: ImportSummary) -> None:
    for name, value in part.as_dict().items():
        setattr(total, name, getattr(total, name) + value)
