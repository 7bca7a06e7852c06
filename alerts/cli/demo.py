"""`alerts demo`: the whole job on embedded defaults, with no SendGrid key and no network.

Every step is the real `alerts` command run in a subprocess, shown as a staff
member would type it, in a fresh working folder: init, import the sample
signups, load the sample roster, geocode the street addresses of the people
whose ZIP code spans several districts (a local Census Geocoder and a sample
block file), check and preview the example action alert,
send it to a local SendGrid-compatible sink, run `alerts serve`, act as a few
recipients (an open, a click, a letter page, "I sent it", an unsubscribe),
then print the statistics and write the HTML report. Last, a dress rehearsal
of the Congress changeover: with ALERTS_TODAY past the sample roster's House
terms, the send is refused; the next Congress's roster and one state's new map
are loaded, and a letter page is addressed to the new member.
"""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import click

from alerts.clock import TODAY_VARIABLE
from alerts.config import CONFIG_FILE, DB_FILE, Config, data_file, render_config_file
from alerts.db import Database, open_db
from alerts.db.districts import SubscriberDistrict, district_candidates, subscriber_districts
from alerts.db.subscribers import iter_subscribers
from alerts.delivery.providers.sendgrid import standin as fake_sendgrid
from alerts.errors import AlertsError
from alerts.models import SubscriberFilter, seat_name
from alerts.targets.lookup import targets_for
from alerts.targets.roster import SAMPLE_ZIP_CONGRESS, next_congress_sample_files, sample_files
from alerts.tracking.machines import DELIVERY_WINDOW

SLUG = "end-qualified-immunity-act"
SINK = "sendgrid-sink.jsonl"
DEMO_KEY = "SG.demo-key-for-the-local-sink"
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"  # a person's browser
)
START_TIMEOUT = 20.0
REHEARSAL_DAY = "2027-01-05"  # the sample roster's House terms end on 2027-01-03
DEMO_SETTINGS = {
    "org_name": "Demo Coalition to End Qualified Immunity",
    "postal_address": "100 Example Street, Suite 1, Springfield, IL 62701",
    "from_email": "updates@example.org",
    "from_name": "End Qualified Immunity (demo)",
    "reply_to": "team@example.org",
}


class DemoError(AlertsError):
    """A step of the demo failed; the message says which."""


@dataclass
class Recipient:
    """One message the sink received, and the links in it."""

    email: str
    subscriber_id: int
    links: dict[str, list[str]]  # route letter (o, c, a, u) -> URLs


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Work in DIR (new or empty) and keep it, instead of a new temporary folder.",
)
def demo(directory: Path | None) -> None:
    """Run the whole pipeline on sample data: no SendGrid key, no network needed.

    In a fresh folder it runs init, imports a sample signup export, loads a
    sample roster of Congress, geocodes the street addresses of people in split
    ZIP codes (a local Census Geocoder), checks and previews the example action alert,
    sends it to a local SendGrid-compatible sink, starts `alerts serve`,
    follows a few recipients' links (an open, a click, a letter page, "I sent
    it", an unsubscribe), then prints the statistics and writes the HTML report.
    It ends with a dress rehearsal of the Congress changeover (ALERTS_TODAY set
    after the sample roster's terms end). Every step is the real command, shown
    as you would type it.
    """
    folder = _prepare_folder(directory)
    click.secho(f"Working in {folder}\n", bold=True)
    run = Runner(folder)
    sink_port, serve_port, geocoder_port = _free_port(), _free_port(), _free_port()
    base_url = f"http://127.0.0.1:{serve_port}"

    _step("1. A new working folder: settings, database, campaigns and templates")
    run("init", ".")
    _fill_settings(folder, base_url, sink_port, geocoder_port)

    _step("2. Admins import a signup export")
    run("import", str(data_file("sample-signups.csv")), "--source", "demo", "--tag", "demo")

    _step("3. The roster of Congress and the ZIP map (a small fictional sample)")
    files = sample_files()
    run(
        "targets", "load",
        "--legislators", str(files["legislators"]),
        "--social", str(files["social"]),
        "--zip-districts", str(files["zip_districts"]),
        "--congress", str(SAMPLE_ZIP_CONGRESS),
    )  # fmt: skip

    _exact_from_addresses(run, geocoder_port)

    _step("4. Staff check and preview the example action alert")
    run("campaigns", "check", SLUG)
    run("preview", SLUG, "--out", "preview.html")
    run("send", SLUG, "--dry-run", "--outbox", "outbox.mbox", "--yes")

    with _sink(folder, sink_port), _server(run, serve_port):
        _step("5. Send it through the local SendGrid sink")
        run("send", SLUG, "--yes")
        sent_at = time.monotonic()
        recipients = _received(folder / SINK)
        _ingest_deliveries(run, folder)

        _step("6. Subscribers act on the email, through `alerts serve`")
        _wait_like_a_person(sent_at)
        _act_as_recipients(folder, recipients)

    _step("7. What the campaign achieved")
    run("stats")
    run("stats", SLUG)
    run("stats", SLUG, "--format", "html", "--out", "report.html")

    _dress_rehearsal(run, recipients, serve_port)
    _summary(folder)


