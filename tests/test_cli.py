"""Self-tests of the `certconform` command line: exit codes and one-line errors.

What they know: the CLI's subcommands and their documented exit codes, the one-line usage
errors (which leave an earlier run's reports alone), and how a failing check is printed.
What they don't: report contents (tests/test_reports*.py) or drift details (tests/test_drift.py).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
    errors = [x for x in out.splitlines() if x.strip()]
    assert errors == ["certconform run: --mdm nosuch: unknown implementation spec 'nosuch': use reference, mock, mock-realistic, "
                      "intune, http://HOST:PORT or package.module:attr"]


def test_drift_rejects_extra_arguments_in_one_line(tmp_path):
    proc = cli("drift", str(tmp_path / "x.md"), "--bogus")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["certconform drift: unrecognized arguments: --bogus"]


# ----------------------------------------------------------------------------- --version
def test_version_names_the_package_version():
    import certconform

    for flag in ("--version", "-V"):
        proc = cli(flag)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"certconform {certconform.__version__}\n"


# ----------------------------------------------------------------------------- usage errors
def pytest_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def seeded_report_dir(path: Path) -> Path:
    """A report directory holding the reports of an earlier run, which a refused run must keep."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "junit.xml").write_text("<earlier run/>")
    (path / "cucumber.json").write_text('["earlier run"]')
    return path


def assert_one_line_usage_error(proc, words: str, report_dir: Path) -> None:
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    assert proc.returncode == 4, (proc.returncode, lines)
    assert len(lines) == 1, lines
    assert words in lines[0], lines[0]
    assert "Traceback" not in lines[0] and "INTERNALERROR" not in lines[0]
    assert (report_dir / "junit.xml").read_text() == "<earlier run/>"
    assert (report_dir / "cucumber.json").read_text() == '["earlier run"]'
    assert not (report_dir / "results.json").exists()


USAGE_ERRORS = [
    (["--hypothesis-profile", "nosuch"], "unknown Hypothesis profile 'nosuch' (known: ci, thorough, kill)"),
    (["--hypothesis-profile=nosuch"], "unknown Hypothesis profile 'nosuch'"),
    (["--document", "/nonexistent/remove-certificates.md"], "/nonexistent/remove-certificates.md: no such file"),
    (["--mdm", "moc"], "did you mean 'mock'?"),
    (["--mdm", "tests.adapters_broken.NeverRevokes"], "did you mean 'tests.adapters_broken:NeverRevokes'?"),
    (["--mdm", "localhost:8080"], "did you mean 'http://localhost:8080'?"),
    (["--mdm", "no_such_module_xyz:Thing"], "cannot import 'no_such_module_xyz'"),
    (["--mdm", "http://127.0.0.1:9"], "cannot reach"),
]


@pytest.mark.parametrize("args, words", USAGE_ERRORS + [
    (["--bogus-flag"], "certconform run: unrecognized arguments: --bogus-flag"),
    (["-p"], "certconform run: argument -p: expected one argument"),
])
def test_run_usage_error_is_one_line_exit_4_and_keeps_earlier_reports(tmp_path, args, words):
    reports = seeded_report_dir(tmp_path / "reports")
    proc = cli("run", "--report-dir", str(reports), "-q", *args)
    assert_one_line_usage_error(proc, words, reports)
    assert "pytest.main()" not in proc.stderr


@pytest.mark.parametrize("args, words", USAGE_ERRORS)
def test_plain_pytest_refuses_the_same_input_the_same_way(tmp_path, args, words):
    reports = seeded_report_dir(tmp_path / "reports")
    proc = pytest_cmd(f"--report-dir={reports}", "-q", *args)
    assert_one_line_usage_error(proc, words, reports)


def test_unknown_profile_is_one_line_for_the_self_tests_too():
    proc = pytest_cmd("tests/test_behaviour_table.py", "-q", "--hypothesis-profile=nosuch")
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    assert proc.returncode == 4 and len(lines) == 1 and "unknown Hypothesis profile" in lines[0], lines


