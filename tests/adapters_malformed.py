"""Adapters whose observe() breaks the contract's record shape (loaded with
--mdm tests.adapters_malformed:Name): the suite must fail the tests, naming the field, and not crash.

What this module knows: the contract's record fields. What it does not know: how the suite reacts.
"""
from __future__ import annotations

from certconform.model.reference import ReferenceMDM


class MissingSerial(ReferenceMDM):
    """Records lack the 'serial' field."""

    def observe(self) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "serial"} for r in super().observe()]


class WrongTypes(ReferenceMDM):
    """'installed' is a string instead of a boolean."""

    def observe(self) -> list[dict]:
        return [dict(r, installed="yes" if r["installed"] else "no") for r in super().observe()]


class DuplicateSerials(ReferenceMDM):
    """Every record has the same serial."""

    def observe(self) -> list[dict]:
        return [dict(r, serial="0001") for r in super().observe()]


class NotAList(ReferenceMDM):
    """observe() answers a dict keyed by serial instead of a list."""

    def observe(self):
        return {r["serial"]: r for r in super().observe()}
