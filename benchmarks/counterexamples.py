#!/usr/bin/env python3
"""Counterexample benchmark: how long and how short the stateful test's counterexamples are.

    python benchmarks/counterexamples.py [--jobs 2] [--timeout 300] [--only NAME ...] [--json PATH]

For each mutant of tests/mutants.py (list MUTANTS) it runs ONLY the stateful test
(`pytest -m stateful --mdm tests.mutants:NAME`) in a subprocess, with the default `ci` profile
and its delta-debugging pass, and WITHOUT `-p tests.mutants` (so the catalogue's reduced budget
does not apply: this is what a user's failing run does). It measures the wall time of the
subprocess (start to exit, i.e. until the counterexample is printed) and counts the events of
the printed Gherkin counterexample (its `the event {...} is applied` lines). Mutants the stateful
test does not kill (it passes; some faults are only caught by feature scenarios) are listed as
such. Prints a table, then the median length and the median and maximum time over the killed
mutants. Timings depend on the machine and on what else runs on it: this is not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import mutants  # noqa: E402

EVENT_LINE = re.compile(r"(?:When|And) the event \{.*\} is applied$")


def counterexample_events(output: str) -> int | None:
    """Events of the first printed Gherkin counterexample, or None when there is none."""
    start = output.find("# Save as features/regressions/")
    if start < 0:
        return None
    end = output.find("Then every event conformed to the document and the contract", start)
    block = output[start:end if end > 0 else None]
    return sum(1 for line in block.splitlines() if EVENT_LINE.search(line.rstrip()))


def run(name: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="certconform-cex-") as tmp:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "stateful",
               f"--mdm=tests.mutants:{name}", f"--report-dir={tmp}"]
        env = dict(os.environ)
        for var in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", mutants.BUDGET_ENV):
            env.pop(var, None)
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
            code, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired:
            code, output = -1, ""
        seconds = time.monotonic() - start
    events = counterexample_events(output) if code == 1 else None
    verdict = {0: "not killed by the stateful test", -1: f"timeout ({timeout:.0f}s)"}.get(code, "killed")
    if code not in (0, 1, -1):
        verdict = f"error (exit {code})"
    elif code == 1 and events is None:
        verdict = "failed without a counterexample"
    return {"mutant": name, "verdict": verdict, "events": events, "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--jobs", type=int, default=2, help="mutants run in parallel (default 2)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per mutant (default 300)")
    ap.add_argument("--only", nargs="*", default=None, help="run only these mutants")
    ap.add_argument("--json", default=None, help="also write the rows and summary here")
    args = ap.parse_args(argv)
    names = [c.__name__ for c in mutants.MUTANTS]
    if args.only:
        unknown = set(args.only) - set(names)
        if unknown:
            ap.error(f"not in tests/mutants.py MUTANTS: {', '.join(sorted(unknown))}")
        names = [n for n in names if n in args.only]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda n: run(n, args.timeout), names))

    width = max(len(n) for n in names)
    print(f"{'mutant'.ljust(width)}  {'events':>6}  {'seconds':>7}  result")
    for r in rows:
        ev = "-" if r["events"] is None else str(r["events"])
        print(f"{r['mutant'].ljust(width)}  {ev:>6}  {r['seconds']:>7.1f}  {r['verdict']}")
    killed = [r for r in rows if r["events"] is not None]
    summary = {"mutants": len(rows), "killed_by_stateful": len(killed),
               "median_events": statistics.median(r["events"] for r in killed) if killed else None,
               "max_events": max((r["events"] for r in killed), default=None),
               "median_seconds": round(statistics.median(r["seconds"] for r in killed), 1) if killed else None,
               "max_seconds": max((r["seconds"] for r in killed), default=None),
               "wall_seconds": round(time.monotonic() - started), "jobs": args.jobs}
    print()
    print(f"killed by the stateful test: {summary['killed_by_stateful']}/{summary['mutants']}; "
          f"counterexample events: median {summary['median_events']}, max {summary['max_events']}; "
          f"time to counterexample: median {summary['median_seconds']}s, max {summary['max_seconds']}s "
          f"({args.jobs} jobs, {summary['wall_seconds']}s in all)")
    not_killed = [r["mutant"] for r in rows if r["events"] is None]
    if not_killed:
        print("not killed by the stateful test (or no counterexample): " + ", ".join(not_killed))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
