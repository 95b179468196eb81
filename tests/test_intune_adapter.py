"""The Intune adapter (--mdm intune) against a scripted fake Graph (tests/fake_graph.py, httpx.MockTransport).

Covers: every contract event -> the Graph requests of mapping.EVENTS (the table is checked against
what the adapter sends), contract users mapped onto the pool's users, unsupported, destructive and
per-platform refused events, the device life cycle (out until a person enrols it again, kept group
memberships), observation (states -> records, paging, delivery order, device attribution, revoked
is not removed), 429 handling, token renewal, Graph errors, the dry run, redaction, reset touching
only prefixed objects and giving back what it took, configuration errors (placeholders on a real
tenant included), docs/intune.md's copy of the tables.
"""
from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from certconform import mdm
from certconform.mdm.intune import load, mapping
from certconform.mdm.intune.config import ConfigError, load as load_config
from certconform.mdm.intune.graph import GraphClient, GraphError, redact

try:
    from tests.fake_graph import BASE, SKU, TOKEN, FakeGraph, state
except ImportError:  # tests/ on sys.path rather than the project root
    from fake_graph import BASE, SKU, TOKEN, FakeGraph, state

ROOT = Path(__file__).resolve().parent.parent
SECRET = "client-s3cret-do-not-print"
REAL = "https://graph.example.test"  # not loopback: a real tenant's rules


def env(**extra) -> dict:
    base = {"CERTCONFORM_INTUNE_TOKEN": TOKEN, "CERTCONFORM_INTUNE_GRAPH_URL": BASE,
            "CERTCONFORM_INTUNE_POOL": "windows=lab-win-1,lab-win-2;ios=lab-ios-1",
            "CERTCONFORM_INTUNE_LICENSE_SKU": SKU, "CERTCONFORM_INTUNE_PREFIX": "t1-",
            "CERTCONFORM_INTUNE_GRAPH_LIMITS": "0"}  # the request budget is tested on its own
    base.update({f"CERTCONFORM_INTUNE_{k.upper()}": v for k, v in extra.items()})
    return base


def real_tenant_env(tmp_path, **extra) -> dict:
    """A real tenant's settings: client credentials and the administrator's own PKI."""
    from cryptography.hazmat.primitives import serialization

    from certconform.mdm.mock.authority import CertificateAuthority

    roots = {}
    for name in ("root", "third"):
        path = tmp_path / f"{name}.pem"
        path.write_bytes(CertificateAuthority(f"lab {name}", "lab").certificate.public_bytes(serialization.Encoding.PEM))
        roots[name] = str(path)
    settings = {k: v for k, v in env().items() if k not in ("CERTCONFORM_INTUNE_TOKEN", "CERTCONFORM_INTUNE_GRAPH_LIMITS")}
    settings.update({f"CERTCONFORM_INTUNE_{k.upper()}": v for k, v in {
        "graph_url": REAL, "tenant_id": "tid", "client_id": "cid", "client_secret": SECRET,
        "root_certificate": roots["root"], "third_party_root_certificate": roots["third"],
        "scep_url": "https://ndes.lab.example/certsrv/mscep/mscep.dll", "third_party_scep_url": "https://scep.other.example/scep",
        "pkcs_ca": "ca.lab.example", "pkcs_ca_name": "lab-issuing", "pkcs_template": "LabUser",
        "third_party_pkcs_ca": "ca.other.example", "third_party_pkcs_ca_name": "other-issuing", **extra}.items()})
    return settings


def adapter(fake: FakeGraph, **extra):
    return load(environ=env(**extra), transport=fake.transport())


SETUP = [
    {"type": "create_user", "user": "u1"},
    {"type": "create_group", "group": "g1"},
    {"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"},
    {"type": "add_member", "group": "g1", "member": "d1"},
    {"type": "create_profile", "profile": "root", "kind": "trusted_root"},
    {"type": "create_profile", "profile": "s1", "kind": "scep", "root": "root", "ca": "intune"},
    {"type": "create_profile", "profile": "p1", "kind": "pkcs", "root": "root", "ca": "third_party"},
    {"type": "create_profile", "profile": "x1", "kind": "pkcs_imported"},
    {"type": "assign_profile", "profile": "s1", "group": "g1"},
]

# one more event per type, applied after SETUP (in this order)
FOLLOW_UP = [
    {"type": "add_member", "group": "g1", "member": "u1"},
    {"type": "remove_member", "group": "g1", "member": "u1"},
    {"type": "unassign_profile", "profile": "s1", "group": "g1"},
    {"type": "update_profile", "profile": "p1"},
    {"type": "check_in", "device": "d1"},
    {"type": "withdraw_license", "user": "u1"},
    {"type": "retire", "device": "d1"},
    {"type": "enroll", "device": "d2", "platform": "windows", "user": "u1"},
    {"type": "create_group", "group": "g3"},
    {"type": "add_member", "group": "g3", "member": "d2"},
    {"type": "wipe", "device": "d2"},
    {"type": "delete_group", "group": "g1"},
    {"type": "delete_user", "user": "u1"},
]

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _route(text: str) -> str:
    """METHOD /path with ids, quoted literals and the query's values made generic."""
    text = GUID.sub("{}", text)
    text = re.sub(r"\{[^}/]*\}", "{}", text)
    text = re.sub(r"'[^']*'", "''", text)
    return text.split("?")[0]


def _table_routes(event: str) -> list[str]:
    routes = []
    for line in mapping.EVENTS[event]:
        for m in re.finditer(r"\b(GET|POST|PATCH|DELETE) (/\S+)", line):
            routes.append(_route(f"{m.group(1)} {m.group(2)}"))
    return routes