# --------------------------------------------------------------------------
# Running the steps


class Runner:
    """Runs `alerts ...` in the demo folder, echoing the command and its output."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ALERTS_", "SENDGRID_"))},
            "SENDGRID_API_KEY": DEMO_KEY,
            "PYTHONUNBUFFERED": "1",
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "alerts", *args]

    def set_today(self, day: str) -> None:
        """Run every later command as if it were `day` (ALERTS_TODAY), and show it."""
        self.env[TODAY_VARIABLE] = day

    def __call__(self, *args: str, refused: bool = False) -> str:
        """Run a command; it must succeed, or with `refused`, it must fail."""
        click.secho(self._prompt(" ".join(shlex.quote(_shorten(a)) for a in args)), fg="cyan")
        result = subprocess.run(
            self.command(*args),
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = (result.stdout + result.stderr).rstrip()
        if output:
            click.echo("\n".join("  " + line for line in output.splitlines()))
        click.echo()
        if refused and result.returncode == 0:
            raise DemoError(f"`alerts {' '.join(args)}` should have been refused")
        if not refused and result.returncode != 0:
            raise DemoError(f"`alerts {' '.join(args)}` failed (exit {result.returncode})")
        return result.stdout

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        click.secho(self._prompt(" ".join(args) + " &"), fg="cyan")
        with log.open("ab") as out:
            return subprocess.Popen(
                self.command(*args), cwd=self.folder, env=self.env, stdout=out, stderr=out
            )

    def _prompt(self, command: str) -> str:
        today = self.env.get(TODAY_VARIABLE)
        return f"$ {TODAY_VARIABLE}={today} alerts {command}" if today else f"$ alerts {command}"


def _shorten(arg: str) -> str:
    """Sample files live deep in site-packages: show their names only."""
    path = Path(arg)
    return path.name if path.is_absolute() and path.exists() else arg


def _step(title: str) -> None:
    click.secho(f"== {title}", bold=True)


def _prepare_folder(directory: Path | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="alerts-demo-"))
    if directory.exists() and any(directory.iterdir()):
        raise DemoError(f"{directory}: not empty; give --dir a new or empty folder")
    directory.mkdir(parents=True, exist_ok=True)
    return directory.resolve()


def _fill_settings(folder: Path, base_url: str, sink_port: int, geocoder_port: int) -> None:
    """What a real organisation writes into alerts.toml, with the demo's own values."""
    path = folder / CONFIG_FILE
    secret = Config.load(path, env={}).require("secret")
    values = {
        **DEMO_SETTINGS,
        "base_url": base_url,
        "secret": secret,
        "sendgrid_host": f"http://127.0.0.1:{sink_port}",
        "geocoder_url": f"http://127.0.0.1:{geocoder_port}",
    }
    path.write_text(render_config_file(values), encoding="utf-8")
    click.echo(f"  Filled in {CONFIG_FILE}: org_name, postal_address, from_email, base_url...")
    click.echo(f"  sendgrid_host = http://127.0.0.1:{sink_port} (the local sink)")
    click.echo(f"  geocoder_url = http://127.0.0.1:{geocoder_port} (a local Census Geocoder)\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------
# The two servers


@contextmanager
def _sink(folder: Path, port: int) -> Iterator[None]:
    command = [
        sys.executable,
        "-m",
        "alerts.delivery.providers.sendgrid.standin",
        "--port",
        str(port),
        "--store",
        SINK,
    ]
    click.secho(
        f"$ python -m alerts.delivery.providers.sendgrid.standin --port {port} --store {SINK} &",
        fg="cyan",
    )
    click.echo("  A local server that answers like SendGrid's mail/send API and delivers")
    click.echo(f"  nothing: it keeps every accepted message in {SINK}.\n")
    with (folder / "sendgrid-sink.log").open("ab") as log:
        process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=log)
    try:
        _wait_until(lambda: _port_open(port), process, "the SendGrid sink")
        yield
    finally:
        _stop(process)


