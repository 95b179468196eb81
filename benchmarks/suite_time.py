#!/usr/bin/env python3
"""How long the conformance suite takes, and how much the stateful part explores per second.

Runs, each in a subprocess (`pytest -q -p no:cacheprovider`, `ci` profile, --mdm mock unless
--spec says otherwise), and prints wall-clock seconds:

    default      the default run: features + stateful (`pytest --mdm mock`)         target <= 10 s
    stateful     the stateful part alone (`pytest conformance/test_stateful.py`)    target <= 6 s
    default -n 2 the default run on two xdist workers                               target < default
    http         (only with --http) the default run against the mock over HTTP      target <= 60 s

and, from the stateful run's coverage.json, the platform/kind/situation transitions covered
(distinct, and checks in all), the specified ones missed, and covered transitions and checks per
second of the stateful run, so speed is never bought by exploring less.

`--root DIR` measures another checkout (its `.venv/bin/python` if it has one): run it once with
this checkout and once with the previous release's, back to back, to compare on a busy machine.
A measurement, not a test: exit 1 only when a run fails or misses a target.

    python benchmarks/suite_time.py [--root DIR] [--repeat 2] [--http] [--spec reference ...] [--json PATH]
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

HERE = Path(__file__).resolve().parent.parent
TARGETS = {"default": 10.0, "stateful": 6.0, "http": 60.0}


def python_of(root: Path) -> str:
    venv = root / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def timed_run(root: Path, spec: str, report_dir: str, *extra: str) -> dict:
    cmd = [python_of(root), "-m", "pytest", f"--mdm={spec}", f"--report-dir={report_dir}", "-q",
           "-p", "no:cacheprovider", *extra]
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    elapsed = time.perf_counter() - start
    tail = next((line for line in reversed(r.stdout.splitlines()) if " passed" in line or " failed" in line), "")
    out = {"seconds": round(elapsed, 2), "exit": r.returncode, "result": tail.strip("= ")}
    coverage = Path(report_dir) / "coverage.json"
    if coverage.is_file():
        data = json.loads(coverage.read_text())
        out.update(transitions=len(data.get("transitions", {})), checks=sum(data.get("transitions", {}).values()),
                   missed=len(data.get("missed", [])))
    return out


def measure(root: Path, what: str, spec: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        if what == "default":
            return timed_run(root, spec, tmp)
        if what == "stateful":
            return timed_run(root, spec, tmp, "conformance/test_stateful.py")
        if what == "default -n 2":
            return timed_run(root, spec, tmp, "-n", "2")
        if what == "http":
            sys.path.insert(0, str(HERE))
            from tests.servers import running_mock_server

            with running_mock_server() as url:
                return timed_run(root, url, tmp)
    raise ValueError(what)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout to measure (default: this one)")
    parser.add_argument("--spec", action="append", default=[], help="also time the default run against SPEC (info)")
    parser.add_argument("--http", action="store_true", help="also time the default run against the mock over HTTP")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures there too")
    args = parser.parse_args()
    root = args.root.resolve()
    plan = [("default", "mock"), ("stateful", "mock"), ("default -n 2", "mock")]
    plan += [("http", "mock")] if args.http else []
    plan += [("default", spec) for spec in args.spec]
    print(f"checkout: {root}\ncores: {os.cpu_count()}\n")
    print(f"{'run':<14} {'spec':<10} {'seconds':>8}  {'target':>7} {'met':<4} {'transitions':>11} {'checks':>7} "
          f"{'missed':>6} {'trans/s':>7} {'checks/s':>8}  result")
    bad, rows = 0, []
    for what, spec in plan:
        for _ in range(args.repeat):
            row = dict(measure(root, what, spec), run=what, spec=spec)
            rows.append(row)
            target = TARGETS.get(what) if spec == "mock" else None
            if what == "default -n 2":
                serial = [r["seconds"] for r in rows if r["run"] == "default" and r["spec"] == "mock"]
                target = min(serial) if serial else None
            met = row["exit"] == 0 and (target is None or row["seconds"] <= target)
            bad += not met
            per_s = (f"{row['transitions'] / row['seconds']:.1f}" if what == "stateful" and "transitions" in row else "")
            row["transitions_per_s"] = float(per_s) if per_s else None
            checks_s = f"{row['checks'] / row['seconds']:.0f}" if what == "stateful" and "checks" in row else ""
            row["checks_per_s"] = float(checks_s) if checks_s else None
            print(f"{what:<14} {spec:<10} {row['seconds']:>8.1f}  {target if target else '':>7} "
                  f"{('yes' if met else 'NO') if target else 'info':<4} {row.get('transitions', ''):>11} "
                  f"{row.get('checks', ''):>7} {row.get('missed', ''):>6} {per_s:>7} {checks_s:>8}  {row['result']} "
                  f"(exit {row['exit']})",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps({"root": str(root), "cores": os.cpu_count(), "runs": rows}, indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
