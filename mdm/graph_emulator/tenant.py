# What this module knows: the emulated tenant -- Graph's directory (users, security groups,
# directory devices), Intune's managed devices (the lab's pool), certificate profiles and their
# assignments -- and which of the mock's contract events each Graph write is. It validates a write
# completely before it sends the mock anything, so a refused request changes nothing.
# What it does not know: HTTP or OData (app.py, odata.py), certificate rendering (cert_states.py).
# It never imports certconform.model.
"""The emulated tenant: Graph objects over a platform-scoped realistic MockMDM."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from certconform.mdm import EventRejected

from .cert_states import StateClock, render
from .catalogue import DEVICE_ATTRIBUTES, PLATFORMS, PROFILE_TYPES, ProfileType, family_of_platform
from .odata import GraphError, bad_request, new_id, not_found, now_text
from .scoped_mock import ScopedMock

THIRD_PARTY_MARK = "certconform-ca=third_party"
HIDDEN_ROOT = "graph-emulator-hidden-root"


@dataclass
class User:
    id: str
    body: dict
    licenses: list[dict] = field(default_factory=list)

    def entity(self) -> dict:
        b = self.body
        return {"@odata.type": "#microsoft.graph.user", "id": self.id, "displayName": b["displayName"],
                "userPrincipalName": b["userPrincipalName"], "mailNickname": b["mailNickname"],
                "accountEnabled": b["accountEnabled"], "usageLocation": b.get("usageLocation"),
                "assignedLicenses": [dict(x) for x in self.licenses]}


@dataclass
class Group:
    id: str
    body: dict
    members: list[str] = field(default_factory=list)  # user ids and directory device ids, in order
    # member id -> the mock's names for it in this group (a device given a new primary user is a
    # new enrolment for the mock, so it can be there under several names)
    mock_names: dict[str, list[str]] = field(default_factory=dict)

    def entity(self) -> dict:
        b = self.body
        return {"@odata.type": "#microsoft.graph.group", "id": self.id, "displayName": b["displayName"],
                "mailNickname": b["mailNickname"], "mailEnabled": False, "securityEnabled": True,
                "groupTypes": [], "description": b.get("description")}


@dataclass
class ManagedDevice:
    id: str
    name: str
    platform: str
    azure_ad_device_id: str
    directory_id: str  # the directory device object's id
    enrolled_at: str
    user: str | None = None  # primary user id
    mock_name: str | None = None  # the mock's device name for the current binding
    last_sync: str | None = None

    def entity(self, users: dict[str, User]) -> dict:
        os_name, device_type, maker, model = DEVICE_ATTRIBUTES[self.platform]
        user = users.get(self.user) if self.user else None
        return {"@odata.type": "#microsoft.graph.managedDevice", "id": self.id, "deviceName": self.name,
                "operatingSystem": os_name, "deviceType": device_type, "manufacturer": maker, "model": model,
                "azureADDeviceId": self.azure_ad_device_id, "userId": user.id if user else "",
                "userPrincipalName": user.body["userPrincipalName"] if user else "",
                "userDisplayName": user.body["displayName"] if user else "",
                "managementAgent": "mdm", "managedDeviceOwnerType": "company",
                "enrolledDateTime": self.enrolled_at, "lastSyncDateTime": self.last_sync or self.enrolled_at}

    def directory_entity(self) -> dict:
        return {"@odata.type": "#microsoft.graph.device", "id": self.directory_id, "deviceId": self.azure_ad_device_id,
                "displayName": self.name, "operatingSystem": DEVICE_ATTRIBUTES[self.platform][0],
                "accountEnabled": True}


@dataclass
class Profile:
    id: str
    type: ProfileType
    body: dict  # the properties as sent (and patched), without @odata.type/id
    created: str
    modified: str
    version: int = 1
    root: str | None = None  # the rootCertificate profile id
    groups: list[str] = field(default_factory=list)  # assigned group ids, in order

    def entity(self) -> dict:
        entity = {"@odata.type": f"#microsoft.graph.{self.type.name}", "id": self.id, **self.body,
                  "version": self.version, "createdDateTime": self.created, "lastModifiedDateTime": self.modified}
        entity.setdefault("description", None)
        return entity

    def assignment(self, group: str) -> dict:
        return {"@odata.type": "#microsoft.graph.deviceConfigurationAssignment", "id": f"{self.id}_{group}",
                "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": group},
                "source": "direct", "sourceId": self.id, "intent": "apply"}


def _require(body: Any, *names: str) -> dict:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    for name in names:
        if body.get(name) is None:
            raise bad_request(f"Property '{name}' is required.", "Request_BadRequest")
    return body


def _string(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"Invalid value for property '{name}': a non-empty string is required.", "Request_BadRequest")
    return value


def ref_target(body: Any) -> str:
    """The object id at the end of a $ref body's @odata.id (any host, /directoryObjects, /users,
    /devices; key as a segment or in parentheses)."""
    _require(body, "@odata.id")
    ref = body["@odata.id"]
    if not isinstance(ref, str):
        raise bad_request("Invalid value for '@odata.id'.")
    tail = ref.rstrip("/").rsplit("/", 1)[-1]
    if "(" in tail and tail.endswith(")"):
        tail = tail[tail.index("(") + 1:-1].strip("'")
    if not tail or tail == ref:
        raise bad_request(f"Invalid '@odata.id': {ref!r}")
    return tail


class Tenant:
    """All state of one emulator process. Methods raise GraphError for refused requests."""

    def __init__(self, pool: dict[str, int] | None = None, revocation_delay: float = 0.05,
                 removal_delay: float = 0.05, fault: str | None = None) -> None:
        self.mock = ScopedMock(revocation_delay=revocation_delay, removal_delay=removal_delay, fault=fault,
                               platforms=PLATFORMS)
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.devices: dict[str, ManagedDevice] = {}  # managed device id -> device (current enrolments)
        self.profiles: dict[str, Profile] = {}
        self.bindings: dict[str, tuple[ManagedDevice, str]] = {}  # mock device name -> (device, user display)
        self._binding_count = itertools.count(1)
        self.clock = StateClock()
        pool = {p: 4 for p in PLATFORMS} if pool is None else pool
        for platform in PLATFORMS:
            for n in range(1, pool.get(platform, 0) + 1):
                self._enrol(f"lab-{platform}-{n:02d}", platform)

    # -- helpers -------------------------------------------------------------------------------
    def _apply(self, event: dict) -> None:
        """Send one contract event to the mock: bad input 400, a refused action 409."""
        try:
            self.mock.apply(event)
        except EventRejected as exc:
            raise GraphError(409, "Conflict", str(exc)) from None
        except ValueError as exc:
            raise bad_request(str(exc)) from None

    def _enrol(self, name: str, platform: str) -> ManagedDevice:
        device = ManagedDevice(new_id(), name, platform, new_id(), new_id(), now_text())
        self.devices[device.id] = device
        return device

    def user(self, user_id: str) -> User:
        if user_id not in self.users:
            raise not_found(user_id)
        return self.users[user_id]

    def group(self, group_id: str) -> Group:
        if group_id not in self.groups:
            raise not_found(group_id)
        return self.groups[group_id]

    def device(self, device_id: str) -> ManagedDevice:
        if device_id not in self.devices:
            raise not_found(device_id, v1=False)
        return self.devices[device_id]

    def profile(self, profile_id: str) -> Profile:
        if profile_id not in self.profiles:
            raise not_found(profile_id, v1=False)
        return self.profiles[profile_id]

    def directory_device(self, object_id: str) -> ManagedDevice | None:
        return next((d for d in self.devices.values() if d.directory_id == object_id), None)

    # -- users ---------------------------------------------------------------------------------
    def create_user(self, body: Any) -> User:
        _require(body, "accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile")
        for name in ("displayName", "mailNickname", "userPrincipalName"):
            _string(body, name)
        upn = body["userPrincipalName"]
        if "@" not in upn:
            raise bad_request("Property userPrincipalName is invalid.", "Request_BadRequest")
        if any(u.body["userPrincipalName"].lower() == upn.lower() for u in self.users.values()):
            raise bad_request("Another object with the same value for property userPrincipalName already exists.",
                              "Request_BadRequest")
        if not isinstance(body["passwordProfile"], dict) or not body["passwordProfile"].get("password"):
            raise bad_request("Property passwordProfile.password is required.", "Request_BadRequest")
        user = User(new_id(), {k: v for k, v in body.items() if k != "passwordProfile"})
        self._apply({"type": "create_user", "user": user.id})
        self.users[user.id] = user
        return user

    def delete_user(self, user_id: str) -> None:
        self.user(user_id)
        self._apply({"type": "delete_user", "user": user_id})
        del self.users[user_id]
        for group in self.groups.values():
            if user_id in group.members:
                group.members.remove(user_id)
                group.mock_names.pop(user_id, None)
        for device in self.devices.values():
            if device.user == user_id:
                device.user = None  # the device may be given a new primary user (a new enrolment)

    def assign_license(self, user_id: str, body: Any) -> User:
        user = self.user(user_id)
        _require(body, "addLicenses", "removeLicenses")
        add, remove = body["addLicenses"], body["removeLicenses"]
        if not isinstance(add, list) or not all(isinstance(a, dict) and isinstance(a.get("skuId"), str) for a in add):
            raise bad_request("Invalid value for 'addLicenses': a list of {\"skuId\": ...} is required.")
        if not isinstance(remove, list) or not all(isinstance(r, str) for r in remove):
            raise bad_request("Invalid value for 'removeLicenses': a list of SKU ids is required.")
        if not user.body.get("usageLocation"):
            raise bad_request("License assignment cannot be done for user with invalid usage location.",
                              "Request_BadRequest")
        held = {x["skuId"] for x in user.licenses}
        missing = [sku for sku in remove if sku not in held]
        if missing:
            raise bad_request(f"User does not have a corresponding license: {missing[0]}", "Request_BadRequest")
        if remove:
            self._apply({"type": "withdraw_license", "user": user_id})
        user.licenses = [x for x in user.licenses if x["skuId"] not in remove]
        for item in add:
            if item["skuId"] not in {x["skuId"] for x in user.licenses}:
                user.licenses.append({"skuId": item["skuId"], "disabledPlans": list(item.get("disabledPlans") or [])})
        return user

    # -- groups --------------------------------------------------------------------------------
    def create_group(self, body: Any) -> Group:
        _require(body, "displayName", "mailEnabled", "mailNickname", "securityEnabled")
        _string(body, "displayName")
        if body["mailEnabled"] is not False or body["securityEnabled"] is not True or body.get("groupTypes"):
            raise bad_request("This emulator creates security groups only (mailEnabled false, securityEnabled true, "
                              "no groupTypes).", "Request_BadRequest")
        group = Group(new_id(), dict(body))
        self._apply({"type": "create_group", "group": group.id})
        self.groups[group.id] = group
        return group

    def delete_group(self, group_id: str) -> None:
        self.group(group_id)
        self._apply({"type": "delete_group", "group": group_id})
        del self.groups[group_id]
        for profile in self.profiles.values():
            if group_id in profile.groups:
                profile.groups.remove(group_id)

    def member_entity(self, object_id: str) -> dict:
        if object_id in self.users:
            return self.users[object_id].entity()
        return self.directory_device(object_id).directory_entity()

    def _member_mock_name(self, object_id: str) -> str:
        if object_id in self.users:
            return object_id
        device = self.directory_device(object_id)
        if device is None:
            raise not_found(object_id)
        if device.mock_name is None:
            raise bad_request(f"Device {object_id} is not enrolled: set the managed device's primary user first.")
        return device.mock_name

    def add_member(self, group_id: str, body: Any) -> None:
        group = self.group(group_id)
        object_id = ref_target(body)
        name = self._member_mock_name(object_id)
        if object_id in group.members:
            raise bad_request("One or more added object references already exist for the following modified "
                              "properties: 'members'.", "Request_BadRequest")
        self._apply({"type": "add_member", "group": group_id, "member": name})
        group.members.append(object_id)
        group.mock_names[object_id] = [name]

    def remove_member(self, group_id: str, object_id: str) -> None:
        group = self.group(group_id)
        if object_id not in group.members:
            raise not_found(object_id)
        for name in group.mock_names.pop(object_id, []):
            self._apply({"type": "remove_member", "group": group_id, "member": name})
        group.members.remove(object_id)

    # -- managed devices -----------------------------------------------------------------------
    def set_primary_user(self, device_id: str, body: Any) -> None:
        device = self.device(device_id)
        user = self.user(ref_target(body))
        if device.user is not None:
            raise bad_request(f"Managed device {device_id} already has a primary user.")
        mock_name = device.id if device.mock_name is None else f"{device.id}~{next(self._binding_count)}"
        self._apply({"type": "enroll", "device": mock_name, "platform": device.platform, "user": user.id})
        device.user, device.mock_name = user.id, mock_name
        self.bindings[mock_name] = (device, user.body["displayName"])
        # A device given a new primary user stays in its groups: the new enrolment joins them too.
        for group in self.groups.values():
            if device.directory_id in group.members:
                self._apply({"type": "add_member", "group": group.id, "member": mock_name})
                group.mock_names[device.directory_id].append(mock_name)

    def sync(self, device_id: str) -> None:
        device = self.device(device_id)
        device.last_sync = now_text()
        if device.mock_name is not None:
            self._apply({"type": "check_in", "device": device.mock_name})

    def end_management(self, device_id: str, action: str) -> None:
        """retire or wipe; then the lab re-enrols the device: same name, new ids, no primary user."""
        device = self.device(device_id)
        if device.mock_name is not None:
            self._apply({"type": action, "device": device.mock_name})
        del self.devices[device.id]
        for group in self.groups.values():
            if device.directory_id in group.members:
                group.members.remove(device.directory_id)
                group.mock_names.pop(device.directory_id, None)
        self._enrol(device.name, device.platform)

    # -- profiles ------------------------------------------------------------------------------
    def create_profile(self, body: Any) -> Profile:
        _require(body, "@odata.type", "displayName")
        _string(body, "displayName")
        ptype = PROFILE_TYPES.get(str(body["@odata.type"]).lstrip("#").removeprefix("microsoft.graph."))
        if ptype is None:
            raise bad_request(f"Invalid @odata.type {body['@odata.type']!r}: this emulator serves the certificate "
                              f"profile types {', '.join(sorted(PROFILE_TYPES))}.")
        root = self._root_of(ptype, body)
        kind = ptype.kind
        ca = "third_party" if THIRD_PARTY_MARK in str(body.get("description") or "") else "intune"
        props = {k: v for k, v in body.items() if k not in ("@odata.type", "id") and "@odata.bind" not in k}
        stamp = now_text()
        profile = Profile(new_id(), ptype, props, stamp, stamp, root=root)
        event = {"type": "create_profile", "profile": profile.id, "kind": kind}
        if kind in ("scep", "pkcs"):
            event.update(root=root or self._hidden_root(), ca=ca)
        self._apply(event)
        self.mock.scope(profile.id, ptype.family.platforms)
        self.profiles[profile.id] = profile
        return profile

    def _root_of(self, ptype: ProfileType, body: dict) -> str | None:
        bind = body.get("rootCertificate@odata.bind")
        if bind is None:
            if ptype.kind == "scep":
                raise bad_request("A SCEP certificate profile needs its trusted root: "
                                  "'rootCertificate@odata.bind' is required.")
            return None
        if not ptype.has_root:
            raise bad_request(f"Property 'rootCertificate' does not exist on type 'microsoft.graph.{ptype.name}'.")
        root_id = ref_target({"@odata.id": bind})
        root = self.profiles.get(root_id)
        if root is None:
            raise bad_request(f"rootCertificate: no deviceConfiguration {root_id}.")
        if root.type.kind != "trusted_root" or root.type.family is not ptype.family:
            raise bad_request(f"rootCertificate: {root_id} is not a trusted root certificate profile of the "
                              f"{ptype.family.name} family.")
        return root_id

    def _hidden_root(self) -> str:
        """The never-assigned root the mock needs for PKCS types Graph gives no root relationship."""
        if self.mock._profiles.profile(HIDDEN_ROOT) is None:
            self._apply({"type": "create_profile", "profile": HIDDEN_ROOT, "kind": "trusted_root"})
        return HIDDEN_ROOT

    def update_profile(self, profile_id: str, body: Any) -> Profile:
        profile = self.profile(profile_id)
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        given = body.get("@odata.type")
        if given is not None and str(given).lstrip("#").removeprefix("microsoft.graph.") != profile.type.name:
            raise bad_request("The @odata.type of a device configuration cannot be changed.")
        if any("@odata.bind" in k for k in body):
            raise bad_request("Navigation properties cannot be changed with PATCH in this emulator.")
        self._apply({"type": "update_profile", "profile": profile_id})
        profile.body.update({k: v for k, v in body.items() if k not in ("@odata.type", "id")})
        profile.version += 1
        profile.modified = now_text()
        return profile

    def delete_profile(self, profile_id: str) -> None:
        profile = self.profile(profile_id)
        users = [p.id for p in self.profiles.values() if p.root == profile_id]
        if users:
            raise bad_request(f"Profile {profile_id} is the rootCertificate of profile {users[0]}: delete that first.")
        for group in list(profile.groups):
            self._apply({"type": "unassign_profile", "profile": profile_id, "group": group})
            profile.groups.remove(group)
        del self.profiles[profile_id]

    def assign(self, profile_id: str, body: Any) -> list[dict]:
        profile = self.profile(profile_id)
        _require(body, "assignments")
        if not isinstance(body["assignments"], list):
            raise bad_request("Invalid value for 'assignments': a list is required.")
        wanted: list[str] = []
        for item in body["assignments"]:
            target = item.get("target") if isinstance(item, dict) else None
            if not isinstance(target, dict) or \
                    str(target.get("@odata.type", "")).lstrip("#") != "microsoft.graph.groupAssignmentTarget":
                raise bad_request("Each assignment needs a target of @odata.type "
                                  "'#microsoft.graph.groupAssignmentTarget' (the only one this emulator serves).")
            group_id = target.get("groupId")
            if group_id not in self.groups:
                raise bad_request(f"Assignment target group {group_id!r} does not exist.")
            if group_id not in wanted:
                wanted.append(group_id)
        for group_id in [g for g in profile.groups if g not in wanted]:
            self._apply({"type": "unassign_profile", "profile": profile_id, "group": group_id})
            profile.groups.remove(group_id)
        for group_id in [g for g in wanted if g not in profile.groups]:
            self._apply({"type": "assign_profile", "profile": profile_id, "group": group_id})
            profile.groups.append(group_id)
        return [profile.assignment(g) for g in profile.groups]

    # -- certificate states --------------------------------------------------------------------
    def certificate_states(self, profile_id: str, type_name: str) -> list[dict]:
        """The profile's managedDeviceCertificateStates, in delivery order (removed ones too)."""
        profile = self.profile(profile_id)
        if type_name != profile.type.name or not profile.type.has_cert_states:
            raise not_found(f"{profile_id}/microsoft.graph.{type_name}/managedDeviceCertificateStates", v1=False)
        states, records = [], self.mock.observe()
        for record in records:  # issuance times follow the whole inventory's delivery order
            self.clock.issued(record["serial"])
        for record in records:
            if record["profile"] != profile_id or record["device"] not in self.bindings:
                continue
            device, user_display = self.bindings[record["device"]]
            states.append(render(record, self.mock.certificate(record["serial"]), profile.id,
                                 str(profile.body.get("displayName")), device.id, device.name, user_display,
                                 profile.type.family.cert_platform, self.clock))
        return states