@contextmanager
def _server(run: Runner, port: int) -> Iterator[None]:
    process = run.start("serve", "--port", str(port), log=run.folder / "serve.log")
    click.echo("  The tracking and letter server, at base_url; its log: serve.log\n")
    try:
        _wait_until(lambda: _healthy(port), process, "alerts serve")
        yield
    finally:
        _stop(process)


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"{name} stopped at start (exit {process.returncode}); see its log")
        if ready():
            return
        time.sleep(0.1)
    raise DemoError(f"{name} did not start within {START_TIMEOUT:.0f} s")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def _geocoder(folder: Path, port: int) -> Iterator[None]:
    module = "alerts.targets.geocoder.census.standin"
    click.secho(f"$ python -m {module} --port {port} &", fg="cyan")
    click.echo("  A local server that answers like the Census Bureau's geocoder, from a small")
    click.echo("  table of the sample addresses and their census blocks.\n")
    command = [sys.executable, "-m", module, "--port", str(port)]
    with (folder / "geocoder.log").open("ab") as log:
        process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=log)
    try:
        _wait_until(lambda: _port_open(port), process, "the geocoder stand-in")
        yield
    finally:
        _stop(process)


# --------------------------------------------------------------------------
# Exact districts from street addresses


def _exact_from_addresses(run: Runner, geocoder_port: int) -> None:
    _step("3b. Exact districts from street addresses, for people in split ZIP codes")
    click.echo(
        "  Some ZIP codes span two or three House districts, so those people would have to\n"
        "  pick. The Census Bureau's block file says which district each census block is in,\n"
        "  and its geocoder finds the block of a street address:\n"
    )
    before = _districts(run.folder)
    run("targets", "load-blocks", str(data_file("sample-blocks-119.txt")),
        "--congress", str(SAMPLE_ZIP_CONGRESS))  # fmt: skip
    with _geocoder(run.folder, geocoder_port):
        run("targets", "geocode")
    after = _districts(run.folder)
    exact = [who for who, (seat, flags) in after.items() if "address" in flags]
    if not exact:
        raise DemoError("no subscriber's district came from their street address")
    for who in exact:
        candidates = before.get(who, ("?", ()))[0]
        click.echo(f"  {who}: {candidates} by ZIP; {after[who][0]} by street address")
    click.echo()


def _districts(folder: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each subscriber's House seat as stored (its ZIP's seats when ambiguous), and its flags."""
    database = open_db(folder / DB_FILE)
    try:
        people = list(iter_subscribers(database, SubscriberFilter()))
        emails = {p.id: p.email or "?" for p in people}
        stored = subscriber_districts(database, [p.id for p in people if p.id is not None])
        return {emails[s.subscriber_id]: (_seat(database, s), s.resolved.flags) for s in stored}
    finally:
        database.close()


def _seat(database: Database, stored: SubscriberDistrict) -> str:
    where = stored.resolved
    if where.state and where.district is not None:
        return seat_name(where.state, where.district)
    if where.state and stored.zip:
        candidates = sorted(district_candidates(database, stored.zip, where.state))
        return " or ".join(seat_name(where.state, d) for d in candidates)
    return str(where.confidence)


# --------------------------------------------------------------------------
# Acting as recipients

LINK_RE = re.compile(r"https?://127\.0\.0\.1:\d+/([ocau])/[A-Za-z0-9_-]+(?:\.gif)?")


def _received(sink: Path) -> list[Recipient]:
    recipients = []
    for delivery in fake_sendgrid.iter_store(sink):
        links: dict[str, list[str]] = {}
        for match in LINK_RE.finditer(delivery.html or ""):
            found = links.setdefault(match.group(1), [])
            if match.group(0) not in found:
                found.append(match.group(0))
        if delivery.subscriber_id is None:
            raise DemoError(f"the sink received a message to {delivery.email} without our ids")
        recipients.append(Recipient(delivery.email, delivery.subscriber_id, links))
    if not recipients:
        raise DemoError(f"the sink received no message; see {sink.name}")
    click.echo(f"  The sink received {len(recipients)} messages, one per recipient.\n")
    return sorted(recipients, key=lambda r: r.email)


def _ingest_deliveries(run: Runner, folder: Path) -> None:
    """SendGrid's Event Webhook would report each delivery; the demo loads the same events."""
    deliveries = list(fake_sendgrid.iter_store(folder / SINK))
    events = fake_sendgrid.webhook_events(deliveries, "delivered")
    path = folder / "delivered-events.json"
    path.write_text(json.dumps(events), encoding="utf-8")
    click.echo("  SendGrid reports deliveries through its Event Webhook, in batches about")
    click.echo("  every 30 seconds. Here the sink wrote the same events to a file, loaded")
    click.echo("  the way a saved webhook payload is:\n")
    run("events", "ingest", path.name)


