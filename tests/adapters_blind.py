"""Adapters that cannot observe trusted roots (capabilities 'observes' without trusted_root), as
Intune through Microsoft Graph cannot: roots are delivered, but no per-device record shows them.

What this module knows: the adapter contract and the bundled mock it wraps.
What it does not know: how the suite judges them (tests/test_observes.py runs the suite).
"""
from __future__ import annotations

from certconform.mdm.mock import MockMDM

SEEN = ["scep", "pkcs", "pkcs_imported"]


class RootBlindMock:
    """The mock, with trusted-root records left out of observe() and declared unobservable."""

    def __init__(self) -> None:
        self.inner = MockMDM()

    def reset(self) -> None:
        self.inner.reset()

    def apply(self, event: dict) -> None:
        self.inner.apply(event)

    def observe(self) -> list[dict]:
        return [r for r in self.inner.observe() if r["kind"] != "trusted_root"]

    def capabilities(self) -> dict:
        return {**self.inner.capabilities(), "observes": SEEN}


class RootBlindRetireNeverRevokes(RootBlindMock):
    """Also broken: retire removes SCEP and PKCS certificates but the CA never revokes them."""

    def __init__(self) -> None:
        super().__init__()
        self.unrevoked: set[str] = set()

    def reset(self) -> None:
        super().reset()
        self.unrevoked.clear()

    def apply(self, event: dict) -> None:
        before = {r["serial"] for r in self.inner.observe() if r["revoked"]}
        self.inner.apply(event)
        if isinstance(event, dict) and event.get("type") == "retire":
            self.unrevoked |= {r["serial"] for r in self.inner.observe() if r["revoked"] and r["serial"] not in before}

    def observe(self) -> list[dict]:
        return [dict(r, revoked=False) if r["serial"] in self.unrevoked else r for r in super().observe()]
