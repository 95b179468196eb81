#!/usr/bin/env python3
"""Which HTTP client library carries the HTTP adapter: events per second over HTTP, one stream,
several clients, against the same mock server.

    python benchmarks/bench_http_client.py [--events N] [--rounds R]

The stream and the server are bench_events.py's (100 devices, a mixed stream of 5000 events, one
POST /events per event, one GET /certificates at the end; the server on a free loopback port).
Clients, interleaved round by round (the best round of each is reported, as the machine is shared):
  adapter (urllib3)   the suite's HttpAdapter (mdm/http_adapter.py), urllib3 2.x underneath
  urllib3 alone       a bare urllib3 HTTPConnectionPool loop: the library's own cost
  httpcore alone      a bare httpcore ConnectionPool loop
  httpx (httpcore)    an httpx.Client with its default transport (httpcore + h11)
The rule (issue 22): keep a well-kept library unless it is more than 15 % slower than the
hand-written client it replaces (benchmarks/README.md, "HTTP client", has the figures).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpcore  # noqa: E402
import httpx  # noqa: E402
import urllib3  # noqa: E402

import bench_events  # noqa: E402
from certconform import mdm  # noqa: E402

JSON = {"content-type": "application/json"}


def adapter(url, setup, stream):
    client = mdm.load_adapter(url)
    seconds = bench_events.run(client, setup, stream)[0]
    client.close()
    return seconds


def _loop(send, setup, stream, final) -> float:
    send("/reset", None)
    for event in setup:
        send("/events", event)
    start = time.perf_counter()
    for event in stream:
        send("/events", event)
    final()
    return time.perf_counter() - start


def urllib3_alone(url, setup, stream):
    pool = urllib3.connection_from_url(url, maxsize=4, retries=False, timeout=urllib3.Timeout(connect=5, read=30))
    seconds = _loop(lambda path, event: pool.request("POST", path, body=json.dumps(event or {}).encode(), headers=JSON),
                    setup, stream, lambda: json.loads(pool.request("GET", "/certificates").data))
    pool.close()
    return seconds


def httpcore_alone(url, setup, stream):
    pool = httpcore.ConnectionPool(max_connections=4)
    timeout = {"timeout": {"connect": 5, "read": 30}}
    seconds = _loop(lambda path, event: pool.request("POST", url + path, headers=JSON, extensions=timeout,
                                                     content=json.dumps(event or {}).encode()),
                    setup, stream, lambda: json.loads(pool.request("GET", url + "/certificates").content))
    pool.close()
    return seconds


def httpx_default(url, setup, stream):
    client = httpx.Client(base_url=url, timeout=httpx.Timeout(30, connect=5))
    seconds = _loop(lambda path, event: client.post(path, json=event or {}), setup, stream,
                    lambda: client.get("/certificates").json())
    client.close()
    return seconds


CLIENTS = {"adapter (urllib3)": adapter, "urllib3 alone": urllib3_alone, "httpcore alone": httpcore_alone,
           "httpx (httpcore)": httpx_default}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    fleet = bench_events.Fleet(100, 1)
    setup, stream = fleet.setup(), fleet.stream(args.events)
    best: dict[str, float] = {}
    with bench_events.server() as url:
        for _ in range(args.rounds):
            for name, run in CLIENTS.items():
                best[name] = max(best.get(name, 0.0), len(stream) / run(url, setup, stream))
    reference = best["adapter (urllib3)"]
    print(f"{'client':<20}{'events/s':>10}{'vs adapter':>12}   (best of {args.rounds} rounds, {len(stream)} events)")
    for name, rate in best.items():
        print(f"{name:<20}{rate:>10.0f}{(rate / reference - 1) * 100:>+11.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