def _wait_like_a_person(sent_at: float) -> None:
    """Opens and clicks within DELIVERY_WINDOW seconds of delivery count as a scanner's."""
    left = sent_at + DELIVERY_WINDOW + 1 - time.monotonic()
    if left > 0:
        click.echo(
            f"  (Waiting {left:.0f} s: opens and clicks in the first {DELIVERY_WINDOW} s after"
            " delivery\n   are counted as a link scanner's, so the demo's readers wait too.)"
        )
        time.sleep(left)


def _act_as_recipients(folder: Path, recipients: Sequence[Recipient]) -> None:
    writer = _one_with_a_representative(folder, recipients)
    page = _get(writer.links["a"][0])
    _say(writer, "opens the email (the open pixel)")
    _get(writer.links["o"][0])
    for link in writer.links.get("c", [])[:1]:
        answer = _get(link)
        _say(writer, f"clicks a link: {answer.status} redirect to {answer.location}")
    names = [_plain(n) for n in re.findall(r'<h2 id="name-[^"]*">(.*?)</h2>', page.body, re.S)]
    _say(writer, f"opens the letter page, addressed to {', '.join(names)}")
    target = re.search(r'name="target" value="([^"]+)"', page.body)
    if target is None:
        raise DemoError(f"the letter page of {writer.email} has no letter to send")
    _post(writer.links["a"][0], {"action": "sent", "target": target.group(1)})
    _say(writer, f'presses "I sent it" for {names[0] if names else target.group(1)}')

    others = [r for r in recipients if r is not writer and r.links.get("a") and r.links.get("u")]
    if len(others) < 2:
        raise DemoError("too few messages carry a letter and an unsubscribe link")
    reader, leaver = others[0], others[-1]
    _get(reader.links["o"][0])
    _get(reader.links["a"][0])
    _say(reader, "opens the email and the letter page, and sends nothing yet")
    _post(leaver.links["u"][0], {"List-Unsubscribe": "One-Click"})
    _say(leaver, "unsubscribes with one click (RFC 8058, as Gmail's button does)")
    click.echo()


def _one_with_a_representative(folder: Path, recipients: Sequence[Recipient]) -> Recipient:
    """A recipient whose House member is known (not a vacant seat, not an unknown district)."""
    database = open_db(folder / DB_FILE)
    try:
        for recipient in recipients:
            known = targets_for(database, recipient.subscriber_id).representative
            if known is not None and recipient.links.get("a"):
                return recipient
    finally:
        database.close()
    raise DemoError("no recipient has a known representative")


@dataclass
class Reply:
    status: int
    location: str | None
    body: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the demo never leaves this machine


_opener = urllib.request.build_opener(_NoRedirect)


def _request(url: str, data: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, data=data, headers={"User-Agent": BROWSER})
    if data is not None:
        origin = urllib.parse.urlsplit(url)
        request.add_header("Origin", f"{origin.scheme}://{origin.netloc}")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with _opener.open(request, timeout=10) as answer:
            body = answer.read().decode(errors="replace")
            return Reply(answer.status, answer.headers.get("Location"), body)
    except urllib.error.HTTPError as answer:
        if 300 <= answer.code < 400:
            return Reply(answer.code, answer.headers.get("Location"), "")
        raise DemoError(
            f"{urllib.parse.urlsplit(url).path[:3]}... answered {answer.code}"
        ) from None
    except OSError as exc:
        raise DemoError(f"alerts serve did not answer: {exc}") from None


