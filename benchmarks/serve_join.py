"""Signups per second from `alerts serve`: `POST /join`, every confirmation then sent once.

wrk posts the signup form with a new address each time (and a new client
address in X-Forwarded-For, as a reverse proxy would, so the per-client limit
does not refuse the load). Each answer waits for the signup and its queued
confirmation to be committed by the group committer; the server's sender
thread sends the queue meanwhile to the SendGrid stand-in (its own process).
After the load, the script waits for the queue to drain and checks that every
stored signup got exactly one message at the stand-in.

Baselines, on the same server in the same run: `GET /join` (the form page)
and `GET /healthz`.

Target (issue 15): `POST /join` serves at least 500 requests a second.

Usage: python benchmarks/serve_join.py [--connections C] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

from _common import header, load_average, workdir
from serve_clicks import free_port, report

from alerts.config import new_secret, render_config_file

POST_LUA = """
local n = 0
local token = ""
init = function(args)
  token = args[1]
  n = math.random(1000000) * 1000
end
request = function()
  n = n + 1
  local body = "token=" .. token .. "&email=b" .. n .. "%40example.net&first_name=Ann&zip=62701"
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Origin"] = "https://act.example.org",
    ["X-Forwarded-For"] = string.format(
      "10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256),
  }
  return wrk.format("POST", "/join", headers, body)
end
"""
GET_LUA = """
request = function()
  return wrk.format("GET", PATH)
end
"""
DONE_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d bad_status=%d socket_errors=%d p50_us=%d"
    .. " p99_us=%d max_us=%d duration_us=%d\\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, summary.duration))
end
"""


def start_standin(store: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "alerts.delivery.providers.sendgrid.standin", "--store", str(store)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    return process, line.rsplit(" ", 1)[-1].strip()


def project(folder: Path, sendgrid_host: str) -> None:
    for name in ("subscribers.db", "subscribers.db-wal", "subscribers.db-shm"):
        (folder / name).unlink(missing_ok=True)
    values = {
        "secret": new_secret(),
        "base_url": "https://act.example.org",
        "org_name": "Benchmark",
        "from_email": "updates@example.org",
        "sendgrid_host": sendgrid_host,
    }
    (folder / "alerts.toml").write_text(render_config_file(values), encoding="utf-8")


def start_server(folder: Path, port: int) -> subprocess.Popen[bytes]:
    alerts = Path(sys.executable).with_name("alerts")
    server = subprocess.Popen(
        [str(alerts), "serve", "--port", str(port), "--no-access-log"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "server.log").open("wb"),
        env={**os.environ, "SENDGRID_API_KEY": "SG.benchmark"},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"the server did not start: see {folder / 'server.log'}")


def wrk(port: int, script: Path, seconds: int, connections: int, *args: str) -> dict[str, int]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script)]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}/", "--", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = dict(part.split("=") for part in output.split("RESULT ", 1)[1].split() if "=" in part)
    return {key: int(value) for key, value in found.items()}


def form_token(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/join", timeout=5) as page:
        found = re.search(r'name="token" value="([^"]+)"', page.read().decode())
    assert found
    return found.group(1)


def queue_state(folder: Path) -> dict[str, int]:
    with sqlite3.connect(folder / "subscribers.db") as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM signup_mail GROUP BY 1").fetchall())


def signup_count(folder: Path) -> int:
    with sqlite3.connect(folder / "subscribers.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM signups").fetchone()[0])


def delivered(store: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for line in store.read_text(encoding="utf-8").splitlines():
        for item in json.loads(line)["body"]["personalizations"]:
            for address in item["to"]:
                found[address["email"]] += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    header("alerts serve: POST /join, the signup form")
    folder = workdir("serve_join")
    store = folder / "sent.jsonl"
    store.unlink(missing_ok=True)
    standin, host = start_standin(store)
    project(folder, host)
    post = folder / "post.lua"
    post.write_text(POST_LUA + DONE_LUA, encoding="utf-8")
    scripts = {}
    for name, path in (("form", "/join"), ("healthz", "/healthz")):
        scripts[name] = folder / f"{name}.lua"
        scripts[name].write_text(GET_LUA.replace("PATH", f'"{path}"') + DONE_LUA, "utf-8")
    print(f"1 worker, wrk 1 thread, {args.connections} connections, {args.seconds} s each")
    print(f"load average before: {load_average()}")
    port = free_port()
    server = start_server(folder, port)
    try:
        token = form_token(port)
        results = {
            "healthz": wrk(port, scripts["healthz"], args.seconds, args.connections),
            "form": wrk(port, scripts["form"], args.seconds, args.connections),
            "join": wrk(port, post, args.seconds, args.connections, token),
        }
        drained_at = time.monotonic()
        while queue_state(folder).get("queued", 0) or queue_state(folder).get("sending", 0):
            if time.monotonic() - drained_at > 600:
                raise SystemExit(f"the queue did not drain: {queue_state(folder)}")
            time.sleep(0.5)
        drain = time.monotonic() - drained_at
    finally:
        server.terminate()
        server.wait(timeout=60)
        standin.terminate()
        standin.wait(timeout=30)
    print(f"load average after: {load_average()}")
    healthz = report("GET /healthz           ", results["healthz"])
    form = report("GET /join (the form)   ", results["form"])
    join = report("POST /join (signups)   ", results["join"])
    signups = signup_count(folder)
    sent = delivered(store)
    twice = sum(1 for n in sent.values() if n > 1)
    print(
        f"signups stored: {signups:,}; queue after the load: {queue_state(folder)}; "
        f"drained {drain:.1f} s after the load ended"
    )
    print(
        f"messages at the stand-in: {sum(sent.values()):,} to {len(sent):,} addresses, "
        f"{twice} addresses twice"
    )
    ok = join >= 500 and len(sent) == signups and twice == 0
    print(f"POST /join is {join / form:.2f}x GET /join and {join / healthz:.3f}x /healthz")
    print(f"target 500/s, every signup sent once: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
