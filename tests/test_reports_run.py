"""Self-tests that run the conformance suite in a subprocess and read the report directory.

What they know: the report files' names and shapes, the adapters in tests/adapters_faulty.py and
tests/adapters_malformed.py. What they don't: how the suite decides (that is the suite's business).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HAS_STATEFUL = (ROOT / "conformance" / "test_stateful.py").exists()


def run(args: list[str], module: str = "certconform.cli", env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env} if env else None)


def suite(report_dir: Path, mdm: str, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run(["run", "--mdm", mdm, "--report-dir", str(report_dir), "-q", "-p", "no:randomly", *extra], env=env)


def test_reference_run_writes_every_report(tmp_path):
    proc = suite(tmp_path, "reference")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    expected = ["junit.xml", "cucumber.json", "traceability.json", "results.json", "index.html"]
    if HAS_STATEFUL:
        expected.append("coverage.json")
    for name in expected:
        assert (tmp_path / name).is_file(), name
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    suite_el = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert int(suite_el.get("failures")) == 0 and int(suite_el.get("tests")) > 100
    for name in ("cucumber.json", "traceability.json"):
        json.loads((tmp_path / name).read_text())
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["totals"]["fail"] == 0 and results["totals"]["not-run"] == 0
    assert results["run"]["implementation"] == "reference"
    assert results["run"]["behaviour"]["edition"] == "01/13/2022"
    assert set(results["run"]["versions"]) == {"python", "pytest", "pytest-bdd", "hypothesis", "certconform"}
    assert results["statements"]["ANDROID-WORK-1"]["verdict"] == "not-validated"
    assert results["statements"]["ANDROID-LEGACY-1"]["verdict"] == "not-enabled"
    assert results["statements"]["KNOX-SCEP-RV-4"]["verdict"] == "conflict"
    assert results["statements"]["KNOX-SCEP-RV-4"]["conflict"]["readings_followed"]
    assert results["statements"]["WIN-SCEP-RR-1"]["scenarios"][0]["feature"].startswith("features/windows.feature:")
    html = (tmp_path / "index.html").read_text()
    assert '<table class="matrix">' in html and 'class="v-fail"' not in html
    assert "certconform results:" in proc.stdout


def test_faulty_adapter_shows_failing_cells_and_cites_the_document(tmp_path):
    # The stateful test is deselected to keep this fast (its shrinking takes minutes on this adapter).
    proc = suite(tmp_path, "tests.adapters_faulty:NeverRevokes", "-m", "not stateful")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    s = results["statements"]["WIN-SCEP-RR-1"]
    assert s["verdict"] == "fail"
    assert "WIN-SCEP-RR-1 (document line 63, 568bfa0e)" in s["failures"][0]["message"]
    assert results["statements"]["WIN-SCEP-STAY-1"]["verdict"] == "pass"  # staying is not revoking
    html = (tmp_path / "index.html").read_text()
    assert '<td class="v-fail">' in html
    assert "WIN-SCEP-RR-1 (document line 63, 568bfa0e)" in html
    assert "&lt;em&gt;" in html and "<em>" not in html  # the adapter's serials are escaped
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert int((junit if junit.tag == "testsuite" else junit.find("testsuite")).get("failures")) > 0


@pytest.mark.parametrize("adapter, field_words", [
    ("MissingSerial", "lacks field 'serial'"),
    ("WrongTypes", "field 'installed' must be bool"),
    ("DuplicateSerials", "serial '0001' appears twice"),
    ("NotAList", "observe() must return a list, got dict"),
    ("ReturnsNone", "observe() must return a list, got None"),
    ("SerialIsList", "field 'serial' must be str, got list"),
    ("NonDictItems", "must be an object (a record), got str"),
])
def test_malformed_observations_fail_tests_naming_the_field(tmp_path, adapter, field_words):
    """A malformed inventory breaks the adapter contract: verdict error (not fail), one line."""
    proc = run(["--mdm=tests.adapters_malformed:" + adapter, f"--report-dir={tmp_path}", "-q",
                "-m", "not stateful", "-k", "WIN or macos", "--max-adapter-errors=0"], module="pytest")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]  # test failures, not an internal error or usage error
    assert field_words in out
    for crash in ("KeyError", "TypeError", "AttributeError", "INTERNALERROR"):
        assert crash not in out, crash
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["contract"]["verdict"] == "error"
    assert any(field_words in f["message"] for f in results["contract"]["failures"])
    assert results["statements"]["WIN-SCEP-RR-1"]["verdict"] == "error"
    assert field_words in results["statements"]["WIN-SCEP-RR-1"]["errors"][0]["message"]
    assert results["totals"]["fail"] == 0 and results["totals"]["tests_failed"] == 0


def test_junit_lists_a_scenarios_statements_in_the_same_order_whatever_the_hash_seed(tmp_path):
    """pytest-bdd holds a scenario's tags in a set: the `statements` property is sorted, so two runs
    of the same suite write the same junit.xml whatever PYTHONHASHSEED is."""
    seen = set()
    for seed in ("1", "2", "3"):
        proc = suite(tmp_path / seed, "mock", "-m", "not stateful", "-k", "genorder", env={"PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        junit = ET.parse(tmp_path / seed / "junit.xml").getroot()
        seen.add(tuple(p.get("value") for p in junit.iter("property") if p.get("name") == "statements"))
    assert len(seen) == 1 and "GEN-ORDER-1,GEN-ORDER-2" in next(iter(seen)), seen


def _junit_outcomes(path: Path) -> list:
    root = ET.parse(path).getroot()
    return [(tc.get("classname"), tc.get("name"), [(k.tag, k.get("message")) for k in tc if k.tag != "properties"])
            for tc in root.iter("testcase")]


def test_the_remembered_step_lookup_changes_no_outcome(tmp_path):
    """certconform/step_lookup.py caches pytest-bdd's lookup of a step's definitions: a run with it
    and one without (CERTCONFORM_STEP_LOOKUP_CACHE=0) give the same tests the same outcomes and
    messages, against an adapter that fails some checks and passes others."""
    runs = {}
    for cache in ("1", "0"):
        proc = suite(tmp_path / cache, "tests.adapters_faulty:NeverRevokes", "-m", "not stateful", "-k", "WIN or KNOX",
                     env={"CERTCONFORM_STEP_LOOKUP_CACHE": cache})
        assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
        runs[cache] = _junit_outcomes(tmp_path / cache / "junit.xml")
    assert runs["1"] == runs["0"]
    outcomes = {kids[0][0] if kids else "passed" for _, _, kids in runs["1"]}
    assert len(runs["1"]) > 50 and {"failure", "passed"} <= outcomes, outcomes


def test_deselected_statements_are_not_run_and_xdist_controller_writes_reports(tmp_path):
    proc = suite(tmp_path, "reference", "-k", "winsceprr", "-n", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["statements"]["WIN-SCEP-RR-1"]["verdict"] == "pass"
    assert results["statements"]["WIN-SCEP-RR-1"]["checks"]["passed"] > 0  # logs crossed from the workers
    assert results["statements"]["IOS-SCEP-RR-1"]["verdict"] == "not-run"
    assert "NOT RUN" in (tmp_path / "index.html").read_text()


def test_unwritable_report_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for proc in (suite(blocker / "reports", "reference"),
                 run(["--mdm=reference", f"--report-dir={blocker / 'reports'}", "-q"], module="pytest")):
        assert proc.returncode in (4, 2) and proc.returncode != 0
        err = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        assert len(err) == 1, err
        assert "cannot write reports" in err[0] and "Traceback" not in err[0]


def test_self_tests_never_write_reports(tmp_path):
    proc = run([f"--report-dir={tmp_path}", "-q", "tests/test_reports.py"], module="pytest")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert list(tmp_path.iterdir()) == []
