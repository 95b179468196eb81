"""Whether one event's effects have settled: which required changes have not appeared yet.

An implementation that declares latencies (`settle_s` > 0 or `windows`, ../shared/CONTRACT.md
"Optional: real products" and docs/slow-products.md) may return from apply() before the event's
revocations, removals and (at a check-in) deliveries have happened. steps/driver.py polls
observe() while `settle_state(...).pending` names a certificate or a delivery, and judges the
event when nothing is pending (or every pending change's window is over).

What this module knows: per certificate the event concerns (World.situations), the readings the
rules give (model/rules.py), and which states can still come: revocation and removal only move
one way (revoked stays revoked, removed stays removed), so a certificate that satisfies no reading
now but would satisfy one once revoked and/or removed is *pending*, with the *aspect* of the
change it still needs (revocation, removal); one that satisfies no reading and never can has
undergone a forbidden change (judged at once, waiting cannot mend it). A record marked
`"revocation": "pending"` is pending too. At a check-in, every profile that targets the enrolled
device, has no installed certificate there and whose kind is observable must deliver one
(model/oracle.py `_check_deliveries` judges that): until a new record of it appears that delivery
is pending (aspect delivery); where the delivery is open (an unlicensed or deleted user) a late
one may still land, so the event's window is waited out.
What it does not know: time, windows, polling, or what a finding says (model/oracle.py judges the
settled inventory; mdm/capabilities.py says which window an aspect gets).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from certconform.model.oracle import describe, requirement_of
from certconform.model.rules import Rules, default_rules
from certconform.model.world import World


@dataclass
class SettleState:
    pending: list[str] = field(default_factory=list)  # serials whose required change has not appeared
    messages: list[str] = field(default_factory=list)  # what each pending one still needs
    aspects: dict[str, frozenset] = field(default_factory=dict)  # pending serial or delivery key -> aspects it awaits
    deliveries: list[str] = field(default_factory=list)  # profiles whose delivery at this check-in has not appeared
    may_change: bool = False  # some record in reach could still legitimately change (an open aspect)
    requires_change: bool = False  # the event requires some record to change
    reach: bool = False  # the event concerns at least one installed certificate (or delivers)

    @property
    def waiting(self) -> bool:
        """Something required has not appeared yet."""
        return bool(self.pending or self.deliveries)


def delivery_key(profile: str) -> str:
    """The key of a pending delivery in SettleState.aspects (never a serial: it has a space)."""
    return f"delivery of {profile}"


def _futures(new: dict) -> list[dict]:
    """States a record can still reach: revoked only becomes true, installed only becomes false."""
    out = []
    for revoked in {new["revoked"], True}:
        for installed in {new["installed"], False}:
            if (revoked, installed) != (new["revoked"], new["installed"]):
                out.append({**new, "revoked": revoked, "installed": installed})
    return out


def _aspects(new: dict, future: dict) -> frozenset:
    return frozenset(a for a, changed in (("revocation", future["revoked"] != new["revoked"]),
                                          ("removal", future["installed"] != new["installed"])) if changed)


def settle_state(world: World, event: dict, before: list[dict], after: list[dict],
                 rules: Rules | None = None) -> SettleState:
    """`world` is the world before the event; `before`/`after` valid inventories."""
    rules = rules or default_rules()
    state = SettleState()
    if event["type"] == "check_in":
        _deliveries(world, event, before, after, state)
    situations = world.situations(event, before)
    if not situations:
        return state
    by_serial = {r["serial"]: r for r in after}
    for old in before:
        situation = situations.get(old["serial"])
        new = by_serial.get(old["serial"])
        if situation is None or new is None:
            continue
        device, profile = world.devices.get(old["device"]), world.profiles.get(old["profile"])
        if device is None or profile is None:
            continue
        if rules.not_validated(device.platform):
            # Nothing is judged there (ANDROID-WORK-1), but what the event set in motion must
            # land within this event's window, not during the next event's: wait the quiet period.
            state.reach = state.may_change = True
            continue
        state.reach = True
        req = requirement_of(rules, world, old, situation)
        sets = (req.readings, req.strict_readings)
        futures = _futures(new)
        if not all(any(r.allows(old, old) for r in s) for s in sets):
            state.requires_change = True
        aspects: set = set()
        if new.get("revocation") == "pending" and not new["revoked"]:
            aspects.add("revocation")
        for readings in sets:
            if not any(r.allows(old, new) for r in readings):
                fits = [f for f in futures if any(r.allows(old, f) for r in readings)]
                if fits:  # the fewest changes that would satisfy this tier
                    aspects |= min((_aspects(new, f) for f in fits), key=len)
        if aspects:
            state.pending.append(old["serial"])
            state.aspects[old["serial"]] = frozenset(aspects)
            wants = " or ".join(r.describe(old["kind"]) for r in req.strict_readings)
            state.messages.append(f"{describe(old)}: {wants}")
        elif any(all(any(r.allows(old, f) for r in s) for s in sets) for f in futures):
            state.may_change = True
    return state


def _deliveries(world: World, event: dict, before: list[dict], after: list[dict], state: SettleState) -> None:
    """Deliveries a check-in still owes (required ones pending; open ones make the event's window
    worth waiting out). Android for Work included: its deliveries are not judged, but one that
    lands late would land during the next event."""
    device = world.devices.get(event.get("device"))
    if device is None or not device.enrolled:
        return
    profiles = [p for p in world.targeting_profiles(device.name) if p.kind in world.observes]
    if not profiles:
        return
    installed = {r["profile"] for r in before if r["device"] == device.name and r["installed"]}
    known = {r["serial"] for r in before}
    fresh = {r["profile"] for r in after if r.get("device") == device.name and r["serial"] not in known}
    required = world.delivery_required(device.name)
    for p in profiles:
        if p.name in installed:
            continue
        state.reach = True
        if not required:
            state.may_change = True
            continue
        state.requires_change = True
        if p.name not in fresh:
            state.deliveries.append(p.name)
            state.aspects[delivery_key(p.name)] = frozenset({"delivery"})
            state.messages.append(f"a certificate of profile {p.name} delivered to {device.name}")
