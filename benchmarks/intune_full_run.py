#!/usr/bin/env python3
"""The whole conformance suite through `--mdm intune` against the Graph emulator, with the full budget.

    python benchmarks/intune_full_run.py [--shards 4] [--profile ci] [--page-size 3] [--throttle-every 7]
                                         [--quiet-period 0.2] [--settle-s 2] [--no-features]

What CI runs (tests/test_intune_e2e.py) is the feature scenarios and the stateful test on a small
Hypothesis budget; this is the same configuration with the `ci` profile's full budget. The Intune
adapter refuses `-n` (xdist workers would share one device pool), so instead each stateful shard
runs in a process of its own against an emulator of its own (`certconform serve --graph` on a free
loopback port, paging and throttling switched on), all shards at once, and the feature scenarios
beside them against one more emulator. The adapter is configured only through
CERTCONFORM_INTUNE_*, as an administrator's run is.

It prints one line per run (exit code, tests passed/failed/skipped, seconds, the results summary
line) and exits 0 only when every run passed. Run it from the project root with the project's
environment (`python3 dev.py shell-path` names its bin directory).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import running_graph_emulator  # noqa: E402  (the project root is on sys.path now)
from tests.test_intune_e2e import TOKEN, intune_env  # noqa: E402


def run_one(label: str, base_url: str, report_dir: Path, args: argparse.Namespace, *selection: str) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--mdm", "intune", "--allow-destructive",
           f"--report-dir={report_dir}", "-q", "-p", "tests.hypothesis_small", "--hypothesis-profile", args.profile,
           "--quiet-period", str(args.quiet_period), *selection]
    env = intune_env(base_url, CERTCONFORM_INTUNE_SETTLE_S=str(args.settle_s))
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    counts = {}
    junit = report_dir / "junit.xml"
    if junit.exists():
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    summary = next((line for line in proc.stdout.splitlines() if line.startswith("certconform results:")), "")
    coverage = report_dir / "coverage.json"
    if "stateful" in selection and coverage.exists():
        # a stateful run's checks are not statement verdicts (those come from the scenarios): what
        # it explored is in coverage.json, the model transitions reached and the checks made
        cov = json.loads(coverage.read_text())
        summary = (f"{len(cov['transitions'])}/{len(cov['specified'])} specified transitions reached, "
                   f"{sum(cov['statements'].values())} statement checks")
    return {"label": label, "exit": proc.returncode, "seconds": seconds, "counts": counts,
            "summary": summary.split(": ", 2)[-1], "tail": "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--shards", type=int, default=4, help="stateful shards, each its own process and emulator")
    ap.add_argument("--profile", default="ci", help="Hypothesis profile of the stateful shards (default ci; `small` is CI's budget)")
    ap.add_argument("--page-size", default="3", help="emulator page size (paging on)")
    ap.add_argument("--throttle-every", default="7", help="emulator answers every Nth request with 429")
    ap.add_argument("--quiet-period", type=float, default=0.2, help="the suite's --quiet-period")
    ap.add_argument("--settle-s", type=float, default=2.0, help="CERTCONFORM_INTUNE_SETTLE_S")
    ap.add_argument("--no-features", action="store_true", help="only the stateful shards")
    args = ap.parse_args(argv)
    if args.shards < 1:
        ap.error("--shards must be at least 1")

    emulator = ("--page-size", args.page_size, "--throttle-every", args.throttle_every, "--retry-after", "0")
    jobs = [(f"stateful shard-{k}-of-{args.shards}", ("-m", "stateful", f"--stateful-shards={args.shards}",
                                                      "-k", f"shard-{k}-of-{args.shards}"))
            for k in range(1, args.shards + 1)]
    if not args.no_features:
        jobs.insert(0, ("feature scenarios", ("-m", "not stateful")))
    print(f"{len(jobs)} runs through --mdm intune, each against its own Graph emulator "
          f"(page size {args.page_size}, a 429 every {args.throttle_every} requests), profile {args.profile} ...",
          flush=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="certconform-intune-") as tmp, ExitStack() as stack:
        urls = [stack.enter_context(running_graph_emulator(*emulator, token=TOKEN)) for _ in jobs]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = [pool.submit(run_one, label, url, Path(tmp) / f"r{i}", args, *selection)
                       for i, ((label, selection), url) in enumerate(zip(jobs, urls))]
            results = [f.result() for f in futures]
    wall = time.monotonic() - start
    failed = [r for r in results if r["exit"] != 0]
    for r in results:
        c = r["counts"]
        print(f"{r['label']:<28} exit {r['exit']}  {c.get('tests', 0) - c.get('skipped', 0) - c.get('failures', 0)}"
              f" passed, {c.get('failures', 0)} failed, {c.get('skipped', 0)} not-supported/skipped  "
              f"{r['seconds']:.0f} s  {r['summary']}")
    for r in failed:
        print(f"\n--- {r['label']}: last lines ---\n{r['tail']}")
    print(f"wall time {wall:.0f} s; {'every run passed' if not failed else f'{len(failed)} run(s) failed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
