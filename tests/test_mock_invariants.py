"""Random event sequences against the mock MDM: only ValueError/EventRejected, and the inventory
keeps the invariants any implementation of the contract must keep."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certconform.mdm import EventRejected
from certconform.mdm.mock import MockMDM

NAMES = st.sampled_from(["a", "b", "c"])
DEVICES = st.sampled_from(["d1", "d2", "d3", "d4", "d5", "a"])
PROFILES = st.sampled_from(["r", "s", "p", "s3", "i", "x"])
PLATFORMS = st.sampled_from(["windows", "ios", "macos", "android_knox", "android_work", "android_legacy", "bad"])

EVENTS = st.one_of(
    st.builds(lambda u: {"type": "create_user", "user": u}, NAMES),
    st.builds(lambda g: {"type": "create_group", "group": g}, st.sampled_from(["g1", "g2"])),
    st.builds(lambda g, m: {"type": "add_member", "group": g, "member": m}, st.sampled_from(["g1", "g2"]),
              st.one_of(NAMES, DEVICES)),
    st.builds(lambda g, m: {"type": "remove_member", "group": g, "member": m}, st.sampled_from(["g1", "g2"]),
              st.one_of(NAMES, DEVICES)),
    st.builds(lambda d, p, u: {"type": "enroll", "device": d, "platform": p, "user": u}, DEVICES, PLATFORMS, NAMES),
    st.builds(lambda p, g: {"type": "assign_profile", "profile": p, "group": g}, PROFILES, st.sampled_from(["g1", "g2"])),
    st.builds(lambda p, g: {"type": "unassign_profile", "profile": p, "group": g}, PROFILES, st.sampled_from(["g1", "g2"])),
    st.builds(lambda p: {"type": "update_profile", "profile": p}, PROFILES),
    st.builds(lambda d: {"type": "check_in", "device": d}, DEVICES),
    st.builds(lambda d, p: {"type": "delete_certificate", "device": d, "profile": p}, DEVICES, PROFILES),
    st.builds(lambda t, d: {"type": t, "device": d}, st.sampled_from(["unenroll", "wipe", "retire"]), DEVICES),
    st.builds(lambda t, u: {"type": t, "user": u},
              st.sampled_from(["lose_license", "withdraw_license", "delete_user"]), NAMES),
    st.builds(lambda g: {"type": "delete_group", "group": g}, st.sampled_from(["g1", "g2"])),
)

SETUP = [
    {"type": "create_user", "user": "a"}, {"type": "create_user", "user": "b"},
    {"type": "create_group", "group": "g1"}, {"type": "create_group", "group": "g2"},
    {"type": "enroll", "device": "d1", "platform": "windows", "user": "a"},
    {"type": "enroll", "device": "d2", "platform": "android_knox", "user": "b"},
    {"type": "enroll", "device": "d3", "platform": "macos", "user": "a"},
    {"type": "enroll", "device": "d4", "platform": "android_legacy", "user": "b"},
    {"type": "add_member", "group": "g1", "member": "a"},
    {"type": "add_member", "group": "g1", "member": "d2"},
    {"type": "add_member", "group": "g2", "member": "d4"},
    {"type": "add_member", "group": "g2", "member": "d1"},
    {"type": "create_profile", "profile": "r", "kind": "trusted_root"},
    {"type": "create_profile", "profile": "s", "kind": "scep", "root": "r", "ca": "intune"},
    {"type": "create_profile", "profile": "p", "kind": "pkcs", "root": "r", "ca": "intune"},
    {"type": "create_profile", "profile": "s3", "kind": "scep", "root": "r", "ca": "third_party"},
    {"type": "create_profile", "profile": "i", "kind": "pkcs_imported"},
]
SETUP += [{"type": "assign_profile", "profile": p, "group": g}
          for p in ("r", "s", "p", "s3", "i") for g in ("g1", "g2")]
THIRD_PARTY_OR_UNREVOKABLE = {"r", "s3", "i"}
CHECK_INS = st.builds(lambda d: {"type": "check_in", "device": d}, DEVICES)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(EVENTS, CHECK_INS, CHECK_INS), min_size=4, max_size=40))
def test_random_sequences_keep_the_inventory_invariants(events):
    mdm = MockMDM()
    for e in SETUP:
        mdm.apply(e)
    previous: list[dict] = []
    for event in events:
        before = mdm.observe()
        try:
            mdm.apply(event)
        except (ValueError, EventRejected):
            assert mdm.observe() == before, event
            continue
        now = mdm.observe()
        assert len({r["serial"] for r in now}) == len(now)
        assert len(now) >= len(previous)
        for old, new in zip(previous, now):  # history is append-only; removal and revocation stick
            assert (old["device"], old["profile"], old["serial"]) == (new["device"], new["profile"], new["serial"])
            assert new["installed"] <= old["installed"]
            assert new["revoked"] >= old["revoked"]
        if event["type"] != "check_in":
            assert len(now) == len(before), event
        installed = [(r["device"], r["profile"]) for r in now if r["installed"]]
        assert len(installed) == len(set(installed))
        assert not any(r["revoked"] for r in now if r["profile"] in THIRD_PARTY_OR_UNREVOKABLE)
        previous = now
