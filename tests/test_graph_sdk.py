"""The Graph emulator driven by Microsoft's official msgraph-beta-sdk, an independent client.

Every route the emulator serves (docs/graph-wire.md) is reached through the SDK's request
builders, and every answer is parsed into the SDK's own models (User, Group, Device,
ManagedDevice, the twenty certificate profile types, DeviceConfigurationAssignment,
ManagedDeviceCertificateState with CertificateRevocationStatus): if the emulator spoke our own
idea of Graph instead of Graph, the SDK would fail to build a request, refuse an answer or parse
a field to None. Field values are asserted, not just the absence of exceptions. The SDK is an
optional dependency (extra `selftest`, installed by `python3 dev.py selftest`).
"""
from __future__ import annotations

import asyncio
import base64
import time
import uuid

import httpx
import pytest
from kiota_abstractions.api_error import APIError
from msgraph_beta.generated.models.android_imported_p_f_x_certificate_profile import AndroidImportedPFXCertificateProfile
from msgraph_beta.generated.models.android_pkcs_certificate_profile import AndroidPkcsCertificateProfile
from msgraph_beta.generated.models.android_scep_certificate_profile import AndroidScepCertificateProfile
from msgraph_beta.generated.models.android_trusted_root_certificate import AndroidTrustedRootCertificate
from msgraph_beta.generated.models.android_for_work_imported_p_f_x_certificate_profile import \
    AndroidForWorkImportedPFXCertificateProfile
from msgraph_beta.generated.models.android_work_profile_pkcs_certificate_profile import \
    AndroidWorkProfilePkcsCertificateProfile
from msgraph_beta.generated.models.android_work_profile_scep_certificate_profile import \
    AndroidWorkProfileScepCertificateProfile
from msgraph_beta.generated.models.android_work_profile_trusted_root_certificate import \
    AndroidWorkProfileTrustedRootCertificate
from msgraph_beta.generated.models.assigned_license import AssignedLicense
from msgraph_beta.generated.models.certificate_issuance_states import CertificateIssuanceStates
from msgraph_beta.generated.models.certificate_revocation_status import CertificateRevocationStatus
from msgraph_beta.generated.models.device import Device
from msgraph_beta.generated.models.device_configuration_assignment import DeviceConfigurationAssignment
from msgraph_beta.generated.models.device_platform_type import DevicePlatformType
from msgraph_beta.generated.models.device_type import DeviceType
from msgraph_beta.generated.models.group import Group
from msgraph_beta.generated.models.group_assignment_target import GroupAssignmentTarget
from msgraph_beta.generated.models.ios_imported_p_f_x_certificate_profile import IosImportedPFXCertificateProfile
from msgraph_beta.generated.models.ios_pkcs_certificate_profile import IosPkcsCertificateProfile
from msgraph_beta.generated.models.ios_scep_certificate_profile import IosScepCertificateProfile
from msgraph_beta.generated.models.ios_trusted_root_certificate import IosTrustedRootCertificate
from msgraph_beta.generated.models.mac_o_s_imported_p_f_x_certificate_profile import MacOSImportedPFXCertificateProfile
from msgraph_beta.generated.models.mac_o_s_pkcs_certificate_profile import MacOSPkcsCertificateProfile
from msgraph_beta.generated.models.mac_o_s_scep_certificate_profile import MacOSScepCertificateProfile
from msgraph_beta.generated.models.mac_o_s_trusted_root_certificate import MacOSTrustedRootCertificate
from msgraph_beta.generated.models.managed_device import ManagedDevice
from msgraph_beta.generated.models.managed_device_certificate_state import ManagedDeviceCertificateState
from msgraph_beta.generated.models.password_profile import PasswordProfile
from msgraph_beta.generated.models.reference_create import ReferenceCreate
from msgraph_beta.generated.models.user import User
from msgraph_beta.generated.models.windows10_imported_p_f_x_certificate_profile import \
    Windows10ImportedPFXCertificateProfile
from msgraph_beta.generated.models.windows10_pkcs_certificate_profile import Windows10PkcsCertificateProfile
from msgraph_beta.generated.models.windows81_s_c_e_p_certificate_profile import Windows81SCEPCertificateProfile
from msgraph_beta.generated.models.windows81_trusted_root_certificate import Windows81TrustedRootCertificate
from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_beta.generated.device_management.device_configurations.item.assign.assign_post_request_body import \
    AssignPostRequestBody
