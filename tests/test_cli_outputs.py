"""Where commands write: never over the database, the settings or their own inputs; files whole."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from send_helpers import UPDATE, add_subscribers, project_db, use_fake

from alerts.db import subscribers as subscribers_db
from alerts.delivery.providers.sendgrid.standin import FakeSendGrid
from alerts.models import SubscriberFilter

PEOPLE = 5


@pytest.fixture
def crowd(cli: Any, project: Path, monkeypatch: pytest.MonkeyPatch) -> Any:

    add_subscribers(cli, project, PEOPLE)
    with FakeSendGrid() as fake:
        use_fake(monkeypatch, fake)
        yield project


def people(project: Path) -> int:
    db = project_db(project)
    try:
        return sum(1 for _ in subscribers_db.iter_subscribers(db, SubscriberFilter()))
    finally:
        db.close()


def command_writing(target: str) -> dict[str, list[str]]:
    """Each command that writes a file, with its output pointed at `target`."""
    return {
        "export": ["subscribers", "export", target],
        "stats": ["stats", "--out", target],
        "preview": ["preview", UPDATE, "--out", target],
        "outbox": ["send", UPDATE, "--dry-run", "--outbox", target],
        "rejects": ["import", "people-0.csv", "--rejects", target],
    }


@pytest.mark.parametrize("command", list(command_writing("x")))
@pytest.mark.parametrize(
    ("target", "what"),
    [
        ("subscribers.db", "is the database"),
        ("sub/../subscribers.db", "is the database"),
        ("subscribers.db-wal", "is a file of the database"),
        ("alerts.toml", "is the settings file"),
        ("link-to-settings", "is the settings file"),
    ],
)
def test_no_output_replaces_the_database_or_the_settings(cli, crowd, command, target, what):
    (crowd / "sub").mkdir()
    (crowd / "link-to-settings").symlink_to(crowd / "alerts.toml")
    settings = (crowd / "alerts.toml").read_bytes()
    before = people(crowd)
    result = cli(*command_writing(target)[command], ok=False)
    message = result.stderr.strip()
    assert "\n" not in message and message.startswith("Error: ")
    assert target in message and what in message
    assert (crowd / "alerts.toml").read_bytes() == settings
    assert people(crowd) == before == PEOPLE


@pytest.mark.parametrize(
    "args",
    [
        ["preview", UPDATE, "--out", f"campaigns/{UPDATE}.md"],
        ["send", UPDATE, "--dry-run", "--outbox", f"campaigns/{UPDATE}.md"],
        ["import", "people-0.csv", "--rejects", "people-0.csv"],
    ],
)
def test_no_output_replaces_an_input_of_the_command(cli, crowd, args):
    source = crowd / args[-1]
    before = source.read_bytes()
    result = cli(*args, ok=False)
    assert (
        "is a file being imported" in result.stderr
        or "is a file this command reads" in result.stderr
    )
    assert source.read_bytes() == before


def test_a_hard_link_to_the_database_is_the_database(cli, crowd):
    os.link(crowd / "subscribers.db", crowd / "backup.db")
    result = cli("subscribers", "export", "backup.db", ok=False)
    assert "is the database" in result.stderr
    assert people(crowd) == PEOPLE


def test_outputs_elsewhere_are_written_whole_with_no_temporary_left(cli, crowd):
    cli("subscribers", "export", "all.csv")
    cli("stats", "--out", "stats.txt")
    cli("preview", UPDATE, "--out", "preview.html")
    cli("send", UPDATE, "--dry-run", "--outbox", "out.mbox")
    cli("send", UPDATE, "--dry-run", "--outbox", "emls/")
    for name in ("all.csv", "stats.txt", "preview.html", "out.mbox"):
        assert (crowd / name).stat().st_size > 0
    assert len(list((crowd / "emls").glob("*.eml"))) == PEOPLE
    assert not list(crowd.rglob("*.tmp"))


# --------------------------------------------------------------------------
# Temporary files of a killed import


def test_a_killed_import_leaves_a_temporary_that_the_next_run_removes(cli, project):
    big = project / "big.csv"
    with big.open("w", encoding="utf-8") as out:
        out.write("email,first_name,zip\n")
        for index in range(300_000):
            out.write(f"person{index}@example.org,Name{index},05401\nnot-an-address,x,1\n")
    run = subprocess.Popen(
        [sys.executable, "-m", "alerts", "import", "big.csv"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not list(project.glob(".big.rejects.csv.*.tmp")) and time.monotonic() < deadline:
        assert run.poll() is None, "the import ended before it could be killed"
        time.sleep(0.02)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert len(list(project.glob(".big.rejects.csv.*.tmp"))) == 1

    small = project / "big.csv"
    small.write_text("email\nnot-an-address\nok@example.org\n", encoding="utf-8")
    cli("import", "big.csv")
    assert not list(project.glob(".big.rejects.csv.*.tmp"))
    assert (project / "big.rejects.csv").exists()


def test_a_temporary_of_a_running_writer_is_kept(cli, project):
    alive = project / f".people.rejects.csv.{os.getppid()}.abcd1234.tmp"
    alive.write_text("someone else's half-written file", encoding="utf-8")
    os.utime(alive, (0, 0))
    (project / "people.csv").write_text("email\nnope\n", encoding="utf-8")
    cli("import", "people.csv")
    assert alive.exists()


# --------------------------------------------------------------------------
# alerts init


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_the_settings_and_the_database_private(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli("init")
    (tmp_path / "people.csv").write_text("email\na@example.org\n", encoding="utf-8")
    cli("import", "people.csv")
    assert mode(tmp_path / "alerts.toml") == 0o600
    assert mode(tmp_path / "subscribers.db") == 0o600
    for companion in tmp_path.glob("subscribers.db-*"):
        assert mode(companion) == 0o600, companion


def test_init_creates_missing_folders_for_the_settings_and_the_database(cli, tmp_path, monkeypatch):
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    cli("--config", "../../x/alerts.toml", "--db", "../../y/z/subscribers.db", "init")
    assert (tmp_path / "x" / "alerts.toml").is_file()
    assert (tmp_path / "y" / "z" / "subscribers.db").is_file()
    cli("init", "../../w")
    assert (tmp_path / "w" / "subscribers.db").is_file()
