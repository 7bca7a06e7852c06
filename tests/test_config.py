from pathlib import Path
from typing import get_args

import pytest

from alerts.config import (
    SETTINGS,
    Config,
    ConfigError,
    Count,
    Flag,
    Number,
    OptionalNumber,
    OptionalText,
    Text,
    render_config_file,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_values_and_defaults(tmp_path):
    config = Config.load(write(tmp_path, 'org_name = "Org"\nsendgrid_tracking = true\n'), env={})
    assert config["org_name"] == "Org"
    assert config.get("sendgrid_tracking") is True
    assert config.get("sendgrid_host") == "https://api.sendgrid.com"


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, 'secret = "from-file"\nsendgrid_tracking = true\n')
    config = Config.load(path, env={"ALERTS_SECRET": "from-env", "ALERTS_SENDGRID_TRACKING": "no"})
    assert config["secret"] == "from-env"
    assert config.get("sendgrid_tracking") is False


def test_missing_key_names_key_file_and_variable(tmp_path):
    config = Config.load(write(tmp_path, 'org_name = "Org"\n'), env={})
    with pytest.raises(ConfigError) as info:
        config.require("base_url")
    message = str(info.value)
    assert "base_url" in message and "alerts.toml" in message and "ALERTS_BASE_URL" in message
    assert "\n" not in message


def test_missing_file_is_not_an_error_until_a_key_is_needed(tmp_path):
    config = Config.load(tmp_path / "absent.toml", env={})
    with pytest.raises(ConfigError, match="secret is not set"):
        config.require("secret")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from_emial = 'x'\n", "unknown key 'from_emial'"),
        ("org_name = \n", "alerts.toml"),
        ("[org_name]\nx = 1\n", "must be a single value"),
        ("sendgrid_tracking = 'maybe'\n", "true or false"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected):
        Config.load(write(tmp_path, text), env={})


def test_non_utf8_file(tmp_path):
    path = tmp_path / "alerts.toml"
    path.write_bytes(b"org_name = '\xff\xfe'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        Config.load(path, env={})


def test_rendered_file_round_trips(tmp_path):
    text = render_config_file({"secret": 'a"b\\c', "org_name": "Org"})
    config = Config.load(write(tmp_path, text), env={})
    assert config["secret"] == 'a"b\\c'
    assert config["org_name"] == "Org"
    for name in SETTINGS:
        assert name in text


def test_typed_lookups_name_every_setting_with_its_type():
    returns = {
        OptionalText: (str, True),
        Text: (str, False),
        Flag: (bool, False),
        Count: (int, False),
        Number: (float, False),
        OptionalNumber: (float, True),
    }
    typed = {name: result for group, result in returns.items() for name in get_args(group)}
    assert typed == {name: (s.kind, s.default is None) for name, s in SETTINGS.items()}


def test_numbers_are_coerced_to_their_setting_type(tmp_path):
    config = Config.load(
        write(tmp_path, "sendgrid_timeout = 5\n"), env={"ALERTS_SENDGRID_RETRIES": "2"}
    )
    assert config.get("sendgrid_timeout") == 5.0 and type(config.get("sendgrid_timeout")) is float
    assert config.get("sendgrid_retries") == 2 and config.get("sendgrid_rate") is None