from msgraph_beta.generated.device_management.managed_devices.item.wipe.wipe_post_request_body import \
    WipePostRequestBody
from msgraph_beta.generated.users.item.assign_license.assign_license_post_request_body import \
    AssignLicensePostRequestBody

from graph_sdk import certificate_states, follow, sdk_client, set_primary_user
from servers import running_graph_emulator

TOKEN = "graph-selftest"
# real seconds (time scale 1): a device answers in 0.2 s, group changes and primary users show at
# once, the lab's person re-enrols a device in 0.5 s
EMULATOR_DELAYS = ("--delay", "notify=0.2", "--delay", "propagation=0", "--delay", "primary_user=0",
                   "--delay", "reenrol=0.5")
SKU = uuid.UUID("c1ec4a95-1f05-45b3-a911-aa3fa01094f5")  # any SKU id: the emulator takes every SKU as Intune's

# family -> kind -> SDK model class (written out here, independently of the emulator's catalogue)
PROFILE_CLASSES = {
    "windows": {"trusted_root": Windows81TrustedRootCertificate, "scep": Windows81SCEPCertificateProfile,
                "pkcs": Windows10PkcsCertificateProfile, "pkcs_imported": Windows10ImportedPFXCertificateProfile},
    "ios": {"trusted_root": IosTrustedRootCertificate, "scep": IosScepCertificateProfile,
            "pkcs": IosPkcsCertificateProfile, "pkcs_imported": IosImportedPFXCertificateProfile},
    "macos": {"trusted_root": MacOSTrustedRootCertificate, "scep": MacOSScepCertificateProfile,
              "pkcs": MacOSPkcsCertificateProfile, "pkcs_imported": MacOSImportedPFXCertificateProfile},
    "android": {"trusted_root": AndroidTrustedRootCertificate, "scep": AndroidScepCertificateProfile,
                "pkcs": AndroidPkcsCertificateProfile, "pkcs_imported": AndroidImportedPFXCertificateProfile},
    "android_work": {"trusted_root": AndroidWorkProfileTrustedRootCertificate,
                     "scep": AndroidWorkProfileScepCertificateProfile, "pkcs": AndroidWorkProfilePkcsCertificateProfile,
                     "pkcs_imported": AndroidForWorkImportedPFXCertificateProfile},
}
# the families whose PKCS type has a rootCertificate relationship in the SDK's models
PKCS_WITH_ROOT = ("android", "android_work")


def odata_type(cls) -> str:
    return cls().odata_type.lstrip("#").removeprefix("microsoft.graph.")


async def error_of(awaitable) -> ODataError:
    with pytest.raises(ODataError) as caught:
        await awaitable
    return caught.value


