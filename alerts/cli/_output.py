"""Printing helpers shared by the commands: tables, JSON, CSV and the progress bar."""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar as ClickProgressBar

F = TypeVar("F", bound=Callable[..., Any])


def format_option(*choices: str, default: str | None = None) -> Callable[[F], F]:
    """The --format option, with the given choices; the first is the default."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default or choices[0],
        show_default=True,
        help="Output format.",
    )


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value).replace("\n", " ")


def print_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO | None = None
) -> None:
    """An aligned plain-text table with a header row, on stdout or `out`."""
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max([len(col)] + [len(r[i]) for r in cells]) for i, col in enumerate(columns)]
    line = "  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip()
    click.echo(line, file=out)
    click.echo("  ".join("-" * w for w in widths), file=out)
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def write_csv(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], out: TextIO | None = None
) -> None:
    writer = csv.writer(out or sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(col)) for col in columns])


@contextmanager
def progress_bar(
    label: str, total: int | None = None, *, at_least: int = 0, show_counts: bool = True
) -> Iterator[ProgressBar | None]:
    """A progress bar on stderr when it is a terminal and `total` is at least `at_least`.

    Yields None otherwise, so the domain skips its progress reports altogether.
    """
    if not sys.stderr.isatty() or (total is not None and total < at_least):
        yield None
        return
    bar = ProgressBar(label, total, show_counts=show_counts)
    try:
        yield bar
    finally:
        bar.close()


class ProgressBar:
    """A click progress bar that opens once the total is known.

    Domain functions report progress in one of two ways; pass the matching method:
    `advance(step)` moves the bar on by `step`, `report(done, total)` moves it to `done`.
    With `show_counts` the bar also shows the position and the rate per second.
    """

    def __init__(self, label: str, total: int | None = None, *, show_counts: bool = True):
        self.label = label
        self.show_counts = show_counts
        self._bar: ClickProgressBar[int] | None = None
        self._started = time.monotonic()
        if total is not None:
            self._open(total)

    def advance(self, step: int) -> None:
        if self._bar is not None:
            self._move_to(self._bar.pos + step)

    def report(self, done: int, total: int) -> None:
        if self._bar is None and total:
            self._open(total)
        self._move_to(done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def _open(self, total: int) -> None:
        self._bar = click.progressbar(
            length=total,
            label=self.label,
            show_pos=self.show_counts,
            show_percent=True,
            item_show_func=self._rate,
            file=sys.stderr,
        )
        self._bar.__enter__()
        self._started = time.monotonic()

    def _move_to(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done - self._bar.pos, current_item=done)

    def _rate(self, done: int | None) -> str | None:
        elapsed = time.monotonic() - self._started
        if not self.show_counts or not done or elapsed <= 0:
            return None
        return f"{done / elapsed:,.0f}/s"
