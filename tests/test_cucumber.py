"""Self-tests of cucumber.json (certconform/cucumber.py): the same file in process and under
pytest-xdist (where pytest-bdd's own writer writes `[]`), in pytest-bdd's format.

What they know: the cucumber JSON shape (features, scenario elements, steps with results).
What they don't: the verdicts (tests/test_reports*.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SELECTION = ["-m", "not stateful", "-k", "winscep or androidwork or iosscep"]


def run(report_dir: Path, *args: str, mdm: str = "reference") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "certconform.cli", "run", f"--mdm={mdm}", f"--report-dir={report_dir}",
                           "-q", *SELECTION, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def without_durations(features: list[dict]) -> list[dict]:
    for feature in features:
        for element in feature["elements"]:
            for step in element["steps"]:
                step["result"].pop("duration")
    return features


def test_cucumber_json_is_the_same_under_xdist(tmp_path):
    serial, parallel = run(tmp_path / "serial"), run(tmp_path / "parallel", "-n", "2")
    for proc in (serial, parallel):
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    one = json.loads((tmp_path / "serial" / "cucumber.json").read_text())
    two = json.loads((tmp_path / "parallel" / "cucumber.json").read_text())
    assert two, "cucumber.json is empty under -n 2"
    assert without_durations(two) == without_durations(one)
    # every scenario that ran is in it, under its feature, with its steps passed
    results = json.loads((tmp_path / "parallel" / "results.json").read_text())
    ran = {sc["name"].split(" [")[0] for s in results["statements"].values() for sc in s["scenarios"]
           if sc["outcome"] == "passed"}
    in_cucumber = {e["name"] for f in two for e in f["elements"]}
    assert ran and ran <= in_cucumber, ran - in_cucumber
    assert {f["uri"] for f in two} >= {"features/windows.feature", "features/ios.feature"}
    steps = [s for f in two for e in f["elements"] for s in e["steps"]]
    assert steps and all(s["result"]["status"] == "passed" and s["keyword"] and s["line"] > 0 for s in steps)


def test_failed_step_carries_the_message_and_skipped_scenarios_keep_their_names(tmp_path):
    proc = run(tmp_path, "-n", "2", mdm="tests.adapters_broken:NeverRevokes")
    assert proc.returncode == 1, proc.stdout[-3000:]
    features = json.loads((tmp_path / "cucumber.json").read_text())
    failed = [s for f in features for e in f["elements"] for s in e["steps"] if s["result"]["status"] == "failed"]
    assert failed and any(s["result"].get("error_message", "").startswith("[document: WIN-SCEP-RR-") for s in failed)
    results = json.loads((tmp_path / "results.json").read_text())
    # Android for Work is skipped as not validated, and still reported under its scenario name and line
    work = results["statements"]["ANDROID-WORK-1"]
    assert work["verdict"] == "not-validated"
    assert work["scenarios"] and all(sc["feature"].startswith("features/android_work.feature:")
                                      and not sc["name"].startswith("test_") for sc in work["scenarios"])


def test_same_format_as_pytest_bdds_own_writer(tmp_path):
    """Outside the conformance suite pytest-bdd's writer runs; on the same features both agree."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text((ROOT / "conftest.py").read_text())
    (project / "test_windows.py").write_text(
        f"from pytest_bdd import scenarios\n\nscenarios({str(ROOT / 'features' / 'windows.feature')!r})\n")
    theirs = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--mdm=reference",
                             f"--rootdir={project}", f"--cucumberjson={tmp_path / 'theirs.json'}", "-k", "winscep",
                             str(project)], cwd=project, capture_output=True, text=True, timeout=600)
    assert theirs.returncode == 0, theirs.stdout[-3000:]
    ours = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--mdm=reference",
                           f"--report-dir={tmp_path / 'ours'}", "-m", "not stateful", "-k", "winscep"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert ours.returncode == 0, ours.stdout[-3000:]

    def normal(path):
        features = without_durations(json.loads(path.read_text()))
        for f in features:
            f["uri"] = f["id"] = Path(f["uri"]).name
            f["elements"].sort(key=lambda e: (e["line"], e["id"]))
        return sorted(features, key=lambda f: f["uri"])

    their_features = normal(tmp_path / "theirs.json")
    assert their_features and normal(tmp_path / "ours" / "cucumber.json") == their_features
