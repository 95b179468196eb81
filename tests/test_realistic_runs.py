"""The whole conformance suite against the mock's realistic mode (issue 11, point 4): in process
and over HTTP, zero failures, the not-supported scenarios skipped as such, results.json's totals
adding up; and what keeps such a run small: `--stateful-shards N` (conformance/shards.py) splits
the stateful exploration into as many seeded items as there are xdist workers, and a parallel run
with N shards explores exactly what a serial one does.

Budgets: delays of 0.02 s (tests/adapters_realistic.py; `serve --realistic --revocation-delay
0.02 --removal-delay 0.02` over HTTP) and a stateful budget of a few sequences (tests/mutants.py's
CERTCONFORM_CATALOGUE_BUDGET), so each run stays within a minute on a busy 2-core machine.
What this module does not know: how long such a run takes (benchmarks/realistic_time.py).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import settings

from certconform.conformance.shards import SHARDS, shards_for
from certconform.mdm import capabilities
from certconform.mdm.mock import MockMDM
from certconform.steps.driver import Driver

try:
    from tests.adapters_realistic import scep_setup
    from tests.servers import running_mock_server
except ImportError:  # run from tests/ itself
    from adapters_realistic import scep_setup
    from servers import running_mock_server

ROOT = Path(__file__).resolve().parent.parent
FAST = "tests.adapters_realistic:fast"
SERVE_FAST = ("--realistic", "--revocation-delay", "0.02", "--removal-delay", "0.02")


def pytest_run(*args, examples: int = 8):
    env = dict(os.environ, CERTCONFORM_CATALOGUE_BUDGET=f"pass:{examples}")  # tests/mutants.py: a smaller ci budget
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.mutants", "-q",
                           "-rs", *args], capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)


def counts(stdout: str) -> dict[str, int]:
    """pytest's summary line as {"passed": N, "skipped": M, ...}."""
    line = next(line for line in reversed(stdout.splitlines()) if re.search(r"\d+ (passed|failed)", line))
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", line)}


def assert_realistic_run_conforms(r: subprocess.CompletedProcess, report_dir: Path) -> None:
    """0 failed, not-supported skips present and named so, results.json's totals consistent."""
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    n = counts(r.stdout)
    assert "failed" not in n and "error" not in n and "errors" not in n, n
    assert n["passed"] > 300 and n.get("skipped", 0) > 0, n
    reasons = [line for line in r.stdout.splitlines() if line.startswith("SKIPPED")]
    assert any("not supported: " in line for line in reasons), reasons[:5]
    results = json.loads((report_dir / "results.json").read_text())
    totals = results["totals"]
    assert totals["tests"] == n["passed"] + n["skipped"]
    assert totals["tests_failed"] == totals["tests_error"] == totals["fail"] == totals["error"] == 0, totals
    assert totals["not-supported"] >= 1, totals
    verdicts = [v for v in ("fail", "error", "not-supported", "not-run", "deviates", "conflict", "pass",
                            "not-enabled", "not-validated", "unspecified")]  # unspecified: an informative statement
    assert sum(totals[v] for v in verdicts) == totals["statements"] == len(results["statements"])
    assert [s for s in results["statements"].values() if s["verdict"] == "not-supported"]
    assert results["run"]["capabilities"]["settle_s"] > 0  # a realistic run, settle windows in force
    coverage = json.loads((report_dir / "coverage.json").read_text())
    assert len(coverage["shards"]) >= SHARDS and coverage["transitions"]  # the stateful test ran


def test_whole_suite_against_the_realistic_mock_in_process(tmp_path):
    r = pytest_run(f"--mdm={FAST}", f"--report-dir={tmp_path}")
    assert_realistic_run_conforms(r, tmp_path)


def test_whole_suite_against_the_realistic_mock_over_http(tmp_path):
    with running_mock_server(extra_args=SERVE_FAST) as url:
        r = pytest_run(f"--mdm={url}", f"--report-dir={tmp_path}")
    assert_realistic_run_conforms(r, tmp_path)


def test_stateful_shards_option_sets_the_count_with_distinct_seeds_and_the_whole_budget():
    ci = settings.get_profile("ci")
    shards = shards_for(ci, 8)
    assert len(shards) == 8 and len({s.seed for s in shards}) == 8 and None not in {s.seed for s in shards}
    assert sum(s.settings(ci).max_examples for s in shards) >= ci.max_examples
    assert {s.seed for s in shards}.isdisjoint(s.seed for s in shards_for(ci))  # another count, other sequences
    assert len(shards_for(settings.get_profile("thorough"), 8)) == 1  # a random profile stays one item


