"""Whether one event's effects have settled: which required changes have not appeared yet.

An implementation that declares `settle_s` > 0 (../shared/CONTRACT.md, "Optional: real
products") may return from apply() before the event's revocations and removals have happened.
steps/driver.py polls observe() while `settle_state(...).pending` names a certificate, and judges
the event when nothing is pending (or the window is over).

What this module knows: per certificate the event concerns (World.situations), the readings the
rules give (model/rules.py), and which states can still come: revocation and removal only move
one way (revoked stays revoked, removed stays removed), so a certificate that satisfies no reading
now but would satisfy one once revoked and/or removed is *pending*; one that satisfies no reading
and never can has undergone a forbidden change (judged at once, waiting cannot mend it).
A record marked `"revocation": "pending"` is pending too. What it does not know: time, polling,
or what a finding says (model/oracle.py judges the settled inventory).
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
    may_change: bool = False  # some record in reach could still legitimately change (an open aspect)
    requires_change: bool = False  # the event requires some record to change
    reach: bool = False  # the event concerns at least one installed certificate


def _futures(new: dict) -> list[dict]:
    """States a record can still reach: revoked only becomes true, installed only becomes false."""
    out = []
    for revoked in {new["revoked"], True}:
        for installed in {new["installed"], False}:
            if (revoked, installed) != (new["revoked"], new["installed"]):
                out.append({**new, "revoked": revoked, "installed": installed})
    return out


def settle_state(world: World, event: dict, before: list[dict], after: list[dict],
                 rules: Rules | None = None) -> SettleState:
    """`world` is the world before the event; `before`/`after` valid inventories."""
    rules = rules or default_rules()
    state = SettleState()
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
        waiting = new.get("revocation") == "pending" and not new["revoked"]
        for readings in sets:
            if not any(r.allows(old, new) for r in readings) and any(r.allows(old, f) for r in readings for f in futures):
                waiting = True
        if waiting:
            state.pending.append(old["serial"])
            wants = " or ".join(r.describe(old["kind"]) for r in req.strict_readings)
            state.messages.append(f"{describe(old)}: {wants}")
        elif any(all(any(r.allows(old, f) for r in s) for s in sets) for f in futures):
            state.may_change = True
    return state
