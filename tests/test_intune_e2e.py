"""End to end: the conformance suite through `--mdm intune` against the Graph emulator
(`certconform serve --graph`, with paging and throttling on), and the adapter's view of the
emulator's asynchronous revocation (pending, then revoked; never, in the faulty mode).

The emulator is a subprocess on a free loopback port (tests/servers.py); the suite runs as a
subprocess too, configured only through CERTCONFORM_INTUNE_* like an administrator's run (the
settings `certconform rehearse` gives: certconform/rehearse.py), with Intune's delays compressed
(an Intune hour in 0.1 s) and, for CI's time, Graph's request limits off (tested apart).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from certconform import mdm
from certconform.rehearse import clean_environ, emulator_settings

try:
    from tests.servers import PROJECT_ROOT, running_graph_emulator
except ImportError:
    from servers import PROJECT_ROOT, running_graph_emulator

TOKEN = "e2e-graph-token-7f3a"  # the emulator's client secret
SCALE = 360000  # an Intune hour in 10 ms (the 15-hour window: 0.15 s)
EMULATOR = ("--time-scale", str(SCALE), "--no-graph-limits")  # Intune's documented delays, time-scaled
# the not-supported reasons the adapter's capabilities() declares (mdm/intune/mapping.py), and the
# document's own not-validated platform
DECLARED = ("cannot observe trusted_root", "cannot observe pkcs_imported", "cannot perform unenroll",
            "cannot perform lose_license", "cannot perform delete_certificate", "capabilities 'unsupported_on'",
            "not validated: ")
_WORK = tempfile.TemporaryDirectory(prefix="certconform-e2e-")


def intune_env(base_url: str, scale: float = SCALE, **extra) -> dict:
    # a directory per emulator: concurrent runs must not overwrite each other's CA roots
    workdir = Path(tempfile.mkdtemp(dir=_WORK.name))
    env = {**clean_environ(), **emulator_settings(base_url, workdir, scale, token=TOKEN),
           "CERTCONFORM_INTUNE_GRAPH_LIMITS": "0"}
    env.update(extra)
    return env


def _skips_and_counts(junit: Path):
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    skips = [s.get("message", "") for s in suite.iter("skipped")]
    return skips, {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}


def _run_suite(base_url: str, report_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--mdm", "intune",
                           "--allow-destructive", f"--report-dir={report_dir}", "-q", *args],
                          cwd=PROJECT_ROOT, env=intune_env(base_url), capture_output=True, text=True, timeout=900)


def _no_secret(report_dir: Path, *outputs: str) -> None:
    for text in outputs:
        assert TOKEN not in text
    for path in report_dir.rglob("*"):
        if path.is_file():
            assert TOKEN not in path.read_text(errors="replace"), f"the token is in {path}"


def test_feature_scenarios_through_intune_against_the_emulator_with_paging_and_throttling(tmp_path):
    with running_graph_emulator("--page-size", "3", "--throttle-every", "7", "--retry-after", "0", *EMULATOR,
                                token=TOKEN) as base_url:
        result = _run_suite(base_url, tmp_path / "r", "-m", "not stateful")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    skips, counts = _skips_and_counts(tmp_path / "r" / "junit.xml")
    assert counts["failures"] == 0 and counts["errors"] == 0
    assert counts["tests"] - counts["skipped"] >= 200, counts
    undeclared = sorted({s for s in skips if not any(d in s for d in DECLARED)})
    assert not undeclared, undeclared  # not-supported only where capabilities() says so
    assert any("cannot observe trusted_root" in s for s in skips)
    _no_secret(tmp_path / "r", result.stdout, result.stderr)


def test_stateful_test_through_intune_against_the_emulator(tmp_path):
    with running_graph_emulator("--page-size", "3", "--throttle-every", "7", "--retry-after", "0", *EMULATOR,
                                token=TOKEN) as base_url:
        result = _run_suite(base_url, tmp_path / "r", "-m", "stateful",
                            "-p", "tests.hypothesis_small", "--hypothesis-profile", "small")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout  # every shard, on a small budget (the full one: certconform rehearse)
    _no_secret(tmp_path / "r", result.stdout, result.stderr)


def _scep_retired(base_url: str, wait_s: float) -> list[list[dict]]:
    """Enrol a Windows device, deliver a SCEP certificate, retire the device; every distinct
    observation of the SCEP record until it is revoked or `wait_s` has passed."""
    env = intune_env(base_url, scale=1, CERTCONFORM_INTUNE_ALLOW_DESTRUCTIVE="1")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        a = mdm.load_adapter("intune")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        a.reset()
        for e in [{"type": "create_user", "user": "u1"}, {"type": "create_group", "group": "g1"},
                  {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"},
                  {"type": "add_member", "group": "g1", "member": "d1"},
                  {"type": "create_profile", "profile": "r1", "kind": "trusted_root"},
                  {"type": "create_profile", "profile": "s1", "kind": "scep", "root": "r1", "ca": "intune"},
                  {"type": "assign_profile", "profile": "r1", "group": "g1"},
                  {"type": "assign_profile", "profile": "s1", "group": "g1"},
                  {"type": "check_in", "device": "d1"}]:
            a.apply(e)
        deadline = time.monotonic() + wait_s
        seen = [a.observe()]
        while not seen[0] and time.monotonic() < deadline:  # the device checks in after the notify delay
            time.sleep(0.02)  # polling an asynchronous effect, not a timing assertion
            seen = [a.observe()]
        a.apply({"type": "retire", "device": "d1"})
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            now = a.observe()
            if now != seen[-1]:
                seen.append(now)
            if now and now[0]["revoked"]:
                break
            time.sleep(0.02)  # polling an asynchronous effect, not a timing assertion
        return seen
    finally:
        a.close()


# time scale 1: the delays are real seconds
REAL_SECONDS = ("--no-graph-limits", "--delay", "notify=0.1", "--delay", "propagation=0")


def test_retire_revokes_through_pending_as_the_adapter_reports_it():
    with running_graph_emulator(*REAL_SECONDS, "--delay", "revocation=0.4", token=TOKEN) as base_url:
        seen = _scep_retired(base_url, wait_s=10)
    assert [(r["device"], r["profile"], r["kind"], r["installed"], r["revoked"]) for r in seen[0]] == \
        [("d1", "s1", "scep", True, False)]
    states = [(r[0]["installed"], r[0]["revoked"], r[0].get("revocation")) for r in seen]
    assert (True, False, None) == states[0]
    assert any(s[2] == "pending" and not s[1] for s in states[1:]), states  # requested, not yet done
    assert states[-1][1] is True and states[-1][2] is None, states


def test_the_faulty_emulator_that_never_revokes_on_retire_is_seen_as_such():
    with running_graph_emulator(*REAL_SECONDS, "--delay", "revocation=0.1",
                                "--fault", "revocation-never-issued-on-retire", token=TOKEN) as base_url:
        seen = _scep_retired(base_url, wait_s=1.5)
    assert seen[0] and not any(r[0]["revoked"] or r[0].get("revocation") for r in seen), seen


def test_the_suite_fails_the_faulty_emulator_naming_the_retire_statements_and_the_wait(tmp_path):
    """Issue 12 point 6: the emulator's faulty mode (the CA is never asked to revoke on retire) is
    killed by the suite itself, through the adapter, with the statement and the declared window named."""
    with running_graph_emulator("--page-size", "3", "--fault", "revocation-never-issued-on-retire", *EMULATOR,
                                token=TOKEN) as base_url:
        result = _run_suite(base_url, tmp_path / "r", "-m", "not stateful", "-k", "retire and scep",
                            "--quiet-period", "0.2")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    statements = json.loads((tmp_path / "r" / "results.json").read_text())["statements"]
    failed = {sid for sid, s in statements.items() if s["verdict"] == "fail"}
    assert {"IOS-SCEP-RR-3", "WIN-SCEP-RR-3"} & failed, failed
    assert "after waiting" in result.stdout and "(capabilities 'windows')" in result.stdout, result.stdout[-3000:]
    assert "revoked" in result.stdout
    _no_secret(tmp_path / "r", result.stdout, result.stderr)