def test_more_shards_on_more_workers(tmp_path):
    """The mechanism that keeps a realistic run small: with --stateful-shards 8 the stateful test
    is 8 items, which -n 4 workers share, each judging against its own realistic mock; and the
    shards explore the same sequences wherever they run (against the synchronous reference, a
    serial and a parallel run write the same coverage.json)."""
    out = tmp_path / "realistic"
    r = pytest_run(f"--mdm={FAST}", f"--report-dir={out}", "--stateful-shards", "8", "-n", "4",
                   "conformance/test_stateful.py", examples=16)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert counts(r.stdout) == {"passed": 8}, r.stdout[-500:]
    coverage = json.loads((out / "coverage.json").read_text())
    assert sorted(coverage["shards"]) == sorted(f"shard-{i}-of-8" for i in range(1, 9)) and coverage["transitions"]
    runs = {}
    for name, extra in (("serial", []), ("parallel", ["-n", "4"])):
        out = tmp_path / name
        r = pytest_run("--mdm=reference", f"--report-dir={out}", "--stateful-shards", "8",
                       "conformance/test_stateful.py", *extra, examples=24)
        assert r.returncode == 0 and counts(r.stdout) == {"passed": 8}, r.stdout[-3000:] + r.stderr[-2000:]
        runs[name] = json.loads((out / "coverage.json").read_text())
    assert runs["serial"]["transitions"] and runs["serial"]["transitions"] == runs["parallel"]["transitions"]
    assert runs["serial"]["statements"] == runs["parallel"]["statements"]


def test_a_bad_shard_count_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--stateful-shards", "0",
                        f"--report-dir={tmp_path}", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 4
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--stateful-shards" in lines[0] and "got 0" in lines[0], r.stderr
    assert not (tmp_path / "results.json").exists()


ANDROID_WORK = scep_setup("android_work", member="u")


def test_a_late_change_on_a_platform_not_validated_lands_within_its_own_event():
    """Android Enterprise (work profile) is not validated by the document, so nothing is required
    of its certificates, but the realistic mock still revokes one late. The driver waits for it
    (model/settle.py): judged at once, the revocation landed during the next event, and a bad
    input that came next was blamed for changing the inventory (seen as a flaky stateful failure
    on a loaded machine)."""
    mock = MockMDM(realistic=True, revocation_delay=0.05, removal_delay=0.05)
    d = Driver(mock, caps=capabilities.parse(mock.capabilities()))
    d.reset()
    for ev in ANDROID_WORK:
        d.apply(ev)
    result = d.apply({"type": "delete_group", "group": "g"})
    assert not d.failures(result)
    assert not mock._pending_revocations and not mock._pending_removals  # all landed before judging
    time.sleep(0.06)  # a busy machine: anything still on its way lands now
    bad = d.apply({"type": "wipe", "device": ""})
    assert bad.outcome == "invalid" and not d.failures(bad), [f.message for f in d.failures(bad)]


class SlowAnswers:
    """The realistic mock whose observe() answers 0.15 s after it took its snapshot (a loaded
    machine, a slow HTTP answer): longer than the whole declared settle window."""

    def __init__(self):
        self.inner = MockMDM(realistic=True, revocation_delay=0.03, removal_delay=0.03)

    def reset(self):
        self.inner.reset()

    def apply(self, event):
        self.inner.apply(event)

    def observe(self):
        records = self.inner.observe()
        time.sleep(0.15)
        return records


def test_the_settle_window_counts_from_when_an_observation_was_taken():
    """An observation requested 0 s after the event, answered after the 0.1 s window, shows the
    revocation still pending: that proves nothing about the window, so the driver observes once
    more (the revocation landed at 0.03 s) instead of failing the event "after waiting"."""
    adapter = SlowAnswers()
    d = Driver(adapter, caps=capabilities.Capabilities(settle_s=0.1))
    d.reset()
    for ev in [dict(ev, platform="windows") if ev["type"] == "enroll" else ev for ev in ANDROID_WORK]:
        d.apply(ev)
    result = d.apply({"type": "retire", "device": "d"})
    assert not d.failures(result), [f.message for f in d.failures(result)]