def test_every_event_sends_the_requests_its_table_row_names():
    fake = FakeGraph()
    a = adapter(fake, allow_destructive="1")
    sent_by: dict[str, set[str]] = {}
    for event in SETUP + FOLLOW_UP:
        before = len(fake.log)
        a.apply(event)
        sent = {_route(f"{m} {p}") for m, p, _ in fake.log[before:]}
        sent_by.setdefault(event["type"], set()).update(sent)
    performed = set(mapping.EVENTS) - set(mapping.UNSUPPORTED_EVENTS)
    assert set(sent_by) == performed
    for etype, sent in sent_by.items():
        table = set(_table_routes(etype))
        assert sent <= table, f"{etype} sent {sorted(sent - table)}, not in mapping.EVENTS"
        assert bool(sent) == (etype != "create_user"), f"{etype} sent {sorted(sent)}"  # a user is no Graph object


def test_profiles_get_one_graph_profile_per_family_with_the_table_type():
    fake = FakeGraph()
    a = adapter(fake)
    for event in SETUP:
        a.apply(event)
    types = sorted((c["displayName"], c["@odata.type"]) for c in fake.configs.values())
    assert types == sorted(
        (f"t1-{name} ({family})", "#microsoft.graph." + mapping.ODATA_TYPES[(family, kind)])
        for name, kind in (("root", "trusted_root"), ("s1", "scep"), ("p1", "pkcs"), ("x1", "pkcs_imported"))
        for family in ("windows", "ios"))
    by_name = {c["displayName"]: c for c in fake.configs.values()}
    root_win = by_name["t1-root (windows)"]["id"]
    assert by_name["t1-s1 (windows)"]["rootCertificate@odata.bind"].endswith(f"deviceConfigurations('{root_win}')")
    assert "rootCertificate@odata.bind" not in by_name["t1-p1 (windows)"]  # Windows PKCS has no such relationship
    assert "certconform-ca=third_party" in by_name["t1-p1 (ios)"]["description"]
    # the assignment is the full set, on every family's profile
    s1 = [c["id"] for name, c in by_name.items() if name.startswith("t1-s1 ")]
    gid = next(iter(fake.groups))
    assert all(fake.assignments[i] == [gid] for i in s1)


def test_assign_sends_the_full_set_and_unassign_the_rest():
    fake = FakeGraph()
    a = adapter(fake)
    for event in SETUP + [{"type": "create_group", "group": "g2"}, {"type": "assign_profile", "profile": "s1", "group": "g2"}]:
        a.apply(event)
    s1 = next(c["id"] for c in fake.configs.values() if c["displayName"] == "t1-s1 (windows)")
    assert len(fake.assignments[s1]) == 2
    a.apply({"type": "unassign_profile", "profile": "s1", "group": "g1"})
    assert fake.assignments[s1] == [a.groups["g2"]]


@pytest.mark.parametrize("etype", sorted(mapping.UNSUPPORTED_EVENTS))
def test_unsupported_events_are_declared_and_rejected_without_a_request(etype):
    fake = FakeGraph()
    a = adapter(fake)
    for event in SETUP:
        a.apply(event)
    assert etype not in a.capabilities()["events"]
    field = {"delete_certificate": {"device": "d1", "profile": "s1"}, "unenroll": {"device": "d1"},
             "lose_license": {"user": "u1"}}[etype]
    before = len(fake.log)
    with pytest.raises(mdm.EventRejected, match="not supported"):
        a.apply({"type": etype, **field})
    assert len(fake.log) == before


@pytest.mark.parametrize("action", ["wipe", "retire", "delete_user"])
def test_destructive_actions_need_allow_destructive(action):
    fake = FakeGraph()
    a = adapter(fake)
    for event in SETUP:
        a.apply(event)
    assert action not in a.capabilities()["events"]
    before = len(fake.log)
    with pytest.raises(mdm.EventRejected, match="--allow-destructive"):
        a.apply({"type": action, **({"user": "u1"} if action == "delete_user" else {"device": "d1"})})
    assert len(fake.log) == before
    b = adapter(FakeGraph(), allow_destructive="true")
    assert action in b.capabilities()["events"]


def test_after_a_wipe_the_device_is_released_and_actions_on_it_are_refused():
    fake = FakeGraph()
    a = adapter(fake, allow_destructive="1")
    for event in SETUP:
        a.apply(event)
    a.apply({"type": "wipe", "device": "d1"})
    assert fake.requests("POST")[-1].endswith("/wipe")
    before = len(fake.log)
    a.apply({"type": "check_in", "device": "d1"})  # no longer enrolled: no sync of a device another binding may hold
    assert len(fake.log) == before
    with pytest.raises(mdm.EventRejected, match="no longer enrolled"):
        a.apply({"type": "retire", "device": "d1"})
    a.apply({"type": "create_group", "group": "g2"})
    before = len(fake.log)
    a.apply({"type": "add_member", "group": "g2", "member": "d1"})  # applied: its directory object is gone
    a.apply({"type": "remove_member", "group": "g1", "member": "d1"})
    assert len(fake.log) == before and "d1" in a.world.groups["g2"] and "d1" not in a.world.groups["g1"]
    # the pool: lab-win-1 is out until a person enrols it again; lab-win-2 is free
    assert a.awaiting_person() == [{"platform": "windows", "device": "lab-win-1",
                                    "instruction": "enrol lab-win-1 again with its pool user (the wipe erased it "
                                                   "and took it out of Intune)"}]
    a.apply({"type": "enroll", "device": "d2", "platform": "windows", "user": "u1"})
    with pytest.raises(mdm.EventRejected, match="no free windows device .*awaiting a person: lab-win-1"):
        a.apply({"type": "enroll", "device": "d3", "platform": "windows", "user": "u1"})
    fake.reenrol("lab-win-1")  # the person did
    a.apply({"type": "enroll", "device": "d3", "platform": "windows", "user": "u1"})
    assert (a.bindings["d2"].pool_name, a.bindings["d3"].pool_name) == ("lab-win-2", "lab-win-1")
    assert a.bindings["d3"].managed_id not in (b.managed_id for b in a.history[:1])  # the new id was looked up
    assert a.awaiting_person() == []


