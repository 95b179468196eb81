"""tests/warm_pytest.py, the mutant catalogue's launcher: a run forked from the warm server gets
its own arguments, environment and working directory, and its exit code and output come back as
they would from `python -m pytest` (a timeout: -1 and the output so far)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

try:
    from tests import warm_pytest
except ImportError:  # tests/ itself on sys.path (rootdir-relative import mode)
    import warm_pytest

pytestmark = pytest.mark.skipif(not warm_pytest.available(), reason="no multiprocessing forkserver here: "
                                "the catalogue starts a fresh interpreter per run")

TEST_FILE = """
import os, time

def test_sees_its_environment():
    assert os.environ["WARM_PROBE"] == "from-the-run"
    assert "WARM_PARENT_ONLY" not in os.environ
    assert os.getcwd() == os.environ["WARM_CWD"]

def test_fails_saying_so():
    assert 1 + 1 == 3, "arithmetic broke"

def test_sleeps_when_asked():
    time.sleep(float(os.environ.get("WARM_SLEEP", "0")))
"""


def _project(tmp_path):
    (tmp_path / "test_probe.py").write_text(TEST_FILE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # its own rootdir: not the project's configuration
    return tmp_path


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "WARM_"))}
    return {**env, "WARM_PROBE": "from-the-run", "WARM_CWD": str(tmp_path), **extra}


def test_a_warm_run_gives_the_exit_code_and_output_of_a_cold_one(tmp_path, monkeypatch):
    project = _project(tmp_path)
    monkeypatch.setenv("WARM_PARENT_ONLY", "1")  # in the launching process only: the run must not see it
    args = ["-q", "-p", "no:cacheprovider", "test_probe.py"]
    code, output = warm_pytest.run(args, _env(project), project, timeout=120)
    cold = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=project, env=_env(project),
                          capture_output=True, text=True, timeout=120)
    assert code == cold.returncode == 1, output
    for text in (output, cold.stdout):
        assert "1 failed, 2 passed" in text
        assert "arithmetic broke" in text
        assert "test_sees_its_environment" not in text.split("short test summary")[-1]


def test_a_run_past_its_timeout_is_minus_one_with_its_output_so_far(tmp_path):
    project = _project(tmp_path)
    code, output = warm_pytest.run(["-p", "no:cacheprovider", "-v", "test_probe.py"],
                                   _env(project, WARM_SLEEP="60"), project, timeout=5)
    assert code == -1
    assert output.startswith("timeout after 5")
    assert "test_fails_saying_so FAILED" in output  # what the run had printed before it was stopped
