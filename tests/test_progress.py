"""Self-tests of the progress lines (certconform/progress.py) and of the stateful test printing
them while it runs, under `certconform run`, plain pytest with -q, and (silently) under xdist.

What they know: the line formats of certconform/progress.py and the catalogue's small budget
(`-p tests.mutants` with CERTCONFORM_CATALOGUE_BUDGET=pass:N). What they don't: what the
stateful test checks.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from certconform.progress import Progress

ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_line_every_interval_with_rate_and_eta():
    clock, lines = Clock(), []
    p = Progress("stateful", 10, lines.append, interval=5, clock=clock)
    for _ in range(3):  # three sequences started: two done
        p.sequence()
        for _ in range(50):
            p.event()
    assert lines == []  # nothing before the interval has passed
    clock.now += 5
    p.event()
    assert lines == ["stateful: 2/10 sequences, 151 events, 30 events/s, ETA 20s"]
    p.event()
    assert len(lines) == 1  # at most one line per interval
    p.failure(events=12)
    assert lines[-1] == "stateful: a sequence failed after 12 events"
    p.sequence()
    clock.now += 5
    p.event()
    assert lines[-1] == "stateful: shrinking the failing sequence: 1 replays, 153 events"
    p.finish("failed")
    assert lines[-1] == "stateful: failed: 4 sequences, 153 events in 10s (15 events/s)"


def test_count_stops_at_the_total_and_eta_at_zero():
    clock, lines = Clock(), []
    p = Progress("s", 2, lines.append, interval=1, clock=clock)
    for _ in range(5):  # Hypothesis may run more examples than max_examples (discarded ones)
        p.sequence()
    clock.now += 61
    p.event()
    assert lines == ["s: 2/2 sequences, 1 events, 0 events/s, ETA 0s"]
    p.finish()
    assert lines[-1] == "s: done: 5 sequences, 1 events in 1m01s (0 events/s)"


def test_no_writer_no_output():
    p = Progress("s", 1, None, interval=0)
    p.sequence(), p.event(), p.failure(1), p.finish()  # nothing to write to, nothing raised


def stateful_run(*args: str, cli: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, CERTCONFORM_CATALOGUE_BUDGET="pass:20")
    base = [sys.executable, "-m", "certconform.cli", "run"] if cli else [sys.executable, "-m", "pytest"]
    return subprocess.run([*base, "-p", "no:cacheprovider", "-p", "tests.mutants", "--mdm=reference",
                           "-m", "stateful", *args], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.parametrize("cli", [False, True], ids=["pytest -q", "certconform run -q"])
def test_stateful_test_prints_progress_while_it_runs(tmp_path, cli):
    proc = stateful_run("-q", f"--report-dir={tmp_path}", cli=cli)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # under -q each shard's first line starts a line of its own, after the previous tests' "."
    assert ".certconform stateful" not in proc.stdout
    lines = [line for line in proc.stdout.splitlines() if line.startswith("certconform stateful: ")]
    # the ci budget (20 here) is split over the stateful shards (conformance/shards.py), one line each
    starts = [line for line in lines if "up to" in line]
    assert starts[0].startswith("certconform stateful: shard-1-of-4: up to 5 sequences of up to 30 steps; derandomized")
    assert len(starts) == 4 and len([line for line in lines if ": done: " in line]) == 4
    assert lines[-1].startswith("certconform stateful: done: ") and "events/s)" in lines[-1]
    # the lines come before the last test's own progress character ("."), i.e. while it runs
    dot = re.search(r"^\.\s+\[100%\]$", proc.stdout, re.M)
    assert dot and proc.stdout.index(lines[-1]) < dot.start()


def test_xdist_workers_print_no_progress(tmp_path):
    proc = stateful_run("-q", f"--report-dir={tmp_path}", "-n", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "certconform stateful:" not in proc.stdout + proc.stderr
