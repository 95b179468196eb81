"""The Graph emulator in process (Starlette's test client) and its command line.

What the official SDK cannot see is checked here: the emulator's independence from the model,
the thumbprint of the real X.509 leaf, platform scoping of profiles, the contract events behind
assign/unassign, licence withdrawal, user deletion and restore, Intune's documented behaviour
(docs/graph-wire.md: delays on a clock the test moves, retire pending until check-in, Entra records
kept for iOS and macOS, primary user on Windows only, macOS wipe performed, work-profile wipe
refused, throttling limits, expiring tokens, a root its CA does not issue under), Graph's error
answers, and the one-line errors of `certconform serve --graph`. The SDK's view is
tests/test_graph_sdk.py.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from certconform.cli import main
from certconform.mdm.graph_emulator import GraphSettings, Tenant, build_app
from certconform.mdm.graph_emulator.timing import Clock, Delays

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PACKAGE = Path(__file__).resolve().parents[1] / "mdm" / "graph_emulator"
TOKEN = "t0ken"
PASSWORD = {"password": "Lab-Passw0rd!"}


class FakeTime:
    """A clock the test moves (Intune's seconds = real seconds: time scale 1)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_lab(delays: Delays | None = None, fault: str | None = None, pool=None, **settings):
    clock = FakeTime()
    tenant = Tenant(pool=pool or {"windows": 2, "ios": 1, "macos": 1, "android_work": 1},
                    delays=delays or Delays.instant(), fault=fault, clock=Clock(1.0, now=clock))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(build_app(tenant, GraphSettings(token=TOKEN, page_size=50, **settings)),
                            headers={"Authorization": f"Bearer {TOKEN}"})
    return tenant, Lab(client, clock)


@pytest.fixture
def lab():
    return make_lab()


class Lab:
    """A few Graph calls as the adapter would make them."""

    def __init__(self, client, clock=None) -> None:
        self.http = client
        self.clock = clock
        self.roots = client.get("/certconform/pki-roots").json()

    def wait(self, seconds: float) -> None:
        """Let `seconds` of Intune's time pass, then one request (due effects land at requests)."""
        self.clock.now += seconds
        self.ok(self.http.get("/v1.0/groups"))

    def user_of(self, name: str) -> str:
        return self.device(name)["userId"]

    def ok(self, answer, status: int = 200):
        assert answer.status_code == status, answer.text
        return answer.json() if answer.content else None

    def user(self, name: str, usage: str | None = "US") -> str:
        body = {"accountEnabled": True, "displayName": name, "mailNickname": name,
                "userPrincipalName": f"{name}@lab.test", "passwordProfile": PASSWORD}
        if usage:
            body["usageLocation"] = usage
        return self.ok(self.http.post("/v1.0/users", json=body), 201)["id"]

    def group(self, name: str) -> str:
        return self.ok(self.http.post("/v1.0/groups", json={"displayName": name, "mailEnabled": False,
                                                             "mailNickname": name, "securityEnabled": True}), 201)["id"]

    def join(self, group: str, member: str, status: int = 204):
        return self.http.post(f"/v1.0/groups/{group}/members/$ref",
                              json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{member}"})

    def device(self, name: str) -> dict:
        (found,) = self.ok(self.http.get("/beta/deviceManagement/managedDevices",
                                         params={"$filter": f"deviceName eq '{name}'"}))["value"]
        return found

    def bind(self, name: str, user: str) -> dict:
        device = self.device(name)
        self.ok(self.http.post(f"/beta/deviceManagement/managedDevices/{device['id']}/users/$ref",
                               json={"@odata.id": f"https://graph.microsoft.com/beta/users/{user}"}), 204)
        return self.device(name)

    def profile(self, type_name: str, name: str, root: str | None = None, description: str | None = None,
                ca: str = "intune") -> str:
        body = {"@odata.type": f"#microsoft.graph.{type_name}", "displayName": name}
        if "TrustedRoot" in type_name:
            body["trustedRootCertificate"] = self.roots[ca]
        if root:
            body["rootCertificate@odata.bind"] = \
                f"https://graph.microsoft.com/beta/deviceManagement/deviceConfigurations('{root}')"
        if description:
            body["description"] = description
        return self.ok(self.http.post("/beta/deviceManagement/deviceConfigurations", json=body), 201)["id"]

    def assign(self, profile: str, *groups: str) -> list:
        body = {"assignments": [{"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": g}}
                                for g in groups]}
        return self.ok(self.http.post(f"/beta/deviceManagement/deviceConfigurations/{profile}/assign", json=body))["value"]

    def action(self, device: dict, action: str, status: int = 204):
        return self.http.post(f"/beta/deviceManagement/managedDevices/{device['id']}/{action}")

    def states(self, profile: str, type_name: str) -> list:
        return self.ok(self.http.get(f"/beta/deviceManagement/deviceConfigurations/{profile}/microsoft.graph."
                                     f"{type_name}/managedDeviceCertificateStates"))["value"]

    def scep_setup(self, family_root: str = "windows81TrustedRootCertificate",
                   scep_type: str = "windows81SCEPCertificateProfile", description: str | None = None):
        ca = "third_party" if description and "third_party" in description else "intune"
        root = self.profile(family_root, "cc-root", ca=ca)
        return self.profile(scep_type, "cc-scep", root=root, description=description)

    def record(self, name: str) -> str:
        """The directory device record of the managed device `name`."""
        (entry,) = self.ok(self.http.get("/v1.0/devices", params={
            "$filter": f"deviceId eq '{self.device(name)['azureADDeviceId']}'"}))["value"]
        return entry["id"]


def test_the_emulator_never_imports_the_model():
    # statically: no module of the package names certconform.model
    for source in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any("model" in n.split(".")[:2] or n.startswith("certconform.model") for n in names), source
    # and at run time: importing and serving it loads no certconform.model module
    code = ("import sys\nfrom certconform.mdm.graph_emulator import Tenant, build_app\n"
            "from certconform.mdm.graph_emulator import serve\nbuild_app(Tenant())\n"
            "print(sorted(m for m in sys.modules if m.startswith('certconform.model')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _scep_on(g, device_name: str, group: str, **setup):
    scep = g.scep_setup(**setup)
    g.assign(scep, group)
    g.ok(g.join(group, g.user_of(device_name)), 204)
    g.wait(0)
    g.ok(g.action(g.device(device_name), "syncDevice"), 204)
    g.wait(0)
    return scep


def test_the_lab_devices_are_enrolled_by_lab_users_of_their_own(lab):
    tenant, g = lab
    users = [g.user_of(name) for name in ("lab-windows-01", "lab-windows-02", "lab-ios-01")]
    assert all(users) and len(set(users)) == 3
    user = g.ok(g.http.get(f"/v1.0/users/{users[0]}"))
    assert user["assignedLicenses"] and user["userPrincipalName"].endswith("@lab.example")
    assert g.device("lab-android_work-01")["managedDeviceOwnerType"] == "personal"


def test_thumbprint_and_serial_come_from_the_real_leaf(lab):
    tenant, g = lab
    scep = _scep_on(g, "lab-windows-01", g.group("cc-g"))
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")
    (record,) = [r for r in tenant.mock.observe() if r["kind"] == "scep"]
    leaf = tenant.mock.certificate(record["serial"])
    assert state["certificateSerialNumber"] == record["serial"]
    assert state["certificateThumbprint"] == leaf.fingerprint(hashes.SHA1()).hex().upper()
    assert state["certificateIssuer"] == leaf.issuer.rfc4514_string()
    assert state["id"] == f"{scep}_{g.device('lab-windows-01')['id']}_{record['serial']}"
    assert (state["certificateIssuanceState"], state["certificateRevokeStatus"]) == ("installed", "none")


def test_a_profile_bound_to_a_root_its_ca_does_not_issue_under_never_delivers():
    for fault, delivered in ((None, 1), ("wrong-ca-root", 0)):
        tenant, g = make_lab(fault=fault)
        scep = _scep_on(g, "lab-windows-01", g.group("cc-g"))
        assert len(g.states(scep, "windows81SCEPCertificateProfile")) == delivered, fault


def test_a_profile_reaches_only_its_platform_family(lab):
    tenant, g = lab
    group = g.group("cc-g")
    win = _scep_on(g, "lab-windows-01", group)
    ios = _scep_on(g, "lab-ios-01", group, family_root="iosTrustedRootCertificate", scep_type="iosScepCertificateProfile")
    g.ok(g.action(g.device("lab-windows-01"), "syncDevice"), 204)
    g.wait(0)
    assert [s["deviceDisplayName"] for s in g.states(win, "windows81SCEPCertificateProfile")] == ["lab-windows-01"]
    assert [s["deviceDisplayName"] for s in g.states(ios, "iosScepCertificateProfile")] == ["lab-ios-01"]
    assert {s["devicePlatform"] for s in g.states(ios, "iosScepCertificateProfile")} == {"iOS"}
    times = [s["certificateIssuanceDateTime"] for s in g.states(win, "windows81SCEPCertificateProfile")
             + g.states(ios, "iosScepCertificateProfile")]
    assert times == sorted(times) and len(set(times)) == 2


def test_assign_sends_the_difference_of_the_full_set(lab):
    tenant, g = lab
    first, second = g.group("cc-1"), g.group("cc-2")
    scep = _scep_on(g, "lab-windows-01", first)
    assert [a["target"]["groupId"] for a in g.assign(scep, first, second)] == [first, second]
    assert [a["target"]["groupId"] for a in g.assign(scep, first)] == [first]
    g.wait(0)
    assert g.states(scep, "windows81SCEPCertificateProfile")[0]["certificateIssuanceState"] == "installed"
    assert g.assign(scep) == []  # the mock's unassign_profile: Windows SCEP is revoked and removed
    g.wait(0)
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")
    assert (state["certificateIssuanceState"], state["certificateRevokeStatus"]) == ("deleted", "revoked")


def test_third_party_ca_is_never_revoked(lab):
    tenant, g = lab
    scep = _scep_on(g, "lab-windows-01", g.group("cc-g"), description="lab certconform-ca=third_party")
    g.ok(g.action(g.device("lab-windows-01"), "retire"), 204)
    g.wait(0)
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")
    assert (state["certificateIssuanceState"], state["certificateRevokeStatus"]) == ("deleted", "none")


def test_licence_withdrawal_user_deletion_and_restore(lab):
    tenant, g = lab
    sku = "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"
    group = g.group("cc-g")
    user = g.user_of("lab-windows-01")
    g.ok(g.http.post(f"/v1.0/users/{user}/assignLicense", json={"addLicenses": [], "removeLicenses": [sku]}))
    scep = _scep_on(g, "lab-windows-01", group)
    assert g.states(scep, "windows81SCEPCertificateProfile") == []  # nothing delivered without a licence
    g.ok(g.http.post(f"/v1.0/users/{user}/assignLicense", json={"addLicenses": [{"skuId": sku}], "removeLicenses": []}))
    g.wait(0)  # licensed again: a fresh identity in the mock, in the user's groups
    g.ok(g.action(g.device("lab-windows-01"), "syncDevice"), 204)
    g.wait(0)
    assert [s["certificateIssuanceState"] for s in g.states(scep, "windows81SCEPCertificateProfile")] == ["installed"]
    g.ok(g.http.delete(f"/v1.0/users/{user}"), 204)  # a soft delete: the device stays, without its user
    assert g.device("lab-windows-01")["userId"] == "" and g.http.get(f"/v1.0/users/{user}").status_code == 404
    restored = g.ok(g.http.post(f"/v1.0/directory/deletedItems/{user}/restore"))
    assert restored["id"] == user and g.device("lab-windows-01")["userId"] == user


def test_retire_is_pending_until_the_device_checks_in_then_a_person_enrols_it_again():
    tenant, g = make_lab(Delays.instant().with_(notify_s=300, reenrol_s=1800))
    pc, mac = g.device("lab-windows-01"), g.device("lab-macos-01")
    pc_record, mac_record = g.record("lab-windows-01"), g.record("lab-macos-01")
    for device in (pc, mac):
        g.ok(g.action(device, "retire"), 204)
    assert g.device("lab-windows-01")["managementState"] == "retirePending"  # still in Intune until it checks in
    g.wait(299)
    assert g.device("lab-windows-01")["id"] == pc["id"]
    g.wait(1)
    assert g.http.get(f"/beta/deviceManagement/managedDevices/{pc['id']}").status_code == 404
    assert g.http.get(f"/v1.0/devices/{pc_record}").status_code == 404  # Windows: the Entra record goes
    assert g.ok(g.http.get(f"/v1.0/devices/{mac_record}"))["id"] == mac_record  # macOS: it stays (devices-wipe.md)
    assert g.ok(g.http.get("/beta/deviceManagement/managedDevices",
                           params={"$filter": "deviceName eq 'lab-windows-01'"}))["value"] == []
    g.wait(1800)  # the lab's person enrolled it again: a new id, the same user
    again = g.device("lab-windows-01")
    assert again["id"] != pc["id"] and again["userId"] == pc["userId"] and again["managementState"] == "managed"


def test_macos_wipe_is_performed_and_a_work_profile_wipe_refused(lab):
    tenant, g = lab
    group = g.group("cc-g")
    scep = _scep_on(g, "lab-macos-01", group, family_root="macOSTrustedRootCertificate",
                    scep_type="macOSScepCertificateProfile")
    g.ok(g.action(g.device("lab-macos-01"), "wipe"), 204)
    g.wait(0)
    (state,) = g.states(scep, "macOSScepCertificateProfile")
    assert (state["certificateIssuanceState"], state["certificateRevokeStatus"]) == ("deleted", "revoked")
    work = g.device("lab-android_work-01")
    refused = g.action(work, "wipe")
    assert refused.status_code == 409 and "work profile" in refused.json()["error"]["message"]
    assert g.device("lab-android_work-01")["managementState"] == "managed"
    assert [a for a, _, _ in tenant.actions] == ["wipe", "wipe"]  # both requested, one refused


def test_the_primary_user_changes_on_windows_only_and_shows_within_ten_minutes():
    tenant, g = make_lab(Delays.instant().with_(primary_user_s=600))
    other = g.user("cc-b")
    body = {"@odata.id": f"https://graph.microsoft.com/beta/users/{other}"}
    refused = g.http.post(f"/beta/deviceManagement/managedDevices/{g.device('lab-ios-01')['id']}/users/$ref", json=body)
    assert refused.status_code == 400 and "Windows" in refused.json()["error"]["message"]
    pc = g.device("lab-windows-01")
    g.ok(g.http.post(f"/beta/deviceManagement/managedDevices/{pc['id']}/users/$ref", json=body), 204)
    assert g.device("lab-windows-01")["userId"] == pc["userId"]
    g.wait(600)
    assert g.device("lab-windows-01")["userId"] == other


def test_sync_and_group_changes_take_their_documented_time():
    tenant, g = make_lab(Delays.instant().with_(notify_s=300, propagation_s=3600))
    group = g.group("cc-g")
    scep = g.scep_setup()
    g.assign(scep, group)
    g.ok(g.join(group, g.user_of("lab-windows-01")), 204)
    g.ok(g.action(g.device("lab-windows-01"), "syncDevice"), 204)
    g.wait(300)  # the device checked in, but the membership has not reached Intune's targeting yet
    assert g.states(scep, "windows81SCEPCertificateProfile") == []
    g.wait(3300)
    g.ok(g.action(g.device("lab-windows-01"), "syncDevice"), 204)
    g.wait(299)
    assert g.states(scep, "windows81SCEPCertificateProfile") == []
    g.wait(1)
    assert len(g.states(scep, "windows81SCEPCertificateProfile")) == 1


def test_a_device_that_checked_in_before_a_group_change_reached_intune_is_notified_once_it_has():
    """device-profile-troubleshoot.md: Intune notifies a device to check in; the emulator notifies
    the devices that checked in while the membership propagated (they missed it), and no other."""
    tenant, g = make_lab(Delays.instant().with_(notify_s=300, propagation_s=3600))
    group = g.group("cc-g")
    scep = g.scep_setup()
    g.assign(scep, group)
    g.ok(g.join(group, g.user_of("lab-windows-01")), 204)
    g.ok(g.join(group, g.user_of("lab-windows-02")), 204)
    g.ok(g.action(g.device("lab-windows-01"), "syncDevice"), 204)  # lab-windows-02 never checks in
    g.wait(300)
    assert g.states(scep, "windows81SCEPCertificateProfile") == []
    g.wait(3300)  # the membership reaches Intune's targeting: lab-windows-01 is notified
    g.wait(299)
    assert g.states(scep, "windows81SCEPCertificateProfile") == []
    g.wait(1)
    assert [s["deviceDisplayName"] for s in g.states(scep, "windows81SCEPCertificateProfile")] == ["lab-windows-01"]


def test_what_a_delayed_effect_sets_in_motion_counts_from_when_it_was_due_not_from_the_next_request():
    """Intune acts whether or not a client asks, and the emulator runs a due effect at the next
    request: a membership removal that reached targeting an hour after it was made revokes and
    removes 15 and 5 minutes after that, even when no request came for a day (a quiet client, a
    loaded machine); the day's first reading sees it done, not just begun."""
    tenant, g = make_lab(Delays.instant().with_(notify_s=300, propagation_s=3600, revocation_s=900))
    group = g.group("cc-g")
    scep = g.scep_setup()
    g.assign(scep, group)
    member = g.user_of("lab-windows-01")
    g.ok(g.join(group, member), 204)
    g.wait(3600)
    g.ok(g.action(g.device("lab-windows-01"), "syncDevice"), 204)
    g.wait(300)
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")
    assert (state["certificateIssuanceState"], state["certificateRevokeStatus"]) == ("installed", "none")
    g.ok(g.http.delete(f"/v1.0/groups/{group}/members/{member}/$ref"), 204)
    g.clock.now += 24 * 3600  # no request for a day
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")
    assert (state["certificateIssuanceState"], state["certificateRevokeStatus"]) == ("deleted", "revoked")


def test_graph_throttles_past_the_documented_per_app_write_limit():
    tenant, g = make_lab(throttle_limits=(("/beta/deviceManagement/deviceConfigurations", 1000, 100, 20.0),))
    codes = [g.http.post("/beta/deviceManagement/deviceConfigurations", json={
        "@odata.type": "#microsoft.graph.windows81TrustedRootCertificate", "displayName": f"r{i}"}).status_code
        for i in range(101)]
    assert codes[:100] == [201] * 100 and codes[100] == 429
    assert len(tenant.profiles) == 100  # the throttled request changed nothing


def test_tokens_come_from_the_token_endpoint_and_expire(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("certconform.mdm.graph_emulator.app.time.monotonic", lambda: now[0])
    tenant, g = make_lab(Delays.instant().with_(token_lifetime_s=3600))
    bad = g.http.post("/lab/oauth2/v2.0/token", data={"grant_type": "client_credentials", "client_secret": "no"})
    assert bad.status_code == 401
    answer = g.ok(g.http.post("/lab/oauth2/v2.0/token", data={"grant_type": "client_credentials",
                                                                "client_id": "app", "client_secret": TOKEN}))
    assert answer["expires_in"] == 3600
    headers = {"Authorization": f"Bearer {answer['access_token']}"}
    assert g.http.get("/v1.0/groups", headers=headers).status_code == 200
    now[0] += 3600
    expired = g.http.get("/v1.0/groups", headers=headers)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    assert g.http.get("/v1.0/groups").status_code == 401  # the secret as a static bearer token expired too


@pytest.mark.parametrize("method, path, body, status, code", [
    ("POST", "/v1.0/users", {"displayName": "x"}, 400, "Request_BadRequest"),
    ("POST", "/v1.0/groups", {"displayName": "x", "mailEnabled": True, "mailNickname": "x", "securityEnabled": True},
     400, "Request_BadRequest"),
    ("GET", "/v1.0/users/00000000-0000-0000-0000-000000000000", None, 404, "Request_ResourceNotFound"),
    ("GET", "/beta/deviceManagement/managedDevices/nope", None, 404, "ResourceNotFound"),
    ("POST", "/beta/deviceManagement/deviceConfigurations", {"@odata.type": "#microsoft.graph.windows81SCEPCertificateProfile",
                                                             "displayName": "no root"}, 400, "BadRequest"),
    ("POST", "/beta/deviceManagement/deviceConfigurations", {"@odata.type": "#microsoft.graph.windows10PkcsCertificateProfile",
                                                             "displayName": "x", "rootCertificate@odata.bind": "x('y')"},
     400, "BadRequest"),
    ("POST", "/beta/deviceManagement/deviceConfigurations", {"@odata.type": "#microsoft.graph.user", "displayName": "x"},
     400, "BadRequest"),
    ("GET", "/v1.0/users?$filter=city eq 'x'", None, 400, "BadRequest"),
    ("GET", "/v1.0/users?$top=0", None, 400, "BadRequest"),
    ("GET", "/v1.0/users?$skiptoken=%%%", None, 400, "BadRequest"),
    ("PUT", "/v1.0/users", {}, 405, "Request_BadRequest"),
    ("GET", "/v1.0/me", None, 404, "ResourceNotFound"),
])
def test_refusals_carry_graph_error_bodies_and_change_nothing(lab, method, path, body, status, code):
    tenant, g = lab
    before = (len(tenant.users), len(tenant.groups), len(tenant.profiles))
    answer = g.http.request(method, path, json=body) if body is not None else g.http.request(method, path)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["code"] == code and error["message"] and set(error["innerError"]) == {"request-id", "date"}
    assert (len(tenant.users), len(tenant.groups), len(tenant.profiles)) == before


def test_membership_errors(lab):
    tenant, g = lab
    user, group = g.user("cc-a"), g.group("cc-g")
    g.ok(g.join(group, user), 204)
    duplicate = g.join(group, user)
    assert duplicate.status_code == 400 and "already exist" in duplicate.json()["error"]["message"]
    assert g.join(group, "00000000-0000-0000-0000-000000000000").status_code == 404
    record = g.record("lab-ios-01")
    assert g.http.delete(f"/v1.0/groups/{group}/members/{record}/$ref").status_code == 404
    g.ok(g.join(group, record), 204)
    assert [x["id"] for x in g.ok(g.http.get(f"/v1.0/devices/{record}/memberOf"))["value"]] == [group]
    assert g.http.post(f"/v1.0/users/{g.user('cc-nousage', usage=None)}/assignLicense",
                       json={"addLicenses": [{"skuId": "a"}], "removeLicenses": []}).status_code == 400


def test_paging_carries_the_filter_in_the_skiptoken(lab):
    tenant, g = lab
    for n in range(5):
        g.user(f"cc-{n}")
    g.user("other")
    first = g.ok(g.http.get("/v1.0/users", params={"$filter": "startswith(displayName,'cc-')", "$top": "2"}))
    names, page = [u["displayName"] for u in first["value"]], first
    while "@odata.nextLink" in page:
        assert page["@odata.nextLink"].startswith("http://testserver/v1.0/users?$skiptoken=")
        page = g.ok(g.http.get(page["@odata.nextLink"]))
        assert len(page["value"]) <= 2
        names += [u["displayName"] for u in page["value"]]
    assert names == [f"cc-{n}" for n in range(5)]
    assert first["@odata.context"] == "http://testserver/v1.0/$metadata#users"


@pytest.mark.parametrize("args, message", [
    (["--graph", "--page-size", "0"], "--page-size must be from 1 to 999"),
    (["--page-size", "3"], "--page-size needs --graph"),
    (["--throttle-every", "3"], "--throttle-every needs --graph"),
    (["--graph", "--throttle-every", "1"], "--throttle-every must be 0 (off) or 2 or more"),
    (["--graph", "--retry-after", "61"], "--retry-after must be from 0 to 60"),
    (["--graph", "--pool", "windows"], "--pool: 'windows' is not PLATFORM=N"),
    (["--graph", "--pool", "beos=1"], "--pool: unknown platform 'beos'"),
    (["--graph", "--pool", "ios=1,ios=2"], "--pool: platform 'ios' given twice"),
    (["--graph", "--pool", "ios=99"], "--pool: ios=99: the count must be a whole number from 0 to 50"),
    (["--graph", "--fault", "nope"], "--fault: unknown fault 'nope'"),
    (["--graph", "--revocation-delay", "1"], "--revocation-delay is for --realistic; with --graph use --delay"),
    (["--revocation-delay", "1"], "--revocation-delay needs --realistic"),
    (["--graph", "--time-scale", "0"], "--time-scale must be above 0"),
    (["--graph", "--delay", "sync=3"], "--delay 'sync=3': want NAME=SECONDS"),
    (["--graph", "--delay", "notify=soon"], "is not a number of seconds"),
    (["--time-scale", "60"], "--time-scale needs --graph"),
    (["--graph", "--allow-host", "a b"], "--allow-host: not a host name"),
])
def test_bad_serve_options_are_one_line(capsys, args, message):
    assert main(["serve", "--port", "1", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("certconform serve: ") and message in err
