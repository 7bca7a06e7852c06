"""Settings from alerts.toml, overridden by ALERTS_* environment variables.

The file is flat: one table of keys. Every key is declared in SETTINGS with
its type, default and meaning; docs/configuration.md is checked against it.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """alerts.toml or the environment lacks a key or holds a bad value.

    Reported like an AlertsError: one line, non-zero exit. It is defined here,
    not in errors.py, because config.py imports nothing else of the project.
    """

    exit_code = 1


CONFIG_FILE = "alerts.toml"
DB_FILE = "subscribers.db"
ENV_PREFIX = "ALERTS_"


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type  # str, int, float or bool
    default: Any
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("org_name", str, None, "Your organisation's name, shown in every footer."),
        Setting(
            "postal_address",
            str,
            None,
            "A valid physical postal address, required in every message by CAN-SPAM.",
        ),
        Setting("from_email", str, None, "Sender address; its domain must be authenticated."),
        Setting("from_name", str, None, "Sender name shown in the inbox."),
        Setting("reply_to", str, None, "Address that receives replies."),
        Setting(
            "base_url",
            str,
            None,
            "Public https URL of `alerts serve`: tracking, letter and unsubscribe links.",
        ),
        Setting("secret", str, None, "Random key that signs every token. Keep it private."),
        Setting(
            "sendgrid_host",
            str,
            "https://api.sendgrid.com",
            "SendGrid API host (a local server in tests and the demo).",
        ),
        Setting(
            "sendgrid_webhook_public_key",
            str,
            None,
            "Public key (base64) of SendGrid's signed event webhook; when set, unsigned "
            "or badly signed webhook requests are refused.",
        ),
        Setting(
            "sendgrid_tracking",
            bool,
            False,
            "Turn on SendGrid's own open and click tracking as well as the project's.",
        ),
        Setting(
            "sendgrid_timeout",
            float,
            30.0,
            "Seconds to wait for SendGrid's answer to one request; past it the request's "
            "recipients are marked unknown (SendGrid may have accepted them).",
        ),
        Setting(
            "sendgrid_concurrency",
            int,
            8,
            "How many mail/send requests may be in flight at once.",
        ),
        Setting(
            "sendgrid_batch_size",
            int,
            1000,
            "Recipients per mail/send request (1 to 1000, SendGrid's limit).",
        ),
        Setting(
            "sendgrid_retries",
            int,
            6,
            "Retries of one request after a 429, a 5xx or a connection that failed before "
            "the request went out; then the send stops and a rerun continues.",
        ),
        Setting(
            "sendgrid_rate",
            float,
            None,
            "Cap on messages per second (unset: no cap). `alerts send --rate` overrides it.",
        ),
    )
}


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    if value is None:
        return None
    kind = setting.kind
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{origin}: {setting.name} must be true or false, not {value!r}")
    if kind in (int, float):
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{origin}: {setting.name} must be a number, not {value!r}") from None
    if isinstance(value, bool | int | float | str):
        return str(value).strip()
    raise ConfigError(f"{origin}: {setting.name} must be a string")


class Config:
    """Resolved settings. `require(name)` fails with a message naming the key."""

    def __init__(self, values: dict[str, Any], path: Path | None = None):
        self._values = values
        self.path = path

    @classmethod
    def load(cls, path: Path | str | None = None, env: dict[str, str] | None = None) -> Config:
        path = Path(path) if path is not None else Path(CONFIG_FILE)
        env = os.environ if env is None else env
        file_values = _read_file(path) if path.exists() else {}
        values: dict[str, Any] = {}
        for name, setting in SETTINGS.items():
            if setting.env in env:
                values[name] = _coerce(setting, env[setting.env], setting.env)
            elif name in file_values:
                values[name] = _coerce(setting, file_values[name], f"{path}")
            else:
                values[name] = setting.default
        return cls(values, path if path.exists() else None)

    def get(self, name: str) -> Any:
        if name not in SETTINGS:
            raise KeyError(name)
        value = self._values.get(name)
        return SETTINGS[name].default if value is None else value

    def require(self, name: str) -> Any:
        value = self.get(name)
        if value is None or value == "":
            where = str(self.path) if self.path else f"{CONFIG_FILE} (not found)"
            raise ConfigError(f"{name} is not set: add it to {where} or set {SETTINGS[name].env}")
        return value

    def __getitem__(self, name: str) -> Any:
        return self.require(name)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    for key, value in data.items():
        if key not in SETTINGS:
            raise ConfigError(f"{path}: unknown key {key!r}")
        if isinstance(value, dict | list):
            raise ConfigError(f"{path}: {key} must be a single value, not a table or list")
    return data


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_config_file(values: dict[str, Any]) -> str:
    """The text of a new alerts.toml: every setting, commented, in SETTINGS order."""
    lines = ["# alerts configuration. Environment variables ALERTS_<KEY> override these.", ""]
    for name, setting in SETTINGS.items():
        lines.append(f"# {setting.help}")
        value = values.get(name, setting.default)
        if value is None:
            lines.append(f'# {name} = ""')
        elif isinstance(value, bool):
            lines.append(f"{name} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{name} = {value}")
        else:
            lines.append(f"{name} = {_toml_string(str(value))}")
        lines.append("")
    return "\n".join(lines)


def bundled_dir(name: str) -> Path:
    """A folder of defaults shipped with the package (templates, campaigns).

    In a wheel they live in alerts/_bundled/; in a source checkout they are
    the top-level folders of the same name.
    """
    here = Path(__file__).resolve().parent
    packaged = here / "_bundled" / name
    if packaged.is_dir():
        return packaged
    return here.parent / name


def data_file(name: str) -> Path:
    """A sample data file shipped inside the package (alerts/data)."""
    return Path(__file__).resolve().parent / "data" / name
