# What this module knows: the emulated tenant -- Graph's directory (users, security groups,
# directory devices, deleted users), Intune's managed devices (the lab's pool, each enrolled by a
# lab user of its own), certificate profiles and their assignments -- which of the mock's contract
# events each Graph write is, and WHEN Intune lets it take effect: every documented latency and
# restriction of docs/graph-wire.md ("Intune as documented") is here, delayed through timing.py's
# scheduler in Intune's time. It validates a write completely before anything changes, so a
# refused request changes nothing.
# What it does not know: HTTP or OData (app.py, odata.py), certificate rendering (cert_states.py).
# It never imports certconform.model.
"""The emulated tenant: Graph objects over a platform-scoped realistic MockMDM."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from certconform.mdm import EventRejected

from .cert_states import StateClock, render
from .catalogue import DEVICE_ATTRIBUTES, PLATFORMS, PROFILE_TYPES, ProfileType
from .odata import GraphError, bad_request, new_id, not_found, now_text
from .scoped_mock import ScopedMock
from .timing import Clock, Delays, Scheduler

THIRD_PARTY_MARK = "certconform-ca=third_party"
HIDDEN_ROOT = "graph-emulator-hidden-root"
LAB_SKU = "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"  # the lab users' licence (every SKU stands for Intune's)
LAB_DOMAIN = "lab.example"
# devices-wipe.md, retire tables: the Entra (Azure AD) record is not removed for iOS and macOS; it is
# for Windows 10 and Android device administrator (work profile: not said; treated as Android's)
KEEPS_ENTRA_RECORD = ("ios", "macos")
# devices-wipe.md: wipe is not supported for Android personally-owned work profiles
NO_WIPE = {"android_work": "Wipe is not supported for Android Enterprise personally-owned devices with a work "
                           "profile; use retire."}
# find-primary-user.md: the primary user can be changed on (Entra-joined or hybrid) Windows only
PRIMARY_USER_PLATFORMS = ("windows",)
# PATCH properties that are not settings of the certificate (an edit of these alone is no change
# the device sees; every other property is)
NOT_SETTINGS = ("displayName", "description", "@odata.type", "id", "roleScopeTagIds")


@dataclass
class User:
    id: str
    body: dict
    licenses: list[dict] = field(default_factory=list)
    mock_name: str = ""  # the user's name in the mock (a new one after a restore or a licence given back)
    unlicensed_in_mock: bool = False

    def __post_init__(self) -> None:
        self.mock_name = self.mock_name or self.id

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
class DirectoryDevice:
    """An Entra (directory) device record; for iOS and macOS it outlives its managed device."""
    id: str
    device_id: str  # deviceId = the managed device's azureADDeviceId
    name: str
    platform: str

    def entity(self) -> dict:
        return {"@odata.type": "#microsoft.graph.device", "id": self.id, "deviceId": self.device_id,
                "displayName": self.name, "operatingSystem": DEVICE_ATTRIBUTES[self.platform][0],
                "accountEnabled": True}


@dataclass
class ManagedDevice:
    id: str
    name: str
    platform: str
    azure_ad_device_id: str
    directory_id: str  # the directory device object's id
    enrolled_at: str
    enrolled_by: str | None = None  # the lab user who enrolled it (None: a shared device)
    user: str | None = None  # primary user id
    mock_name: str | None = None  # the mock's device name for the current binding
    last_sync: str | None = None
    synced_at: float = float("-inf")  # the clock's time of its last check-in
    state: str = "managed"  # managementState: managed, retirePending, wipePending

    def entity(self, users: dict[str, User]) -> dict:
        os_name, device_type, maker, model = DEVICE_ATTRIBUTES[self.platform]
        user = users.get(self.user) if self.user else None
        return {"@odata.type": "#microsoft.graph.managedDevice", "id": self.id, "deviceName": self.name,
                "operatingSystem": os_name, "deviceType": device_type, "manufacturer": maker, "model": model,
                "azureADDeviceId": self.azure_ad_device_id, "userId": user.id if user else "",
                "userPrincipalName": user.body["userPrincipalName"] if user else "",
                "userDisplayName": user.body["displayName"] if user else "",
                "managementAgent": "mdm", "managementState": self.state,
                "managedDeviceOwnerType": "personal" if self.platform == "android_work" else "company",
                "enrolledDateTime": self.enrolled_at, "lastSyncDateTime": self.last_sync or self.enrolled_at}


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
    """All state of one emulator process. Methods raise GraphError for refused requests; call
    `advance()` before each request so that the effects that are due have happened."""

    def __init__(self, pool: dict[str, int] | None = None, delays: Delays | None = None, time_scale: float = 1.0,
                 fault: str | None = None, clock: Clock | None = None) -> None:
        self.delays = delays or Delays()
        self.clock = clock or Clock(time_scale)
        if fault == "slower-than-documented":
            from .timing import DOCUMENTED

            slow = 2 * DOCUMENTED["refresh_cycle"].seconds  # past every window the adapter declares
            self.delays = self.delays.with_(notify_s=slow, propagation_s=slow, revocation_s=slow)
        self.fault = fault
        self.scheduler = Scheduler(self.clock)
        self.mock = ScopedMock(revocation_delay=self.clock.real(self.delays.revocation_s),
                               removal_delay=self.clock.real(self.delays.notify_s), fault=fault, platforms=PLATFORMS,
                               now=self.clock.now)
        self.users: dict[str, User] = {}
        self.deleted_users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.directory: dict[str, DirectoryDevice] = {}  # directory device object id -> record
        self.devices: dict[str, ManagedDevice] = {}  # managed device id -> device (current enrolments)
        self.profiles: dict[str, Profile] = {}
        self.bindings: dict[str, tuple[ManagedDevice, str]] = {}  # mock device name -> (device, user display)
        self.awaiting_user: dict[str, list[tuple[str, str]]] = {}  # deleted user -> devices to re-enrol
        self.actions: list[tuple[str, str, str]] = []  # (action, platform, device name) as requested
        self._binding_count = itertools.count(1)
        self.state_clock = StateClock()
        pool = {p: 4 for p in PLATFORMS} if pool is None else pool
        for platform in PLATFORMS:
            for n in range(1, pool.get(platform, 0) + 1):
                name = f"lab-{platform}-{n:02d}"
                user = None if fault == "pool-device-without-user" else self._lab_user(name)
                self._enrol(name, platform, user)

    # -- time ----------------------------------------------------------------------------------
    def advance(self) -> None:
        """Run every delayed effect that is due (called before each request)."""
        self.scheduler.run_due()

    def _later(self, intune_seconds: float, effect) -> None:
        self.scheduler.after(intune_seconds, effect)

    # -- helpers -------------------------------------------------------------------------------
    def _apply(self, event: dict) -> None:
        """Send one contract event to the mock: bad input 400, a refused action 409."""
        try:
            self.mock.apply(event)
        except EventRejected as exc:
            raise GraphError(409, "Conflict", str(exc)) from None
        except ValueError as exc:
            raise bad_request(str(exc)) from None

    def _apply_later(self, event: dict) -> None:
        """A delayed effect's mock event: one that no longer applies (its group or member went in
        the meantime) is dropped, as Intune drops a change it can no longer make."""
        try:
            self.mock.apply(event)
        except (EventRejected, ValueError):
            pass

    def _lab_user(self, device_name: str) -> User:
        """The lab user who enrolled `device_name` (licensed, one per device)."""
        tail = device_name.removeprefix("lab-")
        user = User(new_id(), {"accountEnabled": True, "displayName": f"Lab user {tail}", "mailNickname": f"user-{tail}",
                               "userPrincipalName": f"user-{tail.replace('_', '-')}@{LAB_DOMAIN}", "usageLocation": "US"},
                    [{"skuId": LAB_SKU, "disabledPlans": []}])
        self.mock.apply({"type": "create_user", "user": user.mock_name})
        self.users[user.id] = user
        return user

    def _enrol(self, name: str, platform: str, user: User | None) -> ManagedDevice:
        record = DirectoryDevice(new_id(), new_id(), name, platform)
        self.directory[record.id] = record
        device = ManagedDevice(new_id(), name, platform, record.device_id, record.id, now_text(),
                               enrolled_by=user.id if user else None, user=user.id if user else None)
        self.devices[device.id] = device
        if user is not None:
            self._bind(device, user)
        return device

    def _bind(self, device: ManagedDevice, user: User) -> None:
        """Enrol `device` for `user` in the mock (a new binding name after the first) and join the
        mock's groups the device's record is in."""
        mock_name = device.id if device.mock_name is None else f"{device.id}~{next(self._binding_count)}"
        self.mock.apply({"type": "enroll", "device": mock_name, "platform": device.platform, "user": user.mock_name})
        device.mock_name = mock_name
        self.bindings[mock_name] = (device, user.body["displayName"])
        for group in self.groups.values():
            if device.directory_id in group.members:
                self.mock.apply({"type": "add_member", "group": group.id, "member": mock_name})
                group.mock_names.setdefault(device.directory_id, []).append(mock_name)

    def _rebind(self, user: User) -> None:
        """Give `user` a fresh identity in the mock (licensed, not deleted) with its devices: the
        mock has no event for a licence given back or a user restored (docs/graph-wire.md)."""
        user.mock_name = f"{user.id}~{next(self._binding_count)}"
        user.unlicensed_in_mock = False
        self.mock.apply({"type": "create_user", "user": user.mock_name})
        for group in self.groups.values():
            if user.id in group.members:
                self.mock.apply({"type": "add_member", "group": group.id, "member": user.mock_name})
                group.mock_names.setdefault(user.id, []).append(user.mock_name)
        for device in list(self.devices.values()):
            if device.enrolled_by == user.id and device.state == "managed":
                device.user = user.id
                self._bind(device, user)

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

    def directory_device(self, object_id: str) -> DirectoryDevice | None:
        return self.directory.get(object_id)

    def member_of(self, object_id: str) -> list[Group]:
        if object_id not in self.directory and object_id not in self.users:
            raise not_found(object_id)
        return [g for g in self.groups.values() if object_id in g.members]

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
        self._apply({"type": "create_user", "user": user.mock_name})
        self.users[user.id] = user
        return user

    def delete_user(self, user_id: str) -> None:
        """A soft delete (user-delete.md): the user goes to deleted items, whence it can be restored."""
        user = self.user(user_id)
        self._apply({"type": "delete_user", "user": user.mock_name})
        del self.users[user_id]
        self.deleted_users[user_id] = user
        for group in self.groups.values():
            if user_id in group.members:
                group.members.remove(user_id)
                group.mock_names.pop(user_id, None)
        for device in self.devices.values():
            if device.user == user_id:
                device.user = None  # Choice: the device stays enrolled, without a primary user

    def deleted_user(self, user_id: str) -> User:
        if user_id not in self.deleted_users:
            raise not_found(user_id)
        return self.deleted_users[user_id]

    def restore_user(self, user_id: str) -> User:
        """directory-deleteditems-restore.md: the user comes back with its id and licences (not
        its group memberships: Choice); its devices get it back as their user."""
        user = self.deleted_user(user_id)
        del self.deleted_users[user_id]
        self.users[user_id] = user
        self._rebind(user)
        if not user.licenses:
            self._apply({"type": "withdraw_license", "user": user.mock_name})
            user.unlicensed_in_mock = True
        for name, platform in self.awaiting_user.pop(user_id, []):
            self._enrol(name, platform, user)
        return user

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
        user.licenses = [x for x in user.licenses if x["skuId"] not in remove]
        for item in add:
            if item["skuId"] not in {x["skuId"] for x in user.licenses}:
                user.licenses.append({"skuId": item["skuId"], "disabledPlans": list(item.get("disabledPlans") or [])})
        if remove and not user.licenses and not user.unlicensed_in_mock:
            self._apply({"type": "withdraw_license", "user": user.mock_name})
            user.unlicensed_in_mock = True
        elif add and user.unlicensed_in_mock:
            self._rebind(user)  # licensed again: a fresh identity in the mock (it has no such event)
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
        return self.directory[object_id].entity()

    def _mock_names_of(self, object_id: str) -> list[str]:
        """The mock's current names for a directory object: a user's, or the enrolled device's
        behind a directory device record (none for a record whose device left management)."""
        if object_id in self.users:
            return [self.users[object_id].mock_name]
        return [d.mock_name for d in self.devices.values()
                if d.directory_id == object_id and d.mock_name is not None and d.state == "managed"]

    def add_member(self, group_id: str, body: Any) -> None:
        """The membership is in the directory at once; Intune's targeting follows after the
        propagation delay (device-profile-troubleshoot.md: up to 7 hours or more)."""
        group = self.group(group_id)
        object_id = ref_target(body)
        if object_id not in self.users and object_id not in self.directory:
            raise not_found(object_id)
        if object_id in group.members:
            raise bad_request("One or more added object references already exist for the following modified "
                              "properties: 'members'.", "Request_BadRequest")
        group.members.append(object_id)
        made = self.clock.now()

        def reach() -> None:
            if group_id not in self.groups or object_id not in group.members:
                return
            for name in self._mock_names_of(object_id):
                if name not in group.mock_names.get(object_id, []):
                    self._apply_later({"type": "add_member", "group": group_id, "member": name})
                    group.mock_names.setdefault(object_id, []).append(name)
            self._notify_missed(object_id, made)
        self._later(self.delays.propagation_s, reach)

    def _notify_missed(self, object_id: str, made: float) -> None:
        """A membership now in Intune's targeting: Intune notifies the devices it affects to check
        in (device-profile-troubleshoot.md). The emulator's choice: only the devices that checked in
        while the change propagated are notified (they missed it); the others get it at their next
        check-in, as they would when a notification takes hours."""
        for device in list(self.devices.values()):
            if device.state == "managed" and device.synced_at >= made and \
                    object_id in (device.directory_id, device.user):
                self._later(self.delays.notify_s, lambda d=device: self._check_in(d))

    def remove_member(self, group_id: str, object_id: str) -> None:
        group = self.group(group_id)
        if object_id not in group.members:
            raise not_found(object_id)
        group.members.remove(object_id)

        def reach() -> None:
            if group_id not in self.groups or object_id in group.members:
                return
            for name in group.mock_names.pop(object_id, []):
                self._apply_later({"type": "remove_member", "group": group_id, "member": name})
        self._later(self.delays.propagation_s, reach)

    # -- managed devices -----------------------------------------------------------------------
    def set_primary_user(self, device_id: str, body: Any) -> None:
        """find-primary-user.md: on Windows only; shows within 10 minutes; the enrolling user (whose
        sign-in user-targeted certificates follow) does not change, so neither does targeting."""
        device = self.device(device_id)
        user = self.user(ref_target(body))
        if device.platform not in PRIMARY_USER_PLATFORMS:
            raise bad_request(f"The primary user of a {DEVICE_ATTRIBUTES[device.platform][0]} device cannot be "
                              "changed: only Windows devices that are Entra joined or hybrid joined support it; "
                              "other platforms get their user at enrolment.")

        def show() -> None:
            if device.id in self.devices:
                device.user = user.id
        self._later(self.delays.primary_user_s, show)

    def sync(self, device_id: str) -> None:
        """syncDevice notifies the device, which checks in after the notification delay."""
        device = self.device(device_id)
        self._later(self.delays.notify_s, lambda: self._check_in(device))

    def _check_in(self, device: ManagedDevice) -> None:
        if device.id not in self.devices:
            return
        device.last_sync = now_text()
        device.synced_at = self.clock.now()
        if device.state != "managed":
            self._complete(device)  # the pending remote action reaches the device
        elif device.mock_name is not None:
            self._apply_later({"type": "check_in", "device": device.mock_name})

    def end_management(self, device_id: str, action: str) -> None:
        """retire or wipe: pending until the device checks in (devices-wipe.md); then the device
        leaves Intune, its Entra record goes except on iOS and macOS, and the lab's person enrols
        it again after a while (the lab's choice): same name, new ids, the same user."""
        device = self.device(device_id)
        self.actions.append((action, device.platform, device.name))  # every request that reached Intune
        if action == "wipe" and device.platform in NO_WIPE:
            raise GraphError(409, "Conflict", NO_WIPE[device.platform])
        if device.state != "managed":
            return  # an action is pending already
        device.state = f"{action}Pending"
        if action == "retire" and self.fault == "retire-never-completes":
            return
        self._later(self.delays.notify_s, lambda: self._check_in(device))

    def _complete(self, device: ManagedDevice) -> None:
        action = device.state.removesuffix("Pending")
        if device.mock_name is not None:
            self._apply_later({"type": action, "device": device.mock_name})
        del self.devices[device.id]
        if device.platform not in KEEPS_ENTRA_RECORD:
            self.directory.pop(device.directory_id, None)
            for group in self.groups.values():
                if device.directory_id in group.members:
                    group.members.remove(device.directory_id)
                    group.mock_names.pop(device.directory_id, None)
        if device.enrolled_by is not None:
            self._later(self.delays.reenrol_s, lambda: self._reenrol(device.name, device.platform, device.enrolled_by))

    def _reenrol(self, name: str, platform: str, user_id: str) -> None:
        if user_id in self.users:
            self._enrol(name, platform, self.users[user_id])
        else:
            self.awaiting_user.setdefault(user_id, []).append((name, platform))

    # -- profiles ------------------------------------------------------------------------------
    def published_roots(self) -> dict[str, str]:
        """The CA roots a lab's administrator would configure (base64 DER): the Intune CA's and
        the third-party CA's. Under the fault wrong-ca-root, roots the CAs do not issue under."""
        import base64

        from cryptography.hazmat.primitives import serialization

        pki = self.mock._pki
        roots = {"intune": pki.root.certificate, "third_party": pki.third_party.certificate}
        if self.fault == "wrong-ca-root":
            from certconform.mdm.mock.authority import CertificateAuthority

            decoy = CertificateAuthority("Another root CA", "Not the issuing hierarchy").certificate
            roots = {k: decoy for k in roots}
        return {k: base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for k, c in roots.items()}

    def _issues_under(self, ca: str, root: str | None) -> bool:
        """Whether a SCEP/PKCS profile's bound trusted root is its CA's root: the device must trust
        the CA (certificates-profile-scep.md; Windows' ClientCertificateInstall CSP checks the CA
        thumbprint). A profile bound to another root never installs a certificate."""
        if root is None:
            return True
        import base64

        from cryptography.hazmat.primitives import serialization

        pki = self.mock._pki
        want = (pki.root if ca == "intune" else pki.third_party).certificate.public_bytes(serialization.Encoding.DER)
        given = str(self.profiles[root].body.get("trustedRootCertificate") or "")
        try:
            return base64.b64decode(given, validate=True) == want
        except ValueError:
            return False

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
        # an imported PKCS profile delivers only PFX files uploaded per user (userPFXCertificate), a
        # route this emulator does not serve: nothing is ever uploaded, so nothing is delivered
        delivers = kind == "trusted_root" or (kind != "pkcs_imported" and self._issues_under(ca, root))
        reaches = ptype.family.platforms if delivers else ()
        self.mock.scope(profile.id, reaches)
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
        """PATCH: a change of a certificate setting is a change the devices get (update_profile in
        the mock); a name or description alone is not. Choice: no page lists which edits make
        Intune reissue (docs/graph-wire.md)."""
        profile = self.profile(profile_id)
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        given = body.get("@odata.type")
        if given is not None and str(given).lstrip("#").removeprefix("microsoft.graph.") != profile.type.name:
            raise bad_request("The @odata.type of a device configuration cannot be changed.")
        if any("@odata.bind" in k for k in body):
            raise bad_request("Navigation properties cannot be changed with PATCH in this emulator.")
        changed = [k for k, v in body.items() if k not in NOT_SETTINGS and profile.body.get(k) != v]
        if changed and self.fault != "update-does-not-reissue":
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
    def _snapshot(self) -> dict[str, list[dict]]:
        """The mock's inventory by profile, taken again after any change and once the next pending
        revocation, removal or delivery is due: a client reading every profile's states in turn
        reads one inventory, not one per profile, and never an out-of-date one."""
        now = self.clock.now()
        cached = getattr(self, "_snap", None)
        if cached is not None and cached[0] == self.mock.changes and (cached[1] is None or now < cached[1]):
            return cached[2]
        by_profile: dict[str, list[dict]] = {}
        for record in self.mock.observe():  # issuance times follow the whole inventory's delivery order
            self.state_clock.issued(record["serial"])
            by_profile.setdefault(record["profile"], []).append(record)
        self._snap = (self.mock.changes, self.mock.next_landing(), by_profile)
        return by_profile

    def certificate_states(self, profile_id: str, type_name: str) -> list[dict]:
        """The profile's managedDeviceCertificateStates, in delivery order (removed ones too)."""
        profile = self.profile(profile_id)
        if type_name != profile.type.name or not profile.type.has_cert_states:
            raise not_found(f"{profile_id}/microsoft.graph.{type_name}/managedDeviceCertificateStates", v1=False)
        states = []
        for record in self._snapshot().get(profile_id, ()):
            if record["device"] not in self.bindings:
                continue
            device, user_display = self.bindings[record["device"]]
            states.append(render(record, self.mock.certificate(record["serial"]), profile.id,
                                 str(profile.body.get("displayName")), device.id, device.name, user_display,
                                 profile.type.family.cert_platform, self.state_clock,
                                 revoked_state=self.fault == "revoked-but-not-removed"))
        return states
