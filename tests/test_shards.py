"""Self-tests of the sharded stateful exploration (conformance/shards.py) and its coverage.json
(conformance/coverage.py, merged by certconform/plugin.py): a derandomized profile becomes several
items with distinct fixed seeds and the whole budget; a random profile stays one item; a run on
two xdist workers writes the same coverage.json as a serial run; `-n` with an http:// target is a
one-line usage error.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

from certconform.conformance import coverage
from certconform.conformance.shards import SHARDS, shards_for

ROOT = Path(__file__).resolve().parent.parent


def pytest_run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=600, env=dict(os.environ, **(env or {})))


def test_derandomized_profile_is_split_with_distinct_seeds_and_the_whole_budget():
    ci = settings.get_profile("ci")
    shards = shards_for(ci)
    assert len(shards) == SHARDS > 1
    assert len({s.seed for s in shards}) == SHARDS and None not in {s.seed for s in shards}
    assert sum(s.settings(ci).max_examples for s in shards) >= ci.max_examples
    assert all(s.settings(ci).derandomize and s.settings(ci).stateful_step_count == ci.stateful_step_count
               for s in shards)


def test_random_profile_stays_one_item_seeded_as_before():
    thorough = settings.get_profile("thorough")
    [shard] = shards_for(thorough)
    assert shard.seed is None and shard.settings(thorough) is thorough


def test_merge_adds_the_shards_and_names_what_was_missed():
    specified = coverage.specified_transitions()
    a = {"profile": "ci", "shard": "shard-1-of-2", "transitions": {specified[0]: 2}, "statements": {"GEN-1": 1}}
    b = {"profile": "ci", "shard": "shard-2-of-2", "transitions": {specified[0]: 1, specified[1]: 4},
         "statements": {"GEN-1": 2, "WIN-SCEP-RR-2": 1}}
    merged = coverage.merge([a, b])
    assert merged["transitions"][specified[0]] == 3 and merged["transitions"][specified[1]] == 4
    assert merged["statements"] == {"GEN-1": 3, "WIN-SCEP-RR-2": 1}
    assert merged["missed"] == specified[2:]
    assert merged["shards"] == ["shard-1-of-2", "shard-2-of-2"] and merged["profile"] == "ci"


def test_parallel_run_writes_the_serial_runs_coverage(tmp_path):
    """The shards explore the same sequences wherever they run, and the controller merges what
    every worker reported: -n 2 and a serial run give the same coverage.json."""
    budget = {"CERTCONFORM_CATALOGUE_BUDGET": "pass:24"}  # tests/mutants.py: a smaller ci budget
    runs = {}
    for name, extra in (("serial", []), ("parallel", ["-n", "2"])):
        out = tmp_path / name
        r = pytest_run("-p", "tests.mutants", "--mdm=reference", f"--report-dir={out}", "-q",
                       "conformance/test_stateful.py", *extra, env=budget)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
        assert f"{SHARDS} passed" in r.stdout
        runs[name] = json.loads((out / "coverage.json").read_text())
    assert runs["serial"]["transitions"] and runs["serial"]["transitions"] == runs["parallel"]["transitions"]
    assert runs["serial"]["statements"] == runs["parallel"]["statements"]
    assert len(runs["parallel"]["shards"]) == SHARDS


def test_parallel_workers_with_an_http_target_are_refused_in_one_line(tmp_path):
    r = pytest_run("--mdm=http://127.0.0.1:9", "-n", "2", f"--report-dir={tmp_path}", "-q")
    assert r.returncode == 4, r.stdout[-2000:] + r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "-n" in lines[0] and "http://127.0.0.1:9" in lines[0], r.stderr
    assert "Traceback" not in r.stdout + r.stderr
