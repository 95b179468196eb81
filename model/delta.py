"""What one event changed in the inventory, and the small indexes kept across events, so that an
event is judged on the records it can concern rather than on the whole inventory.

What this module knows: the contract's inventory rules that make a delta well defined (records
are never dropped or reordered, new ones come after, a record keeps its serial, device, profile
and kind), and which devices or profile an event can concern (the same reach as
World.situations: the device an action or check-in names, the devices a membership, a user or a
group reaches, the records of an updated profile). What it does not know: what any record must
undergo (model/oracle.py, model/invariants.py judge the records this module hands them).

`Delta.of(before, after, index)` gives the positions whose record differs and the records
added; it is None when the observation breaks those rules (a record dropped, reordered or
renamed, a malformed or duplicate record): then the caller judges the whole inventory, which
names the fault exactly (model/judge.py).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from itertools import chain, compress

from certconform.model.oracle import validate_inventory
from certconform.model.world import DEVICE_ACTIONS, World

IDENTITY = ("serial", "device", "profile", "kind")  # fields a record never changes


@dataclass
class InventoryIndex:
    """Positions of the records of the inventory last observed: by device, by profile, and the
    serials present. Built once, then extended with each event's new records."""

    size: int = 0
    by_device: dict[str, list[int]] = field(default_factory=dict)
    by_profile: dict[str, list[int]] = field(default_factory=dict)
    serials: set = field(default_factory=set)
    unresolved: set[int] = field(default_factory=set)  # positions whose device or profile the world did not know yet

    @classmethod
    def of(cls, inventory: list[dict]) -> "InventoryIndex":
        index = cls()
        index.extend(inventory, 0)
        return index

    def extend(self, records: list[dict], start: int) -> None:
        for i, r in enumerate(records, start):
            self.by_device.setdefault(r["device"], []).append(i)
            self.by_profile.setdefault(r["profile"], []).append(i)
            self.serials.add(r["serial"])
            self.unresolved.add(i)
        self.size = start + len(records)

    def unknown_names(self, world: World, inventory: list[dict]) -> set[int]:
        """Positions of records naming a device or profile the world does not know. Devices and
        profiles are never forgotten, so a position once resolved is dropped for good."""
        self.unresolved = {i for i in self.unresolved
                           if inventory[i]["device"] not in world.devices or inventory[i]["profile"] not in world.profiles}
        return self.unresolved


@dataclass
class Delta:
    changed: list[int]  # positions (in `before`) whose record differs in `after`
    new: list[dict]  # records after the last position of `before`

    @classmethod
    def of(cls, before: list[dict], after: object, index: InventoryIndex) -> "Delta | None":
        """The delta, or None where only a look at the whole inventory can say what went wrong.
        `before` is the inventory `index` describes (already validated)."""
        if not isinstance(after, list) or len(after) < len(before) or index.size != len(before):
            return None
        changed = _changed_positions(before, after)
        for i in changed:
            new = after[i]
            if not isinstance(new, dict) or any(new.get(k) != before[i][k] for k in IDENTITY):
                return None
        added = after[len(before):]
        if validate_inventory([after[i] for i in changed] + added):
            return None  # a malformed or duplicate record: validate_inventory(after) names it with its position
        if any(r["serial"] in index.serials for r in added):
            return None  # a new record reuses a serial that is still listed
        return cls(changed, added)


def _changed_positions(before: list[dict], after: list) -> list[int]:
    """Positions i < len(before) where after[i] != before[i], or where after[i] compares equal
    but its flags are no longer bools (`!=` alone would take installed=1 for installed=True; such
    a record counts as changed, so validate_inventory sees it). Run after every event over the
    whole inventory, so the loops are the interpreter's own (map/compress); the per-record loop
    below gives the same positions and is used only when an unchanged record's flags are not bools."""
    differs = list(map(operator.ne, before, after))  # as long as `before` (after is never shorter)
    unchanged = compress(after, map(operator.not_, differs))
    if set(map(type, chain.from_iterable(map(_FLAGS, unchanged)))) <= {bool}:
        return list(compress(range(len(differs)), differs))
    return [i for i, (old, new) in enumerate(zip(before, after))
            if old != new or type(new["installed"]) is not bool or type(new["revoked"]) is not bool]


_FLAGS = operator.itemgetter("installed", "revoked")


def concerned_devices(world: World, event: dict) -> set[str]:
    """Every device whose certificates `event` (valid in `world`) can concern: the superset of
    the devices World.situations gives a situation to, plus the device an action, a check-in or
    a manual deletion names (the oracle and the invariants read all its records)."""
    t = event["type"]
    if t in DEVICE_ACTIONS or t in ("check_in", "delete_certificate"):
        return {event["device"]}
    if t in ("lose_license", "withdraw_license", "delete_user"):
        return {d.name for d in world.devices.values() if d.user == event["user"]}
    if t == "remove_member":
        member = event["member"]
        return {d.name for d in world.devices.values() if d.name == member or d.user == member}
    if t in ("unassign_profile", "delete_group"):
        members = world.groups[event["group"]]
        return {d.name for d in world.devices.values() if d.name in members or d.user in members}
    return set()  # creations, enrolment, memberships added, assignments: no installed certificate is concerned


def concerned_positions(world: World, event: dict, index: InventoryIndex) -> set[int]:
    """Positions of the records `event` can concern (see concerned_devices; an update concerns
    its profile's records)."""
    out: set[int] = set()
    for device in concerned_devices(world, event):
        out.update(index.by_device.get(device, ()))
    if event["type"] == "update_profile":
        out.update(index.by_profile.get(event["profile"], ()))
    return out
