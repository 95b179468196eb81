# What this module knows: what Intune does that the contract's mock does not need to -- a profile
# reaches only devices of its platform family; a macOS wipe is performed (current Intune: memdocs
# intune/remote-actions/device-wipe-macos.md), its certificates going as in the macOS retire table
# of devices-wipe.md (removed and revoked) -- and, for the self-tests, the faulty modes that act on
# certificates (retire never asks the CA to revoke; retire revokes but leaves the certificate
# installed). It adds them to MockMDM(realistic=True) by overriding the mock's hooks; everything
# else is the mock's own behaviour.
# What it does not know: Graph (names here are the emulator's GUIDs, opaque to the mock).
"""A realistic MockMDM whose profiles are scoped to platforms, with an optional retire fault."""
from __future__ import annotations

from certconform.mdm.mock import MockMDM
from certconform.mdm.mock import remote_actions

from .catalogue import FAULTS

# The emulator enforces the pool itself (a pool device may be enrolled again after a wipe, which
# the mock counts as a new device); the mock's own pool is set out of reach.
_UNBOUNDED_POOL = 1_000_000


class ScopedMock(MockMDM):
    def __init__(self, revocation_delay: float = 0.05, removal_delay: float = 0.05, fault: str | None = None,
                 platforms=(), now=None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r} (one of {', '.join(FAULTS)})")
        self.fault = fault
        self._now = now  # the tenant's clock (timing.Clock.now): a delayed effect's delays count from when it was due
        self.profile_platforms: dict[str, frozenset[str]] = {}
        self._retiring = False
        super().__init__(realistic=True, revocation_delay=revocation_delay, removal_delay=removal_delay,
                         pool={p: _UNBOUNDED_POOL for p in platforms})

    def scope(self, profile: str, platforms) -> None:
        """Profile `profile` reaches devices of `platforms` only."""
        self.profile_platforms[profile] = frozenset(platforms)
        self.changes += 1

    changes = 0  # events applied (and scopes set) so far: a snapshot of observe() is current while it holds

    def apply(self, event):
        self.changes += 1
        return super().apply(event)

    def _clock(self) -> float:
        return super()._clock() if self._now is None else self._now()

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

    def _remove(self, cert) -> None:
        if self._retiring and self.fault == "revoked-but-not-removed":
            return  # the fault: the certificate stays on the device (reported as issuance state `revoked`)
        super()._remove(cert)

    def _on_wipe(self, device: str) -> None:
        target = self._device("wipe", device)
        if target.platform != "macos":
            return super()._on_wipe(device)
        # Intune performs a macOS wipe today (the document's 2022 note refused it); what it does to
        # certificates is the macOS row of devices-wipe.md's retire table: removed and revoked.
        remote_actions.retire(target, self._store, self._settle)

    def _on_retire(self, device: str) -> None:
        self._retiring = True
        try:
            super()._on_retire(device)
        finally:
            self._retiring = False