def test_a_refused_remote_action_is_event_rejected():
    fake = FakeGraph()
    a = adapter(fake, allow_destructive="1")
    for event in SETUP:
        a.apply(event)
    fake.fail["/wipe"] = (409, "Conflict", "wipe is not supported on this platform")
    with pytest.raises(mdm.EventRejected, match="Conflict"):
        a.apply({"type": "wipe", "device": "d1"})
    assert "d1" in a.bindings


def test_bad_input_is_value_error_naming_the_field_and_sends_nothing():
    fake = FakeGraph()
    a = adapter(fake)
    for event in SETUP:
        a.apply(event)
    before = len(fake.log)
    for bad, field in [({"type": "check_in"}, "device"), ({"type": "check_in", "device": "nope"}, "device"),
                       ({"type": "enroll", "device": "d9", "platform": "plan9", "user": "u1"}, "platform"),
                       ({"type": "no_such"}, "type")]:
        with pytest.raises(ValueError, match=field):
            a.apply(bad)
    assert len(fake.log) == before


def _scep_windows(fake):
    return next(c["id"] for c in fake.configs.values() if c["displayName"] == "t1-s1 (windows)")


def test_observe_maps_states_follows_pages_and_orders_by_issuance():
    fake = FakeGraph(page_size=2)
    a = adapter(fake, allow_destructive="1")
    for event in SETUP:
        a.apply(event)
    a.apply({"type": "create_user", "user": "u2"})
    a.apply({"type": "enroll", "device": "d2", "platform": "windows", "user": "u2"})
    now = time.time()  # the bindings were made just now: issuance times after now belong to them

    def stamp(s):  # Graph's form: 7 fraction digits, Z
        return dt.datetime.fromtimestamp(now + s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "7Z"

    fake.states[_scep_windows(fake)] = [
        state("0C", "lab-win-2", stamp(3), "deleted", "pending"),
        state("0A", "lab-win-1", stamp(1), "installed", "none"),
        state("0B", "lab-win-1", stamp(2), "installed", "revoked"),
        state("", "lab-win-1", stamp(2), "issuePending"),  # no certificate yet: not reported
        state("0D", "lab-win-2", stamp(4), "challengeIssued"),  # not delivered: not reported
        state("0E", "lab-win-2", stamp(5), "revoked", "none"),
    ]
    records = a.observe()
    assert [(r["serial"], r["device"], r["installed"], r["revoked"], r.get("revocation")) for r in records] == [
        ("0A", "d1", True, False, None), ("0B", "d1", True, True, None), ("0C", "d2", False, False, "pending"),
        ("0E", "d2", True, True, None)]  # issuance state `revoked`: revoked, NOT removed
    assert all(r["profile"] == "s1" and r["kind"] == "scep" for r in records)
    pages = [p for p in fake.requests("GET") if _scep_windows(fake) in p]
    assert len(pages) == 3 and "$skiptoken=4" in pages[-1]  # 6 states, 2 a page, the nextLink followed


def test_observe_attributes_a_pool_device_to_the_binding_of_the_issuance_time():
    fake = FakeGraph(pool={"windows": ["lab-win-1"]})
    a = adapter(fake, allow_destructive="1", pool="windows=lab-win-1")
    for event in SETUP:
        a.apply(event)
    first = dt.datetime.now(dt.timezone.utc).isoformat()
    fake.states[_scep_windows(fake)] = [state("01", "lab-win-1", first)]
    assert [r["device"] for r in a.observe()] == ["d1"]
    a.apply({"type": "retire", "device": "d1"})
    time.sleep(1.1)  # past the attribution margin
    fake.reenrol("lab-win-1")
    a.apply({"type": "enroll", "device": "d2", "platform": "windows", "user": "u1"})
    a.apply({"type": "add_member", "group": "g1", "member": "d2"})  # s1 targets d2 too
    second = dt.datetime.now(dt.timezone.utc).isoformat()
    fake.states[_scep_windows(fake)].append(state("02", "lab-win-1", second))
    assert [(r["serial"], r["device"]) for r in a.observe()] == [("01", "d1"), ("02", "d2")]


def test_a_certificate_of_the_previous_bindings_targeting_stays_the_previous_bindings():
    """A group change reaches Intune's targeting only after the propagation delay: a certificate
    of a profile that targeted the pool device's previous binding, and not the new one, issued
    within that delay, is the previous binding's (never the new device's)."""
    fake = FakeGraph(pool={"windows": ["lab-win-1"]})
    a = adapter(fake, allow_destructive="1", pool="windows=lab-win-1")
    for event in SETUP:
        a.apply(event)
    a.apply({"type": "retire", "device": "d1"})
    time.sleep(1.1)  # past the attribution margin
    fake.reenrol("lab-win-1")
    a.apply({"type": "enroll", "device": "d2", "platform": "windows", "user": "u1"})
    fake.states[_scep_windows(fake)] = [state("03", "lab-win-1", dt.datetime.now(dt.timezone.utc).isoformat())]
    assert [(r["serial"], r["device"]) for r in a.observe()] == [("03", "d1")]


def test_trusted_roots_are_not_observed_and_capabilities_say_so():
    fake = FakeGraph()
    a = adapter(fake)
    for event in SETUP:
        a.apply(event)
    a.observe()
    assert not any("TrustedRoot" in p or "ImportedPFX" in p for p in fake.requests("GET"))
    caps = a.capabilities()
    assert caps["observes"] == ["scep", "pkcs"]  # no PFX uploaded: imported PKCS is never delivered
    assert caps["devices"]["windows"] == 2 and caps["devices"]["ios"] == 1 and caps["devices"]["macos"] == 0


def test_throttled_requests_wait_retry_after_and_retry():
    fake = FakeGraph()
    fake.throttle, fake.retry_after = 2, "7"
    waits = []
    client = GraphClient(BASE, lambda: TOKEN, transport=fake.transport(), sleep=waits.append)
    assert client.get("/beta/deviceManagement/managedDevices?$filter=deviceName eq 'lab-win-1'")["value"]
    assert waits == [7.0, 7.0] and client.throttled == 2 and len(fake.log) == 3


def test_throttling_is_bounded_and_then_a_one_line_error():
    fake = FakeGraph()
    fake.throttle = 100
    waits = []
    client = GraphClient(BASE, lambda: TOKEN, transport=fake.transport(), sleep=waits.append, max_retries=3)
    with pytest.raises(GraphError) as info:
        client.get("/v1.0/users")
    assert len(waits) == 3 and len(fake.log) == 4
    assert "HTTP 429" in str(info.value) and "TooManyRequests" in str(info.value) and "\n" not in str(info.value)


def test_a_graph_error_names_the_request_code_and_message_in_one_line():
    fake = FakeGraph()
    a = adapter(fake)
    fake.fail["/v1.0/groups"] = (400, "Request_BadRequest", "Another object with the same value\nfor property mailNickname already exists.")
    with pytest.raises(GraphError) as info:
        a.apply({"type": "create_group", "group": "g1"})
    text = str(info.value)
    assert text.startswith("Graph POST /v1.0/groups answered HTTP 400: Request_BadRequest: Another object")
    assert "\n" not in text and TOKEN not in text
    assert "g1" not in a.world.groups  # a failed event changes nothing


def test_the_request_budget_waits_for_the_next_window_before_a_limit_is_passed():
    from certconform.mdm.intune.graph import Budget

    now, waits = [0.0], []

    def sleep(seconds):
        waits.append(seconds)
        now[0] += seconds

    budget = Budget((("/beta/deviceManagement/deviceConfigurations", 5, 2, 20.0),), sleep=sleep, clock=lambda: now[0])
    for _ in range(2):
        budget.take("POST", "/beta/deviceManagement/deviceConfigurations")
    budget.take("GET", "/v1.0/groups")  # another service: not counted
    assert waits == []
    now[0] += 3.0
    budget.take("POST", "/beta/deviceManagement/deviceConfigurations")  # the third write waits out the window
    assert waits == [17.0]
    for _ in range(5):
        budget.take("GET", "/beta/deviceManagement/deviceConfigurations")
    assert waits == [17.0, 20.0]  # the sixth request of the new window waited for the next one


def test_next_links_to_another_host_are_not_followed():
    fake = FakeGraph()
    client = GraphClient(BASE, lambda: TOKEN, transport=fake.transport())
    with pytest.raises(GraphError, match="another host"):
        client.get("https://evil.example/v1.0/users")
    assert fake.log == []


def test_dry_run_prints_every_request_redacted_and_sends_nothing():
    fake = FakeGraph()
    out = io.StringIO()
    a = load(environ=env(dry_run="1", allow_destructive="1"), transport=fake.transport(), stream=out)
    for event in SETUP + [{"type": "check_in", "device": "d1"}, {"type": "wipe", "device": "d1"}]:
        a.apply(event)
    assert a.observe() == []
    a.reset()
    text = out.getvalue()
    assert fake.log == []  # nothing reached (the fake) Graph
    lines = text.splitlines()
    assert all(line.startswith("dry-run: ") for line in lines)
    assert any(line.startswith(f"dry-run: POST {BASE}/v1.0/groups ") for line in lines)
    assert any(line.endswith("/syncDevice") for line in lines)
    assert any("/wipe " in line for line in lines)
    assert any(line.startswith(f"dry-run: GET {BASE}/beta/deviceManagement/deviceConfigurations") for line in lines)
    assert TOKEN not in text and "Bearer" not in text


def test_secrets_never_appear_in_errors_reprs_or_dry_run_output():
    fake = FakeGraph()
    a = adapter(fake)
    cfg = load_config(env(client_secret=SECRET, tenant_id="t", client_id="c"))
    assert SECRET not in repr(cfg) and TOKEN not in repr(cfg) and TOKEN not in repr(a)
    assert redact({"passwordProfile": {"password": "p4ss"}, "x": f"a {SECRET} b"}, [SECRET]) == \
        {"passwordProfile": {"password": "<redacted>"}, "x": "a <redacted> b"}
    # a Graph message that echoes the token is redacted
    fake.fail["/v1.0/groups"] = (400, "BadRequest", f"token {TOKEN} is odd")
    with pytest.raises(GraphError) as info:
        a.apply({"type": "create_group", "group": "g"})
    assert TOKEN not in str(info.value) and "<redacted>" in str(info.value)


def test_reset_deletes_only_objects_with_the_prefix():
    fake = FakeGraph(page_size=2)
    a = adapter(fake)
    for event in SETUP:
        a.apply(event)
    foreign_user = fake.new_id()
    fake.users[foreign_user] = {"id": foreign_user, "displayName": "Alice (not ours)"}
    foreign_group = fake.new_id()
    fake.groups[foreign_group] = {"id": foreign_group, "displayName": "t1 no dash"}
    foreign_config = fake.new_id()
    fake.configs[foreign_config] = {"id": foreign_config, "displayName": "Corp Wi-Fi SCEP",
                                    "@odata.type": "#microsoft.graph.windows81SCEPCertificateProfile"}
    types = {i: c["@odata.type"] for i, c in fake.configs.items()}
    users_before = dict(fake.users)
    a.reset()
    assert fake.users == users_before  # the pool's users and others: never deleted by reset
    assert list(fake.groups) == [foreign_group]
    assert list(fake.configs) == [foreign_config]
    deleted = [types[p.rsplit("/", 1)[1]] for p in fake.requests("DELETE") if "deviceConfigurations" in p]
    assert len(deleted) == 8  # 4 profiles x 2 families, all ours
    assert all("TrustedRoot" in t for t in deleted[-2:]) and not any("TrustedRoot" in t for t in deleted[:-2])
    assert a.observe() == [] and a.bindings == {} and a.pool_users == {}
    assert a.capabilities()["devices"]["windows"] == 2 and a.out == {}


def test_close_removes_what_the_run_created_and_only_that():
    fake = FakeGraph()
    a = adapter(fake)
    for event in SETUP:
        a.apply(event)
    foreign = fake.new_id()
    fake.users[foreign] = {"id": foreign, "displayName": "Bob"}
    a.close()
    assert foreign in fake.users and fake.groups == {} and fake.configs == {}
    before = len(fake.log)
    a.close()  # once only (the exit hook may call it again)
    assert len(fake.log) == before


@pytest.mark.parametrize("settings, message", [
    ({"CERTCONFORM_INTUNE_TOKEN": ""}, "setting 'tenant_id' is missing"),
    ({"CERTCONFORM_INTUNE_TOKEN": "", "CERTCONFORM_INTUNE_TENANT_ID": "t", "CERTCONFORM_INTUNE_CLIENT_ID": "c"},
     "setting 'client_secret' or 'certificate_path' is missing"),
    ({"CERTCONFORM_INTUNE_POOL": ""}, "setting 'pool' is missing"),
    ({"CERTCONFORM_INTUNE_POOL": "plan9=a"}, "unknown platform 'plan9'"),
    ({"CERTCONFORM_INTUNE_POOL": "windows=a;ios=a"}, "device 'a' is listed twice"),
    ({"CERTCONFORM_INTUNE_LICENSE_SKU": "intune"}, "setting 'license_sku' is not a GUID"),
    ({"CERTCONFORM_INTUNE_LICENSE_SKU": ""}, "setting 'license_sku' is missing"),
    ({"CERTCONFORM_INTUNE_UPDATE_EDIT": "colour"}, "setting 'update_edit': want one of validity"),
    ({"CERTCONFORM_INTUNE_ALLOW_MACOS_WIPE": "1"}, "setting 'allow_macos_wipe' needs allow_destructive"),
    ({"CERTCONFORM_INTUNE_TIME_SCALE": "0"}, "setting 'time_scale': want"),
    ({"CERTCONFORM_INTUNE_GRAPH_URL": "ftp://x"}, "setting 'graph_url'"),
    ({"CERTCONFORM_INTUNE_GRAPH_URL": "http://graph.example.test"}, "plain http only to a loopback"),
    ({"CERTCONFORM_INTUNE_TIMEOUT_S": "soon"}, "setting 'timeout_s': want a number"),
    ({"CERTCONFORM_INTUNE_PREFIX": "bad prefix!"}, "setting 'prefix'"),
    ({"CERTCONFORM_INTUNE_CONFIG": "/nonexistent/intune.toml"}, "no such file"),
])
def test_config_errors_are_one_line_naming_the_setting(settings, message):
    environ = {k: v for k, v in {**env(), **settings}.items() if v}
    with pytest.raises(mdm.AdapterSpecError) as info:
        load(environ=environ, transport=FakeGraph().transport())
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("intune: ")


def test_config_file_toml_and_yaml(tmp_path):
    toml = tmp_path / "intune.toml"
    toml.write_text(f'license_sku = "{SKU}"\ntoken = "{TOKEN}"\ngraph_url = "{BASE}"\n'
                    '[pool]\nwindows = ["lab-win-1"]\n')
    cfg = load_config({"CERTCONFORM_INTUNE_CONFIG": str(toml), "CERTCONFORM_INTUNE_PREFIX": "p1-"})
    assert cfg.pool == {"windows": ["lab-win-1"]} and cfg.prefix == "p1-"  # the environment adds to the file
    yaml_file = tmp_path / "intune.yaml"
    yaml_file.write_text(f"intune:\n  license_sku: {SKU}\n  token: x\n  graph_url: {BASE}\n  pool: {{ios: [a, b]}}\n")
    assert load_config({"CERTCONFORM_INTUNE_CONFIG": str(yaml_file)}).pool == {"ios": ["a", "b"]}
    bad = tmp_path / "bad.toml"
    bad.write_text('tennant_id = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting 'tennant_id'"):
        load_config({"CERTCONFORM_INTUNE_CONFIG": str(bad)})


def test_default_prefix_is_per_run():
    a = load_config({k: v for k, v in env().items() if k != "CERTCONFORM_INTUNE_PREFIX"})
    b = load_config({k: v for k, v in env().items() if k != "CERTCONFORM_INTUNE_PREFIX"})
    assert a.prefix.startswith("cc-") and a.prefix != b.prefix


def test_missing_azure_identity_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "azure", None)  # as if the extra were not installed
    environ = real_tenant_env(tmp_path)
    with pytest.raises(mdm.AdapterSpecError, match=r"azure-identity is not installed: pip install 'certconform\[intune\]'") as info:
        load(environ=environ, transport=FakeGraph().transport())
    assert SECRET not in str(info.value)


class _FakeIdentity:
    """Stands in for azure.identity: records how the credential was built."""
    built: list = []

    class AccessToken:
        def __init__(self, token, expires_on):
            self.token, self.expires_on = token, expires_on

    class ClientSecretCredential:
        def __init__(self, tenant, client, secret):
            _FakeIdentity.built.append(("secret", tenant, client))
            self.secret = secret

        def get_token(self, scope):
            _FakeIdentity.built.append(("scope", scope))
            if self.secret != SECRET:
                raise RuntimeError(f"AADSTS7000215: Invalid client secret provided: {self.secret}\ntrace...")
            return _FakeIdentity.AccessToken(TOKEN, time.time() + 3600)


def test_azure_identity_client_secret_credential_gives_the_token(monkeypatch, tmp_path):
    import types

    module = types.ModuleType("azure.identity")
    module.ClientSecretCredential = _FakeIdentity.ClientSecretCredential
    package = types.ModuleType("azure")
    package.identity = module
    monkeypatch.setitem(sys.modules, "azure", package)
    monkeypatch.setitem(sys.modules, "azure.identity", module)
    _FakeIdentity.built.clear()
    base = real_tenant_env(tmp_path)
    a = load(environ={**base, "CERTCONFORM_INTUNE_CLIENT_SECRET": SECRET}, transport=FakeGraph().transport())
    assert ("secret", "tid", "cid") in _FakeIdentity.built
    assert ("scope", "https://graph.example.test/.default") in _FakeIdentity.built  # the pool check used the token
    assert SECRET not in repr(a.cfg)
    wrong = "wrong-" + SECRET
    with pytest.raises(mdm.AdapterSpecError) as info:
        load(environ={**base, "CERTCONFORM_INTUNE_CLIENT_SECRET": wrong}, transport=FakeGraph().transport())
    text = str(info.value)
    assert "azure-identity could not get a Graph token" in text and "AADSTS7000215" in text
    assert wrong not in text and "\n" not in text


def test_a_pool_device_intune_does_not_know_is_a_one_line_error():
    with pytest.raises(mdm.AdapterSpecError, match=r"intune: setting 'pool': windows device 'lab-win-9' is not a managed device"):
        adapter(FakeGraph(), pool="windows=lab-win-9")


def test_a_rejected_token_is_a_one_line_error():
    with pytest.raises(mdm.AdapterSpecError, match=r"rejected the token \(HTTP 401\)") as info:
        adapter(FakeGraph(), token="wrong-token")
    assert "wrong-token" not in str(info.value)


def test_cli_run_with_missing_settings_is_a_usage_error(tmp_path):
    environ = {k: v for k, v in __import__("os").environ.items() if not k.startswith("CERTCONFORM_INTUNE_")}
    result = subprocess.run([sys.executable, "-m", "certconform.cli", "run", "--mdm", "intune",
                             "--report-dir", str(tmp_path / "r")], capture_output=True, text=True, env=environ,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "intune: setting 'tenant_id' is missing" in lines[0]
    assert not (tmp_path / "r" / "junit.xml").exists()


def test_parallel_workers_are_refused_for_intune(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--mdm", "intune", "-n", "2",
                             "--report-dir", str(tmp_path / "r")], capture_output=True, text=True, cwd=ROOT,
                            env={**__import__("os").environ, **env()}, timeout=120)
    assert result.returncode == 4
    assert "--mdm intune: -n runs several workers, which would share one device pool" in result.stderr


def test_a_dry_run_declares_no_window_and_says_it_is_one():
    caps = load(environ=env(dry_run="1"), transport=FakeGraph().transport(), stream=io.StringIO()).capabilities()
    assert caps["settle_s"] == 0 and set(caps["windows"].values()) == {0.0} and caps["dry_run"] is True


def test_record_fields_table():
    assert mapping.record_fields("installed", "pending") == {"installed": True, "revoked": False, "revocation": "pending"}
    assert mapping.record_fields("deleted", "revoked") == {"installed": False, "revoked": True}
    assert mapping.record_fields("issuePending", "none") is None
    assert mapping.record_fields("installed", "issued")["revocation"] == "pending"
    assert mapping.record_fields("installed", "failed") == {"installed": True, "revoked": False}


def test_intune_is_a_known_spec_with_a_did_you_mean():
    mdm.check_spec("intune")
    with pytest.raises(mdm.AdapterSpecError, match="did you mean 'intune'"):
        mdm.check_spec("intun")


def test_a_pool_device_without_a_user_or_sharing_one_is_a_one_line_error():
    fake = FakeGraph()
    device = next(d for d in fake.managed.values() if d["deviceName"] == "lab-ios-1")
    device["userId"] = None
    with pytest.raises(mdm.AdapterSpecError, match=r"ios device 'lab-ios-1' has no user: each pool device must be "
                                                   r"enrolled by a test user of its own"):
        adapter(fake)
    fake = FakeGraph()
    shared = fake.user_of("lab-win-1")
    next(d for d in fake.managed.values() if d["deviceName"] == "lab-ios-1")["userId"] = shared
    with pytest.raises(mdm.AdapterSpecError, match=r"devices 'lab-win-1' and 'lab-ios-1' were enrolled by the same user"):
        adapter(fake)


def test_contract_users_map_onto_the_pool_users_of_the_devices_they_enrol():
    fake = FakeGraph()
    a = adapter(fake, allow_destructive="1")
    for event in [{"type": "create_user", "user": "u1"}, {"type": "create_group", "group": "g1"},
                  {"type": "add_member", "group": "g1", "member": "u1"}, {"type": "withdraw_license", "user": "u1"}]:
        a.apply(event)
    assert not fake.requests("POST")[1:]  # only the group: u1 stands for no pool user yet
    a.apply({"type": "enroll", "device": "d1", "platform": "windows", "user": "u1"})
    a.apply({"type": "enroll", "device": "d2", "platform": "ios", "user": "u1"})
    win, ios = fake.user_of("lab-win-1"), fake.user_of("lab-ios-1")
    assert a.pool_users["u1"] == [win, ios]
    gid = a.groups["g1"]
    assert fake.members[gid] == {win, ios}  # the membership replayed for each pool user it gained
    assert all(SKU not in str(fake.users[u]["assignedLicenses"]) for u in (win, ios))  # and the withdrawal
    a.apply({"type": "delete_user", "user": "u1"})
    assert win in fake.deleted and ios in fake.deleted
    a.reset()  # restores them, gives the licence back
    assert win in fake.users and ios in fake.users and not fake.deleted
    assert all(SKU in str(fake.users[u]["assignedLicenses"]) for u in (win, ios))
    assert "POST /v1.0/users" not in fake.requests("POST")  # the adapter creates no user


def test_no_wipe_reaches_a_mac_or_a_work_profile_without_its_switch():
    fake = FakeGraph(pool={"macos": ["lab-mac-1"], "android_work": ["lab-aw-1"]})
    a = adapter(fake, allow_destructive="1", pool="macos=lab-mac-1;android_work=lab-aw-1")
    caps = a.capabilities()
    assert set(caps["unsupported_on"]["wipe"]) == {"macos", "android_work"}
    for device, platform in (("d1", "macos"), ("d2", "android_work")):
        a.apply({"type": "create_user", "user": f"u{device}"})
        a.apply({"type": "enroll", "device": device, "platform": platform, "user": f"u{device}"})
        with pytest.raises(mdm.EventRejected, match="wipe not sent"):
            a.apply({"type": "wipe", "device": device})
    assert not any(p.endswith("/wipe") for p in fake.requests("POST"))
    b = adapter(FakeGraph(pool={"macos": ["lab-mac-1"]}), allow_destructive="1", allow_macos_wipe="1", pool="macos=lab-mac-1")
    assert set(b.capabilities()["unsupported_on"]["wipe"]) == {"android_work"}  # the work profile: never


def test_a_re_enrolled_device_leaves_the_groups_its_kept_entra_record_is_in():
    fake = FakeGraph(pool={"windows": ["lab-win-1"]})
    a = adapter(fake, allow_destructive="1", pool="windows=lab-win-1")
    for event in SETUP:
        a.apply(event)
    directory = next(i for i, d in fake.directory.items() if d["deviceId"] == a.bindings["d1"].aad_device_id)
    a.apply({"type": "retire", "device": "d1"})
    new = fake.reenrol("lab-win-1")
    # as on iOS and macOS (devices-wipe.md): the new enrolment keeps the old Entra record, in g1
    next(d for d in fake.directory.values() if d["deviceId"] == new["azureADDeviceId"])["deviceId"] = "gone"
    fake.directory[directory]["deviceId"] = new["azureADDeviceId"]
    a.apply({"type": "enroll", "device": "d2", "platform": "windows", "user": "u1"})
    assert directory not in fake.members[a.groups["g1"]]
    assert f"DELETE /v1.0/groups/{a.groups['g1']}/members/{directory}/$ref" in fake.requests("DELETE")


def test_capabilities_declare_the_documented_windows_scaled_and_a_request_budget():
    caps = adapter(FakeGraph()).capabilities()
    assert caps["windows"] == mapping.WINDOWS and caps["settle_s"] == max(mapping.WINDOWS.values())
    assert caps["windows"]["propagation"] == 15 * 3600  # 7 h + the 8 h refresh cycle
    assert "max_requests_per_s" not in caps  # an emulator without Graph's limits (self-tests)
    limited = adapter(FakeGraph(), graph_limits="1").capabilities()
    assert 0 < limited["max_requests_per_s"] <= 100 / 20  # Graph's device configuration write limit
    # no cap on cells: the suite bounds them by the pool ('devices'), release() gives devices back
    assert "cells" not in caps and caps["devices"]["windows"] == 2
    assert "needs_person" not in caps  # no wipe or retire without --allow-destructive
    scaled = adapter(FakeGraph(), time_scale="3600", allow_destructive="1").capabilities()
    assert scaled["windows"]["delivery"] == 8.0 and set(scaled["needs_person"]) == {"wipe", "retire"}
    # typical figures for the plan, each within its bound; the setting replaces any of them
    assert caps["typical"] == mapping.TYPICAL and all(caps["typical"][c] <= caps["windows"][c] for c in mapping.TYPICAL)
    assert scaled["typical"]["propagation"] == 1.0
    mine = adapter(FakeGraph(), typical="delivery=60; propagation=7200").capabilities()["typical"]
    assert mine == {**mapping.TYPICAL, "delivery": 60.0, "propagation": 7200.0}
    # a rehearsal with other emulator delays tells the adapter, as an administrator would
    from certconform.rehearse import typical_setting
    assert typical_setting(["notify=600", "propagation=90000"]) == \
        "delivery=600;removal=600;device_action=600;revocation=900;propagation=54000"  # (capped at its bound)
    for bad, words in (("delivery=9h", "delivery wants a number"), ("sync=1", "unknown class 'sync'"),
                       ("removal", "is not class=SECONDS"), ("delivery=40000", "delivery wants 0 to 28800 s")):
        with pytest.raises(mdm.AdapterSpecError, match=words):
            adapter(FakeGraph(), typical=bad)
    with pytest.raises(mdm.AdapterSpecError, match="time_scale': only for a rehearsal"):
        load(environ={**env(), "CERTCONFORM_INTUNE_GRAPH_URL": REAL, "CERTCONFORM_INTUNE_TIME_SCALE": "60",
                      "CERTCONFORM_INTUNE_DRY_RUN": "1"}, transport=FakeGraph().transport())


def test_a_real_tenant_refuses_placeholders_and_static_tokens_in_one_line(tmp_path):
    good = real_tenant_env(tmp_path)
    for key, value, message in [
            ("SCEP_URL", "https://scep.invalid/certsrv/mscep/mscep.dll", "setting 'scep_url' is a placeholder"),
            ("ROOT_CERTIFICATE", "", "setting 'root_certificate' is a placeholder or missing"),
            ("PKCS_TEMPLATE", "certconform", "setting 'pkcs_template' is a placeholder")]:
        with pytest.raises(mdm.AdapterSpecError, match=message) as info:
            load(environ={**good, f"CERTCONFORM_INTUNE_{key}": value}, transport=FakeGraph().transport())
        assert "\n" not in str(info.value) and "real tenant" in str(info.value)
    with pytest.raises(mdm.AdapterSpecError, match="a static token lasts about an hour"):
        load(environ={**good, "CERTCONFORM_INTUNE_TOKEN": TOKEN}, transport=FakeGraph().transport())


def test_an_expired_token_is_renewed_once_and_the_request_sent_again():
    tokens = iter(["old", TOKEN])

    class Provider:
        current = next(tokens)

        def __call__(self):
            return self.current

        def renew(self):
            self.current = next(tokens)
            return True

    fake = FakeGraph()
    client = GraphClient(BASE, Provider(), transport=fake.transport())
    assert client.get("/beta/deviceManagement/managedDevices?$filter=deviceName eq 'lab-win-1'")["value"]
    assert len(fake.log) == 1  # the 401 is answered before the fake logs; the retry is logged


@pytest.mark.parametrize("edit, prop, values", [("validity", "certificateValidityPeriodValue", [2, 1]),
                                                ("renewal_threshold", "renewalThresholdPercentage", [21, 20])])
def test_update_profile_makes_the_configured_edit(edit, prop, values):
    fake = FakeGraph()
    a = adapter(fake, update_edit=edit)
    for event in SETUP:
        a.apply(event)
    s1 = _scep_windows(fake)
    a.apply({"type": "update_profile", "profile": "s1"})
    first = fake.configs[s1][prop]
    a.apply({"type": "update_profile", "profile": "s1"})
    assert [first, fake.configs[s1][prop]] == values


def test_docs_carry_the_mapping_tables():
    assert mapping.markdown_tables() in (ROOT / "docs" / "intune.md").read_text()  # (tools/gen_docs.py)


def test_a_dry_run_judges_nothing_and_every_report_says_so(tmp_path):
    """Issue 21: `--dry-run -s -k genimported1` printed requests, then FAILED 7 and wrote FAIL
    GEN-IMPORTED-1 with no dry-run mark. Now nothing is judged, and every report says why."""
    environ = {k: v for k, v in __import__("os").environ.items() if not k.startswith("CERTCONFORM_INTUNE_")}
    environ.update(env(pool="windows=lab-win-1;ios=lab-ios-1;macos=lab-mac-1;android_knox=lab-knox-1"))
    result = subprocess.run([sys.executable, "-m", "certconform.cli", "run", "--mdm", "intune", "--dry-run", "-s",
                             "-k", "genimported1 or winsceprr3", f"--report-dir={tmp_path / 'r'}"],
                            capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "dry-run: POST" in out and "FAILED" not in out and "DRY RUN: nothing was sent" in out
    reports = tmp_path / "r"
    results = __import__("json").loads((reports / "results.json").read_text())
    # (informative statements require nothing by themselves: their verdict is always `unspecified`)
    judged = {s: v["verdict"] for s, v in results["statements"].items() if v["verdict"] not in ("not-run", "unspecified")}
    assert judged and set(judged.values()) <= {"not-supported", "not-validated"}, judged
    assert results["run"]["capabilities"]["dry_run"] is True
    assert "dry run" in (reports / "junit.xml").read_text() and "DRY RUN" in (reports / "index.html").read_text()
    assert "dry run" in (reports / "cucumber.json").read_text()


def test_release_gives_the_pool_device_and_its_user_back_for_another_cell():
    """release(device) (the suite, when a cell ends): the device and its pool user leave the cell's
    groups, a licence the cell withdrew is given back, and another cell's user can enrol it."""
    fake = FakeGraph(pool={"windows": ["lab-win-1"]})
    a = adapter(fake, pool="windows=lab-win-1")
    for event in [{"type": "create_user", "user": "c1-u1"}, {"type": "create_group", "group": "c1-g1"},
                  {"type": "enroll", "device": "c1-d1", "platform": "windows", "user": "c1-u1"},
                  {"type": "add_member", "group": "c1-g1", "member": "c1-d1"},
                  {"type": "add_member", "group": "c1-g1", "member": "c1-u1"},
                  {"type": "withdraw_license", "user": "c1-u1"}]:
        a.apply(event)
    group = a.groups["c1-g1"]
    assert len(fake.members[group]) == 2  # the directory device and the pool user
    a.apply({"type": "create_user", "user": "c2-u1"})
    with pytest.raises(mdm.EventRejected, match="no free windows device"):
        a.apply({"type": "enroll", "device": "c2-d1", "platform": "windows", "user": "c2-u1"})
    a.release("c1-d1")
    assert fake.members[group] == set()
    assert any(p.endswith("/assignLicense") and b and b.get("addLicenses") for m, p, b in fake.log if m == "POST")
    a.apply({"type": "enroll", "device": "c2-d1", "platform": "windows", "user": "c2-u1"})
    assert a.bindings["c2-d1"].pool_name == "lab-win-1"
    with pytest.raises(mdm.EventRejected, match="bound to no pool device"):
        a.release("c1-d1")


def test_the_adapter_sends_nothing_until_it_is_used():
    """`certconform plan` builds the adapter with connect=False: capabilities() sends no request."""
    fake = FakeGraph()
    a = load(environ=env(allow_destructive="1"), transport=fake.transport(), connect=False)
    caps = a.capabilities()
    assert caps["windows"]["propagation"] == 15 * 3600 and set(caps["needs_person"]) == {"wipe", "retire"}
    assert fake.log == []
    a.observe()
    assert fake.log  # the first use connects (the pool check)


def test_with_cells_a_wiped_device_comes_back_for_another_cell_once_its_cell_has_ended():
    """Cells: the wiped device's test user stands for the cell's user while that cell acts (a later
    delete_user of the cell must reach it); a release of the cell's other device says the cell has
    ended, and once a person has enrolled the device again another cell's user can enrol it."""
    fake = FakeGraph()
    a = adapter(fake, allow_destructive="1")
    for event in [{"type": "create_user", "user": "c1-u1"},
                  {"type": "enroll", "device": "c1-d1", "platform": "windows", "user": "c1-u1"},
                  {"type": "enroll", "device": "c1-d2", "platform": "windows", "user": "c1-u1"},
                  {"type": "wipe", "device": "c1-d1"}, {"type": "create_user", "user": "c2-u1"}]:
        a.apply(event)
    fake.reenrol("lab-win-1")  # the person did, but cell c1 still acts
    assert [d["device"] for d in a.awaiting_person()] == ["lab-win-1"]
    with pytest.raises(mdm.EventRejected, match="no free windows device"):
        a.apply({"type": "enroll", "device": "c2-d1", "platform": "windows", "user": "c2-u1"})
    a.release("c1-d2")  # cell c1 has ended
    assert a.awaiting_person() == []
    a.apply({"type": "enroll", "device": "c2-d1", "platform": "windows", "user": "c2-u1"})
    a.apply({"type": "enroll", "device": "c2-d2", "platform": "windows", "user": "c2-u1"})
    assert {a.bindings["c2-d1"].pool_name, a.bindings["c2-d2"].pool_name} == {"lab-win-1", "lab-win-2"}
