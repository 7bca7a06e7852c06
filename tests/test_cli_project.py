import tomllib

import click

from alerts.cli import main


def test_init_creates_everything(tmp_path, cli):
    target = tmp_path / "new"
    result = cli("init", str(target))
    assert (target / "subscribers.db").exists()
    assert (target / "campaigns").is_dir() and (target / "templates").is_dir()
    settings = tomllib.loads((target / "alerts.toml").read_text())
    assert len(settings["secret"]) >= 32
    assert "Created" in result.output


def test_init_never_overwrites(tmp_path, cli):
    target = tmp_path / "p"
    cli("init", str(target))
    config = target / "alerts.toml"
    config.write_text('secret = "mine"\n')
    (target / "templates" / "custom.mjml").write_text("keep me")
    result = cli("init", str(target))
    assert config.read_text() == 'secret = "mine"\n'
    assert (target / "templates" / "custom.mjml").read_text() == "keep me"
    assert "Kept" in result.output


def test_two_inits_make_different_secrets(tmp_path, cli):
    cli("init", str(tmp_path / "a"))
    cli("init", str(tmp_path / "b"))
    a = tomllib.loads((tmp_path / "a" / "alerts.toml").read_text())["secret"]
    b = tomllib.loads((tmp_path / "b" / "alerts.toml").read_text())["secret"]
    assert a != b


def test_bad_database_writes_nothing(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk.db").write_text("not sqlite" * 200)
    result = cli("--db", "junk.db", "init", ok=False)
    assert result.output.startswith("Error: junk.db: not a usable SQLite database")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "alerts.toml").exists()


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, f"{name} is listed but cannot be loaded"
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_the_lazy_command_map_matches_the_modules():
    import importlib

    from alerts.cli import COMMAND_MODULES

    modules = set(COMMAND_MODULES.values())
    declared = {
        command.name: module
        for module in modules
        for command in importlib.import_module(f"alerts.cli.{module}").COMMANDS
    }
    assert declared == COMMAND_MODULES


def test_every_command_has_help(cli):
    names = list(_commands(main))
    assert names
    for path, command in names:
        assert (command.help or "").strip(), f"alerts {' '.join(path)} has no help text"
        result = cli(*path, "--help")
        assert "Usage:" in result.output
