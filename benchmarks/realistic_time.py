#!/usr/bin/env python3
"""How long a run against the realistic mock takes, and what xdist workers and stateful shards save.

Against the mock in its realistic mode (revocations and removals land DELAY seconds after the
event, default 0.2 s, so settle_s = DELAY + 0.05 and the quiet period min(settle_s, 0.5)), each
part of the suite in a subprocess (`pytest -q`, `ci` profile), timed wall-clock:

    features   the feature scenarios (`-m "not stateful"`)
    stateful   the stateful test (`conformance/test_stateful.py`)
    whole      both in one run (`--parts whole`; under -n, what a user runs)

under three set-ups:

    serial                      one process (what a plain `pytest --mdm ...` does)
    -n 4                        four xdist workers, the default 4 stateful shards
    -n 8 --stateful-shards 8    eight workers, eight shards (needs this checkout's option)

A realistic run sleeps far more than it computes (each settle and quiet period is a sleep), so
workers beyond the cores still pay. Over HTTP (`--http`: `certconform serve --realistic` with
the same delays) `-n` is refused (one server, one tenant), so only the serial set-up is timed.

`--examples N` runs the stateful test with N sequences instead of the ci profile's 200 (a fixed
subset, through tests/mutants.py's budget; say so when quoting the figures); `--only` picks
set-ups; `--root DIR` measures another checkout (its `.venv/bin/python`). A measurement, not a
test: exit 1 only when a run fails.

    python benchmarks/realistic_time.py [--delay 0.2] [--examples N] [--only serial,-n 4] [--http] [--json PATH]
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
SETUPS = {"serial": [], "-n 4": ["-n", "4"], "-n 8 --stateful-shards 8": ["-n", "8", "--stateful-shards", "8"]}
PARTS = {"features": ["-m", "not stateful"], "stateful": ["conformance/test_stateful.py"], "whole": []}


def timed_run(root: Path, spec: str, part: str, setup: str, examples: int | None, delay: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [python_of(root), "-m", "pytest", f"--mdm={spec}", f"--report-dir={tmp}", "-q", "-p", "no:cacheprovider",
               *PARTS[part], *SETUPS[setup]]
        env = dict(os.environ, CERTCONFORM_BENCH_DELAY=str(delay))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE / "benchmarks"), str(HERE), env.get("PYTHONPATH")]))
        if examples is not None:  # tests/mutants.py (of this checkout) reads the budget from the environment
            cmd += ["-p", "tests.mutants"]
            env["CERTCONFORM_CATALOGUE_BUDGET"] = f"pass:{examples}"
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env)
        elapsed = time.perf_counter() - start
        tail = next((line for line in reversed(r.stdout.splitlines()) if " passed" in line or " failed" in line), "")
        out = {"part": part, "setup": setup, "seconds": round(elapsed, 1), "exit": r.returncode, "result": tail.strip("= ")}
        coverage = Path(tmp) / "coverage.json"
        if coverage.is_file():
            data = json.loads(coverage.read_text())
            out.update(transitions=len(data.get("transitions", {})), checks=sum(data.get("transitions", {}).values()))
        if r.returncode != 0:
            out["stderr"] = (r.stdout[-1500:] + r.stderr[-1500:]).strip()
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout to measure (default: this one)")
    parser.add_argument("--delay", type=float, default=0.2, help="revocation and removal delay, seconds (default 0.2)")
    parser.add_argument("--examples", type=int, default=None, help="stateful sequences (default: the ci profile's 200)")
    parser.add_argument("--only", default=",".join(SETUPS), help="comma-separated set-ups: " + ", ".join(SETUPS))
    parser.add_argument("--parts", default="features,stateful", help="comma-separated parts: features, stateful, whole")
    parser.add_argument("--http", action="store_true", help="also time the serial run over HTTP (serve --realistic)")
    parser.add_argument("--json", type=Path, help="write the figures there too")
    args = parser.parse_args()
    root = args.root.resolve()
    setups = [s.strip() for s in args.only.split(",") if s.strip()]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    for name, known in (*((s, SETUPS) for s in setups), *((p, PARTS) for p in parts)):
        if name not in known:
            parser.error(f"unknown set-up or part {name!r}: use {', '.join(known)}")
    print(f"checkout: {root}\ncores: {os.cpu_count()}  delay: {args.delay} s  stateful examples: "
          f"{args.examples or 'ci profile (200)'}\n")
    print(f"{'part':<9} {'set-up':<26} {'spec':<6} {'seconds':>8} {'transitions':>11} {'checks':>7}  result")
    rows = []
    plan = [(part, setup, "in process") for setup in setups for part in parts]
    plan += [(part, "serial", "http") for part in parts] if args.http else []
    for part, setup, where in plan:
        if where == "http":
            sys.path.insert(0, str(HERE))
            from tests.servers import running_mock_server

            delays = ("--realistic", "--revocation-delay", str(args.delay), "--removal-delay", str(args.delay))
            with running_mock_server(extra_args=delays) as url:
                row = timed_run(root, url, part, setup, args.examples, args.delay)
        else:
            row = timed_run(root, "realistic_adapter:adapter", part, setup, args.examples, args.delay)
        row["where"] = where
        rows.append(row)
        print(f"{part:<9} {setup:<26} {'http' if where == 'http' else 'proc':<6} {row['seconds']:>8.1f} "
              f"{row.get('transitions', ''):>11} {row.get('checks', ''):>7}  {row['result']} (exit {row['exit']})",
              flush=True)
        if row["exit"] != 0:
            print(row["stderr"], file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"root": str(root), "cores": os.cpu_count(), "delay": args.delay,
                                         "examples": args.examples, "runs": rows}, indent=2) + "\n")
    return 1 if any(r["exit"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
