"""The whole pipeline through the installed `alerts` command, in subprocesses.

The same steps as `alerts demo`: init, import the sample signups, load the
sample roster, send the example action alert to the project's fake SendGrid,
run a real `alerts serve`. Then every subscribed person must have received
exactly one message, and its letter link must open a page addressed to their
own representative, as `alerts targets lookup` independently answers it.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from conftest import free_port

from alerts.config import data_file
from alerts.delivery.providers.sendgrid import standin as fake_sendgrid
from alerts.targets.roster import sample_files

pytestmark = pytest.mark.slow

SLUG = "end-qualified-immunity-act"
LETTER_LINK = re.compile(r"http://127\.0\.0\.1:\d+/a/[A-Za-z0-9_-]+")


def installed_alerts() -> str:
    command = Path(sys.executable).parent / "alerts"
    if not command.exists():
        pytest.fail(f"the alerts command is not installed beside {sys.executable}")
    return str(command)


class Project:
    def __init__(self, folder: Path, sink_port: int, serve_port: int):
        self.folder = folder
        self.base_url = f"http://127.0.0.1:{serve_port}"
        self.serve_port = serve_port
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ALERTS_", "SENDGRID_"))},
            "SENDGRID_API_KEY": "SG.end-to-end",
        }
        self.sink_port = sink_port

    def alerts(self, *args: str) -> str:
        result = subprocess.run(
            [installed_alerts(), *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"alerts {' '.join(args)}: {result.stderr}"
        assert "Traceback" not in result.stderr
        return result.stdout

    def start(self, command: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.folder / log).open("wb") as out:
            return subprocess.Popen(command, cwd=self.folder, env=self.env, stdout=out, stderr=out)


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url}: the server exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in time")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("e2e")
    project = Project(folder, free_port(), free_port())
    project.alerts("init", ".")
    with (folder / "alerts.toml").open("a", encoding="utf-8") as config:
        config.write(
            'org_name = "End-to-end Test Coalition"\n'
            'postal_address = "1 Test Street, Springfield, IL 62701"\n'
            'from_email = "updates@example.org"\n'
            f'base_url = "{project.base_url}"\n'
        )
    project.env["ALERTS_SENDGRID_HOST"] = f"http://127.0.0.1:{project.sink_port}"
    project.alerts("import", str(data_file("sample-signups.csv")))
    files = sample_files()
    project.alerts(
        "targets", "load",
        "--legislators", str(files["legislators"]),
        "--social", str(files["social"]),
        "--zip-districts", str(files["zip_districts"]),
        "--congress", "119",
    )  # fmt: skip

    sink = project.start(
        [sys.executable, "-m", "alerts.delivery.providers.sendgrid.standin",
         "--port", str(project.sink_port),
         "--store", "sink.jsonl", "--api-key", "SG.end-to-end"],
        "sink.log",
    )  # fmt: skip
    serve = project.start(
        [installed_alerts(), "serve", "--port", str(project.serve_port)], "serve.log"
    )
    try:
        wait_for(f"http://127.0.0.1:{project.sink_port}/", sink)
        wait_for(f"{project.base_url}/healthz", serve)
        summary = json.loads(project.alerts("send", SLUG, "--yes", "--format", "json"))
        yield project, summary
    finally:
        stop(serve)
        stop(sink)


def subscribed_people(project: Project) -> list[dict]:
    listed = json.loads(
        project.alerts("subscribers", "list", "--status", "subscribed", "--format", "json")
    )
    return listed


def expected_house(project: Project, person: dict) -> list[dict]:
    """The House entries `alerts targets lookup` gives for the person's ZIP and state."""
    if not person["zip"]:
        return []
    args = ["targets", "lookup", person["zip"], "--format", "json"]
    if person["state"]:
        args += ["--state", person["state"]]
    return [t for t in json.loads(project.alerts(*args)) if t["chamber"] == "house"]


def test_every_recipient_gets_exactly_one_message(sent):
    project, summary = sent
    people = subscribed_people(project)
    assert summary == {**summary, "sent": len(people), "failed": 0, "unknown": 0}
    received = Counter(d.email for d in fake_sendgrid.iter_store(project.folder / "sink.jsonl"))
    assert set(received) == {p["email"] for p in people}
    assert set(received.values()) == {1}


def test_each_letter_link_opens_a_page_addressed_to_their_own_representative(sent):
    project, _ = sent
    people = {p["email"]: p for p in subscribed_people(project)}
    checked = Counter()
    for delivery in fake_sendgrid.iter_store(project.folder / "sink.jsonl"):
        person = people[delivery.email]
        links = set(LETTER_LINK.findall(delivery.html or ""))
        assert len(links) == 1, f"{delivery.email}: {len(links)} letter links"
        with urllib.request.urlopen(links.pop(), timeout=10) as answer:
            page = html.unescape(answer.read().decode())
        house = expected_house(project, person)
        known = [t for t in house if t["full_name"] and not t.get("ambiguous")]
        if len(known) == 1:
            rep = known[0]
            assert f"The Honorable {rep['full_name']}" in page, delivery.email
            assert f"Dear {rep['title']} {rep['last_name']}" in page, delivery.email
            checked["exact"] += 1
        elif any(t.get("ambiguous") for t in house):
            for candidate in house:
                assert candidate["full_name"] in page, (delivery.email, candidate)
            assert "Dear Representative" not in page
            checked["choice"] += 1
        else:
            assert "Dear Representative" not in page and "Dear Delegate" not in page
            checked["none"] += 1
    # The sample covers every case, and one answer is known by heart.
    assert checked["exact"] >= 10 and checked["choice"] >= 3 and checked["none"] >= 3


def test_a_known_answer_from_the_sample(sent):
    project, _ = sent
    for delivery in fake_sendgrid.iter_store(project.folder / "sink.jsonl"):
        if delivery.email == "ana.perez@example.org":  # Burlington, VT 05401: at-large seat
            (link,) = set(LETTER_LINK.findall(delivery.html or ""))
            with urllib.request.urlopen(link, timeout=10) as answer:
                page = html.unescape(answer.read().decode())
            assert "The Honorable Rebecca Samplewell" in page
            assert "Dear Representative Samplewell" in page
            return
    pytest.fail("ana.perez@example.org received nothing")
