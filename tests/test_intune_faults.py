"""Each faulty mode of the Graph emulator (mdm/graph_emulator/catalogue.py FAULTS, one per finding
of issue 21 where the adapter would break or mislead on a real tenant) is caught: by the adapter
at start, or by the suite through the adapter, with a message that says what went wrong. And the
default run sends no macOS wipe and no work-profile wipe to the emulator.

Each run is `certconform run --mdm intune` in a subprocess against `certconform serve --graph
--fault NAME` on a free loopback port, configured as an administrator's run (certconform/
rehearse.py's settings), on a narrow selection of scenarios. The runs mostly wait, so they all
start at once (a module fixture) and each test reads its own.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from certconform.mdm.graph_emulator.catalogue import FAULTS

try:
    from tests.servers import PROJECT_ROOT, running_graph_emulator
    from tests.test_intune_e2e import EMULATOR, TOKEN, intune_env
except ImportError:
    from servers import PROJECT_ROOT, running_graph_emulator
    from test_intune_e2e import EMULATOR, TOKEN, intune_env

# fault -> (-k selection, exit code, what the output must say: one of these where the moment the
# fault shows depends on the machine's speed)
CAUGHT = {
    "pool-device-without-user": ("WINSCEPRR3", 4, "has no user: each pool device must be enrolled by a test user"),
    "wrong-ca-root": ("WINSCEPRR3", 1, "after check-in dev1 holds no certificate of scep"),
    "revocation-never-issued-on-retire": ("WINSCEPRR3", 1, "is revoked and removed, but observe() reports"),
    "retire-never-completes": ("WINSCEPRR3", 1, "still not so after waiting"),
    "revoked-but-not-removed": ("WINSCEPRR3", 1, "is revoked and removed, but observe() reports revoked=True, "
                                                 "installed=True"),
    "slower-than-documented": ("WINSCEPRR3", 1, ("after check-in dev1 holds no certificate of scep",
                                                "is revoked and removed, but observe() reports revoked=False")),
    "update-does-not-reissue": ("WINSCEPRV1", 1, "is revoked"),
}


def run_suite(base_url: str, report_dir: Path, selection: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "certconform.cli", "run", "--mdm", "intune", "--allow-destructive",
                           f"--report-dir={report_dir}", "-q", "-m", "not stateful", "-k", selection],
                          cwd=PROJECT_ROOT, env=intune_env(base_url, **env), capture_output=True, text=True, timeout=600)


def _fault_run(fault: str | None, report_dir: Path, selection: str, **env) -> dict:
    options = ("--fault", fault) if fault else ()
    with running_graph_emulator(*options, *EMULATOR, token=TOKEN) as base_url:
        result = run_suite(base_url, report_dir, selection, **env)
        actions = httpx.get(f"{base_url}/certconform/actions").json()
    results = report_dir / "results.json"
    statements = json.loads(results.read_text())["statements"] if results.exists() else {}
    return {"code": result.returncode, "output": result.stdout + result.stderr, "statements": statements,
            "actions": actions}


@pytest.fixture(scope="module")
def runs():
    """Every run of this module, started at once: name -> {code, output, statements, actions}."""
    jobs = {fault: (fault, selection, {}) for fault, (selection, _, _) in CAUGHT.items()}
    jobs["token: credentials"] = ("token-expires-early", "WINSCEPRR3 or IOSSCEPRR3", {})
    jobs["token: static"] = ("token-expires-early", "WINSCEPRR3 or IOSSCEPRR3 or MACSCEPRR2",
                             {"CERTCONFORM_INTUNE_TOKEN": TOKEN, "CERTCONFORM_INTUNE_CLIENT_SECRET": ""})
    jobs["no fault: wipes"] = (None, "MACWIPE1 or wipes", {})
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_fault_run, fault, Path(tmp) / f"r{i}", selection, **env)
                   for i, (name, (fault, selection, env)) in enumerate(jobs.items())}
        return {name: future.result() for name, future in futures.items()}


def test_every_fault_has_a_test():
    assert set(CAUGHT) | {"token-expires-early"} == set(FAULTS)


@pytest.mark.parametrize("fault", sorted(CAUGHT))
def test_the_fault_is_caught_with_a_message_that_says_what_went_wrong(fault, runs):
    _, code, said = CAUGHT[fault]
    run = runs[fault]
    assert run["code"] == code, run["output"][-3000:]
    assert any(s in run["output"] for s in ((said,) if isinstance(said, str) else said)), run["output"][-3000:]
    if code == 1:  # judged: the statement fails, or its set-up could not be built (never a false pass)
        verdicts = {s["verdict"] for s in run["statements"].values()}
        assert verdicts & {"fail", "error"} and "pass" not in {
            s["verdict"] for sid, s in run["statements"].items() if sid.startswith(("WIN-SCEP-RR-3", "WIN-SCEP-RV-1"))}


def test_tokens_that_expire_early_are_renewed_and_a_static_one_fails_naming_the_expiry(runs):
    renewed, static = runs["token: credentials"], runs["token: static"]
    assert renewed["code"] == 0, renewed["output"][-3000:]
    assert static["code"] != 0 and "the token expired" in static["output"], static["output"][-3000:]


def test_no_macos_wipe_and_no_work_profile_wipe_reaches_the_emulator_by_default(runs):
    """MAC-WIPE-1 and the work-profile wipe scenarios are not-supported by default: never sent."""
    run = runs["no fault: wipes"]
    assert run["code"] == 0, run["output"][-3000:]
    wipes = [a for a in run["actions"] if a["action"] == "wipe"]
    assert wipes and not [a for a in wipes if a["platform"] in ("macos", "android_work")]
    assert run["statements"]["MAC-WIPE-1"]["verdict"] == "not-supported"
