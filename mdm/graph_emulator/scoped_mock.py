# What this module knows: the two things Intune does that the contract's mock does not need to --
# a profile reaches only devices of its platform family, and (for the self-tests) a faulty mode in
# which retire never asks the CA to revoke. It adds both to MockMDM(realistic=True) by overriding
# the mock's targeting and revocation hooks; everything else is the mock's own behaviour.
# What it does not know: Graph (names here are the emulator's GUIDs, opaque to the mock).
"""A realistic MockMDM whose profiles are scoped to platforms, with an optional retire fault."""
from __future__ import annotations

from certconform.mdm.mock import MockMDM

from .catalogue import FAULTS

# The emulator enforces the pool itself (a pool device may be enrolled again after a wipe, which
# the mock counts as a new device); the mock's own pool is set out of reach.
_UNBOUNDED_POOL = 1_000_000


class ScopedMock(MockMDM):
    def __init__(self, revocation_delay: float = 0.05, removal_delay: float = 0.05, fault: str | None = None,
                 platforms=()) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r} (one of {', '.join(FAULTS)})")
        self.fault = fault
        self.profile_platforms: dict[str, frozenset[str]] = {}
        self._retiring = False
        super().__init__(realistic=True, revocation_delay=revocation_delay, removal_delay=removal_delay,
                         pool={p: _UNBOUNDED_POOL for p in platforms})

    def scope(self, profile: str, platforms) -> None:
        """Profile `profile` reaches devices of `platforms` only."""
        self.profile_platforms[profile] = frozenset(platforms)

    def _reaches(self, profile: str, platform: str) -> bool:
        scoped = self.profile_platforms.get(profile)
        return scoped is None or platform in scoped

    # -- the mock's hooks ------------------------------------------------------------------
    def _targeting(self, device):
        return {p for p in super()._targeting(device) if self._reaches(p, device.platform)}

    def _targets(self, device, profile) -> bool:
        return self._reaches(profile.name, device.platform) and super()._targets(device, profile)

    def _revoke(self, cert) -> None:
        if self._retiring and self.fault == "revocation-never-issued-on-retire":
            return  # the fault: the revocation request is never sent
        super()._revoke(cert)

    def _on_retire(self, device: str) -> None:
        self._retiring = True
        try:
            super()._on_retire(device)
        finally:
            self._retiring = False
