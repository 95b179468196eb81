"""The conformance suite as users run it: `pytest --mdm SPEC` in a subprocess.

It passes against the reference model, the mock in process and the mock over HTTP; it fails a
broken adapter naming statement ids and document lines; bad specs are one-line usage errors; the
default run covers every transition the document specifies; a counterexample printed as Gherkin
replays the failure when pasted into a feature file.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from certconform.model.behaviour import default

from tests.servers import running_mock_server

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)


@pytest.mark.parametrize("spec", ["reference", "mock"])
def test_suite_passes_in_process(spec, tmp_path):
    r = run(f"--mdm={spec}", f"--report-dir={tmp_path}", "-q")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert re.search(r"\d+ passed", r.stdout)
    trace = json.loads((tmp_path / "traceability.json").read_text())
    assert trace["document"]["outcome_bullets_cited"] == 87
    informative = {s.id for s in default().statements if s.status == "informative"}  # they require nothing
    assert all(s["scenarios"] for s in trace["statements"] if s["id"] not in informative), \
        "a statement had no scenario that ran"
    assert len(trace["statements"]) >= 95
    coverage = json.loads((tmp_path / "coverage.json").read_text())
    assert coverage["missed"] == [], f"transitions the document specifies but the run missed: {coverage['missed']}"


def test_suite_passes_over_http_with_token(tmp_path):
    with running_mock_server(token="t0ken") as url:
        r = run(f"--mdm={url}", "--mdm-token=t0ken", f"--report-dir={tmp_path}", "-q")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert re.search(r"\d+ passed", r.stdout)


def test_broken_adapter_fails_naming_statement_and_line(tmp_path):
    r = run("--mdm=tests.adapters_broken:NeverRevokes", f"--report-dir={tmp_path}", "-q", "-m", "not stateful")
    assert r.returncode == 1, r.stdout[-3000:]
    assert "WIN-SCEP-RR-2 (document line 64, c5fd30ff)" in r.stdout
    assert "KNOX-SCEP-RV-1 (document line 174" in r.stdout


@pytest.mark.parametrize("spec, words", [
    ("nonsense", "unknown implementation spec 'nonsense'"),
    ("no_such_module_xyz:Thing", "cannot import 'no_such_module_xyz'"),
    ("tests.adapters_broken:Missing", "has no attribute 'Missing'"),
    ("http://127.0.0.1:9", "cannot reach"),
])
def test_bad_spec_is_one_line_usage_error(spec, words, tmp_path):
    r = run(f"--mdm={spec}", f"--report-dir={tmp_path}", "-q")
    assert r.returncode == 4, r.stdout + r.stderr
    assert words in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert len([line for line in r.stderr.splitlines() if line.strip()]) == 1, r.stderr


@pytest.mark.parametrize("text, words", [
    ('Scenario: no feature line\n  When "d1" checks in\n', "Misplaced or incorrect 'Scenario' keyword"),
    ('Feature: x\n  @NOPE-1\n  Scenario: s\n    When "d1" checks in\n', "feature tag @NOPE-1 names no statement"),
])
def test_malformed_feature_is_one_line(tmp_path, text, words):
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "bad.feature").write_text(text)
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "test_bad.py").write_text("from pytest_bdd import scenarios\n\nscenarios('features')\n")
    r = run("--mdm=reference", f"--report-dir={tmp_path / 'r'}", "-q", f"--rootdir={tmp_path}", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 2, r.stdout
    [line] = [x for x in r.stdout.splitlines() if x.startswith("feature error:")]
    assert words in line
    assert "Traceback" not in r.stdout and "^^^" not in r.stdout


def test_counterexample_gherkin_replays_the_failure(tmp_path):
    r = run("--mdm=tests.adapters_broken:KeepsScepOnGroupDeletionThenRevokesLate", f"--report-dir={tmp_path}",
            "conformance/test_stateful.py", "-q", timeout=900)
    assert r.returncode == 1, r.stdout[-3000:]
    text = r.stdout
    start = text.index("# Save as features/regressions/")
    feature = text[start:text.index("Then every event conformed to the document and the contract", start)]
    feature += "Then every event conformed to the document and the contract\n"
    feature = "\n".join(line[4:] if line.startswith("E   ") else line for line in feature.splitlines())
    assert "@WIN-SCEP-RR-2" in feature or "@IOS-SCEP-RR-2" in feature or "RR-" in feature
    # Paste it into a features/regressions folder of a scratch project that uses the real steps.
    (tmp_path / "features" / "regressions").mkdir(parents=True)
    (tmp_path / "features" / "regressions" / "found.feature").write_text(feature)
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (tmp_path / "test_regressions.py").write_text("from pytest_bdd import scenarios\n\nscenarios('features')\n")
    replay = run("--mdm=tests.adapters_broken:KeepsScepOnGroupDeletionThenRevokesLate",
                 f"--report-dir={tmp_path / 'r'}", "-q", f"--rootdir={tmp_path}", str(tmp_path), cwd=tmp_path)
    assert replay.returncode == 1, replay.stdout[-3000:] + replay.stderr[-2000:]
    assert "1 failed" in replay.stdout
    assert "departed" in text and ("RR-" in replay.stdout or "revoked" in replay.stdout)
    replay_ok = run("--mdm=reference", f"--report-dir={tmp_path / 'r2'}", "-q", f"--rootdir={tmp_path}",
                    str(tmp_path), cwd=tmp_path)
    assert replay_ok.returncode == 0, replay_ok.stdout[-3000:]


def test_one_fault_one_red(tmp_path):
    """A Windows-only fault (wipe never revokes) turns red only statements that speak of a Windows
    wipe: the Windows wipe bullets and the offboarding order, whose failing rows are Windows ones;
    no statement of another platform fails, and nothing deviates."""
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.mutants", "-q",
                        "--mdm=tests.mutants:WindowsWipeNeverRevokes", f"--report-dir={tmp_path}"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600,
                       env=dict(os.environ, CERTCONFORM_CATALOGUE_BUDGET="kill"))
    assert r.returncode == 1, r.stdout[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    red = {sid for sid, s in results["statements"].items() if s["verdict"] == "fail"}
    assert {"WIN-SCEP-RR-2", "WIN-PKCS-RR-2"} <= red
    assert red <= {"WIN-SCEP-RR-2", "WIN-PKCS-RR-2", "GEN-ORDER-1", "GEN-ORDER-2"}, red
    for sid in red & {"GEN-ORDER-1", "GEN-ORDER-2"}:
        failed = [sc["name"] for sc in results["statements"][sid]["scenarios"] if sc["outcome"] == "failed"]
        assert failed and all("Windows" in name for name in failed), failed
    assert not any(s["verdict"] == "deviates" for s in results["statements"].values())


@pytest.mark.parametrize("strict, code", [(False, 0), (True, 1)])
def test_a_departure_from_a_reading_deviates_and_fails_only_under_strict(tmp_path, strict, code):
    """An MDM that revokes imported certificates departs from our reading I-OUTSIDERS-NEVER-REVOKED,
    not from the document: verdict 'deviates', exit 0, and exit 1 with --strict-readings, where
    every report says 'fail' too (the verdicts agree with the exit code)."""
    r = run("--mdm=tests.mutants:RevokesImported", f"--report-dir={tmp_path}", "-q", "-m", "not stateful",
            *(["--strict-readings"] if strict else []))
    assert r.returncode == code, r.stdout[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["strict"] is strict and results["verdict"] == ("fail" if strict else "pass")
    verdict = "fail" if strict else "deviates"
    assert results["statements"]["GEN-IMPORTED-2"]["verdict"] == verdict
    failed = [sid for sid, s in results["statements"].items() if s["verdict"] == "fail"]
    assert not failed if not strict else all(f["tier"] == "reading" for sid in failed
                                             for f in results["statements"][sid]["failures"])
    [interp] = [i for i in results["interpretations"] if i["id"] == "I-OUTSIDERS-NEVER-REVOKED"]
    assert interp["verdict"] == verdict and interp["tier"] == "reading" and interp["reason"]
    assert "deviates from our readings I-OUTSIDERS-NEVER-REVOKED" in r.stdout
    junit = (tmp_path / "junit.xml").read_text()
    assert 'name="deviates" value="I-OUTSIDERS-NEVER-REVOKED"' in junit
    if strict:
        assert 'name="tier" value="reading"' in junit


def test_an_existing_report_dir_given_as_two_words_is_a_one_line_error_not_a_run_of_everything(tmp_path):
    """`--report-dir /some/existing/dir` makes pytest take that directory for its rootdir (before any
    plugin runs), so the run would lose pyproject's testpaths and collect the self-tests too."""
    existing = tmp_path / "reports"
    existing.mkdir()
    r = run("--mdm=mock", "--report-dir", str(existing), "-q", "-m", "not stateful")
    assert r.returncode == 4, r.stdout[-2000:]
    line = (r.stdout + r.stderr).strip().splitlines()[-1]
    assert f"write --report-dir={existing}" in line and "Traceback" not in r.stdout + r.stderr
    assert list(existing.iterdir()) == []  # nothing written, nothing collected
    ok = run("--mdm=mock", f"--report-dir={existing}", "-q", "-m", "not stateful", "-k", "wipe")
    assert ok.returncode == 0 and "tests/" not in ok.stdout, ok.stdout[-2000:]


def test_a_two_word_report_dir_that_shares_an_ancestor_with_the_current_directory_is_refused_too(tmp_path):
    """When the current directory and the report directory share an ancestor (a checkout under
    /tmp and a report directory under /tmp), pytest makes that ancestor the rootdir rather than the
    report directory itself. A fresh clone in /tmp/x ran the whole self-test suite again from inside
    the test above, which recursed. Here the current directory is a sibling of the report directory
    (it has no project settings, so nothing to collect if the check missed it)."""
    existing, cwd = tmp_path / "reports", tmp_path / "checkout"
    existing.mkdir()
    cwd.mkdir()
    r = run("--mdm=mock", "--report-dir", str(existing), "-q", cwd=cwd, timeout=120)
    assert r.returncode == 4, r.stdout[-2000:] + r.stderr[-2000:]
    line = (r.stdout + r.stderr).strip().splitlines()[-1]
    assert f"write --report-dir={existing}" in line and f"(rootdir {tmp_path})" in line, line
    assert list(existing.iterdir()) == []
