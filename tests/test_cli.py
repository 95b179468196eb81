"""Self-tests of the `certconform` command line: exit codes and one-line errors.

What they know: the CLI's subcommands and their documented exit codes.
What they don't: report contents (tests/test_reports*.py) or drift details (tests/test_drift.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "certconform.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_run_exit_code_is_pytests_and_reports_follow_report_dir(tmp_path):
    ok = cli("run", "--mdm", "reference", "--report-dir", str(tmp_path / "ok"), "-q", "-k", "winscepstay1")
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    bad = cli("run", "--mdm", "tests.adapters_faulty:NeverRevokes", "--report-dir", str(tmp_path / "bad"),
              "-q", "-k", "winsceprr1")
    assert bad.returncode == 1, bad.stdout[-2000:]
    verdicts = json.loads((tmp_path / "bad" / "results.json").read_text())["statements"]
    assert verdicts["WIN-SCEP-RR-1"]["verdict"] == "fail"
    assert verdicts["WIN-SCEP-STAY-1"]["verdict"] == "not-run"


def test_run_with_relative_report_dir_from_another_directory(tmp_path):
    proc = cli("run", "--mdm", "reference", "--report-dir", "rel", "-q", "-k", "winscepstay1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "rel" / "index.html").is_file() and (tmp_path / "rel" / "junit.xml").is_file()


def test_unknown_implementation_is_one_line():
    proc = cli("run", "--mdm", "nosuch", "--report-dir", "/tmp/certconform-cli-test", "-q")
    assert proc.returncode == 4
    out = proc.stderr + proc.stdout
    errors = [x for x in out.splitlines() if "ERROR" in x or "Error" in x]
    assert len(errors) == 1 and "nosuch" in errors[0] and "Traceback" not in out


def test_drift_rejects_extra_arguments_in_one_line(tmp_path):
    proc = cli("drift", str(tmp_path / "x.md"), "--bogus")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["certconform drift: unrecognized arguments: --bogus"]
