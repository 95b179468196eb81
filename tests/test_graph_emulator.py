"""The Graph emulator in process (Starlette's test client) and its command line.

What the official SDK cannot see is checked here: the emulator's independence from the model,
the thumbprint of the real X.509 leaf, platform scoping of profiles, the contract events behind
assign/unassign, licence withdrawal and user deletion, Graph's error answers, and the one-line
errors of `certconform serve --graph`. The SDK's view is tests/test_graph_sdk.py.
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

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PACKAGE = Path(__file__).resolve().parents[1] / "mdm" / "graph_emulator"
TOKEN = "t0ken"
PASSWORD = {"password": "Lab-Passw0rd!"}


@pytest.fixture
def lab():
    tenant = Tenant(pool={"windows": 2, "ios": 1, "macos": 1}, revocation_delay=0, removal_delay=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(build_app(tenant, GraphSettings(token=TOKEN, page_size=50)),
                            headers={"Authorization": f"Bearer {TOKEN}"})
    return tenant, Lab(client)


class Lab:
    """A few Graph calls as the adapter would make them."""

    def __init__(self, client) -> None:
        self.http = client

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

    def profile(self, type_name: str, name: str, root: str | None = None, description: str | None = None) -> str:
        body = {"@odata.type": f"#microsoft.graph.{type_name}", "displayName": name}
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
        root = self.profile(family_root, "cc-root")
        return self.profile(scep_type, "cc-scep", root=root, description=description)


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


def test_thumbprint_and_serial_come_from_the_real_leaf(lab):
    tenant, g = lab
    user, group = g.user("cc-a"), g.group("cc-g")
    g.ok(g.join(group, user), 204)
    scep = g.scep_setup()
    g.assign(scep, group)
    device = g.bind("lab-windows-01", user)
    g.ok(g.action(device, "syncDevice"), 204)
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")
    (record,) = [r for r in tenant.mock.observe() if r["kind"] == "scep"]
    leaf = tenant.mock.certificate(record["serial"])
    assert state["certificateSerialNumber"] == record["serial"]
    assert state["certificateThumbprint"] == leaf.fingerprint(hashes.SHA1()).hex().upper()
    assert state["certificateIssuer"] == leaf.issuer.rfc4514_string()
    assert state["id"] == f"{scep}_{device['id']}_{record['serial']}"
    assert (state["certificateIssuanceState"], state["certificateRevokeStatus"]) == ("installed", "none")


def test_a_profile_reaches_only_its_platform_family(lab):
    tenant, g = lab
    user, group = g.user("cc-a"), g.group("cc-g")
    g.ok(g.join(group, user), 204)
    win = g.scep_setup()
    ios = g.scep_setup("iosTrustedRootCertificate", "iosScepCertificateProfile")
    g.assign(win, group)
    g.assign(ios, group)
    pc, phone = g.bind("lab-windows-01", user), g.bind("lab-ios-01", user)
    for device in (pc, phone):
        g.ok(g.action(device, "syncDevice"), 204)
    assert [s["deviceDisplayName"] for s in g.states(win, "windows81SCEPCertificateProfile")] == ["lab-windows-01"]
    assert [s["deviceDisplayName"] for s in g.states(ios, "iosScepCertificateProfile")] == ["lab-ios-01"]
    assert {s["devicePlatform"] for s in g.states(ios, "iosScepCertificateProfile")} == {"iOS"}
    # issuance times follow delivery order across profiles
    times = [s["certificateIssuanceDateTime"] for s in g.states(win, "windows81SCEPCertificateProfile")
             + g.states(ios, "iosScepCertificateProfile")]
    assert times == sorted(times) and len(set(times)) == 2


def test_assign_sends_the_difference_of_the_full_set(lab):
    tenant, g = lab
    user, first, second = g.user("cc-a"), g.group("cc-1"), g.group("cc-2")
    g.ok(g.join(first, user), 204)
    scep = g.scep_setup()
    device = g.bind("lab-windows-01", user)
    assert [a["target"]["groupId"] for a in g.assign(scep, first, second)] == [first, second]
    g.ok(g.action(device, "syncDevice"), 204)
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")
    assert state["certificateIssuanceState"] == "installed"
    # dropping `second` (which holds no member) changes nothing on the device
    assert [a["target"]["groupId"] for a in g.assign(scep, first)] == [first]
    assert g.states(scep, "windows81SCEPCertificateProfile")[0]["certificateIssuanceState"] == "installed"
    # dropping `first` is the mock's unassign_profile: Windows SCEP is revoked and removed
    assert g.assign(scep) == []
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")
    assert (state["certificateIssuanceState"], state["certificateRevokeStatus"]) == ("deleted", "revoked")


def test_third_party_ca_is_never_revoked(lab):
    tenant, g = lab
    user, group = g.user("cc-a"), g.group("cc-g")
    g.ok(g.join(group, user), 204)
    scep = g.scep_setup(description="lab certconform-ca=third_party")
    g.assign(scep, group)
    device = g.bind("lab-windows-01", user)
    g.ok(g.action(device, "syncDevice"), 204)
    g.ok(g.action(device, "retire"), 204)
    g.ok(g.http.get("/v1.0/users"))  # anything: lets due effects land
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")
    assert (state["certificateIssuanceState"], state["certificateRevokeStatus"]) == ("deleted", "none")


def test_licence_withdrawal_and_user_deletion(lab):
    tenant, g = lab
    user = g.user("cc-a")
    sku = "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"
    answer = g.ok(g.http.post(f"/v1.0/users/{user}/assignLicense", json={"addLicenses": [{"skuId": sku}],
                                                                        "removeLicenses": []}))
    assert answer["assignedLicenses"] == [{"skuId": sku, "disabledPlans": []}]
    group = g.group("cc-g")
    g.ok(g.join(group, user), 204)
    scep = g.scep_setup()
    g.assign(scep, group)
    device = g.bind("lab-windows-01", user)
    g.ok(g.http.post(f"/v1.0/users/{user}/assignLicense", json={"addLicenses": [], "removeLicenses": [sku]}))
    g.ok(g.action(device, "syncDevice"), 204)
    assert g.states(scep, "windows81SCEPCertificateProfile") == []  # the mock delivers nothing without a licence
    # deleting the user frees the pool device for a new primary user
    g.ok(g.http.delete(f"/v1.0/users/{user}"), 204)
    assert g.device("lab-windows-01")["userId"] == ""
    assert g.bind("lab-windows-01", g.user("cc-b"))["userDisplayName"] == "cc-b"


def test_retire_reenrols_the_device_and_wipe_is_refused_on_macos(lab):
    tenant, g = lab
    user = g.user("cc-a")
    pc = g.bind("lab-windows-01", user)
    g.ok(g.action(pc, "retire"), 204)
    assert g.http.get(f"/beta/deviceManagement/managedDevices/{pc['id']}").status_code == 404
    again = g.device("lab-windows-01")
    assert again["id"] != pc["id"] and again["userId"] == "" and again["azureADDeviceId"] != pc["azureADDeviceId"]
    mac = g.bind("lab-macos-01", user)
    refused = g.action(mac, "wipe")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "Conflict"
    assert g.device("lab-macos-01")["id"] == mac["id"]  # nothing changed


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
    (entry,) = g.ok(g.http.get("/v1.0/devices", params={"$filter": f"deviceId eq '{g.device('lab-ios-01')['azureADDeviceId']}'"}))["value"]
    unbound = g.join(group, entry["id"])
    assert unbound.status_code == 400 and "primary user" in unbound.json()["error"]["message"]
    assert g.http.delete(f"/v1.0/groups/{group}/members/{entry['id']}/$ref").status_code == 404
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
    (["--graph", "--revocation-delay", "-1"], "--revocation-delay must be a number of seconds"),
    (["--revocation-delay", "1"], "--revocation-delay needs --realistic or --graph"),
    (["--graph", "--allow-host", "a b"], "--allow-host: not a host name"),
])
def test_bad_serve_options_are_one_line(capsys, args, message):
    assert main(["serve", "--port", "1", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("certconform serve: ") and message in err


def test_a_device_given_a_new_primary_user_stays_in_its_groups(lab):
    tenant, g = lab
    first, group = g.user("cc-a"), g.group("cc-g")
    scep = g.scep_setup()
    g.assign(scep, group)
    device = g.bind("lab-windows-01", first)
    (entry,) = g.ok(g.http.get("/v1.0/devices", params={"$filter": f"deviceId eq '{device['azureADDeviceId']}'"}))["value"]
    g.ok(g.join(group, entry["id"]), 204)
    g.ok(g.http.delete(f"/v1.0/users/{first}"), 204)
    device = g.bind("lab-windows-01", g.user("cc-b"))
    g.ok(g.action(device, "syncDevice"), 204)
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")  # the device-targeted profile reaches the new enrolment
    assert (state["userDisplayName"], state["certificateIssuanceState"]) == ("cc-b", "installed")
    # removing the device from the group takes the profile off (Windows SCEP: revoked and removed)
    g.ok(g.http.delete(f"/v1.0/groups/{group}/members/{entry['id']}/$ref"), 204)
    (state,) = g.states(scep, "windows81SCEPCertificateProfile")
    assert (state["certificateIssuanceState"], state["certificateRevokeStatus"]) == ("deleted", "revoked")
