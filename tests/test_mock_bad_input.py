"""Every kind of bad input raises ValueError naming the field and changes nothing (in process).

BAD_EVENTS and WORLD are reused by tests/test_http_bad_input.py over HTTP."""
from __future__ import annotations

import pytest

from certconform.mdm.mock import MockMDM

# u1 enrolled d1 (windows), u2 enrolled d2 (macos); d1 in g1; g2 empty; gdel created then
# deleted; r1 trusted root, s1 SCEP assigned to g1; d1 checked in (holds an s1 certificate).
WORLD = [
    {"type": "create_user", "user": "u1"}, {"type": "create_user", "user": "u2"},
    {"type": "create_group", "group": "g1"}, {"type": "create_group", "group": "g2"},
    {"type": "create_group", "group": "gdel"}, {"type": "delete_group", "group": "gdel"},
    {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"},
    {"type": "enroll", "device": "d2", "platform": "macos", "user": "u2"},
    {"type": "add_member", "group": "g1", "member": "d1"},
    {"type": "create_profile", "profile": "r1", "kind": "trusted_root"},
    {"type": "create_profile", "profile": "s1", "kind": "scep", "root": "r1", "ca": "intune"},
    {"type": "assign_profile", "profile": "s1", "group": "g1"},
    {"type": "check_in", "device": "d1"},
]

# (event, the field the message must name, another word it must contain or None)
BAD_EVENTS = [
    ({"type": "no_such_event"}, "type", "no_such_event"),
    ({"device": "d1"}, "type", None),
    ({"type": 7}, "type", None),
    ({"type": "check_in"}, "device", None),
    ({"type": "check_in", "device": 5}, "device", None),
    ({"type": "check_in", "device": ""}, "device", None),
    ({"type": "check_in", "device": None}, "device", None),
    ({"type": "check_in", "device": "nope"}, "device", "nope"),
    ({"type": "update_profile", "profile": ["s1"]}, "profile", None),
    ({"type": "create_user", "user": "u1"}, "user", "u1"),
    ({"type": "create_user", "user": "d1"}, "user", "device"),
    ({"type": "create_group", "group": "g1"}, "group", "g1"),
    ({"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"}, "device", "d1"),
    ({"type": "enroll", "device": "u2", "platform": "windows", "user": "u1"}, "device", "user"),
    ({"type": "enroll", "device": "d9", "platform": "plan9", "user": "u1"}, "platform", "plan9"),
    ({"type": "enroll", "device": "d9", "platform": "windows", "user": "ghost"}, "user", "ghost"),
    ({"type": "enroll", "device": "d9", "platform": "windows"}, "user", None),
    ({"type": "create_profile", "profile": "s1", "kind": "scep", "root": "r1", "ca": "intune"}, "profile", "s1"),
    ({"type": "create_profile", "profile": "p9", "kind": "smime"}, "kind", "smime"),
    ({"type": "create_profile", "profile": "p9", "kind": "scep", "root": "r1", "ca": "acme"}, "ca", "acme"),
    ({"type": "create_profile", "profile": "p9", "kind": "scep", "root": "s1", "ca": "intune"}, "root", "trusted_root"),
    ({"type": "create_profile", "profile": "p9", "kind": "pkcs", "root": "ghost", "ca": "intune"}, "root", "ghost"),
    ({"type": "create_profile", "profile": "p9", "kind": "pkcs", "ca": "intune"}, "root", None),
    ({"type": "create_profile", "profile": "p9", "kind": "pkcs", "root": "r1"}, "ca", None),
    ({"type": "create_profile", "profile": "p9", "kind": "trusted_root", "root": 5}, "root", None),
    ({"type": "create_profile", "profile": "p9", "kind": "pkcs_imported", "ca": "acme"}, "ca", "acme"),
    ({"type": "assign_profile", "profile": "s1", "group": "gdel"}, "group", "gdel"),
    ({"type": "assign_profile", "profile": "ghost", "group": "g1"}, "profile", "ghost"),
    ({"type": "unassign_profile", "profile": "s1", "group": "g2"}, "group", "g2"),
    ({"type": "add_member", "group": "g1", "member": "ghost"}, "member", "ghost"),
    ({"type": "add_member", "group": "gdel", "member": "d1"}, "group", "gdel"),
    ({"type": "remove_member", "group": "g2", "member": "d1"}, "member", "d1"),
    ({"type": "remove_member", "group": "ghost", "member": "d1"}, "group", "ghost"),
    ({"type": "delete_certificate", "device": "d2", "profile": "s1"}, "profile", "d2"),
    ({"type": "delete_certificate", "device": "d1", "profile": "ghost"}, "profile", "ghost"),
    ({"type": "delete_certificate", "device": "ghost", "profile": "s1"}, "device", "ghost"),
    ({"type": "lose_license", "user": "ghost"}, "user", "ghost"),
    ({"type": "withdraw_license", "user": "ghost"}, "user", "ghost"),
    ({"type": "delete_user", "user": "ghost"}, "user", "ghost"),
    ({"type": "delete_group", "group": "gdel"}, "group", "gdel"),
    ({"type": "wipe", "device": "ghost"}, "device", "ghost"),
    ({"type": "retire"}, "device", None),
    ({"type": "unenroll", "device": "ghost"}, "device", "ghost"),
]


def bad_id(case) -> str:
    event = case[0]
    return f"{event.get('type')}-{case[1]}-{case[2]}"


def world() -> MockMDM:
    mdm = MockMDM()
    for e in WORLD:
        mdm.apply(e)
    return mdm


def check_message(message: str, field: str, word: str | None) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert field in message, message
    if word is not None:
        assert word in message, message


@pytest.mark.parametrize("case", BAD_EVENTS, ids=bad_id)
def test_bad_event_raises_value_error_naming_the_field_and_changes_nothing(case):
    event, field, word = case
    mdm = world()
    before = mdm.observe()
    with pytest.raises(ValueError) as raised:
        mdm.apply(event)
    check_message(str(raised.value), field, word)
    assert mdm.observe() == before
    # ...and the state behind the inventory is unchanged too: the same follow-up works as before
    mdm.apply({"type": "delete_certificate", "device": "d1", "profile": "s1"})
    mdm.apply({"type": "check_in", "device": "d1"})
    assert len(mdm.observe()) == 2


@pytest.mark.parametrize("event", [None, [], "check_in", 3])
def test_non_object_event_is_bad_input(event):
    with pytest.raises(ValueError, match="object"):
        MockMDM().apply(event)


def test_failed_create_profile_creates_nothing():
    mdm = world()
    with pytest.raises(ValueError):
        mdm.apply({"type": "create_profile", "profile": "p9", "kind": "scep", "root": "s1", "ca": "intune"})
    mdm.apply({"type": "create_profile", "profile": "p9", "kind": "scep", "root": "r1", "ca": "intune"})


def test_failed_enroll_enrolls_nothing():
    mdm = world()
    with pytest.raises(ValueError):
        mdm.apply({"type": "enroll", "device": "d9", "platform": "windows", "user": "ghost"})
    with pytest.raises(ValueError, match="d9"):
        mdm.apply({"type": "check_in", "device": "d9"})


def test_adding_an_existing_member_is_a_no_op():
    mdm = world()
    before = mdm.observe()
    mdm.apply({"type": "add_member", "group": "g1", "member": "d1"})
    mdm.apply({"type": "remove_member", "group": "g1", "member": "d1"})  # one removal empties it
    with pytest.raises(ValueError, match="member"):
        mdm.apply({"type": "remove_member", "group": "g1", "member": "d1"})
    assert mdm.observe() != before  # the removal revoked and removed the SCEP certificate


def test_extra_fields_are_ignored():
    """The contract may grow optional fields: an event with an unknown extra field is applied as
    if the field were absent (here: the user exists afterwards, so enrolling a device for it works,
    and creating it again is refused as a duplicate)."""
    mdm = world()
    mdm.apply({"type": "create_user", "user": "u3", "comment": "optional fields may be added"})
    mdm.apply({"type": "enroll", "device": "d3", "platform": "ios", "user": "u3", "colour": "blue"})
    with pytest.raises(ValueError, match="u3"):
        mdm.apply({"type": "create_user", "user": "u3"})
