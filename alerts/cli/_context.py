"""What every command needs: the database and the settings, opened on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from alerts.config import Config
from alerts.db import Database, open_db


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

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


pass_app = click.make_pass_decorator(AppContext)
