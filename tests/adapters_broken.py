"""Deliberately broken adapters for tests/test_conformance_runs.py (loaded as tests.adapters_broken:Name)."""
from __future__ import annotations

from certconform.model.reference import ReferenceMDM


class NeverRevokes(ReferenceMDM):
    """The reference model whose CA never revokes: every revocation statement must fail."""

    def observe(self) -> list[dict]:
        return [dict(r, revoked=False) for r in super().observe()]


class KeepsScepOnGroupDeletionThenRevokesLate(ReferenceMDM):
    """Revokes a Windows SCEP certificate one event late after a wipe: only a sequence shows it."""

    def __init__(self):
        super().__init__()
        self._late: list[str] = []

    def reset(self) -> None:
        super().reset()
        self._late = []

    def apply(self, event: dict) -> None:
        pending, self._late = self._late, []
        super().apply(event)
        if event.get("type") == "wipe":
            for r in self.certs:
                if r["device"] == event["device"] and r["kind"] == "scep" and r["revoked"]:
                    r["revoked"] = False
                    self._late.append(r["serial"])
        for r in self.certs:
            if r["serial"] in pending:
                r["revoked"] = True
