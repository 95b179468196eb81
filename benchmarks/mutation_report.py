#!/usr/bin/env python3
"""Mutation report: run the conformance suite against every entry of the mutant catalogue.

    python benchmarks/mutation_report.py [--workers 2] [--realistic-workers 6] [--only NAME ...] [--mode sync|realistic]
                                         [--json PATH] [--no-json]

It prints a line as each run finishes ([done/total] entry: verdict in seconds); then, for each
entry of the catalogue (tests/mutants.py), the fault, the result of the default
run and of the --strict-readings run, what caught it (the first failing feature scenario or the
stateful test, with the statement ids and invariant names its message cites) and the summary:
  MUTANTS  must be killed by the default run (exit code 1 with a failed check): the kill rate
  STRICT   must pass by default and be killed under --strict-readings ("deviations caught")
  HONEST, LEGIT  must pass both ways (exit code 0)
The catalogue is run twice over: around the bundled (synchronous) mock, and rebuilt around the
realistic mock (entries `realistic.NAME`: delayed revocations and removals, a device pool, no
deletion by hand; a timing mutant must be killed naming the settle wait, a mutant whose fault needs
a deletion by hand is reported "not killable" with its statements not-supported). A last table
sets the two side by side (synchronous vs realistic). `--mode` runs one half only.
Each run is `pytest --mdm tests.mutants:NAME [-x] -q [--strict-readings]` from the project root
in a process forked from a warm one with the libraries imported (tests/warm_pytest.py; `--cold`:
`python -m pytest` in a fresh interpreter each), `--workers` at a time (concurrent.futures). The
last lines give the wall time and the CPU the machine spent meanwhile (/proc/stat, every process:
run it on an otherwise idle machine). The table is also written to reports/mutants.json unless
--no-json. Exit code 0 when every entry meets its expectation, else 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import mutants  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--workers", type=int, default=2, help="synchronous suite runs in parallel (default 2)")
    ap.add_argument("--realistic-workers", type=int, default=mutants.REALISTIC_WORKERS,
                    help=f"runs around the realistic mock in parallel, beside those (default {mutants.REALISTIC_WORKERS}; "
                         "they mostly wait for settle windows)")
    ap.add_argument("--only", nargs="*", default=None, help="run only these catalogue entries")
    ap.add_argument("--json", default=str(ROOT / "reports" / "mutants.json"), help="where to write the table")
    ap.add_argument("--no-json", action="store_true", help="do not write the JSON report")
    ap.add_argument("--mode", choices=("sync", "realistic"), default=None,
                    help="only the entries around the synchronous mock, or only those around the realistic one")
    ap.add_argument("--pass-examples", type=int, default=mutants.PASS_EXAMPLES,
                    help=f"stateful examples for runs that must pass (default {mutants.PASS_EXAMPLES})")
    ap.add_argument("--cold", action="store_true",
                    help="a fresh interpreter per run (python -m pytest), not a fork of the warm process")
    args = ap.parse_args(argv)
    if args.cold:
        import os

        os.environ["CERTCONFORM_CATALOGUE_COLD"] = "1"

    entries = mutants.catalogue()
    if args.only:
        unknown = set(args.only) - {e.name for e in entries}
        if unknown:
            ap.error(f"not in the catalogue: {', '.join(sorted(unknown))}")
        entries = [e for e in entries if e.name in args.only]
    if args.mode:
        entries = [e for e in entries if e.mode == args.mode]
    runs = sum(1 + (e.expected_strict is not None) for e in entries)
    print(f"running the conformance suite against {len(entries)} catalogue entries ({runs} runs), "
          f"{args.workers} synchronous and {args.realistic_workers} realistic at a time ...", flush=True)
    start, busy = time.monotonic(), _busy_cpu_seconds()
    outcomes = mutants.run_catalogue(entries, workers=args.workers, pass_examples=args.pass_examples,
                                     realistic_workers=args.realistic_workers, on_run=lambda *a: print(mutants.progress_line(*a), flush=True))
    elapsed = time.monotonic() - start
    cpu = _busy_cpu_seconds() - busy if busy is not None else None
    print(mutants.format_table(outcomes))
    print("\nsynchronous vs realistic:\n" + mutants.format_kill_table(outcomes))
    print(f"wall time: {elapsed:.0f}s ({args.workers} + {args.realistic_workers} workers; {runs} runs, {sum(o.seconds for o in outcomes):.0f}s in all)")
    if cpu is not None:
        print(f"CPU of the whole machine meanwhile: {cpu:.0f}s ({'cold: a fresh interpreter' if args.cold else 'warm: forked'} per run)")
    for o in outcomes:
        for run in (o.default, o.strict):
            if run is not None and not run.ok:
                flag = " --strict-readings" if run.strict else ""
                print(f"\n--- {o.name} ({o.group}){flag}: exit {run.exit_code}, expected {run.expected} ---\n{run.tail}")
    if not args.no_json:
        print(f"written: {mutants.write_report(outcomes, Path(args.json), wall_seconds=elapsed)}")
    return 0 if all(o.ok for o in outcomes) else 1


def _busy_cpu_seconds() -> float | None:
    """CPU seconds the machine has spent busy since boot (/proc/stat: every core, every process),
    or None where there is no /proc."""
    import os

    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
