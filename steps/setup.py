"""The contract events behind the features' Given steps, as plain functions.

Used twice, so that the two cannot drift apart: the Given steps in steps/scenario_steps.py send
these events through the Driver, and tools/gen_features.py replays the same events into a model
World to ask it which situation a scenario's When step creates (World.situations), and so which
Then phrase the rules give. Nothing here talks to an implementation.
"""
from __future__ import annotations

import re

# How a scenario's profiles reach the device: through groups that contain the device ("device
# group") or the device's user ("user group"). One text both ways: format_targeting writes it,
# parse_targeting reads it back.
TARGET_RE = re.compile(r'the (?P<what>device|user) group "(?P<group>[^"]+)", which contains "(?P<member>[^"]+)"')
TARGET_JOIN = ", and to "


def format_targeting(groups) -> str:
    """[("device", "fleet", "dev1"), ...] -> 'the device group "fleet", which contains "dev1", and to ...'"""
    return TARGET_JOIN.join(f'the {what} group "{group}", which contains "{member}"' for what, group, member in groups)


def parse_targeting(text: str) -> list[tuple[str, str, str]]:
    """Inverse of format_targeting; raises ValueError when the text is not in that form."""
    groups = [(m["what"], m["group"], m["member"]) for m in TARGET_RE.finditer(text)]
    if not groups or format_targeting(groups) != text:
        raise ValueError(f"not a targeting phrase: {text!r} (expected e.g. {format_targeting([('device', 'fleet', 'dev1')])!r})")
    return groups


def user_with_device(user: str, platform: str, device: str) -> list[dict]:
    return [{"type": "create_user", "user": user},
            {"type": "enroll", "device": device, "platform": platform, "user": user}]


def chained_profiles(root: str, kind: str, profile: str, ca: str) -> list[dict]:
    """A trusted root profile and a SCEP or PKCS profile that chains to it."""
    return [{"type": "create_profile", "profile": root, "kind": "trusted_root"},
            {"type": "create_profile", "profile": profile, "kind": kind, "root": root, "ca": ca}]


def imported_profile(profile: str) -> list[dict]:
    return [{"type": "create_profile", "profile": profile, "kind": "pkcs_imported"}]


def targeting(groups, profiles, existing_groups=()) -> list[dict]:
    """Create each group (unless it exists), add its member, assign every profile to it."""
    events: list[dict] = []
    for _, group, member in groups:
        if group not in existing_groups:
            events.append({"type": "create_group", "group": group})
        events.append({"type": "add_member", "group": group, "member": member})
    for profile in profiles:
        events += [{"type": "assign_profile", "profile": profile, "group": group} for _, group, _ in groups]
    return events
