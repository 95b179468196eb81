"""Products that take time (issue 20): a run killed at a random point and resumed gives the
verdicts of an uninterrupted run; a person is asked for (and --unattended leaves those
statements not-supported); a counterexample is shrunk by cells and says whether it is minimal.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time

try:
    from tests.test_slow_products import ROOT, run, verdicts
except ImportError:  # tests/ on sys.path (rootdir-relative import mode)
    from test_slow_products import ROOT, run, verdicts


def test_a_run_killed_at_a_random_point_and_resumed_gives_the_verdicts_of_an_uninterrupted_run(tmp_path):
    # Every run here is `certconform run` (the resume is one): Hypothesis draws some stateful
    # sequences differently under `python -m pytest` than under `certconform run`, so a resumed run
    # that draws a shard the interrupted one had not journaled yet matches only a run started the
    # same way (docs/slow-products.md, "Resuming").
    spec = "--mdm=tests.adapters_realistic:fast"
    whole = tmp_path / "whole"
    selection = ("-m", "windows or ios or stateful")  # scenarios and sequences both
    r = run("run", spec, f"--report-dir={whole}", *selection, budget="pass:12")
    assert r.returncode == 0, r.stdout[-3000:]
    killed = tmp_path / "killed"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env["CERTCONFORM_CATALOGUE_BUDGET"] = "pass:12"
    proc = subprocess.Popen([sys.executable, "-m", "certconform.cli", "run", spec, f"--report-dir={killed}", *selection,
                             "-p", "tests.mutants"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    journal = killed / "journal.jsonl"
    # A random point of the run counted in finished cells, not seconds (a wait of seconds let a
    # run on an idle machine finish first): between the 5th and 70 % of the whole run's cells.
    cells = (whole / "journal.jsonl").read_text().count('"k":"cell_end"')
    point = random.randint(5, max(5, int(cells * 0.7)))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count('"k":"cell_end"') < point):
        time.sleep(0.005)  # (waiting for the run to reach the point, not a timing assertion)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    text = journal.read_text()
    assert '"k":"end"' not in text  # interrupted indeed
    # (the budget from the environment; the interrupted run's own arguments load tests.mutants)
    r = run("run", "--resume", str(killed), budget=None, env={"CERTCONFORM_CATALOGUE_BUDGET": "pass:12"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert verdicts(killed) == verdicts(whole)
    actual = json.loads((killed / "results.json").read_text())["run"]["cells"]["actual"]
    assert actual["replayed_from_journal"] >= 5  # finished cells were not acted again


def test_a_person_is_asked_for_and_unattended_runs_leave_those_statements_not_supported(tmp_path):
    attended = tmp_path / "attended"
    r = run("pytest", "--mdm=tests.adapters_slow:person", f"--report-dir={attended}", "-m", "windows",
            budget=None)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    terminal = r.stdout + r.stderr
    assert re.search(r"certconform: cell .+?: a person is needed: re-enrol the (wiped|retired) device c\d+", terminal)
    assert re.search(r"certconform: cell .+? waits for a windows device; a person is needed", terminal)
    journal = [json.loads(line) for line in (attended / "journal.jsonl").read_text().splitlines()]
    assert any(e["k"] == "person" for e in journal)
    unattended = tmp_path / "unattended"
    r = run("pytest", "--mdm=tests.adapters_slow:person", f"--report-dir={unattended}", "-m", "windows",
            "--unattended", budget=None)
    assert r.returncode == 0, r.stdout[-3000:]
    results = json.loads((unattended / "results.json").read_text())
    wipe = results["statements"]["WIN-SCEP-RR-2"]
    assert wipe["verdict"] == "not-supported" and "wipe needs a person" in wipe["note"] and "re-enrol" in wipe["note"]
    assert results["statements"]["WIN-SCEP-RR-1"]["verdict"] == "pass"  # unenroll needs nobody


def test_a_counterexample_against_a_slow_product_is_shrunk_by_cells_and_says_it_is_minimal(tmp_path):
    r = run("pytest", "conformance/test_stateful.py", "-k", "shard-1-of-4", "-x", "--shrink-budget", "120",
            "--mdm=tests.mutants:realistic.WindowsWipeNeverRevokes", f"--report-dir={tmp_path}", budget=None)
    assert r.returncode == 1, r.stdout[-3000:]
    assert "with replays run as cells" in r.stdout + r.stderr
    note = re.search(r"\(delta debugging kept (\d+) of the failing example's (\d+) events; (minimal|NOT minimal)", r.stdout)
    assert note and int(note.group(1)) < int(note.group(2)), r.stdout[-3000:]


