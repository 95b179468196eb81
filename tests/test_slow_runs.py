"""Products that take time (issue 20), whole runs in a subprocess: a late delivery is a set-up
error naming its window, random delays within the windows never fail a set-up, cells over HTTP
and the reports rebuilt from the journal, the plan, the shared request budget, bad --cells.

Small delays throughout (tests/adapters_slow.py); the long figures live in benchmarks/slow_products.py.
"""
from __future__ import annotations

import json
import random

try:
    from tests.test_slow_products import run, verdicts
except ImportError:  # tests/ on sys.path (rootdir-relative import mode)
    from test_slow_products import run, verdicts


def test_a_delivery_after_the_window_is_a_set_up_error_naming_the_window(tmp_path):
    r = run("pytest", "--mdm=tests.adapters_slow:late", f"--report-dir={tmp_path}", "-m", "windows and scep",
            "-k", "RR", "--max-adapter-errors=0", budget=None)
    assert r.returncode == 1, r.stdout[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["totals"]["fail"] == 0 and results["totals"]["error"] > 0, results["totals"]
    errors = [e for s in results["statements"].values() for e in s["errors"]]
    assert errors and all("set-up" in e["message"] and "declared delivery window 0.1 s" in e["message"]
                          for e in errors), errors[:2]
    assert results["run"]["cells"]["planned"]["expected_wall_seconds"] > 0  # a whole run: its plan beside it


def test_a_run_cut_short_records_no_plan_it_did_not_finish(tmp_path):
    r = run("pytest", "--mdm=tests.adapters_slow:late", f"--report-dir={tmp_path}", "-m", "windows and scep",
            "-k", "RR", "-x", budget=None)
    assert r.returncode == 1, r.stdout[-3000:]
    cells = json.loads((tmp_path / "results.json").read_text())["run"]["cells"]
    assert "cut short" in cells["planned"]["not_computed"] and cells["actual"]["cells"] >= 1


def test_a_product_delivering_within_its_windows_never_fails_a_set_up(tmp_path):
    """Random delays up to the declared window, for deliveries, revocations and removals: the
    feature scenarios pass (no set-up error, no failure), whatever the draw."""
    seed = random.randrange(10_000)
    r = run("pytest", "--mdm=tests.adapters_slow:within", f"--report-dir={tmp_path}", "-m", "not stateful",
            env={"CERTCONFORM_TEST_SEED": str(seed)}, budget=None)
    assert r.returncode == 0, f"seed {seed}\n" + r.stdout[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["totals"]["fail"] == results["totals"]["error"] == 0, (seed, results["totals"])
    assert results["run"]["cells"]["actual"]["cells_in_flight_at_most"] > 1  # cells acted concurrently


def test_cells_over_http_and_the_journal_rebuilds_the_reports(tmp_path):
    try:
        from tests.servers import running_mock_server
    except ImportError:
        from servers import running_mock_server
    out = tmp_path / "run"
    with running_mock_server(extra_args=("--realistic", "--revocation-delay", "0.02", "--removal-delay", "0.02",
                                         "--delivery-delay", "0.02")) as url:
        r = run("pytest", f"--mdm={url}", f"--report-dir={out}", "-m", "windows or general", budget=None)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["cells"]["actual"]["cells_in_flight_at_most"] > 1
    assert results["run"]["cells"]["actual"]["requests"].get("observe_since")  # one small answer for every cell
    rebuilt = tmp_path / "rebuilt"
    r = run("report", "--journal", str(out), "--report-dir", str(rebuilt), budget=None)
    assert r.returncode == 0 and "results:" in r.stdout, r.stdout + r.stderr
    assert verdicts(rebuilt) == verdicts(out)
    assert json.loads((rebuilt / "results.json").read_text())["totals"]["tests"] == results["totals"]["tests"]
    assert (rebuilt / "junit.xml").exists() and (rebuilt / "traceability.json").exists()


def test_the_plan_touches_nothing_but_capabilities_and_results_record_planned_and_actual(tmp_path):
    calls = tmp_path / "calls"
    r = run("plan", "--mdm", "tests.adapters_slow:counting", budget="pass:4",
            env={"CERTCONFORM_CALLS_FILE": str(calls)})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    for line in ("cells:", "events:", "destructive actions: wipe", "steps that need a person: none", "requests: at most",
                 "expected wall time:"):
        assert line in r.stdout, r.stdout
    assert set(calls.read_text().split()[::2]) == {"capabilities"}


def test_the_request_budget_holds_over_every_cell(tmp_path):
    calls = tmp_path / "calls"
    r = run("pytest", "--mdm=tests.adapters_slow:counting_budget", f"--report-dir={tmp_path / 'r'}", "-m", "windows",
            env={"CERTCONFORM_CALLS_FILE": str(calls)}, budget=None)
    assert r.returncode == 0, r.stdout[-3000:]
    times = sorted(float(line.split()[1]) for line in calls.read_text().splitlines())
    assert len(times) > 150
    for i in range(len(times) - 150):  # never more than 150 calls within a second
        assert times[i + 150] - times[i] >= 1.0 - 0.005


def test_bad_cells_option_is_a_usage_error(tmp_path):
    r = run("pytest", "--mdm=tests.adapters_realistic:fast", "--cells", "0", f"--report-dir={tmp_path}", budget=None)
    assert r.returncode == 4 and "--cells 0" in r.stderr


