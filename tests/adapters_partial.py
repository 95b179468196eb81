"""Adapters that declare they can perform only some events (../shared/CONTRACT.md, "Optional:
real products"), for the self-tests of the not-supported verdict (tests/test_realistic_proof.py).

What this module knows: the bundled mock and the capabilities keys. What it does not know: what
the suite does with them.
"""
from __future__ import annotations

from certconform.mdm.mock import MockMDM

# Enough to build a tenant, deliver certificates and unenroll a device: no wipe, retire, group or
# profile changes, licences or directory deletions, no deletion by hand.
FEW_EVENTS = ["create_user", "create_group", "add_member", "enroll", "create_profile", "assign_profile",
              "check_in", "unenroll"]


class UnenrollOnly(MockMDM):
    """The mock (synchronous), declaring it can perform only FEW_EVENTS: most statements are
    about events it cannot perform, so the run must say so in its summary line."""

    def capabilities(self) -> dict:
        return dict(super().capabilities(), events=list(FEW_EVENTS))
