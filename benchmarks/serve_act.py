"""Public letter pages per second from `alerts serve`, against the subscriber's letter page.

`GET /act/<slug>` with a visitor's cookie reads and checks the signed cookie,
stores the visitor's details and counts their visit through the group
committer, finds their members from the ZIP, renders the campaign's letter to
each (three letters a page, as in serve_letters.py) and only then answers.
Baseline, measured in the same run on the same server: the subscriber's page
`GET /a/<token>` (serve_letters.py's seed: 20,000 subscribers). The form a
visitor without a cookie gets is measured too.

Target (issue 15): the public page serves at least half the subscriber page's rate.

Usage: python benchmarks/serve_act.py [--connections C] [--seconds S] [--visitors N]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

from _common import header, load_average, workdir
from serve_clicks import BROWSER, free_port, report, start_server
from serve_letters import HOMES, seed

from alerts.config import Config
from alerts.db.visitors import Visitor
from alerts.email.links import token_key
from alerts.letters import public

LUA = """
local requests = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    local path, cookie = line:match("^([^\\t]+)\\t?(.*)$")
    local headers = {["User-Agent"] = "BROWSER_AGENT"}
    if cookie ~= "" then headers["Cookie"] = cookie end
    requests[#requests + 1] = wrk.format("GET", path, headers)
  end
  i = math.random(#requests)
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d bad_status=%d socket_errors=%d p50_us=%d"
    .. " p99_us=%d max_us=%d duration_us=%d\\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, summary.duration))
end
""".replace("BROWSER_AGENT", BROWSER)


def visitor_cookies(folder: Path, count: int) -> list[str]:
    """`Cookie` headers of `count` visitors who ticked "Remember me", in the sample ZIPs."""
    key = token_key(Config.load(folder / "alerts.toml").require("secret"))
    now = time.time()
    cookies = []
    for n in range(1, count + 1):
        zip_code, state = HOMES[n % len(HOMES)]
        visitor = Visitor(
            f"v{n}@example.net", f"v{n}@example.net", f"Vi{n}", "Sitor", "1 Elm St",
            "Springfield", state, zip_code,
        )  # fmt: skip
        held = public.remembered(visitor, remember=True, now=now)
        cookies.append(f"{public.COOKIE_NAME}={public.visitor_cookie(key, held)}")
    random.Random(15).shuffle(cookies)
    return cookies


def write_lines(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wrk(port: int, script: Path, lines: Path, seconds: int, connections: int) -> dict[str, int]:
    url = f"http://127.0.0.1:{port}/"
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    output = subprocess.run(
        [*command, "--", str(lines)], capture_output=True, text=True, check=True
    ).stdout
    found = dict(part.split("=") for part in output.split("RESULT ", 1)[1].split() if "=" in part)
    return {key: int(value) for key, value in found.items()}


def count(folder: Path, sql: str) -> int:
    with sqlite3.connect(folder / "subscribers.db") as conn:
        return int(conn.execute(sql).fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--visitors", type=int, default=5_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    header("alerts serve: the public letter page vs the subscriber's letter page")
    folder = workdir("serve_act")
    tokens = seed(folder)
    script = folder / "requests.lua"
    script.write_text(LUA, encoding="utf-8")
    subscriber_lines = write_lines(folder, "subscriber.txt", [f"/a/{t}" for t in tokens])
    act_lines = write_lines(
        folder, "act.txt", [f"/act/bench\t{c}" for c in visitor_cookies(folder, args.visitors)]
    )
    form_lines = write_lines(folder, "form.txt", ["/act/bench"])
    print(
        f"1 worker, wrk 1 thread, {args.connections} connections, {args.seconds} s each,"
        f" {len(tokens):,} subscribers, {args.visitors:,} visitors, 3 letters a page"
    )
    print(f"load average before: {load_average()}")
    port = free_port()
    server = start_server(folder, port, 1, folder / "server.log")
    try:
        results = {
            name: wrk(port, script, lines, args.seconds, args.connections)
            for name, lines in (
                ("subscriber", subscriber_lines),
                ("public", act_lines),
                ("form", form_lines),
            )
        }
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"load average after: {load_average()}")
    subscriber = report("subscriber page  GET /a/<token>          ", results["subscriber"])
    act = report("public page      GET /act/<slug> (cookie) ", results["public"])
    report("public form      GET /act/<slug> (none)   ", results["form"])
    visits = count(folder, "SELECT SUM(views) FROM public_visits")
    served = (folder / "server.log").read_text(encoding="utf-8").count("GET /act/{slug} 200")
    print(f"public visits counted {visits:,}; public pages served (log, form included) {served:,}")
    ratio = act / subscriber
    print(f"ratio public page / subscriber page: {ratio:.3f}")
    bad = sum(r["bad_status"] for r in results.values())
    print(
        f"target (ratio >= 0.5, no bad status): {'met' if ratio >= 0.5 and not bad else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
