"""The reference model rejects bad input with one line naming the field, and changes nothing."""
from __future__ import annotations

import pytest

from certconform import mdm

SETUP = [
    {"type": "create_user", "user": "u1"}, {"type": "create_group", "group": "g"},
    {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"},
    {"type": "add_member", "group": "g", "member": "d1"},
    {"type": "create_profile", "profile": "root", "kind": "trusted_root"},
    {"type": "create_profile", "profile": "scep", "kind": "scep", "root": "root", "ca": "intune"},
    {"type": "assign_profile", "profile": "scep", "group": "g"}, {"type": "check_in", "device": "d1"},
]
BAD = [
    ({"type": "teleport"}, "field 'type'"),
    ({"device": "d1"}, "field 'type'"),
    ({"type": "check_in"}, "field 'device' is missing"),
    ({"type": "check_in", "device": 3}, "field 'device' must be a non-empty string"),
    ({"type": "check_in", "device": "d9"}, "field 'device': unknown device 'd9'"),
    ({"type": "create_user", "user": "u1"}, "field 'user': 'u1' already exists"),
    ({"type": "create_user", "user": "d1"}, "field 'user': 'd1' already exists"),
    ({"type": "create_group", "group": "g"}, "field 'group': 'g' already exists"),
    ({"type": "enroll", "device": "d2", "platform": "plan9", "user": "u1"}, "field 'platform'"),
    ({"type": "enroll", "device": "d2", "platform": "ios", "user": "nobody"}, "field 'user': unknown user"),
    ({"type": "add_member", "group": "g", "member": "ghost"}, "field 'member'"),
    ({"type": "remove_member", "group": "g", "member": "u1"}, "'u1' is not a member of 'g'"),
    ({"type": "create_profile", "profile": "p", "kind": "scep", "root": "scep", "ca": "intune"}, "field 'root'"),
    ({"type": "create_profile", "profile": "p", "kind": "pkcs", "root": "root", "ca": "acme"}, "field 'ca'"),
    ({"type": "create_profile", "profile": "p", "kind": "jwt"}, "field 'kind'"),
    ({"type": "create_profile", "profile": "p", "kind": "scep"}, "field 'root' is missing"),
    ({"type": "assign_profile", "profile": "scep", "group": "gone"}, "field 'group': unknown group"),
    ({"type": "unassign_profile", "profile": "root", "group": "g"}, "'root' is not assigned to 'g'"),
    ({"type": "delete_certificate", "device": "d1", "profile": "root"}, "no installed certificate"),
    ({"type": "lose_license", "user": "nobody"}, "field 'user'"),
    ({"type": "delete_group", "group": "nobody"}, "field 'group'"),
]


@pytest.mark.parametrize("event, words", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_event_is_value_error_naming_the_field(event, words):
    adapter = mdm.load_adapter("reference")
    for ev in SETUP:
        adapter.apply(ev)
    before = adapter.observe()
    with pytest.raises(ValueError) as info:
        adapter.apply(event)
    assert words in str(info.value)
    assert "\n" not in str(info.value)
    assert adapter.observe() == before


@pytest.mark.parametrize("action", ["unenroll", "wipe", "retire"])
def test_a_second_remote_action_on_an_unenrolled_device_is_a_no_op(action):
    """I-DEVICE-ACTION-ON-UNMANAGED: the reference performs it as a no-op (refusing it or calling
    it bad input would also conform); either way nothing changes."""
    adapter = mdm.load_adapter("reference")
    for ev in SETUP + [{"type": "retire", "device": "d1"}]:
        adapter.apply(ev)
    before = adapter.observe()
    adapter.apply({"type": action, "device": "d1"})
    assert adapter.observe() == before


def test_the_oracle_accepts_every_answer_to_a_second_remote_action():
    from certconform.model.oracle import check_event
    from certconform.model.world import World

    world = World()
    for ev in SETUP + [{"type": "retire", "device": "d1"}]:
        world.apply(world.validate(ev))
    for outcome in ("applied", "rejected", "invalid"):
        assert check_event(world, {"type": "wipe", "device": "d1"}, outcome, [], []).findings == [], outcome
    changed = check_event(world, {"type": "wipe", "device": "d1"}, "applied",
                          [{"device": "d1", "profile": "scep", "kind": "scep", "serial": "1", "installed": True, "revoked": False}],
                          [{"device": "d1", "profile": "scep", "kind": "scep", "serial": "1", "installed": False, "revoked": False}])
    assert changed.findings and changed.findings[0].tier == "reading", changed.findings
