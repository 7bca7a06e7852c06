"""What every command needs: the database and the settings, opened on first use."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click

from alerts.config import Config
from alerts.db import Database, open_db
from alerts.errors import InputFileError

# Files SQLite keeps beside a database while it is open.
_DB_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass
class AppContext:
    db_path: Path
    config_path: Path
    _db: Database | None = field(default=None, repr=False)
    _config: Config | None = field(default=None, repr=False)

    def db(self) -> Database:
        if self._db is None:
            self._db = open_db(self.db_path)
        return self._db

    def config(self) -> Config:
        if self._config is None:
            self._config = Config.load(self.config_path)
        return self._config

    def campaigns_dir(self) -> Path:
        """The project's campaigns/ folder, beside alerts.toml."""
        return self.config_path.parent / "campaigns"

    def check_output(
        self,
        path: Path | str,
        option: str,
        inputs: Iterable[Path] = (),
        *,
        folder: bool = False,
        inputs_are: str = "a file this command reads",
    ) -> Path:
        """`path` as a place a command may write its output, else InputFileError in one line.

        Every command that writes a file asks this first. It refuses the database
        (and the files SQLite keeps beside it), the settings file and the command's
        own `inputs`, however the path is spelt (relative, through a symlink or a
        hard link), and a folder or a missing folder where a file is wanted.
        `option` names the option or argument in the message ("--out"), `inputs_are`
        what the inputs are.
        """
        target = Path(path)
        named = f"{option} {path}" if option else str(path)
        for protected, what in self._protected(inputs, inputs_are):
            if _same_file(target, protected):
                raise InputFileError(f"{named}: is {what} {protected}; write the output elsewhere")
        if folder:
            return target
        if target.is_dir():
            raise InputFileError(f"{named}: is a folder; give a file name")
        if not target.parent.is_dir():
            raise InputFileError(f"{named}: folder {target.parent} does not exist")
        return target

    def _protected(self, inputs: Iterable[Path], inputs_are: str) -> list[tuple[Path, str]]:
        database = [(self.db_path, "the database")]
        database += [
            (Path(f"{self.db_path}{end}"), "a file of the database") for end in _DB_COMPANIONS
        ]
        return [
            *database,
            (self.config_path, "the settings file"),
            *((Path(p), inputs_are) for p in inputs),
        ]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _same_file(path: Path, other: Path) -> bool:
    """Whether two paths name one file: resolved alike, or the same file on disk."""
    try:
        if path.exists() and other.exists():
            return os.path.samefile(path, other)
        return path.resolve() == other.resolve()
    except OSError:
        return False


pass_app = click.make_pass_decorator(AppContext)
