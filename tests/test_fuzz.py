"""Self-tests of `certconform fuzz` (certconform/fuzz.py, certconform/fuzz_target.py) and of the
replay of its database in a conformance run (conformance/test_fuzz_replay.py).

The campaign test starts HypoFuzz with two workers sharing one directory database against a
mutant of the mock (tests/mutants.py) for a short budget; the failure one of them finds is saved
there, and a separate run replays it from the database (against the mutant: it fails naming what
it breaks; against the honest mock: it passes, so the replay judges, it does not just fail). The
mutant breaks the contract at the first check-in that delivers two certificates, so the budget
(not HypoFuzz's own stop, which it decides once a minute) ends the campaign, as it would end a
long one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from certconform import fuzz

ROOT = Path(__file__).resolve().parent.parent
MUTANT = "tests.mutants:InventoryNotInDeliveryOrder"
BUDGET = 30  # seconds: the mutant falls within the first examples (about 2 s of a worker's time)


def certconform(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CERTCONFORM_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "certconform.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=full, timeout=timeout)


def test_two_workers_find_a_mutant_and_the_database_replays_it(tmp_path):
    db, reports = tmp_path / "db", tmp_path / "reports"
    r = certconform("fuzz", "--mdm", MUTANT, "--workers", "2", "--database", str(db), "--no-dashboard",
                    "--budget", str(BUDGET), "--report-dir", str(reports), timeout=BUDGET + 120)
    out = r.stdout + r.stderr
    hypofuzz = (reports / "hypofuzz.log").read_text()
    assert "using 2 processes" in hypofuzz, hypofuzz[-2000:]
    assert "campaign over:" in out, out[-3000:]
    # the closing replay (a fresh process, reading only the database) fails naming what the mutant breaks
    assert r.returncode == 1, out[-3000:]
    assert "test_replay_fuzz_database" in out and "Counterexample as Gherkin" in out, out[-3000:]
    assert "observe() lost or reordered earlier records" in out, out[-3000:]
    results = json.loads((reports / "results.json").read_text())
    assert results["contract"]["verdict"] == "error", results["contract"]

    # the seeded regression, as a CI run meets it: the same database, replayed by `certconform run`
    again = certconform("run", "--mdm", MUTANT, "--report-dir", str(tmp_path / "again"), "-k", "replay_fuzz_database",
                        env={fuzz.DATABASE_ENV: str(db)})
    assert again.returncode == 1 and "CONTRACT" in again.stdout, again.stdout[-3000:]
    honest = certconform("run", "--mdm", "mock", "--report-dir", str(tmp_path / "honest"), "-k", "replay_fuzz_database",
                         env={fuzz.DATABASE_ENV: str(db)})
    assert honest.returncode == 0 and "1 passed" in honest.stdout, honest.stdout[-3000:]


def test_without_a_database_the_replay_collects_nothing(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "conformance/test_fuzz_replay.py",
                        f"--report-dir={tmp_path}"], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={k: v for k, v in os.environ.items() if k != fuzz.DATABASE_ENV})
    assert "no tests collected" in r.stdout, r.stdout[-2000:]


def test_an_empty_database_is_skipped_saying_so(tmp_path):
    r = certconform("run", "--mdm", "mock", "--report-dir", str(tmp_path / "r"), "-k", "replay_fuzz_database", "-rs",
                    env={fuzz.DATABASE_ENV: str(tmp_path / "empty")})
    assert r.returncode == 0 and "holds no failing sequence" in r.stdout, r.stdout[-2000:]


@pytest.mark.parametrize("args, words", [
    (["--workers", "0"], "--workers 0: want at least 1"),
    (["--mdm", "http://127.0.0.1:1", "--workers", "2"], "would share (and reset) one system"),
    (["--mdm", "no_such_module.Thing"], "--mdm no_such_module.Thing:"),
])
def test_bad_options_are_one_line(args, words, tmp_path):
    r = certconform("fuzz", *args, "--database", str(tmp_path / "db"), "--no-dashboard", "--budget", "1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
    assert not (tmp_path / "db").exists()


def test_database_urls(tmp_path):
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypothesis.extra.redis import RedisExampleDatabase

    assert isinstance(fuzz.database(str(tmp_path)), DirectoryBasedExampleDatabase)
    assert fuzz.database(f"file://{tmp_path}") == fuzz.database(str(tmp_path))
    assert isinstance(fuzz.database("redis://127.0.0.1:6379/0"), RedisExampleDatabase)  # connects lazily
