"""The directory side of the reference model: users, licences, groups, devices, profiles.

What this module knows: the contract's event table (fields, what each event names), which
events are bad input, who is in which group, which profile targets which device, and, for
one event, which certificates it concerns and in which *situation* (the vocabulary of
model/behaviour.yaml: unenroll, leaves_group, user_deleted_untargeted, ...).
What it does not know: what a situation requires of a certificate (model/rules.py) or
anything about certificates beyond the inventory records it is handed.

A World is deterministic: the same events give the same world, whatever the implementation
under test does, so the oracle can rebuild it from the event stream alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PLATFORMS = ("windows", "ios", "macos", "android_knox", "android_work", "android_legacy")
KINDS = ("trusted_root", "scep", "pkcs", "pkcs_imported")
CAS = ("intune", "third_party")

# Contract event table: type -> required string fields (../shared/CONTRACT.md, "Events").
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "create_user": ("user",),
    "create_group": ("group",),
    "add_member": ("group", "member"),
    "remove_member": ("group", "member"),
    "enroll": ("device", "platform", "user"),
    "create_profile": ("profile", "kind"),
    "assign_profile": ("profile", "group"),
    "unassign_profile": ("profile", "group"),
    "update_profile": ("profile",),
    "check_in": ("device",),
    "delete_certificate": ("device", "profile"),
    "unenroll": ("device",),
    "wipe": ("device",),
    "retire": ("device",),
    "lose_license": ("user",),
    "withdraw_license": ("user",),
    "delete_user": ("user",),
    "delete_group": ("group",),
}
DEVICE_ACTIONS = ("unenroll", "wipe", "retire")
# Situations that World.situations gives only to certificates of these kinds.
SITUATION_KINDS = {"chained_untargeted": ("trusted_root",), "chained_scep_unassigned": ("trusted_root",)}
# A field with one of these names must name an existing thing (World attribute), except in the
# event that creates it (CREATES), where the name must be new.
KNOWN = {"user": "users", "group": "groups", "device": "devices", "profile": "profiles"}
CREATES = {"create_user": "user", "create_group": "group", "enroll": "device", "create_profile": "profile"}


@dataclass
class Device:
    name: str
    platform: str
    user: str | None  # None once the enrolling user was deleted (a new user of the same name is someone else)
    enrolled: bool = True


@dataclass
class Profile:
    name: str
    kind: str
    root: str | None = None
    ca: str | None = None
    groups: set[str] = field(default_factory=set)


@dataclass
class World:
    users: dict[str, bool] = field(default_factory=dict)  # user -> licensed
    groups: dict[str, set[str]] = field(default_factory=dict)  # group -> members (users or devices)
    devices: dict[str, Device] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)  # in creation order
    # the certificate kinds the implementation can observe (capabilities 'observes'): a profile of
    # another kind exists and targets devices, but its certificates never appear in observe()
    observes: frozenset[str] = frozenset(KINDS)
    # (device, profile) pairs whose certificate someone deleted by hand since the device's last
    # check-in: the next check-in's delivery for them is GEN-MANUAL-2's reissue, any other a
    # plain delivery (the contract's check-in rule)
    manually_deleted: set[tuple[str, str]] = field(default_factory=set)

    # ------------------------------------------------------------------ validation
    def validate(self, event: object) -> dict:
        """Return the event if it is well formed and names known things; else raise ValueError
        with a message naming the field. Never mutates the world."""
        if not isinstance(event, dict):
            raise ValueError(f"event must be a JSON object, got {type(event).__name__}")
        etype = event.get("type")
        if not isinstance(etype, str) or not etype:
            raise ValueError("field 'type' is missing or not a string")
        if etype not in EVENT_FIELDS:
            raise ValueError(f"field 'type': unknown event type {etype!r}")
        needed = list(EVENT_FIELDS[etype])
        if etype == "create_profile" and event.get("kind") in ("scep", "pkcs"):
            needed += ["root", "ca"]
        for name in needed:
            value = event.get(name)
            if value is None:
                raise ValueError(f"{etype}: field {name!r} is missing")
            if not isinstance(value, str) or not value:
                raise ValueError(f"{etype}: field {name!r} must be a non-empty string")
        created = CREATES.get(etype)
        for name in needed:
            if name in KNOWN and name != created and event[name] not in getattr(self, KNOWN[name]):
                raise ValueError(f"{etype}: field {name!r}: unknown {name} {event[name]!r}")
        if created:
            self._check_new_name(etype, created, event[created])
        self._check_rules(etype, event)
        return event

    def _check_new_name(self, etype: str, fieldname: str, name: str) -> None:
        taken = {"user": self.users.keys() | self.devices.keys(), "device": self.users.keys() | self.devices.keys(),
                 "group": self.groups.keys(), "profile": self.profiles.keys()}[fieldname]
        if name in taken:
            raise ValueError(f"{etype}: field {fieldname!r}: {name!r} already exists"
                             + (" (users and devices share one namespace)" if fieldname in ("user", "device") else ""))

    def _check_rules(self, etype: str, e: dict) -> None:
        """The event-specific rules beyond 'names exist' (one place, one rule each)."""
        def bad(fieldname: str, why: str):
            raise ValueError(f"{etype}: field {fieldname!r}: {why}")

        if etype in ("add_member", "remove_member") and e["member"] not in self.users.keys() | self.devices.keys():
            bad("member", f"unknown user or device {e['member']!r}")
        if etype == "remove_member" and e["member"] not in self.groups[e["group"]]:
            bad("member", f"{e['member']!r} is not a member of {e['group']!r}")
        if etype == "enroll" and e["platform"] not in PLATFORMS:
            bad("platform", f"unknown platform {e['platform']!r} (one of {', '.join(PLATFORMS)})")
        if etype == "create_profile":
            if e["kind"] not in KINDS:
                bad("kind", f"unknown kind {e['kind']!r} (one of {', '.join(KINDS)})")
            if e["kind"] in ("scep", "pkcs"):
                root = self.profiles.get(e["root"])
                if root is None:
                    bad("root", f"unknown profile {e['root']!r}")
                if root.kind != "trusted_root":
                    bad("root", f"{e['root']!r} is a {root.kind} profile, not trusted_root")
                if e["ca"] not in CAS:
                    bad("ca", f"unknown CA {e['ca']!r} (intune or third_party)")
        if etype == "unassign_profile" and e["group"] not in self.profiles[e["profile"]].groups:
            bad("group", f"{e['profile']!r} is not assigned to {e['group']!r}")
        # A device action on a device that is no longer enrolled is not bad input: the device is
        # known. What it may do is I-DEVICE-ACTION-ON-UNMANAGED (model/oracle.py).

    # ------------------------------------------------------------------ mutation
    def apply(self, event: dict) -> None:
        """Apply a validated event to the directory (certificates are not the world's business)."""
        t = event["type"]
        if t == "create_user":
            self.users[event["user"]] = True
        elif t == "create_group":
            self.groups[event["group"]] = set()
        elif t == "add_member":
            self.groups[event["group"]].add(event["member"])
        elif t == "remove_member":
            self.groups[event["group"]].discard(event["member"])
        elif t == "enroll":
            self.devices[event["device"]] = Device(event["device"], event["platform"], event["user"])
        elif t == "create_profile":
            kind = event["kind"]
            root, ca = (event["root"], event["ca"]) if kind in ("scep", "pkcs") else (None, None)
            self.profiles[event["profile"]] = Profile(event["profile"], kind, root, ca)
        elif t == "assign_profile":
            self.profiles[event["profile"]].groups.add(event["group"])
        elif t == "unassign_profile":
            self.profiles[event["profile"]].groups.discard(event["group"])
        elif t in DEVICE_ACTIONS:
            self.devices[event["device"]].enrolled = False
        elif t in ("lose_license", "withdraw_license"):
            self.users[event["user"]] = False
        elif t == "delete_user":
            user = event["user"]
            del self.users[user]
            for members in self.groups.values():
                members.discard(user)
            for device in self.devices.values():
                if device.user == user:
                    device.user = None
        elif t == "delete_group":
            del self.groups[event["group"]]
            for profile in self.profiles.values():
                profile.groups.discard(event["group"])
        elif t == "delete_certificate":
            self.manually_deleted.add((event["device"], event["profile"]))
        elif t == "check_in":
            self.manually_deleted = {pair for pair in self.manually_deleted if pair[0] != event["device"]}
        # update_profile changes no directory state

    def copy(self) -> "World":
        """An independent copy (what copy.deepcopy gives, field by field: it runs for every
        event that can end a targeting, so it must stay cheap)."""
        return World(dict(self.users), {g: set(m) for g, m in self.groups.items()},
                     {n: Device(d.name, d.platform, d.user, d.enrolled) for n, d in self.devices.items()},
                     {n: Profile(p.name, p.kind, p.root, p.ca, set(p.groups)) for n, p in self.profiles.items()},
                     self.observes, set(self.manually_deleted))

    # ------------------------------------------------------------------ queries
    def reaches(self, group: str, device: Device) -> bool:
        """Does `group` contain the device or the device's user?"""
        members = self.groups.get(group, ())
        return device.name in members or (device.user is not None and device.user in members)

    def targets(self, profile: Profile, device: Device) -> bool:
        """A profile targets an enrolled device through any assigned group that reaches it."""
        return device.enrolled and any(self.reaches(g, device) for g in profile.groups)

    def targeting_profiles(self, device_name: str) -> list[Profile]:
        device = self.devices[device_name]
        return [p for p in self.profiles.values() if self.targets(p, device)]

    def root_chain(self, record: dict) -> frozenset[str]:
        """For a trusted root certificate: the kinds (scep, pkcs) of the profiles that name its root
        profile and target its device. A section's root list speaks about the roots of that
        section's certificates, so it applies to the root as far as this chain reaches."""
        device = self.devices.get(record["device"])
        if device is None or record.get("kind") != "trusted_root":
            return frozenset()
        return frozenset(p.kind for p in self.profiles.values()
                         if p.kind in ("scep", "pkcs") and p.root == record["profile"] and self.targets(p, device))

    def delivery_required(self, device_name: str) -> bool:
        """False where delivery is open: the device's user lost the licence or was deleted."""
        user = self.devices[device_name].user
        return user is not None and self.users.get(user, False)

    def situations(self, event: dict, inventory: list[dict]) -> dict[str, str]:
        """For a validated event, map the serial of every *installed* certificate it concerns to
        its situation. Certificates left out are outside the event's scope."""
        t = event["type"]
        installed = [r for r in inventory if r.get("installed") and r.get("device") in self.devices]
        if not installed:
            return {}  # (most events of a set-up: nothing to copy the world for)
        after = None
        if t in ("remove_member", "unassign_profile", "delete_user", "delete_group"):
            after = self.copy()
            after.apply(event)

        def lost(r: dict) -> bool:
            p, d = self.profiles.get(r["profile"]), self.devices[r["device"]]
            return p is not None and self.targets(p, d) and not after.targets(after.profiles[p.name], after.devices[d.name])

        def chain_lost(r: dict) -> bool:
            """A trusted root that a SCEP/PKCS profile names, when the event ends that profile's
            targeting of the device (I-ROOT-CHAINED-IN-REACH)."""
            d = self.devices[r["device"]]
            return any(p.root == r["profile"] and self.targets(p, d) and not after.targets(after.profiles[p.name], after.devices[d.name])
                       for p in self.profiles.values() if p.kind in ("scep", "pkcs"))

        def chain_left(r: dict) -> bool:
            """After the event, a SCEP/PKCS profile naming the root still targets the device."""
            d = after.devices[r["device"]]
            return any(p.root == r["profile"] and after.targets(p, d)
                       for p in after.profiles.values() if p.kind in ("scep", "pkcs"))

        acted_on = self.devices.get(event.get("device")) if t in DEVICE_ACTIONS else None
        out: dict[str, str] = {}
        for r in installed:
            dev = self.devices[r["device"]]
            if acted_on is not None:
                if r["device"] == acted_on.name and acted_on.enrolled:  # a second action concerns nothing
                    # the offboarding note's other order: the user was deleted before the wipe or retire
                    late = t in ("wipe", "retire") and acted_on.user is None
                    out[r["serial"]] = f"{t}_after_user_deleted" if late else t
            elif t in ("remove_member", "unassign_profile") and lost(r):
                if t == "unassign_profile":
                    out[r["serial"]] = "unassigned"
                else:
                    out[r["serial"]] = "leaves_group" if event["member"] == dev.name else "user_leaves_group"
            elif t == "update_profile" and r["profile"] == event["profile"]:
                profile = self.profiles[r["profile"]]
                out[r["serial"]] = "updated" if self.targets(profile, dev) else "updated_untargeted"
            elif t in ("lose_license", "withdraw_license") and dev.user == event["user"]:
                out[r["serial"]] = "license_lost" if t == "lose_license" else "license_withdrawn"
            elif t == "delete_user" and dev.user == event["user"]:
                out[r["serial"]] = "user_deleted_untargeted" if lost(r) else "user_deleted"
            elif t == "delete_group" and self._deleted_group_reached(event["group"], r, dev):
                out[r["serial"]] = "group_deleted_untargeted" if lost(r) else "group_deleted"
            elif t == "delete_certificate" and (r["device"], r["profile"]) == (event["device"], event["profile"]):
                out[r["serial"]] = "manual_delete"
            if r["serial"] not in out and after is not None and r["kind"] == "trusted_root" and chain_lost(r):
                unassigned = self.profiles[event["profile"]] if t == "unassign_profile" else None
                # the 04/08/2024 edition names this case for Windows SCEP (WIN-SCEP-ROOT-4); a root
                # that another SCEP/PKCS profile still targeting the device chains to is never required gone
                scep = unassigned is not None and unassigned.kind == "scep" and unassigned.root == r["profile"] \
                    and not chain_left(r)
                out[r["serial"]] = "chained_scep_unassigned" if scep else "chained_untargeted"
        return out

    def _deleted_group_reached(self, group: str, record: dict, device: Device) -> bool:
        """The directory-removal bullets speak of deleting a group the device or its user is in,
        whether or not the profile is assigned to it (I-GROUP-DELETION-IS-DIRECTORY-REMOVAL)."""
        return record["profile"] in self.profiles and self.reaches(group, device)