def test_unwritable_report_dir_is_one_line_before_pytest_starts(tmp_path):
    (tmp_path / "file").write_text("")
    proc = cli("run", "--report-dir", str(tmp_path / "file" / "reports"))
    assert proc.returncode == 4
    assert proc.stderr.splitlines() == [line for line in proc.stderr.splitlines() if line.startswith("certconform run: --report-dir")]
    assert len(proc.stderr.splitlines()) == 1 and "cannot write reports" in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("args, words", [
    (["serve"], "certconform serve: the following arguments are required: --port"),
    (["serve", "--port", "x"], "certconform serve: argument --port: invalid int value: 'x'"),
    (["serve", "--port", "1", "--bogus"], "certconform serve: unrecognized arguments: --bogus"),
    (["drift"], "certconform drift: the following arguments are required: document_file"),
    (["bogus"], "certconform: argument command: invalid choice: 'bogus'"),
])
def test_serve_drift_and_top_level_usage_errors_are_one_line_exit_2(args, words):
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and words in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_spec_suggestions():
    from certconform import mdm

    assert mdm.suggest_spec("refrence") == "reference"
    assert mdm.suggest_spec("htp://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert mdm.suggest_spec("https:/host:8443") == "https://host:8443"
    assert mdm.suggest_spec("[::1]:8080") == "http://[::1]:8080"
    assert mdm.suggest_spec("pkg.adapter.MyMDM") == "pkg.adapter:MyMDM"
    assert mdm.suggest_spec("completely-unrelated") is None
    for good in ("reference", "mock", "http://h:1", "https://h", "pkg.mod:Factory", "mod:ns.Attr"):
        mdm.check_spec(good)  # accepted without importing or connecting
    with pytest.raises(mdm.AdapterSpecError, match="did you mean 'mock'"):
        mdm.check_spec("Mock ")


# ----------------------------------------------------------------------------- failure output
FRAMEWORK_WORDS = ("_pytest", "pluggy", "pytest_bdd", "site-packages", "Traceback", "def certificate_outcome", "^^^")


def failures_section(stdout: str) -> list[str]:
    """The lines pytest prints under FAILURES, up to the terminal summary's first line."""
    lines = stdout[stdout.index("= FAILURES =") + len("= FAILURES ="):].splitlines()[1:]
    end = next(i for i, line in enumerate(lines)
               if line.startswith(("---", "===", "certconform ")) and "Captured" not in line)
    return lines[:end]


@pytest.mark.parametrize("runner", ["certconform", "pytest"])
def test_failing_check_prints_its_message_without_pytest_internals(tmp_path, runner):
    args = ["--mdm=tests.adapters_broken:NeverRevokes", f"--report-dir={tmp_path}", "-m", "not stateful",
            "-k", "winsceprr2"]
    proc = cli("run", *args) if runner == "certconform" else pytest_cmd(*args)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    section = failures_section(proc.stdout)
    assert section[0].startswith("_") and "test_winsceprr2" in section[0]
    assert section[1].startswith("[document: WIN-SCEP-RR-2 (document line 64, c5fd30ff)]: expected the SCEP "
                                 "certificate"), section
    assert "revoked=False" in section[1]
    for word in FRAMEWORK_WORDS:
        assert not [line for line in section if word in line], word
    assert len(section) <= 4, section
    assert "FAILED conformance/test_features.py::test_winsceprr2" in proc.stdout
    # the reports keep the same message
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["statements"]["WIN-SCEP-RR-2"]["failures"][0]["message"].startswith("[document: WIN-SCEP-RR-2")


def test_tb_long_still_shows_the_traceback(tmp_path):
    proc = pytest_cmd("--mdm=tests.adapters_broken:NeverRevokes", f"--report-dir={tmp_path}", "-m", "not stateful",
                      "-k", "winsceprr2", "--tb=long")
    assert proc.returncode == 1
    section = "\n".join(failures_section(proc.stdout))
    assert "def certificate_outcome" in section and "AssertionError: [document: WIN-SCEP-RR-2" in section
    assert "_pytest" in section  # pytest's frames are shown again


def test_a_crash_keeps_its_traceback(tmp_path):
    """A bug (here: a plugin hook raising TypeError) is not a check failure: full traceback."""
    (tmp_path / "crashing_plugin.py").write_text(
        "def pytest_bdd_before_step(request, feature, scenario, step, step_func):\n"
        "    raise TypeError('boom in a hook')\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "crashing_plugin",
                           "--mdm=reference", f"--report-dir={tmp_path / 'r'}", "-m", "not stateful", "-k", "winsceprr2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)])))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    section = "\n".join(failures_section(proc.stdout))
    assert "E       TypeError: boom in a hook" in section or "E   TypeError: boom in a hook" in section, section
    assert "crashing_plugin.py:2" in section


def test_is_check_failure_tells_checks_from_crashes():
    from types import SimpleNamespace

    from certconform.plugin import is_check_failure

    options = {"tbstyle": "auto", "fulltrace": False}
    config = SimpleNamespace(getoption=lambda name, default=None: options.get(name, default))

    def excinfo_of(exc):
        with pytest.raises(BaseException) as info:
            raise exc
        return info

    assert is_check_failure(config, excinfo_of(AssertionError("[contract: CONTRACT] observe() broke ...")))
    assert not is_check_failure(config, excinfo_of(TypeError("[document: X] not an assertion")))
    assert not is_check_failure(config, excinfo_of(AssertionError("raised here, in tests/, not by a step")))
    assert not is_check_failure(config, excinfo_of(AssertionError("")))
    options["tbstyle"] = "long"
    assert not is_check_failure(config, excinfo_of(AssertionError("[document: X] ...")))


def test_no_private_hypothesis_or_pytest_bdd_names_remain():
    """In addition to the behaviour tests (seeded reruns, scenario names in the reports, cucumber
    under -n): the private names that broke on upgrades are gone from the suite's code."""
    private = ("global_force_seed", "_current_profile", "scenario_wrapper_template_registry",
               "test_report_context_registry", "scenario_reports_registry", "_bddcucumberjson")
    folders = ("certconform", "conformance", "steps", "model", "mdm")
    hits = [f"{path.relative_to(ROOT)}: {name}" for folder in folders for path in (ROOT / folder).rglob("*.py")
            for name in private if re.search(rf"\b{name}\b", path.read_text())]
    assert hits == []
