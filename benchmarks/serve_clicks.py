"""Click redirects per second from `alerts serve`, against a no-op endpoint on the same stack.

Target (issue 6): at least 2,000 click redirects per second sustained for
30 s with p99 latency at most 50 ms, and as many click rows in the database
as redirects served. Baseline, measured in the same run: GET /healthz (no
database access) on the same server, same load generator, same settings.

wrk runs on this machine with a Lua script that rotates through many valid
click tokens (every subscriber, every link), sending a browser's User-Agent.
The number of redirects the server served is read from its own access log
(wrk stops with requests in flight whose answers it never counts); click
rows must equal it exactly.

Usage: python benchmarks/serve_clicks.py [--workers N] [--connections C] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _common import header, workdir

from alerts.config import Config, new_secret
from alerts.db import open_db
from alerts.email.links import Token, TokenKind, make_token, token_key

SUBSCRIBERS = 20_000
LINKS = 5
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"

LUA = """
local paths = {}
local i = 0
init = function(args)
  if args[1] == "healthz" then
    paths[1] = "/healthz"
  else
    local prefix = args[2] or "/c/"
    for line in io.lines(args[1]) do paths[#paths + 1] = prefix .. line end
  end
  i = math.random(#paths)
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["User-Agent"] = "BROWSER_AGENT"})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d bad_status=%d socket_errors=%d p50_us=%d"
    .. " p99_us=%d max_us=%d duration_us=%d\\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, summary.duration))
end
""".replace("BROWSER_AGENT", BROWSER)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(folder: Path) -> list[str]:
    """A project folder with subscribers, one campaign and its links; returns click tokens."""
    for name in ("subscribers.db", "subscribers.db-wal", "subscribers.db-shm"):
        (folder / name).unlink(missing_ok=True)
    secret = new_secret()
    (folder / "alerts.toml").write_text(
        f'base_url = "https://act.example.org"\nsecret = "{secret}"\n', encoding="utf-8"
    )
    db = open_db(folder / "subscribers.db")
    now = "2026-01-01T00:00:00Z"
    db["subscribers"].insert_all(
        {"email": f"s{n}@example.org", "email_key": f"s{n}@example.org", "first_name": f"S{n}"}
        | {"created_at": now, "updated_at": now}
        for n in range(1, SUBSCRIBERS + 1)
    )
    db["campaigns"].insert(
        {"id": 1, "slug": "bench", "kind": "update", "subject": "Bench", "created_at": now}
    )
    db["links"].insert_all(
        {"id": n, "campaign_id": 1, "url": f"https://example.org/page/{n}"}
        for n in range(1, LINKS + 1)
    )
    db.conn.commit()
    db.close()
    key = token_key(Config.load(folder / "alerts.toml").require("secret"))
    tokens = [
        make_token(key, Token(TokenKind.CLICK, 1, subscriber, link))
        for subscriber in range(1, SUBSCRIBERS + 1)
        for link in range(1, LINKS + 1)
    ]
    random.Random(6).shuffle(tokens)
    return tokens


def start_server(folder: Path, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    alerts = Path(sys.executable).with_name("alerts")
    command = [str(alerts), "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(
        command, cwd=folder, stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=os.environ
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"the server did not start: see {log}")


def wrk(
    port: int, script: Path, target: str, seconds: int, connections: int, *extra: str
) -> dict[str, int]:
    """Run wrk with the rotating script; `target` is a token file or "healthz"."""
    url = f"http://127.0.0.1:{port}/"
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url, "--"]
    output = subprocess.run(
        [*command, target, *extra], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"^RESULT (.*)$", output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{output}")
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def write_load(folder: Path, tokens: list[str]) -> Path:
    """folder/tokens.txt for wrk to rotate through, and the Lua script; returns the script."""
    (folder / "tokens.txt").write_text("\n".join(tokens) + "\n", encoding="ascii")
    script = folder / "rotate.lua"
    script.write_text(LUA, encoding="utf-8")
    return script


def against_noop(
    folder: Path, workers: int, script: Path, seconds: int, connections: int, prefix: str = "/c/"
) -> tuple[dict[str, int], dict[str, int]]:
    """Start `alerts serve` in `folder`, load it with folder/tokens.txt, then with /healthz.

    Writes folder/server.log and prints the load average before and after.
    """
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    port = free_port()
    server = start_server(folder, port, workers, folder / "server.log")
    try:
        tokens = str(folder / "tokens.txt")
        measured = wrk(port, script, tokens, seconds, connections, prefix)
        noop = wrk(port, script, "healthz", seconds, connections)
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    return measured, noop


def click_rows(folder: Path) -> int:
    with sqlite3.connect(folder / "subscribers.db") as conn:
        return conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'click'").fetchone()[0]


def served_redirects(log: Path) -> int:
    return log.read_text(encoding="utf-8").count("GET /c/{token} 302")


def report(label: str, result: dict[str, int]) -> float:
    rate = result["requests"] / (result["duration_us"] / 1e6)
    print(
        f"{label}: {rate:,.0f} requests/s over {result['duration_us'] / 1e6:.1f} s, "
        f"p50 {result['p50_us'] / 1000:.1f} ms, p99 {result['p99_us'] / 1000:.1f} ms, "
        f"max {result['max_us'] / 1000:.1f} ms, bad status {result['bad_status']}, "
        f"socket errors {result['socket_errors']}"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    header("alerts serve: click redirects vs a no-op endpoint")
    folder = workdir("serve_clicks")
    tokens = seed(folder)
    script = write_load(folder, tokens)
    print(
        f"workers {args.workers}, wrk 1 thread, {args.connections} connections, "
        f"{len(tokens):,} click tokens ({SUBSCRIBERS:,} subscribers x {LINKS} links)"
    )
    log = folder / "server.log"
    clicks, noop = against_noop(folder, args.workers, script, args.seconds, args.connections)

    click_rate = report("clicks  GET /c/<token>", clicks)
    noop_rate = report("no-op   GET /healthz  ", noop)
    rows, served = click_rows(folder), served_redirects(log)
    print(
        f"redirects served (server log) {served:,}, counted by wrk {clicks['requests']:,}, "
        f"click rows {rows:,}: {'equal' if rows == served else 'NOT EQUAL'}"
    )
    print(f"ratio clicks / no-op: {click_rate / noop_rate:.2f}")
    ok = (
        click_rate >= 2000
        and clicks["p99_us"] <= 50_000
        and rows == served
        and clicks["bad_status"] == 0
    )
    print(f"target (>= 2,000/s, p99 <= 50 ms, rows == redirects): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
