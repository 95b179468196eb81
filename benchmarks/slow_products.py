#!/usr/bin/env python3
"""Products that take time (issue 20): the figures of docs/slow-products.md, measured.

Each run is one command in a subprocess (`pytest -q`, `ci` profile, cells as the suite chooses
them: a product that declares latencies runs up to 32 cells at once), wall-clock timed:

    inproc   the whole default run (features + stateful) against the realistic mock in process,
             revocations and removals 0.2 s after the event       target <= 60 s
    http     the same over HTTP against `certconform serve --realistic --revocation-delay 0.2
             --removal-delay 0.2`                                  target <= 90 s
    slow30   the feature run against the realistic mock with 30 s delays for delivery,
             revocation and removal                                target <= 15 min, 0 failures
    serial   (not by default) the whole run at 0.2 s with --cells 1: one event at a time, as before

and for each, from results.json: the tests' outcome, the cells in flight at most, events and
requests, and the plan's expected wall time beside the actual one (`run.cells.planned` /
`.actual`). `--delay` / `--slow-delay` change the delays, `--only` picks runs, `--root DIR`
measures another checkout. A measurement, not a test: exit 1 only when a run fails or misses its
target.

    python benchmarks/slow_products.py [--only inproc,http,slow30] [--delay 0.2] [--slow-delay 30] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from suite_time import python_of  # the checkout's own interpreter (benchmarks/ is this script's sys.path[0])

HERE = Path(__file__).resolve().parent.parent
TARGETS = {"inproc": 60.0, "http": 90.0, "slow30": 900.0, "serial": None}


def timed(root: Path, spec: str, extra: list[str], env: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [python_of(root), "-m", "pytest", f"--mdm={spec}", f"--report-dir={tmp}", "-q", "-p", "no:cacheprovider",
               *extra]
        env = dict(os.environ, **env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE / "benchmarks"), str(HERE), env.get("PYTHONPATH")]))
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env)
        elapsed = time.perf_counter() - start
        tail = next((line for line in reversed(r.stdout.splitlines()) if " passed" in line or " failed" in line), "")
        out = {"seconds": round(elapsed, 1), "exit": r.returncode, "result": tail.strip("= ")}
        try:
            results = json.loads((Path(tmp) / "results.json").read_text())
        except (OSError, ValueError):
            results = {}
        totals = results.get("totals", {})
        out.update(fail=totals.get("fail"), error=totals.get("error"), tests=totals.get("tests"))
        cells = (results.get("run") or {}).get("cells") or {}
        if cells:
            planned, actual = cells.get("planned") or {}, cells.get("actual") or {}
            out.update(cells=actual.get("cells"), in_flight=actual.get("cells_in_flight_at_most"),
                       events=actual.get("events"), requests=actual.get("requests_total"),
                       planned_s=planned.get("expected_wall_seconds"), actual_s=actual.get("wall_seconds"))
        if r.returncode != 0:
            out["tail"] = (r.stdout[-1500:] + r.stderr[-1500:]).strip()
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE)
    parser.add_argument("--only", default="inproc,http,slow30")
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--slow-delay", type=float, default=30.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = args.root.resolve()
    rows = []
    print(f"checkout {root}; cores {os.cpu_count()}; load {os.getloadavg()[0]:.1f}", flush=True)
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        fast = {"CERTCONFORM_BENCH_DELAY": str(args.delay)}
        if name == "inproc":
            row = timed(root, "realistic_adapter:adapter", [], fast)
        elif name == "serial":
            row = timed(root, "realistic_adapter:adapter", ["--cells", "1"], fast)
        elif name == "slow30":
            slow = str(args.slow_delay)
            row = timed(root, "realistic_adapter:adapter", ["-m", "not stateful"],
                        {"CERTCONFORM_BENCH_DELAY": slow, "CERTCONFORM_BENCH_DELIVERY_DELAY": slow})
        elif name == "http":
            sys.path.insert(0, str(HERE))
            from tests.servers import running_mock_server

            delays = ("--realistic", "--revocation-delay", str(args.delay), "--removal-delay", str(args.delay))
            with running_mock_server(extra_args=delays) as url:
                row = timed(root, url, [], {})
        else:
            parser.error(f"unknown run {name!r}")
        row["run"], row["target"] = name, TARGETS.get(name)
        row["load"] = round(os.getloadavg()[0], 1)
        rows.append(row)
        met = "" if row["target"] is None else (" target met" if row["seconds"] <= row["target"] else " TARGET MISSED")
        print(f"{name:<7} {row['seconds']:>7.1f} s  exit {row['exit']}  {row['result']}  fail {row['fail']} error "
              f"{row['error']}  cells {row.get('cells')} (at most {row.get('in_flight')} at once)  events {row.get('events')}  "
              f"requests {row.get('requests')}  planned {row.get('planned_s')} s / actual {row.get('actual_s')} s  "
              f"load {row['load']}{met}", flush=True)
        if row["exit"]:
            print(row.get("tail", ""), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"root": str(root), "runs": rows}, indent=2) + "\n")
    missed = [r for r in rows if r["exit"] or (r["target"] is not None and r["seconds"] > r["target"])]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
