"""Each faulty mode of the Graph emulator (mdm/graph_emulator/catalogue.py FAULTS, one per finding
of issue 21 where the adapter would break or mislead on a real tenant) is caught: by the adapter
at start, or by the suite through the adapter, with a message that says what went wrong. And the
default run sends no macOS wipe and no work-profile wipe to the emulator.

Each run is `certconform run --mdm intune` in a subprocess against `certconform serve --graph
--fault NAME` on a free loopback port, configured as an administrator's run (certconform/
rehearse.py's settings), on a narrow selection of scenarios.
"""
from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from certconform.mdm.graph_emulator.catalogue import FAULTS

try:
    from tests.servers import PROJECT_ROOT, running_graph_emulator
    from tests.test_intune_e2e import EMULATOR, TOKEN, intune_env
except ImportError:
    from servers import PROJECT_ROOT, running_graph_emulator
    from test_intune_e2e import EMULATOR, TOKEN, intune_env

# fault -> (-k selection, exit code, what the output must say)
CAUGHT = {
    "pool-device-without-user": ("WINSCEPRR3", 4, "has no user: each pool device must be enrolled by a test user"),
    "wrong-ca-root": ("WINSCEPRR3", 1, "after check-in dev1 holds no certificate of scep"),
    "revocation-never-issued-on-retire": ("WINSCEPRR3", 1, "is revoked and removed, but observe() reports"),
    "retire-never-completes": ("WINSCEPRR3", 1, "still not so after waiting"),
    "revoked-but-not-removed": ("WINSCEPRR3", 1, "is revoked and removed, but observe() reports revoked=True, "
                                                 "installed=True"),
    "slower-than-documented": ("WINSCEPRR3", 1, "after check-in dev1 holds no certificate of scep"),
    "update-does-not-reissue": ("WINSCEPRV1", 1, "is revoked"),
}


def run_suite(base_url: str, report_dir, selection: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "certconform.cli", "run", "--mdm", "intune", "--allow-destructive",
                           f"--report-dir={report_dir}", "-q", "-m", "not stateful", "-k", selection],
                          cwd=PROJECT_ROOT, env=intune_env(base_url, **env), capture_output=True, text=True, timeout=600)


def test_every_fault_has_a_test():
    assert set(CAUGHT) | {"token-expires-early"} == set(FAULTS)


@pytest.mark.parametrize("fault", sorted(CAUGHT))
def test_the_fault_is_caught_with_a_message_that_says_what_went_wrong(fault, tmp_path):
    selection, code, said = CAUGHT[fault]
    with running_graph_emulator("--fault", fault, *EMULATOR, token=TOKEN) as base_url:
        result = run_suite(base_url, tmp_path / "r", selection)
    output = result.stdout + result.stderr
    assert result.returncode == code, output[-3000:]
    assert said in output, output[-3000:]
    if code == 1:  # judged: the statement fails (never a false pass)
        statements = json.loads((tmp_path / "r" / "results.json").read_text())["statements"]
        assert any(s["verdict"] == "fail" for s in statements.values())


def test_tokens_that_expire_early_are_renewed_and_a_static_one_fails_naming_the_expiry(tmp_path):
    with running_graph_emulator("--fault", "token-expires-early", *EMULATOR, token=TOKEN) as base_url:
        renewed = run_suite(base_url, tmp_path / "a", "WINSCEPRR3 or IOSSCEPRR3")
        static = run_suite(base_url, tmp_path / "b", "WINSCEPRR3 or IOSSCEPRR3 or MACSCEPRR2",
                           CERTCONFORM_INTUNE_TOKEN=TOKEN, CERTCONFORM_INTUNE_CLIENT_SECRET="")
    assert renewed.returncode == 0, renewed.stdout[-3000:]
    assert static.returncode != 0 and "the token expired" in static.stdout + static.stderr, static.stdout[-3000:]


def test_no_macos_wipe_and_no_work_profile_wipe_reaches_the_emulator_by_default(tmp_path):
    """MAC-WIPE-1 and the work-profile wipe scenarios are not-supported by default: never sent."""
    with running_graph_emulator(*EMULATOR, token=TOKEN) as base_url:
        result = run_suite(base_url, tmp_path / "r", "MACWIPE1 or wipes")
        actions = httpx.get(f"{base_url}/certconform/actions").json()
    assert result.returncode == 0, result.stdout[-3000:]
    assert actions and all(a["action"] != "wipe" or a["platform"] not in ("macos", "android_work") for a in actions)
    statements = json.loads((tmp_path / "r" / "results.json").read_text())["statements"]
    assert statements["MAC-WIPE-1"]["verdict"] == "not-supported"
