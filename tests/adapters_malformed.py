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


class ReturnsNone(ReferenceMDM):
    """observe() answers None."""

    def observe(self):
        return None


class ReturnsString(ReferenceMDM):
    """observe() answers the inventory as a JSON-looking string."""

    def observe(self):
        return str(super().observe())


class NonDictItems(ReferenceMDM):
    """observe() answers a list whose items are serial strings, not records (once there are any)."""

    def observe(self):
        return [r["serial"] for r in super().observe()]


class SerialIsList(ReferenceMDM):
    """'serial' is a list (unhashable: the suite must not crash collecting serials)."""

    def observe(self) -> list[dict]:
        return [dict(r, serial=[r["serial"]]) for r in super().observe()]


class SerialIsDict(ReferenceMDM):
    """'serial' is an object."""

    def observe(self) -> list[dict]:
        return [dict(r, serial={"value": r["serial"]}) for r in super().observe()]


class SerialIsNone(ReferenceMDM):
    """'serial' is null."""

    def observe(self) -> list[dict]:
        return [dict(r, serial=None) for r in super().observe()]


class InstalledIsInt(ReferenceMDM):
    """'installed' is 1/0 instead of a boolean."""

    def observe(self) -> list[dict]:
        return [dict(r, installed=int(r["installed"])) for r in super().observe()]


class RevokedIsString(ReferenceMDM):
    """'revoked' is "false"/"true"."""

    def observe(self) -> list[dict]:
        return [dict(r, revoked=str(r["revoked"]).lower()) for r in super().observe()]


class MissingRevoked(ReferenceMDM):
    """Records lack the 'revoked' field."""

    def observe(self) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "revoked"} for r in super().observe()]


# shape -> the words its one-line [contract: CONTRACT] message must contain (tests use this table)
SHAPES = {
    "NotAList": "observe() must return a list, got dict",
    "ReturnsNone": "observe() must return a list, got None",
    "ReturnsString": "observe() must return a list, got str",
    "NonDictItems": "observe()[0] must be an object (a record), got str",
    "SerialIsList": "field 'serial' must be str, got list",
    "SerialIsDict": "field 'serial' must be str, got dict",
    "SerialIsNone": "field 'serial' must be str, got None",
    "InstalledIsInt": "field 'installed' must be bool, got int",
    "RevokedIsString": "field 'revoked' must be bool, got str",
    "MissingRevoked": "lacks field 'revoked'",
    "MissingSerial": "lacks field 'serial'",
    "WrongTypes": "field 'installed' must be bool",
    "DuplicateSerials": "appears twice in observe()",
}
