"""Faulty adapters for the report self-tests (loaded with --mdm tests.adapters_faulty:Name).

What this module knows: the adapter contract and the reference model it wraps.
What it does not know: anything about reports; tests/test_reports_run.py judges the output.
"""
from __future__ import annotations

from certconform.model.reference import ReferenceMDM


class NeverRevokes(ReferenceMDM):
    """The reference model, except that the CA never revokes anything, and serials carry markup
    (so the HTML report must escape what the implementation says)."""

    def observe(self) -> list[dict]:
        return [dict(r, revoked=False, serial=f"<em>{r['serial']}</em>") for r in super().observe()]