def _get(url: str) -> Reply:
    return _request(url)


def _post(url: str, form: dict[str, str]) -> Reply:
    return _request(url, urllib.parse.urlencode(form).encode())


def _say(recipient: Recipient, what: str) -> None:
    click.echo(f"  {recipient.email} {what}")


def _plain(html_text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", html_text)).strip()


# --------------------------------------------------------------------------
# The dress rehearsal of the Congress changeover


def _dress_rehearsal(run: Runner, recipients: Sequence[Recipient], serve_port: int) -> None:
    _step(f"8. A dress rehearsal of the Congress changeover, as if it were {REHEARSAL_DAY}")
    click.echo(
        "  The sample roster is the 119th Congress's: its House terms ended on 2027-01-03.\n"
        f"  {TODAY_VARIABLE} sets the day every command works with.\n"
    )
    before = _representatives(run.folder, recipients)
    run.set_today(REHEARSAL_DAY)
    run("targets", "status")
    run("send", SLUG, "--dry-run", "--yes", refused=True)
    click.echo("  The 120th Congress's roster is published, and one state's new House map:\n")
    files = next_congress_sample_files()
    run(
        "targets", "load",
        "--legislators", str(files["legislators"]),
        "--zip-districts", str(files["zip_districts"]),
    )  # fmt: skip
    run("targets", "status")
    after = _representatives(run.folder, recipients)
    moved = [r for r in recipients if after.get(r.subscriber_id) not in (None, *before.values())]
    if not moved:
        raise DemoError("no recipient has a new representative after the changeover")
    with _server(run, serve_port):
        page = _get(moved[0].links["a"][0])
    names = [_plain(n) for n in re.findall(r'<h2 id="name-[^"]*">(.*?)</h2>', page.body, re.S)]
    _say(moved[0], f"opens the same letter link: now addressed to {', '.join(names)}")
    click.echo()


def _representatives(folder: Path, recipients: Sequence[Recipient]) -> dict[int, str]:
    """Each recipient's House member as the roster now stands (bioguide), when known."""
    database = open_db(folder / DB_FILE)
    try:
        found = {r.subscriber_id: targets_for(database, r.subscriber_id) for r in recipients}
    finally:
        database.close()
    return {sid: t.representative.bioguide for sid, t in found.items() if t.representative}


# --------------------------------------------------------------------------
# The end


def _summary(folder: Path) -> None:
    _step("Where everything is")
    for name, what in (
        (CONFIG_FILE, "the settings (base_url, secret, sendgrid_host...)"),
        ("subscribers.db", "subscribers, roster, campaigns, send ledger, events"),
        ("campaigns/", "campaign files; the one sent is end-qualified-immunity-act.md"),
        ("templates/", "the MJML email templates"),
        ("preview.html", "the email as one subscriber sees it"),
        ("outbox.mbox", "every personalised message of the dry run; opens in a mail program"),
        (SINK, "what the local SendGrid sink received"),
        ("serve.log", "the server's log (no tokens, no addresses)"),
        ("report.html", "the campaign report with charts"),
    ):
        click.echo(f"  {folder / name}\n      {what}")
    click.echo(
        "\nTo do this for real:\n"
        "  1. alerts init my-campaigns && cd my-campaigns; fill in alerts.toml:\n"
        "     org_name, postal_address, from_email, from_name, reply_to, and base_url,\n"
        "     the public https address where `alerts serve` will run (docs/deploying.md).\n"
        "  2. export SENDGRID_API_KEY=... (a key with Mail Send access; docs/sendgrid.md).\n"
        "  3. alerts targets update     # the current roster of Congress and ZIP map\n"
        "  4. alerts import signups.csv\n"
        "  5. Write campaigns/<slug>.md, then: alerts campaigns check <slug>;\n"
        "     alerts preview <slug> --open; alerts send <slug> --test you@example.org\n"
        "  6. alerts send <slug>, and alerts stats <slug> as the results come in."
    )
    with suppress(OSError):
        if folder.is_relative_to(Path(tempfile.gettempdir())):
            click.echo(f"\n{folder} is a temporary folder; use --dir to keep a demo elsewhere.")


COMMANDS = [demo]
