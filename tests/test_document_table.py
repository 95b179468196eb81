"""The reference model (and the mock), driven only through the contract, match the document on
every platform x kind x event combination the document specifies.

The expectations below are a second, hand-written transcription of the document's lists (line
numbers in comments), independent of model/behaviour.yaml, so a wrong row in the YAML shows up
here. RR = revoked and removed, RV = revoked (removal open), RM = removed (revocation open),
ST = stays, RJ = the action is refused, A|B = the document contradicts itself (either passes),
-- = open (the section makes another group or assignment change revoke-only or a stay, so the
intro's removal on loss of targeting does not hold there: I-INTRO-YIELDS; nothing to check).
"""
from __future__ import annotations

import pytest

from certconform import mdm

EVENTS = ["unenroll", "wipe", "retire", "leave", "unassign", "update", "lose", "withdraw", "del_user", "del_group"]
TABLE = {
    # Windows SCEP 61-83; PKCS 87-108 (leave/unassign: "no longer targets", line 95)
    ("windows", "scep"): "RR RR RR RR RR RV ST ST ST ST",
    ("windows", "pkcs"): "RR RR RR RM RM ST ST ST ST RM|ST",
    # iOS SCEP 114-136; PKCS 140-161 (leave: intro line 37; unassign: line 148)
    ("ios", "scep"): "RR RR RR RR RR RV ST ST ST ST",
    ("ios", "pkcs"): "RR RR RR RM RM ST ST ST ST ST",
    # KNOX SCEP 167-190 (directory removal both revoked, line 177, and stays, line 190); PKCS 194-212
    ("android_knox", "scep"): "RR RR RV RV RV RV ST ST RV|ST RV|ST",
    ("android_knox", "pkcs"): "RR RR RR -- ST ST ST ST ST ST",  # unassign stays (212): leave is open
    # macOS SCEP 223-238, wipe refused 241; PKCS 245-261
    ("macos", "scep"): "RR RJ RR RR RR RV ST ST ST ST",
    ("macos", "pkcs"): "RR RJ RR -- ST ST ST ST ST ST",  # unassign stays (259): leave is open
}
ROOTS = {  # root lists: Windows 73-77/97-101, iOS 126-130/150-154, KNOX 180-184/200-204, macOS 250-253
    "windows": ("unenroll", "wipe", "retire"), "ios": ("unenroll", "wipe", "retire"),
    "android_knox": ("unenroll", "wipe", "retire"), "macos": ("unenroll", "retire"),
}
PLATFORM_LIST_CASES = [(p, k, e, code) for (p, k), row in TABLE.items() for e, code in zip(EVENTS, row.split())
                       if code != "--"]


def _setup(adapter, platform):
    adapter.reset()
    for ev in [
        {"type": "create_user", "user": "u1"}, {"type": "create_group", "group": "fleet"},
        {"type": "enroll", "device": "d1", "platform": platform, "user": "u1"},
        {"type": "add_member", "group": "fleet", "member": "d1"},
        {"type": "create_profile", "profile": "root", "kind": "trusted_root"},
        {"type": "create_profile", "profile": "scep", "kind": "scep", "root": "root", "ca": "intune"},
        {"type": "create_profile", "profile": "pkcs", "kind": "pkcs", "root": "root", "ca": "intune"},
        {"type": "assign_profile", "profile": "root", "group": "fleet"},
        {"type": "assign_profile", "profile": "scep", "group": "fleet"},
        {"type": "assign_profile", "profile": "pkcs", "group": "fleet"},
        {"type": "check_in", "device": "d1"},
    ]:
        adapter.apply(ev)


def _event(name, kind):
    return {
        "unenroll": {"type": "unenroll", "device": "d1"}, "wipe": {"type": "wipe", "device": "d1"},
        "retire": {"type": "retire", "device": "d1"},
        "leave": {"type": "remove_member", "group": "fleet", "member": "d1"},
        "unassign": {"type": "unassign_profile", "profile": kind, "group": "fleet"},
        "update": {"type": "update_profile", "profile": kind},
        "lose": {"type": "lose_license", "user": "u1"}, "withdraw": {"type": "withdraw_license", "user": "u1"},
        "del_user": {"type": "delete_user", "user": "u1"}, "del_group": {"type": "delete_group", "group": "fleet"},
    }[name]


def _allowed(code, old, new):
    revoked, installed = new["revoked"], new["installed"]
    return {
        "RR": revoked and not installed,
        "RV": revoked,
        "RM": not installed,
        "ST": (revoked, installed) == (old["revoked"], old["installed"]),
    }[code]


