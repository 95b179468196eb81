"""A certificate in one situation: the smallest tenant that puts it there, and the oracle's
verdict on each state it can be observed in after the event (tests/test_requirements.py,
tests/test_review_findings.py).

What this module knows: the contract's events and which of them create each situation of
model/behaviour.yaml (the same vocabulary World.situations uses). It asks the model only to
judge, never what a situation requires.
"""
from __future__ import annotations

from certconform.model.judge import full_judge
from certconform.model.oracle import DOCUMENT, READING
from certconform.model.world import World


def tenant(platform: str, kind: str, ca: str | None, chain: list | None, situation: str):
    """(world before the event, inventory before it, the event, the checked serial), or None when
    the situation cannot arise for that combination."""
    w = World()
    events = [{"type": "create_user", "user": "u"}, {"type": "enroll", "device": "d", "platform": platform, "user": "u"}]
    for g in ("gd", "gu", "gr", "g2"):
        events.append({"type": "create_group", "group": g})
    events += [{"type": "add_member", "group": g, "member": "d"} for g in ("gd", "gr", "g2")]
    events.append({"type": "add_member", "group": "gu", "member": "u"})
    via = "gu" if situation in ("user_leaves_group", "user_deleted_untargeted") else "gd"
    checked = "P"
    profiles: list[tuple[str, str, str | None, str | None]] = []  # (name, kind, root, ca)
    if kind == "trusted_root":
        checked = "R"
        profiles.append(("R", "trusted_root", None, None))
        profiles += [(f"C{k}", k, "R", "intune") for k in chain]
    elif kind == "pkcs_imported":
        profiles.append(("P", kind, None, None))
    else:
        profiles += [("R", "trusted_root", None, None), ("P", kind, "R", ca)]
    for name, k, root, c in profiles:
        events.append({"type": "create_profile", "profile": name, "kind": k, **({"root": root, "ca": c} if root else {})})
    chained_situations = ("chained_untargeted", "chained_scep_unassigned")
    for name, k, _, _ in profiles:
        # a root in a chained situation stays targeted through its own group gr
        group = "gr" if kind == "trusted_root" and name == "R" and situation in chained_situations else via
        events.append({"type": "assign_profile", "profile": name, "group": group})
        if situation == "group_deleted" and name == checked:
            events.append({"type": "assign_profile", "profile": name, "group": "g2"})
    event = {
        "unenroll": {"type": "unenroll", "device": "d"}, "wipe": {"type": "wipe", "device": "d"},
        "retire": {"type": "retire", "device": "d"},
        "wipe_after_user_deleted": {"type": "wipe", "device": "d"},
        "retire_after_user_deleted": {"type": "retire", "device": "d"},
        "leaves_group": {"type": "remove_member", "group": "gd", "member": "d"},
        "user_leaves_group": {"type": "remove_member", "group": "gu", "member": "u"},
        "unassigned": {"type": "unassign_profile", "profile": checked, "group": via},
        "updated": {"type": "update_profile", "profile": checked},
        "updated_untargeted": {"type": "update_profile", "profile": checked},
        "license_lost": {"type": "lose_license", "user": "u"},
        "license_withdrawn": {"type": "withdraw_license", "user": "u"},
        "user_deleted": {"type": "delete_user", "user": "u"},
        "user_deleted_untargeted": {"type": "delete_user", "user": "u"},
        "group_deleted": {"type": "delete_group", "group": "gd"},
        "group_deleted_untargeted": {"type": "delete_group", "group": "gd"},
        "manual_delete": {"type": "delete_certificate", "device": "d", "profile": checked},
        "chained_untargeted": {"type": "remove_member", "group": "gd", "member": "d"},
        "chained_scep_unassigned": {"type": "unassign_profile", "profile": "Cscep", "group": "gd"},
    }[situation]
    if situation in chained_situations and not chain:
        return None
    if situation == "chained_scep_unassigned" and set(chain) != {"scep"}:
        return None  # another chain left targeting: the situation is chained_untargeted then
    if situation.endswith("_after_user_deleted"):
        events.append({"type": "delete_user", "user": "u"})
    if situation == "updated_untargeted":
        events.append({"type": "unassign_profile", "profile": checked, "group": via})
    for e in events:
        w.apply(w.validate(e))
    before = [{"device": "d", "profile": name, "kind": k, "serial": name, "installed": True, "revoked": False}
              for name, k, _, _ in profiles]
    return w, before, event, checked


def verdict(world, event, before, serial, revoked, installed) -> str:
    after = [dict(r, revoked=revoked, installed=installed) if r["serial"] == serial else dict(r) for r in before]
    judged = full_judge(world, event, "applied", before, after)
    tiers = {f.tier for f in judged.result.findings if f.serial == serial}
    tiers |= {v.tier for _, v in judged.violations if v.serial == serial}
    return "fail" if DOCUMENT in tiers else "deviates" if READING in tiers else "pass"


def findings(world, event, before, serial, revoked, installed) -> list[tuple[str, tuple]]:
    """(tier, statements) of every finding and invariant violation about `serial` when it is
    observed revoked/installed after `event` (the other records unchanged)."""
    after = [dict(r, revoked=revoked, installed=installed) if r["serial"] == serial else dict(r) for r in before]
    judged = full_judge(world, event, "applied", before, after)
    return ([(f.tier, f.statements) for f in judged.result.findings if f.serial == serial]
            + [(v.tier, v.statements) for _, v in judged.violations if v.serial == serial])
