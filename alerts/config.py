"""Settings from alerts.toml, overridden by ALERTS_* environment variables.

The file is flat: one table of keys. Every key is declared in SETTINGS with
its type, default and meaning; docs/configuration.md is checked against it.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload


class ConfigError(Exception):
    """alerts.toml or the environment lacks a key or holds a bad value.

    Reported like an AlertsError: one line, non-zero exit. It is defined here,
    not in errors.py, because config.py imports nothing else of the project.
    """

    exit_code = 1


CONFIG_FILE = "alerts.toml"
DB_FILE = "subscribers.db"
ENV_PREFIX = "ALERTS_"


Value = str | int | float | bool

# The keys by the type a lookup returns: `get` and `require` are typed by them, and
# tests/test_config.py checks them against SETTINGS.
OptionalText = Literal[
    "org_name",
    "postal_address",
    "from_email",
    "from_name",
    "reply_to",
    "base_url",
    "secret",
    "sendgrid_webhook_public_key",
]
Text = Literal[
    "sendgrid_host",
    "congress_api_url",
    "signup_fields",
    "signup_consent",
    "form_origins",
    "geocoder_url",
]
Flag = Literal["sendgrid_tracking", "allow_smtputf8"]
Count = Literal[
    "sendgrid_concurrency", "sendgrid_batch_size", "sendgrid_retries", "signup_confirm_days"
]
Number = Literal["sendgrid_timeout"]
OptionalNumber = Literal["sendgrid_rate"]


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type[Value]
    default: Value | None
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
            "allow_smtputf8",
            bool,
            False,
            "Send to addresses with non-ASCII characters before the @ (SMTPUTF8). SendGrid "
            "drops them, so sends skip them; set this only for a provider that delivers them.",
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
        Setting(
            "congress_api_url",
            str,
            "https://api.congress.gov",
            "Congress.gov API host, for `alerts bills update` (a local server in tests).",
        ),
        Setting(
            "geocoder_url",
            str,
            "https://geocoding.geo.census.gov",
            "The Census Bureau's geocoder, which finds the census block of a street address "
            "(a local server in tests and the demo); empty: geocoding is off.",
        ),
        Setting(
            "signup_fields",
            str,
            "first_name,last_name,zip",
            "Fields the /join form asks besides the email address, comma-separated, from "
            "first_name, last_name, street, city, state, zip; a trailing * makes one required.",
        ),
        Setting(
            "signup_consent",
            str,
            "Yes, send me occasional email updates. I can unsubscribe at any time.",
            "The consent sentence shown on the /join form and stored with each signup.",
        ),
        Setting(
            "signup_confirm_days",
            int,
            7,
            "Days a signup's confirmation link works; unconfirmed signups expire after it.",
        ),
        Setting(
            "form_origins",
            str,
            "",
            "Websites (origins such as https://example.org, comma-separated) whose pages may "
            "post the /join form; posts from any other site are refused with 403.",
        ),
    )
}


def _coerce(setting: Setting, value: object, origin: str) -> Value | None:
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
    if kind is int or kind is float:
        try:
            if not isinstance(value, str | int | float):
                raise TypeError
            return int(value) if kind is int else float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{origin}: {setting.name} must be a number, not {value!r}") from None
    if isinstance(value, bool | int | float | str):
        return str(value).strip()
    raise ConfigError(f"{origin}: {setting.name} must be a string")


class Config:
    """Resolved settings. `require(name)` fails with a message naming the key.

    Lookups take the key as a literal, so each returns its setting's own type.
    """

    def __init__(self, values: Mapping[str, Value | None], path: Path | None = None):
        where = str(path) if path else "settings"
        self._values = {name: _coerce(SETTINGS[name], v, where) for name, v in values.items()}
        self.path = path

    @classmethod
    def load(cls, path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
        path = Path(path) if path is not None else Path(CONFIG_FILE)
        environment = os.environ if env is None else env
        file_values = _read_file(path) if path.exists() else {}
        values: dict[str, Value | None] = {}
        for name, setting in SETTINGS.items():
            if setting.env in environment:
                values[name] = _coerce(setting, environment[setting.env], setting.env)
            elif name in file_values:
                values[name] = _coerce(setting, file_values[name], f"{path}")
            else:
                values[name] = setting.default
        return cls(values, path if path.exists() else None)

    @overload
    def get(self, name: OptionalText) -> str | None: ...
    @overload
    def get(self, name: Text) -> str: ...
    @overload
    def get(self, name: Flag) -> bool: ...
    @overload
    def get(self, name: Count) -> int: ...
    @overload
    def get(self, name: Number) -> float: ...
    @overload
    def get(self, name: OptionalNumber) -> float | None: ...
    def get(self, name: str) -> Value | None:
        if name not in SETTINGS:
            raise KeyError(name)
        value = self._values.get(name)
        return SETTINGS[name].default if value is None else value

    def require(self, name: OptionalText) -> str:
        value = self.get(name)
        if value is None or value == "":
            where = str(self.path) if self.path else f"{CONFIG_FILE} (not found)"
            raise ConfigError(f"{name} is not set: add it to {where} or set {SETTINGS[name].env}")
        return value

    def __getitem__(self, name: OptionalText) -> str:
        return self.require(name)


def _read_file(path: Path) -> dict[str, object]:
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


def render_config_file(values: Mapping[str, Value | None]) -> str:
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