def _one(adapter, profile):
    [rec] = [r for r in adapter.observe() if r["profile"] == profile]
    return rec


@pytest.fixture(params=["reference", "mock"])
def adapter(request):
    return mdm.load_adapter(request.param)


@pytest.mark.parametrize("platform, kind, event, code", PLATFORM_LIST_CASES,
                         ids=[f"{p}-{k}-{e}" for p, k, e, _ in PLATFORM_LIST_CASES])
def test_platform_lists(adapter, platform, kind, event, code):
    _setup(adapter, platform)
    old = _one(adapter, kind)
    if code == "RJ":
        before = adapter.observe()
        with pytest.raises(mdm.EventRejected):
            adapter.apply(_event(event, kind))
        assert adapter.observe() == before
        return
    adapter.apply(_event(event, kind))
    new = _one(adapter, kind)
    assert any(_allowed(c, old, new) for c in code.split("|")), (
        f"{platform} {kind} {event}: document says {code}, observed revoked={new['revoked']} installed={new['installed']}")


ROOT_CASES = [(p, e) for p, events in ROOTS.items() for e in events]


@pytest.mark.parametrize("platform, event", ROOT_CASES, ids=[f"{p}-{e}" for p, e in ROOT_CASES])
def test_root_lists(adapter, platform, event):
    _setup(adapter, platform)
    adapter.apply(_event(event, "scep"))
    root = _one(adapter, "root")
    assert not root["installed"] and not root["revoked"]


@pytest.mark.parametrize("event", ["unenroll", "wipe", "retire"])
def test_third_party_scep_removed_not_revoked(adapter, event):  # line 55
    adapter.reset()
    for ev in [{"type": "create_user", "user": "u1"}, {"type": "create_group", "group": "g"},
               {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"},
               {"type": "add_member", "group": "g", "member": "u1"},
               {"type": "create_profile", "profile": "root", "kind": "trusted_root"},
               {"type": "create_profile", "profile": "s3", "kind": "scep", "root": "root", "ca": "third_party"},
               {"type": "assign_profile", "profile": "s3", "group": "g"}, {"type": "check_in", "device": "d1"},
               _event(event, "s3")]:
        adapter.apply(ev)
    rec = _one(adapter, "s3")
    assert not rec["installed"] and not rec["revoked"]


@pytest.mark.parametrize("platform", ["windows", "ios", "android_knox", "macos"])
@pytest.mark.parametrize("event", ["unenroll", "wipe", "retire"])
def test_imported_pkcs_removed_with_company_data(adapter, platform, event):  # line 45
    adapter.reset()
    for ev in [{"type": "create_user", "user": "u1"}, {"type": "create_group", "group": "g"},
               {"type": "enroll", "device": "d1", "platform": platform, "user": "u1"},
               {"type": "add_member", "group": "g", "member": "d1"},
               {"type": "create_profile", "profile": "imp", "kind": "pkcs_imported"},
               {"type": "assign_profile", "profile": "imp", "group": "g"}, {"type": "check_in", "device": "d1"}]:
        adapter.apply(ev)
    if platform == "macos" and event == "wipe":
        with pytest.raises(mdm.EventRejected):
            adapter.apply(_event(event, "imp"))
        return
    adapter.apply(_event(event, "imp"))
    rec = _one(adapter, "imp")
    assert not rec["installed"] and not rec["revoked"]


@pytest.mark.parametrize("kind", ["scep", "pkcs"])
def test_manual_deletion_reissues_a_new_certificate(adapter, kind):  # lines 50-52
    _setup(adapter, "ios")
    old = _one(adapter, kind)
    adapter.apply({"type": "delete_certificate", "device": "d1", "profile": kind})
    adapter.apply({"type": "check_in", "device": "d1"})
    recs = [r for r in adapter.observe() if r["profile"] == kind]
    assert [r["serial"] for r in recs][0] == old["serial"] and not recs[0]["installed"]
    assert len(recs) == 2 and recs[1]["installed"] and recs[1]["serial"] != old["serial"]


@pytest.mark.parametrize("event", ["unenroll", "wipe", "retire", "leave", "unassign"])
def test_android_legacy_never_removes(adapter, event):  # line 217
    _setup(adapter, "android_legacy")
    adapter.apply(_event(event, "scep"))
    assert all(r["installed"] for r in adapter.observe())