async def poll_states(client, profile_id: str, type_name: str, done, timeout: float = 30.0) -> list:
    """The profile's certificate states once `done(states)` holds (asynchronous effects land
    later, as in Intune); polling, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        states = await certificate_states(client, profile_id, type_name)
        if done(states) or time.monotonic() > deadline:
            return states
        await asyncio.sleep(0.1)


def new_user_body(name: str) -> User:
    return User(account_enabled=True, display_name=name, mail_nickname=name, user_principal_name=f"{name}@lab.test",
                password_profile=PasswordProfile(password="Lab-Passw0rd!"), usage_location="US")


def v1(client, path: str) -> str:
    """The absolute v1.0 URL of `path` (the adapter's directory routes are v1.0)."""
    return client.request_adapter.base_url.removesuffix("/beta") + "/v1.0" + path


async def every_route(base: str, seen: list) -> dict:
    client = sdk_client(base, TOKEN, seen)
    facts: dict = {}

    # -- users, v1.0 and beta --------------------------------------------------------------------
    user = await client.users.with_url(v1(client, "/users")).post(new_user_body("cc-alice"))
    assert isinstance(user, User) and uuid.UUID(user.id) and user.user_principal_name == "cc-alice@lab.test"
    other = await client.users.post(new_user_body("cc-bob"))  # beta
    assert other.display_name == "cc-bob" and other.id != user.id
    listed = await client.users.with_url(v1(client, "/users?$filter=startswith(displayName,'cc-a')")).get()
    assert [u.id for u in listed.value] == [user.id]
    assert (await client.users.get()).value[0].odata_type == "#microsoft.graph.user"
    got = await client.users.by_user_id(user.id).with_url(v1(client, f"/users/{user.id}")).get()
    assert got.display_name == "cc-alice" and got.usage_location == "US"
    assert (await client.users.by_user_id(other.id).get()).mail_nickname == "cc-bob"
    licensed = await client.users.by_user_id(user.id).assign_license.with_url(
        v1(client, f"/users/{user.id}/assignLicense")).post(
        AssignLicensePostRequestBody(add_licenses=[AssignedLicense(sku_id=SKU)], remove_licenses=[]))
    assert [lic.sku_id for lic in licensed.assigned_licenses] == [SKU]
    await client.users.by_user_id(other.id).assign_license.post(
        AssignLicensePostRequestBody(add_licenses=[AssignedLicense(sku_id=SKU)], remove_licenses=[]))
    roots = httpx.get(f"{base}/certconform/pki-roots").json()  # not Graph: the emulator's CA roots

    # -- groups and membership -------------------------------------------------------------------
    group = await client.groups.with_url(v1(client, "/groups")).post(
        Group(display_name="cc-group", mail_enabled=False, mail_nickname="ccgroup", security_enabled=True))
    assert isinstance(group, Group) and group.security_enabled is True and group.mail_enabled is False
    spare = await client.groups.post(Group(display_name="cc-spare", mail_enabled=False, mail_nickname="ccspare",
                                           security_enabled=True))
    assert [g.id for g in (await client.groups.with_url(
        v1(client, "/groups?$filter=displayName eq 'cc-group'")).get()).value] == [group.id]
    assert {g.id for g in (await client.groups.get()).value} == {group.id, spare.id}
    assert (await client.groups.by_group_id(group.id).with_url(v1(client, f"/groups/{group.id}")).get()).display_name == "cc-group"
    assert (await client.groups.by_group_id(spare.id).get()).mail_nickname == "ccspare"
    v1_group = client.groups.by_group_id(group.id).with_url(v1(client, f"/groups/{group.id}"))
    await client.groups.by_group_id(group.id).members.ref.with_url(v1(client, f"/groups/{group.id}/members/$ref")).post(
        ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{user.id}"))
    await client.groups.by_group_id(spare.id).members.ref.post(
        ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{other.id}"))
    members = await client.groups.by_group_id(group.id).members.with_url(v1(client, f"/groups/{group.id}/members")).get()
    assert [(m.odata_type, m.id) for m in members.value] == [("#microsoft.graph.user", user.id)]
    assert [m.id for m in (await client.groups.by_group_id(spare.id).members.get()).value] == [other.id]
    dup = await error_of(client.groups.by_group_id(group.id).members.ref.post(
        ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{user.id}")))
    assert dup.response_status_code == 400 and dup.error.code == "Request_BadRequest"

    # -- managed devices, directory devices ------------------------------------------------------
    found = await client.device_management.managed_devices.with_url(
        f"{base}/beta/deviceManagement/managedDevices?$filter=deviceName eq 'lab-windows-01'").get()
    (device,) = found.value
    assert isinstance(device, ManagedDevice) and device.operating_system == "Windows"
    lab_user = device.user_id  # the lab's devices are enrolled by lab users of their own
    assert device.device_type == DeviceType.Desktop and lab_user and device.user_principal_name.endswith("@lab.example")
    assert [u.id for u in (await client.device_management.managed_devices.by_managed_device_id(device.id)
                           .users.get()).value] == [lab_user]
    await set_primary_user(client, device.id, user.id)  # Windows only; shows after --delay primary_user
    device = await client.device_management.managed_devices.by_managed_device_id(device.id).get()
    assert device.user_id == user.id and device.user_principal_name == "cc-alice@lab.test"
    primary = await client.device_management.managed_devices.by_managed_device_id(device.id).users.get()
    assert [u.id for u in primary.value] == [user.id]
    directory = await client.devices.with_url(
        v1(client, f"/devices?$filter=deviceId eq '{device.azure_a_d_device_id}'")).get()
    (entry,) = directory.value
    assert isinstance(entry, Device) and entry.device_id == device.azure_a_d_device_id
    assert entry.display_name == "lab-windows-01"
    assert (await client.devices.by_device_id(entry.id).get()).device_id == device.azure_a_d_device_id
    assert (await client.devices.by_device_id(entry.id).with_url(v1(client, f"/devices/{entry.id}")).get()).id == entry.id
    assert len((await client.devices.get()).value) > 0
    await client.groups.by_group_id(spare.id).members.ref.post(
        ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{entry.id}"))
    assert {m.odata_type for m in (await client.groups.by_group_id(spare.id).members.get()).value} == \
        {"#microsoft.graph.user", "#microsoft.graph.device"}
    for version_url in (lambda path: v1(client, path), lambda path: f"{base}/beta{path}"):
        groups_of_device = await client.devices.by_device_id(entry.id).member_of.with_url(
            version_url(f"/devices/{entry.id}/memberOf")).get()
        assert [g.id for g in groups_of_device.value] == [spare.id]
        groups_of_user = await client.users.by_user_id(user.id).member_of.with_url(
            version_url(f"/users/{user.id}/memberOf")).get()
        assert [g.id for g in groups_of_user.value] == [group.id]
    await client.groups.by_group_id(spare.id).members.by_directory_object_id(entry.id).ref.delete()
    await client.groups.by_group_id(spare.id).members.by_directory_object_id(other.id).ref.with_url(
        v1(client, f"/groups/{spare.id}/members/{other.id}/$ref")).delete()
    assert (await client.groups.by_group_id(spare.id).members.get()).value == []

    # -- every certificate profile type ----------------------------------------------------------
    made: dict[str, dict[str, object]] = {}
    for family, classes in PROFILE_CLASSES.items():
        root = await client.device_management.device_configurations.post(
            classes["trusted_root"](display_name=f"cc-root-{family}",
                                    trusted_root_certificate=base64.b64decode(roots["intune"])))
        assert isinstance(root, classes["trusted_root"]) and uuid.UUID(root.id)
        made[family] = {"trusted_root": root}
        bind = {"rootCertificate@odata.bind":
                f"https://graph.microsoft.com/beta/deviceManagement/deviceConfigurations('{root.id}')"}
        for kind in ("scep", "pkcs", "pkcs_imported"):
            body = classes[kind](display_name=f"cc-{kind}-{family}", description="lab profile")
            if kind == "scep" or (kind == "pkcs" and family in PKCS_WITH_ROOT):
                body.additional_data = dict(bind)
            created = await client.device_management.device_configurations.post(body)
            assert isinstance(created, classes[kind]), (family, kind, type(created))
            assert created.display_name == f"cc-{kind}-{family}" and created.version == 1
            made[family][kind] = created
    listed = await follow(await client.device_management.device_configurations.with_url(
        f"{base}/beta/deviceManagement/deviceConfigurations?$filter=startswith(displayName,'cc-')").get(),
        client.device_management.device_configurations.with_url)
    assert sorted(type(p).__name__ for p in listed) == sorted(c.__name__ for cs in PROFILE_CLASSES.values()
                                                                 for c in cs.values())
    scep = made["windows"]["scep"]
    scep_type = odata_type(Windows81SCEPCertificateProfile)
    profile_item = client.device_management.device_configurations.by_device_configuration_id(scep.id)
    assert isinstance(await profile_item.get(), Windows81SCEPCertificateProfile)
    root_url = f"{base}/beta/deviceManagement/deviceConfigurations/{scep.id}/microsoft.graph.{scep_type}/rootCertificate"
    root = await client.device_management.device_configurations.by_device_configuration_id("x").with_url(root_url).get()
    assert isinstance(root, Windows81TrustedRootCertificate) and root.id == made["windows"]["trusted_root"].id

    answer = await profile_item.assign.post(AssignPostRequestBody(assignments=[
        DeviceConfigurationAssignment(target=GroupAssignmentTarget(group_id=group.id))]))
    assert [(type(a.target), a.target.group_id) for a in answer.value] == [(GroupAssignmentTarget, group.id)]
    assigned = await profile_item.assignments.get()
    assert [a.target.group_id for a in assigned.value] == [group.id]

    # -- check-in delivers (the device checks in after --delay notify); the record parses into
    # ManagedDeviceCertificateState
    await client.groups.by_group_id(group.id).members.ref.post(
        ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{entry.id}"))
    device_item = client.device_management.managed_devices.by_managed_device_id(device.id)
    await device_item.sync_device.post()
    (state,) = await poll_states(client, scep.id, scep_type, lambda s: len(s) == 1)
    assert isinstance(state, ManagedDeviceCertificateState)
    # the certificate is the enrolling user's (a new primary user does not change it)
    assert state.device_display_name == "lab-windows-01" and state.user_display_name == "Lab user windows-01"
    assert state.certificate_issuance_state == CertificateIssuanceStates.Installed
    assert state.certificate_revoke_status == CertificateRevocationStatus.None_
    assert state.device_platform == DevicePlatformType.Windows10AndLater
    assert len(state.certificate_thumbprint) == 40 and int(state.certificate_thumbprint, 16) >= 0
    assert int(state.certificate_serial_number, 16) > 0
    assert state.certificate_issuance_date_time is not None and state.certificate_expiration_date_time is not None
    facts["serial"] = state.certificate_serial_number
    # an iOS profile assigned to the same group reaches no Windows device
    ios_scep = made["ios"]["scep"]
    await client.device_management.device_configurations.by_device_configuration_id(ios_scep.id).assign.post(
        AssignPostRequestBody(assignments=[DeviceConfigurationAssignment(target=GroupAssignmentTarget(group_id=group.id))]))
    await device_item.sync_device.post()
    assert await certificate_states(client, ios_scep.id, odata_type(IosScepCertificateProfile)) == []

    patched = await profile_item.patch(Windows81SCEPCertificateProfile(description="changed"))
    assert patched.description == "changed" and patched.version == 2

    # -- retire: pending until the device checks in; revocation goes through pending; the lab's
    # person enrols the device again -------------------------------------------------------------
    await device_item.retire.post()
    assert (await device_item.get()).management_state.value == "retirePending"
    (state,) = await poll_states(client, scep.id, scep_type,
                                 lambda s: s[0].certificate_revoke_status != CertificateRevocationStatus.None_)
    facts["first_change_after_retire"] = state.certificate_revoke_status
    (state,) = await poll_states(client, scep.id, scep_type,
                                 lambda s: s[0].certificate_revoke_status == CertificateRevocationStatus.Revoked)
    facts["after_retire"] = state.certificate_revoke_status
    gone = await error_of(device_item.get())
    assert gone.response_status_code == 404 and gone.error.code == "ResourceNotFound"
    again = await poll_device(client, base, "lab-windows-01")
    assert again.id != device.id and again.user_id == lab_user and again.azure_a_d_device_id != device.azure_a_d_device_id

    # -- wipe (another pool device), unassign, deletes -------------------------------------------
    (tablet,) = (await client.device_management.managed_devices.with_url(
        f"{base}/beta/deviceManagement/managedDevices?$filter=deviceName eq 'lab-ios-01'").get()).value
    await client.device_management.managed_devices.by_managed_device_id(tablet.id).wipe.post(
        WipePostRequestBody(keep_enrollment_data=False, keep_user_data=False))
    wiped = await poll_device(client, base, "lab-ios-01", lambda d: d.id != tablet.id)
    assert wiped.user_id == tablet.user_id
    answer = await profile_item.assign.post(AssignPostRequestBody(assignments=[]))
    assert answer.value == []
    await client.device_management.device_configurations.by_device_configuration_id(scep.id).delete()
    missing = await error_of(profile_item.get())
    assert missing.response_status_code == 404
    await client.users.by_user_id(user.id).assign_license.post(
        AssignLicensePostRequestBody(add_licenses=[], remove_licenses=[SKU]))
    await client.users.by_user_id(user.id).with_url(v1(client, f"/users/{user.id}")).delete()
    await client.users.by_user_id(other.id).delete()
    # deleted users can be restored (directory-deleteditems-restore.md), in both versions
    for version_url, who in ((lambda path: v1(client, path), user), (lambda path: f"{base}/beta{path}", other)):
        item = client.directory.deleted_items.by_directory_object_id(who.id)
        assert (await item.with_url(version_url(f"/directory/deletedItems/{who.id}")).get()).id == who.id
        assert (await item.restore.with_url(version_url(f"/directory/deletedItems/{who.id}/restore")).post()).id == who.id
        await client.users.by_user_id(who.id).delete()
    await v1_group.delete()
    await client.groups.by_group_id(spare.id).delete()
    assert (await client.users.with_url(f"{base}/beta/users?$filter=startswith(displayName,'cc-')").get()).value == []
    assert (await client.groups.get()).value == []
    return facts


async def poll_device(client, base: str, name: str, done=lambda d: True, timeout: float = 30.0):
    """The managed device `name` once there is one and `done(it)` holds (a person's re-enrolment
    lands later); polling, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        found = (await client.device_management.managed_devices.with_url(
            f"{base}/beta/deviceManagement/managedDevices?$filter=deviceName eq '{name}'").get()).value
        if found and done(found[0]) or time.monotonic() > deadline:
            return found[0] if found else None
        await asyncio.sleep(0.1)


def test_the_sdk_reaches_every_route_and_parses_every_answer():
    from certconform.mdm.graph_emulator import Tenant, build_app

    seen: list = []
    with running_graph_emulator("--page-size", "3", "--throttle-every", "25", "--retry-after", "1",
                                *EMULATOR_DELAYS, "--delay", "revocation=2", token=TOKEN) as base:
        facts = asyncio.run(every_route(base, seen))
    # revocation of a SCEP certificate on retire goes through pending, then lands (Intune's way)
    assert facts["first_change_after_retire"] == CertificateRevocationStatus.Pending
    assert facts["after_retire"] == CertificateRevocationStatus.Revoked
    # every route the emulator serves was reached by the SDK (method and path template)
    routes = build_app(Tenant(pool={})).app.routes
    reached = set()
    for method, path in seen:
        for route in routes:
            if route.path_regex.match(path) and method in route.methods:
                reached.add((method, route.path))
    served = {(m, r.path) for r in routes for m in r.methods if m != "HEAD"}
    assert served - reached == set()


async def paging_and_errors(base: str) -> None:
    client = sdk_client(base, TOKEN)
    first = await client.device_management.managed_devices.get()
    assert len(first.value) == 3 and first.odata_next_link.startswith(f"{base}/beta/deviceManagement/managedDevices?")
    devices = await follow(first, client.device_management.managed_devices.with_url)
    names = [d.device_name for d in devices]
    assert len(names) == 24 and len(set(d.id for d in devices)) == 24  # default pool: 4 per platform, 6 platforms
    assert {n.rsplit("-", 1)[0] for n in names} == {f"lab-{p}" for p in
                                                     ("windows", "ios", "macos", "android_knox", "android_legacy",
                                                      "android_work")}
    top = await client.device_management.managed_devices.with_url(
        f"{base}/beta/deviceManagement/managedDevices?$top=2").get()
    assert len(top.value) == 2
    assert [d.id for d in await follow(top, client.device_management.managed_devices.with_url)] == [d.id for d in devices]
    bad = await error_of(client.users.with_url(f"{base}/v1.0/users?$filter=city eq 'x'").get())
    assert bad.response_status_code == 400 and "filter" in bad.error.message
    unknown = await error_of(client.users.by_user_id(str(uuid.uuid4())).get())
    assert unknown.response_status_code == 404 and unknown.error.code == "Request_ResourceNotFound"
    wrong = sdk_client(base, "not-the-token")
    denied = await error_of(wrong.users.get())
    assert denied.response_status_code == 401 and denied.error.code == "InvalidAuthenticationToken"


def test_paging_is_followed_across_pages_and_errors_parse():
    with running_graph_emulator("--page-size", "3", token=TOKEN) as base:
        asyncio.run(paging_and_errors(base))


def test_throttling_answers_429_with_retry_after_then_succeeds():
    with running_graph_emulator("--throttle-every", "3", "--retry-after", "2", token=TOKEN) as base:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        # request 1 was the readiness probe; 2 passes, 3 is throttled, 4 (the retry) passes
        assert httpx.get(f"{base}/v1.0/users", headers=headers).status_code == 200
        throttled = httpx.post(f"{base}/v1.0/groups", headers=headers, json={
            "displayName": "cc-x", "mailEnabled": False, "mailNickname": "x", "securityEnabled": True})
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        assert httpx.get(f"{base}/v1.0/groups", headers=headers).json()["value"] == []  # the 429 changed nothing
        # the SDK's own retry handler waits Retry-After and gets the answer
        async def through_sdk():
            client = sdk_client(base, TOKEN)
            made = [await client.groups.post(Group(display_name=f"cc-{i}", mail_enabled=False, mail_nickname=f"g{i}",
                                                   security_enabled=True)) for i in range(3)]
            return made, await client.groups.get()
        made, listed = asyncio.run(through_sdk())
        assert sorted(g.id for g in made) == sorted(g.id for g in listed.value) and len(made) == 3


def test_requests_without_the_token_get_401_and_foreign_hosts_421():
    with running_graph_emulator(token=TOKEN) as base:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = httpx.get(f"{base}/beta/deviceManagement/managedDevices", headers=headers)
            assert answer.status_code == 401 and answer.json()["error"]["code"] == "InvalidAuthenticationToken"
        # a page elsewhere (DNS rebinding, cross-site) is refused even with the token
        good = {"Authorization": f"Bearer {TOKEN}"}
        rebound = httpx.get(f"{base}/v1.0/users", headers={**good, "Host": "attacker.example"})
        assert rebound.status_code == 421 and rebound.json()["error"]["code"] == "MisdirectedRequest"
        cross = httpx.get(f"{base}/v1.0/users", headers={**good, "Origin": "https://attacker.example"})
        assert cross.status_code == 403 and cross.json()["error"]["code"] == "Forbidden"
        assert httpx.get(f"{base}/v1.0/users", headers={**good, "Host": "localhost:" + base.rsplit(":", 1)[1]}
                         ).status_code == 200


async def retire_and_watch(base: str) -> list:
    client = sdk_client(base, TOKEN)
    group = await client.groups.post(Group(display_name="cc-g", mail_enabled=False, mail_nickname="g",
                                           security_enabled=True))
    (device,) = (await client.device_management.managed_devices.with_url(
        f"{base}/beta/deviceManagement/managedDevices?$filter=deviceName eq 'lab-ios-01'").get()).value
    await client.groups.by_group_id(group.id).members.ref.post(  # the lab user who enrolled it
        ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{device.user_id}"))
    root_der = base64.b64decode(httpx.get(f"{base}/certconform/pki-roots").json()["intune"])
    root = await client.device_management.device_configurations.post(
        IosTrustedRootCertificate(display_name="cc-r", trusted_root_certificate=root_der))
    scep = IosScepCertificateProfile(display_name="cc-s")
    scep.additional_data = {"rootCertificate@odata.bind":
                            f"https://graph.microsoft.com/beta/deviceManagement/deviceConfigurations('{root.id}')"}
    scep = await client.device_management.device_configurations.post(scep)
    await client.device_management.device_configurations.by_device_configuration_id(scep.id).assign.post(
        AssignPostRequestBody(assignments=[DeviceConfigurationAssignment(target=GroupAssignmentTarget(group_id=group.id))]))
    await client.device_management.managed_devices.by_managed_device_id(device.id).sync_device.post()
    type_name = odata_type(IosScepCertificateProfile)
    (state,) = await poll_states(client, scep.id, type_name, lambda s: len(s) == 1)
    assert state.certificate_issuance_state == CertificateIssuanceStates.Installed
    await client.device_management.managed_devices.by_managed_device_id(device.id).retire.post()
    # wait until the removal has landed; with --revocation-delay 0 a revocation, if requested,
    # has landed by then too
    return await poll_states(client, scep.id, type_name,
                             lambda s: s[0].certificate_issuance_state == CertificateIssuanceStates.Deleted)


@pytest.mark.parametrize("fault", [None, "revocation-never-issued-on-retire"])
def test_the_faulty_mode_never_revokes_on_retire(fault):
    extra = ("--fault", fault) if fault else ()
    with running_graph_emulator(*EMULATOR_DELAYS, "--delay", "revocation=0", *extra, token=TOKEN) as base:
        (state,) = asyncio.run(retire_and_watch(base))
    assert state.certificate_issuance_state == CertificateIssuanceStates.Deleted
    want = CertificateRevocationStatus.None_ if fault else CertificateRevocationStatus.Revoked
    assert state.certificate_revoke_status == want
