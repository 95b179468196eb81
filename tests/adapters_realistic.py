"""The mock in its realistic mode with small delays, for self-tests (--mdm tests.adapters_realistic:fast).

What this module knows: how to build MockMDM(realistic=True) with other delays than the spec
`mock-realistic` (0.05 s): 0.02 s, so a whole realistic run fits a self-test's budget while
every revocation and removal still lands after apply() has returned. What it does not know: how
the suite judges it (tests/test_realistic_runs.py).
"""
from __future__ import annotations

from certconform.mdm.mock import MockMDM

DELAY = 0.02  # seconds until a revocation / removal lands (capabilities: settle_s = DELAY + 0.05)


def fast() -> MockMDM:
    return MockMDM(realistic=True, revocation_delay=DELAY, removal_delay=DELAY)


def scep_setup(platform: str = "windows", member: str = "d") -> list[dict]:
    """Device d (`platform`) of user u; `member` (the device, or the user u) in group g; trusted
    root r and SCEP profile p assigned to g and delivered by one check-in: the set-up of the
    self-tests that then watch a revocation or a removal settle."""
    return [{"type": "create_user", "user": "u"}, {"type": "create_group", "group": "g"},
            {"type": "enroll", "device": "d", "platform": platform, "user": "u"},
            {"type": "add_member", "group": "g", "member": member},
            {"type": "create_profile", "profile": "r", "kind": "trusted_root"},
            {"type": "create_profile", "profile": "p", "kind": "scep", "root": "r", "ca": "intune"},
            {"type": "assign_profile", "profile": "r", "group": "g"},
            {"type": "assign_profile", "profile": "p", "group": "g"}, {"type": "check_in", "device": "d"}]


WINDOWS_SCEP_SETUP = scep_setup()
