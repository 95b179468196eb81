"""A kind the implementation cannot observe (capabilities 'observes') restricts what is judged,
not what is performed: profiles of that kind are still created and assigned (a SCEP profile needs
its trusted root), the oracle does not ask for their deliveries, and only a check that must read
such a certificate is reported not-supported. Intune through Graph is such an implementation
(no per-device record of trusted roots)."""
from __future__ import annotations

import json

from tests.test_conformance_runs import run


def test_root_blind_implementation_passes_and_only_root_checks_are_not_supported(tmp_path):
    r = run("--mdm=tests.adapters_blind:RootBlindMock", f"--report-dir={tmp_path}", "-q")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    statements = json.loads((tmp_path / "results.json").read_text())["statements"]
    verdicts = {sid: s["verdict"] for sid, s in statements.items()}
    # SCEP and PKCS statements are judged (their profiles chain to an unobservable root) ...
    assert verdicts["WIN-SCEP-RR-2"] == "pass" and verdicts["IOS-PKCS-RR-3"] == "pass"
    # ... statements about the root itself cannot be
    assert verdicts["IOS-SCEP-ROOT-3"] == "not-supported"
    assert sum(v == "pass" for v in verdicts.values()) >= 50, verdicts
    # the stateful run explored with roots created (they are needed) and judged the rest
    coverage = json.loads((tmp_path / "coverage.json").read_text())
    kinds = {key.split("/")[1] for key in coverage["transitions"]}
    assert {"scep", "pkcs", "pkcs_imported"} <= kinds and "trusted_root" not in kinds, kinds


def test_root_blind_implementation_that_never_revokes_is_still_failed(tmp_path):
    r = run("--mdm=tests.adapters_blind:RootBlindRetireNeverRevokes", f"--report-dir={tmp_path}", "-q",
            "-m", "not stateful")
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-2000:]
    statements = json.loads((tmp_path / "results.json").read_text())["statements"]
    assert statements["IOS-SCEP-RR-3"]["verdict"] == "fail", statements["IOS-SCEP-RR-3"]
