"""The reference implementation: the model itself, driven through the adapter contract.

What this module knows: how to turn the model's requirements into one concrete behaviour. It
keeps a World (model/world.py) and a certificate list; for each event it asks model/rules.py what
each concerned certificate must undergo and does exactly that. Where the document leaves a choice
open it does nothing (keeps the certificate, does not revoke); where the document contradicts
itself it follows the reading that changes least (e.g. a Windows PKCS certificate stays when a
directory deletion ends its targeting, C-WIN-PKCS-UNTARGETED-DELETION, so later events meet the
certificate it left); where one of our reading-tier
interpretations adds a requirement it follows that too, so it passes under --strict.
What it does not know: real X.509 (serials are counters); that is the mock's job (mdm/mock).
"""
from __future__ import annotations

from certconform.model.oracle import expected_outcome, requirement_of
from certconform.model.rules import REQUIRED, Rules, default_rules
from certconform.model.world import World


class ReferenceMDM:
    """Adapter over the reference model (`--mdm reference`)."""

    def __init__(self, rules: Rules | None = None):
        self.rules = rules or default_rules()
        self.reset()

    def reset(self) -> None:
        self.world = World()
        self.certs: list[dict] = []
        self._serial = 0

    def observe(self) -> list[dict]:
        return [dict(r) for r in self.certs]

    def apply(self, event: dict) -> None:
        from certconform.mdm import EventRejected

        outcome, why = expected_outcome(self.world, event, self.certs)
        if outcome == "invalid":
            raise ValueError(why)
        if outcome == "rejected":
            raise EventRejected(why)
        for serial, situation in self.world.situations(event, self.certs).items():
            cert = next(r for r in self.certs if r["serial"] == serial)
            reading = min(requirement_of(self.rules, self.world, cert, situation).strict_readings,
                          key=lambda r: (r.revoke == REQUIRED) + (r.remove == REQUIRED))
            if reading.revoke == REQUIRED:
                cert["revoked"] = True
            if reading.remove == REQUIRED:
                cert["installed"] = False
        if event["type"] == "check_in":
            self._check_in(event["device"])
        self.world.apply(event)

    def _check_in(self, device: str) -> None:
        installed = {r["profile"] for r in self.certs if r["device"] == device and r["installed"]}
        for profile in self.world.targeting_profiles(device):  # delivery open for unlicensed: deliver
            if profile.name not in installed:
                self._serial += 1
                self.certs.append({"device": device, "profile": profile.name, "kind": profile.kind,
                                   "serial": f"{self._serial:08X}", "installed": True, "revoked": False})


__all__ = ["ReferenceMDM"]
