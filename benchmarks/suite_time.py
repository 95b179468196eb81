#!/usr/bin/env python3
"""How long the default conformance run takes (target: <= 30 s on a 2-core machine).

Runs `pytest --mdm SPEC -q` (features + Hypothesis stateful, `ci` profile) in a subprocess for
each implementation and prints wall-clock times. The targets apply to the default run (`mock`)
and to the mock over HTTP (`http`: the real server on a free loopback port; every event costs
two requests); other implementations are shown for information. A measurement, not a test:
exit 1 only when a run fails or a run with a target misses it.

    python benchmarks/suite_time.py [--spec mock --spec reference --spec http] [--repeat 2]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 30.0
HTTP_TARGET_S = 60.0  # issue 10: the full run against the mock over HTTP
sys.path.insert(0, str(ROOT))


def timed_run(spec: str, report_dir: str) -> tuple[float, int, str]:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pytest", f"--mdm={spec}", f"--report-dir={report_dir}", "-q",
                        "-p", "no:cacheprovider"], capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    tail = next((line for line in reversed(r.stdout.splitlines()) if " passed" in line or " failed" in line), "")
    return elapsed, r.returncode, tail.strip("= ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", action="append", help="reference, mock, http (the mock over HTTP) or any SPEC")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    specs = args.spec or ["mock", "reference", "http"]
    print(f"cores: {os.cpu_count()}  targets: <= {TARGET_S:.0f} s for the default run (--mdm mock: features + "
          f"stateful, ci profile), <= {HTTP_TARGET_S:.0f} s for the mock over HTTP\n")
    print(f"{'implementation':<16} {'seconds':>8}  {'met':<4} result")
    bad = 0
    for spec in specs:
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                if spec == "http":
                    from tests.servers import running_mock_server

                    with running_mock_server() as url:
                        elapsed, rc, tail = timed_run(url, tmp)
                else:
                    elapsed, rc, tail = timed_run(spec, tmp)
            if spec in ("mock", "http"):
                met = rc == 0 and elapsed <= (TARGET_S if spec == "mock" else HTTP_TARGET_S)
                label = "yes" if met else "NO"
            else:
                met, label = rc == 0, "info"
            bad += not met
            print(f"{spec:<16} {elapsed:>8.1f}  {label:<4} {tail} (exit {rc})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
