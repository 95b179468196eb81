"""IntuneAdapter: the adapter contract (../shared/CONTRACT.md) over Microsoft Graph (spec `intune`).

What this module knows: the run's state -- contract names -> Graph ids; the device pool (devices
already enrolled in Intune, each by a test user of its own: iOS, macOS and Android get their user
at enrolment, and user certificates on Windows need that user signed in, memdocs intune/
remote-actions/find-primary-user.md); which pool users stand for each contract user; the pool
devices out until a person enrols them again; each contract profile's Graph profiles per
platform family -- how each contract event becomes the Graph requests of mapping.EVENTS, and how
the per-profile certificate states become the contract inventory (mapping.record_fields). Event
validation is the reference model's World (directory bookkeeping only: which names exist, who is
in which group). What it does not know: HTTP details (graph.py), configuration (config.py),
tokens (auth.py).

Users: a contract user is no Graph object of its own. When it enrols a device, the pool user who
enrolled that device becomes one of its pool users (held by no other contract user until reset);
its group memberships and a withdrawn licence are replayed for each pool user it gains, and
delete_user deletes them (Entra keeps deleted users 30 days; reset() restores them). The adapter
never changes a device's primary user, so reset() has none to undo.

Cells (docs/slow-products.md): one adapter serves every cell of a run, each with names of its own
(`c17-...`). `release(device)` gives a pool device back when its cell ends: it leaves the run's
groups, its pool user gets back what the run took and stands for no contract user any more. A
group change reaches Intune's targeting only after the propagation delay, so a certificate of a
profile that targeted the pool device's previous binding (and not the new one) is that previous
binding's (`_attribute`). Observation reads the certificate states of the profiles of the cells
still acting (a name's cell prefix; a cell whose last event is older than twice the longest window
has ended) and keeps the last answer for the others, so its cost follows the cells in flight, not
the run's history. Graph is first contacted at the first reset/apply/observe (`connect()`):
`certconform plan` builds the adapter and sends nothing.

Safety: wipe, retire and delete_user run only with allow_destructive (--allow-destructive, env
CERTCONFORM_INTUNE_ALLOW_DESTRUCTIVE=1) and only on the pool; without it they are left out of
capabilities()['events'], so the suite reports their checks not-supported, and a direct apply()
raises EventRejected. A wipe never reaches an Android work profile, nor a Mac without
allow_macos_wipe (capabilities()['unsupported_on']). reset() deletes only objects whose
displayName starts with the run's prefix -- deleting a SCEP or PKCS profile makes Intune revoke
its certificates, so use a throw-away CA -- and gives back what it took from the pool's users.
"""
from __future__ import annotations

import atexit
import base64
import datetime as dt
import itertools
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from certconform.mdm import AdapterSpecError, EventRejected
from certconform.model.world import EVENT_FIELDS, PLATFORMS, World

from . import mapping
from .config import UPDATE_EDITS, IntuneConfig
from .graph import GraphClient, GraphError

ODATA = "#microsoft.graph."
BETA, V1 = "/beta/deviceManagement", "/v1.0"
# Graph's directory links name Graph's public host whatever base URL the client uses (the
# emulator accepts any host in them).
GRAPH_HOST = "https://graph.microsoft.com"
# PKCS types with a rootCertificate relationship (the Windows, iOS and macOS PKCS types have none)
PKCS_WITH_ROOT = ("android", "android_work")
# The cell prefix of a name (docs/slow-products.md, "Names"): the suite's convention, used only to
# know which profiles' states can still change for a cell that acts
CELL_PREFIX = re.compile(r"\s*(c\d+(?:x\d+)?-)")
# seconds a cell's profiles are still read after twice the longest window since its last event
LINGER_S = 5.0
# every FULL_EVERY-th observation reads every profile of the acting cells (observe())
FULL_EVERY = 8
READERS = 4  # threads reading certificate states at once (observe())


@dataclass
class PoolDevice:
    """A pool device as Intune knows it now (its ids change when a person enrols it again)."""
    name: str
    platform: str
    managed_id: str
    aad_device_id: str
    user_id: str  # the pool user who enrolled it
    user_name: str


@dataclass
class Binding:
    """A contract device bound to a pool device, from enrol until wipe/retire (or reset)."""
    device: str
    platform: str
    pool_name: str
    managed_id: str
    aad_device_id: str
    user_id: str
    bound_at: float
    released_at: float | None = None
    directory_id: str | None = None  # the directory device object (group membership), looked up once
    targets_at_release: frozenset = frozenset()  # contract profiles that targeted it when it ended


@dataclass
class GraphProfile:
    kind: str
    ids: dict[str, str] = field(default_factory=dict)  # family -> deviceConfiguration id
    third_party_roots: dict[str, str] = field(default_factory=dict)  # trusted roots: family -> the 3rd-party CA's
    updates: int = 0

    def all_ids(self) -> list[str]:
        return list(self.ids.values()) + list(self.third_party_roots.values())


class IntuneAdapter:
    def __init__(self, cfg: IntuneConfig, client: GraphClient, cleanup_at_exit: bool = True,
                 connect: bool = True) -> None:
        self.cfg, self.graph = cfg, client
        self.families = [f for f in mapping.FAMILIES
                         if any(cfg.pool.get(p) for p, fam in mapping.FAMILY.items() if fam == f)]
        self._closed = False
        # pool device -> (platform, action, when, its pool user): out until a person enrols it again
        self.out: dict[str, tuple[str, str, float, str]] = {}
        self.to_restore: list[str] = []  # pool users deleted by this run (restored by reset)
        self.to_relicense: list[str] = []  # pool users whose licence this run withdrew
        self._roots = {"intune": _der_b64(cfg.root_certificate), "third_party": _der_b64(cfg.third_party_root_certificate)}
        self._connected = False
        self._forget()
        if connect:
            self.connect()
        # The suite resets before every test, never after the last: clean up at exit too.
        if cleanup_at_exit:
            atexit.register(self._close_quietly)

    def _close_quietly(self) -> None:
        try:
            self.close()
        except Exception as exc:  # at exit: one line, never a traceback (and never a secret: graph.py redacts)
            print(f"certconform intune: clean-up at exit failed: {type(exc).__name__}: {exc}"[:300], file=sys.stderr)

    # ------------------------------------------------------------------ set-up
    def connect(self) -> None:
        """The first contact with Graph: check the pool (once). Every call that reaches Graph
        connects first; the constructor does unless told not to (`certconform plan`)."""
        if not self._connected:
            self._check_pool()
            self._connected = True

    def _check_pool(self) -> None:
        """Every pool device is a managed device enrolled by a user of its own (one line naming the
        first that is not)."""
        users: dict[str, str] = {}
        for platform, names in self.cfg.pool.items():
            for name in names:
                device = self._pool_device(name, platform)
                if device is None:
                    raise AdapterSpecError(f"setting 'pool': {platform} device {name!r} is not a managed device in Intune")
                if not device.user_id:
                    raise AdapterSpecError(
                        f"setting 'pool': {platform} device {name!r} has no user: each pool device must be enrolled "
                        "by a test user of its own (a shared device gets no user certificate; if a run deleted its "
                        "user, restore the user from Entra's deleted users; docs/intune.md)")
                if device.user_id in users:
                    raise AdapterSpecError(
                        f"setting 'pool': devices {users[device.user_id]!r} and {name!r} were enrolled by the same "
                        f"user ({device.user_name}): each pool device needs a user of its own (docs/intune.md)")
                users[device.user_id] = name

    def _pool_device(self, name: str, platform: str, must_exist: bool = True) -> PoolDevice | None:
        found = self.graph.get(f"{BETA}/managedDevices?$filter=deviceName eq '{_quote(name)}'") or {}
        devices = [d for d in found.get("value", []) if d.get("managementState", "managed") == "managed"]
        if len(devices) > 1:
            raise AdapterSpecError(f"setting 'pool': {platform} device {name!r} is ambiguous "
                                   f"({len(devices)} managed devices)")
        if not devices:
            return None
        d = devices[0]
        return PoolDevice(name, platform, d["id"], str(d.get("azureADDeviceId") or ""), str(d.get("userId") or ""),
                          str(d.get("userPrincipalName") or d.get("userDisplayName") or d.get("userId") or ""))

    def _forget(self) -> None:
        self.world = World()
        self.groups: dict[str, str] = {}  # contract group -> Graph id
        self.profiles: dict[str, GraphProfile] = {}
        self.pool_users: dict[str, list[str]] = {}  # contract user -> its pool users' ids
        self.owner: dict[str, str] = {}  # pool user id -> the contract user it stands for
        self.bindings: dict[str, Binding] = {}  # contract device -> its binding
        self.history: list[Binding] = []  # every binding since reset (record attribution)
        self.families_used: dict[str, set[str]] = {}  # cell prefix ('' without cells) -> families enrolled
        self._acted: dict[str, float] = {}  # cell prefix -> when an event of it was last applied
        self._states: dict[tuple[str, str], list] = {}  # (profile, family) -> its certificate states as last read
        self._rows: dict[tuple[str, str], list] = {}  # (profile, family) -> the records of those states
        self._cell_profiles: dict[str, list[str]] = {}  # cell prefix -> its SCEP/PKCS profiles
        self._reached: dict[str, set[str]] = {}  # SCEP/PKCS profile -> families of devices it has targeted
        self._observations = 0
        self._done: set[str] = set()  # cells that ended (the suite released their devices)
        self._seen: dict[str, tuple[int, str]] = {}  # serial -> (first-seen order, contract device)
        self._order = itertools.count()

    def _name(self, name: str) -> str:
        return self.cfg.prefix + name

    # ------------------------------------------------------------------ contract
    def capabilities(self) -> dict:
        events = [e for e in EVENT_FIELDS if e not in mapping.UNSUPPORTED_EVENTS
                  and (self.cfg.allow_destructive or e not in mapping.DESTRUCTIVE_EVENTS)]
        scale = self.cfg.time_scale
        windows = {k: round(v / scale, 6) for k, v in mapping.WINDOWS.items()}
        typical = {k: min(round(v / scale, 6), windows[k]) for k, v in {**mapping.TYPICAL, **self.cfg.typical}.items()}
        if self.cfg.dry_run:  # a dry run changes nothing: nothing to wait for, nothing to judge
            windows = {k: 0.0 for k in windows}
            typical = {}
        caps = {"events": events, "observes": list(mapping.OBSERVES), "settle_s": max(windows.values()),
                "windows": windows, "typical": typical, "devices": {p: len(self.cfg.pool.get(p, ())) for p in PLATFORMS},
                "platforms": list(PLATFORMS), "unsupported_on": self.unsupported_on(),
                "observation": dict(mapping.OBSERVATION)}
        # no `cells`: as many as the pool admits (the suite bounds cells by `devices`); each cell's
        # objects carry its own names, and release() gives its pool devices back
        budget = self.request_budget()
        if budget:
            caps["max_requests_per_s"] = budget
        if self.cfg.allow_destructive:
            caps["needs_person"] = {e: i for e, i in mapping.NEEDS_PERSON.items() if e in events}
        if self.cfg.dry_run:
            caps["dry_run"] = True
        return caps

    def request_budget(self) -> float | None:
        """Adapter calls per second that keep Graph's write limit (the tightest): an event writes
        once per platform family at most (mapping.GRAPH_LIMITS). None without Graph's limits (an
        emulator run with --no-graph-limits) and for a dry run (nothing is sent)."""
        if not self.cfg.graph_limits or self.cfg.dry_run:
            return None
        _, _, writes, window = mapping.GRAPH_LIMITS[0]
        return round(writes / window / max(1, len(self.families)), 3)

    def unsupported_on(self) -> dict[str, dict[str, str]]:
        wipe = {"android_work": mapping.WORK_PROFILE_WIPE}
        if not self.cfg.allow_macos_wipe:
            wipe["macos"] = mapping.MACOS_WIPE
        return {"wipe": wipe}

    def awaiting_person(self) -> list[dict]:
        """Pool devices out of the pool until a person enrols them again (wiped or retired)."""
        self.connect()
        self._refresh_out()
        return [{"platform": platform, "device": name,
                 "instruction": mapping.NEEDS_PERSON[action].format(device=name)}
                for name, (platform, action, _, _) in sorted(self.out.items())]

    def _refresh_out(self) -> None:
        """A device that a person enrolled again since it went out is back in the pool, once the
        cell that ended it has stopped acting (until then its pool user stands for that cell's
        user: a later delete_user of the cell acts on it); then its pool user is given back too."""
        for name, (platform, action, since, user_id) in list(self.out.items()):
            owner = self.owner.get(user_id)
            cell = _cell(owner) if owner is not None else ""
            if cell:  # (without cells, its user keeps it until reset)
                if self._acting(cell):
                    continue
                self._give_back(user_id)  # a deleted pool user is restored: its device can be enrolled again
            found = self.graph.get(f"{BETA}/managedDevices?$filter=deviceName eq '{_quote(name)}'") or {}
            for d in found.get("value", []):
                enrolled = _when(d.get("enrolledDateTime"))
                if d.get("managementState", "managed") == "managed" and enrolled is not None and enrolled >= since - 1.0:
                    del self.out[name]
                    break

    def _acting(self, cell: str) -> bool:
        """Whether a cell may still act or observe: its devices have not been released, and its
        last event is less than twice the longest window old (the suite waits at most that long
        after an event; a cell whose devices were all wiped or retired gets no release). Without
        cells ('') always."""
        if not cell:
            return True
        if cell in self._done:
            return False
        return time.monotonic() - self._acted.get(cell, float("-inf")) <= 2 * self._longest_window() + LINGER_S

    def reset(self) -> None:
        """Delete every object with the run's prefix (profiles, groups), nothing else, and give
        back what the run took from the pool's users (deleted users restored, licences)."""
        self.connect()
        prefix = self.cfg.prefix
        profiles = [p for p in self.graph.get_all(f"{BETA}/deviceConfigurations")
                    if str(p.get("displayName", "")).startswith(prefix)]
        # SCEP/PKCS first: a root named by a rootCertificate relationship cannot go first
        profiles.sort(key=lambda p: "TrustedRoot" in str(p.get("@odata.type", "")))
        for p in profiles:  # Intune revokes the certificates of a deleted SCEP/PKCS profile: a throw-away CA
            self.graph.request("DELETE", f"{BETA}/deviceConfigurations/{p['id']}")
        for obj in self.graph.get_all(f"{V1}/groups?$filter=startswith(displayName,'{_quote(prefix)}')"):
            if str(obj.get("displayName", "")).startswith(prefix):  # never trust the filter alone
                self.graph.request("DELETE", f"{V1}/groups/{obj['id']}")
        while self.to_restore:
            user_id = self.to_restore[0]
            self.graph.request("POST", f"{V1}/directory/deletedItems/{user_id}/restore")
            self.to_restore.pop(0)
        while self.to_relicense:
            user_id = self.to_relicense[0]
            user = self.graph.get(f"{V1}/users/{user_id}") or {}
            if not any(str(x.get("skuId")) == self.cfg.license_sku for x in user.get("assignedLicenses") or ()):
                self.graph.request("POST", f"{V1}/users/{user_id}/assignLicense",
                                   {"addLicenses": [{"skuId": self.cfg.license_sku, "disabledPlans": []}],
                                    "removeLicenses": []})
            self.to_relicense.pop(0)
        self._forget()

    def apply(self, event: dict) -> None:
        self.connect()
        self.world.validate(event)
        etype = event["type"]
        if etype in mapping.UNSUPPORTED_EVENTS:
            raise EventRejected(f"{etype} is not supported over Graph: {mapping.UNSUPPORTED_EVENTS[etype]}")
        if etype in mapping.DESTRUCTIVE_EVENTS and not self.cfg.allow_destructive:
            raise EventRejected(f"{etype} refused: destructive actions need --allow-destructive "
                                "(env CERTCONFORM_INTUNE_ALLOW_DESTRUCTIVE=1)")
        if etype in ("wipe", "retire") and e_platform(self.world, event) in self.unsupported_on().get(etype, {}):
            raise EventRejected(f"{etype} not sent: {self.unsupported_on()[etype][e_platform(self.world, event)]}")
        try:
            getattr(self, "_" + etype)(event)
        except ValueError as exc:  # past validation, nothing is the caller's bad input (a ValueError would say so)
            raise RuntimeError(f"{etype}: {exc}") from None
        self.world.apply(event)
        cell = _cell(event.get("device") or event.get("profile") or event.get("group") or event.get("user"))
        self._acted[cell] = time.monotonic()
        if etype == "create_profile" and event["kind"] in mapping.OBSERVES:
            self._cell_profiles.setdefault(cell, []).append(event["profile"])
        self._note_reach(cell)

    def _note_reach(self, cell: str) -> None:
        """Which families each of the cell's SCEP/PKCS profiles has targeted a device of (what
        observe() reads between its full readings)."""
        profiles = [self.world.profiles[p] for p in self._cell_profiles.get(cell, ()) if p in self.world.profiles]
        if not profiles:
            return
        for binding in self.bindings.values():
            device = self.world.devices.get(binding.device)
            if device is None or _cell(binding.device) != cell:
                continue
            for profile in profiles:
                if self.world.targets(profile, device):
                    self._reached.setdefault(profile.name, set()).add(mapping.FAMILY[binding.platform])

    # -- directory
    def _create_user(self, e: dict) -> None:
        self.pool_users[e["user"]] = []  # no request: it gains pool users as it enrols devices

    def _withdraw_license(self, e: dict) -> None:
        if not self.world.users[e["user"]]:
            return  # withdrawn already: Graph answers 400 to removing a licence the user lacks
        for user_id in self.pool_users.get(e["user"], []):
            self._withdraw(user_id)

    def _withdraw(self, user_id: str) -> None:
        self.graph.request("POST", f"{V1}/users/{user_id}/assignLicense",
                           {"addLicenses": [], "removeLicenses": [self.cfg.license_sku]})
        self.to_relicense.append(user_id)

    def _delete_user(self, e: dict) -> None:
        for user_id in self.pool_users.get(e["user"], []):
            self.graph.request("DELETE", f"{V1}/users/{user_id}")
            self.to_restore.append(user_id)  # restored with the licences it had: a withdrawn one is given back after

    def _create_group(self, e: dict) -> None:
        group = self.graph.request("POST", f"{V1}/groups", {
            "displayName": self._name(e["group"]), "mailEnabled": False,
            "mailNickname": _nickname(self._name(e["group"])), "securityEnabled": True})
        self.groups[e["group"]] = group["id"]

    def _delete_group(self, e: dict) -> None:
        self.graph.request("DELETE", f"{V1}/groups/{self.groups.pop(e['group'])}")

    def _member_ids(self, member: str) -> list[str]:
        """The directory objects that stand for a contract member: a user's pool users, a
        device's directory device (none once it left Intune)."""
        if member in self.pool_users:
            return list(self.pool_users[member])
        binding = self.bindings.get(member)
        if binding is None:  # wiped or retired: joining or leaving a group cannot change what Intune
            return []        # delivers to it (no request)
        return [self._directory_id(binding)]

    def _directory_id(self, binding: Binding) -> str:
        if binding.directory_id is None:
            found = self.graph.get(f"{V1}/devices?$filter=deviceId eq '{_quote(binding.aad_device_id)}'") or {}
            if not found.get("value"):
                raise GraphError(f"Graph has no directory device with deviceId {binding.aad_device_id} "
                                 f"(pool device {binding.pool_name})")
            binding.directory_id = found["value"][0]["id"]
        return binding.directory_id

    def _join(self, group_id: str, object_id: str) -> None:
        self.graph.request("POST", f"{V1}/groups/{group_id}/members/$ref",
                           {"@odata.id": f"{GRAPH_HOST}/v1.0/directoryObjects/{object_id}"})

    def _add_member(self, e: dict) -> None:
        if e["member"] in self.world.groups[e["group"]]:
            return  # already a member: the contract's add is idempotent, Graph's $ref answers 400
        for object_id in self._member_ids(e["member"]):
            self._join(self.groups[e["group"]], object_id)

    def _remove_member(self, e: dict) -> None:
        for object_id in self._member_ids(e["member"]):
            self.graph.request("DELETE", f"{V1}/groups/{self.groups[e['group']]}/members/{object_id}/$ref")

    # -- devices
    def _enroll(self, e: dict) -> None:
        platform, user = e["platform"], e["user"]
        device = self._free_device(platform, user)
        if device is None:
            self._refresh_out()
            device = self._free_device(platform, user)
        if device is None:
            waiting = [n for n, (p, _, _, _) in self.out.items() if p == platform]
            raise EventRejected(f"no free {platform} device in the pool ({len(self.cfg.pool.get(platform, ()))} "
                                f"configured" + (f"; awaiting a person: {', '.join(waiting)}" if waiting else "") + ")")
        binding = Binding(e["device"], platform, device.name, device.managed_id, device.aad_device_id, device.user_id,
                          time.time())
        self._drop_kept_memberships(binding)
        if device.user_id not in self.owner:
            self.owner[device.user_id] = user
            self.pool_users[user].append(device.user_id)
            for group in sorted(g for g, members in self.world.groups.items() if user in members):
                self._join(self.groups[group], device.user_id)
            if not self.world.users[user]:
                self._withdraw(device.user_id)
        self.bindings[e["device"]] = binding
        self.history.append(binding)
        self.families_used.setdefault(_cell(e["device"]), set()).add(mapping.FAMILY[platform])

    def _free_device(self, platform: str, user: str) -> PoolDevice | None:
        """The first pool device of `platform` that no binding holds, no person must enrol again,
        and whose pool user stands for no other contract user."""
        held = {b.pool_name for b in self.bindings.values()}
        for name in self.cfg.pool.get(platform, ()):
            if name in held or name in self.out:
                continue
            device = self._pool_device(name, platform)
            if device is None or not device.user_id or self.owner.get(device.user_id, user) != user:
                continue
            return device
        return None

    def _drop_kept_memberships(self, binding: Binding) -> None:
        """A device's Entra record can outlive its enrolment (iOS, macOS: devices-wipe.md) and keep
        the groups an earlier contract device joined: leave every group of this run it is in."""
        ours = set(self.groups.values())
        if not ours:
            return
        directory_id = self._directory_id(binding)
        for group in self.graph.get_all(f"{V1}/devices/{directory_id}/memberOf"):
            if group.get("id") in ours:
                self.graph.request("DELETE", f"{V1}/groups/{group['id']}/members/{directory_id}/$ref")

    def _check_in(self, e: dict) -> None:
        """syncDevice: Intune notifies the device, which checks in when it does; the suite awaits
        what the check-in delivers within the declared 'delivery' window."""
        binding = self.bindings.get(e["device"])
        if binding is None:
            return  # no longer enrolled: nothing to sync (the pool device may serve another binding now)
        self.graph.request("POST", f"{BETA}/managedDevices/{binding.managed_id}/syncDevice")

    def release(self, device: str) -> None:
        """Give the pool device bound to contract device `device` back to the pool (the suite calls
        it when a cell ends; not judged): the device and its pool user leave the run's groups, the
        pool user gets back a licence or a deletion the run made, and stands for no contract user
        any more. Raises EventRejected when `device` is bound to no pool device."""
        self.connect()
        binding = self.bindings.get(device)
        if binding is None:
            raise EventRejected(f"{device} is bound to no pool device")
        if _cell(device):
            self._done.add(_cell(device))  # the suite releases a cell's devices when it has ended
        for group, gid in self._our_groups().items():
            if device in self.world.groups[group]:
                self.graph.request("DELETE", f"{V1}/groups/{gid}/members/{self._directory_id(binding)}/$ref")
        self._give_back(binding.user_id)
        self._end(binding)

    def _our_groups(self) -> dict[str, str]:
        return {g: gid for g, gid in self.groups.items() if g in self.world.groups}

    def _give_back(self, user_id: str) -> None:
        """The pool user stands for no contract user any more: restored if this run deleted it,
        out of the run's groups, its licence given back if this run withdrew it."""
        user = self.owner.get(user_id)
        if user is None:
            return
        ours = self._our_groups()
        if user_id in self.to_restore:  # deleted by this run: restored, and out of any group of ours it got back
            self.graph.request("POST", f"{V1}/directory/deletedItems/{user_id}/restore")
            self.to_restore.remove(user_id)
            kept = {g.get("id") for g in self.graph.get_all(f"{V1}/users/{user_id}/memberOf")}
            leave = [gid for gid in ours.values() if gid in kept]
        else:
            leave = [gid for group, gid in ours.items() if user in self.world.groups[group]]
        for gid in leave:
            self.graph.request("DELETE", f"{V1}/groups/{gid}/members/{user_id}/$ref")
        if user_id in self.to_relicense:
            self.graph.request("POST", f"{V1}/users/{user_id}/assignLicense",
                               {"addLicenses": [{"skuId": self.cfg.license_sku, "disabledPlans": []}],
                                "removeLicenses": []})
            self.to_relicense.remove(user_id)
        del self.owner[user_id]
        if user_id in self.pool_users.get(user, ()):  # (a user deleted and created again starts with none)
            self.pool_users[user].remove(user_id)

    def _end(self, binding: Binding) -> None:
        """The binding ends now: what targeted it is kept for attribution (_attribute)."""
        binding.released_at = time.time()
        device = self.world.devices.get(binding.device)
        if device is not None:
            names = self._cell_profiles.get(_cell(binding.device), ())  # (only SCEP/PKCS records are attributed)
            binding.targets_at_release = frozenset(p for p in names if p in self.world.profiles
                                                   and self.world.targets(self.world.profiles[p], device))
        del self.bindings[binding.device]

    def _device_action(self, e: dict, body: dict | None) -> None:
        binding = self.bindings.get(e["device"])
        if binding is None:
            raise EventRejected(f"{e['device']} is no longer enrolled: Intune has no managed device to {e['type']}")
        try:
            self.graph.request("POST", f"{BETA}/managedDevices/{binding.managed_id}/{e['type']}", body)
        except GraphError as exc:
            if exc.status == 409:  # the platform refuses the action
                raise EventRejected(str(exc)) from None
            raise
        self._end(binding)
        # out of the pool until a person enrols it again (needs_person)
        self.out[binding.pool_name] = (binding.platform, e["type"], binding.released_at, binding.user_id)

    def _wipe(self, e: dict) -> None:
        self._device_action(e, {"keepEnrollmentData": False, "keepUserData": False})

    def _retire(self, e: dict) -> None:
        self._device_action(e, None)

    # -- profiles
    def _create_profile(self, e: dict) -> None:
        kind, profile, ca = e["kind"], GraphProfile(e["kind"]), e.get("ca")
        for family in self.families:
            body = self._profile_body(family, kind, ca, self._name(e["profile"]))
            if kind == "scep" or (kind == "pkcs" and family in PKCS_WITH_ROOT):
                root = self._root_for(e["root"], family, ca or "intune")
                body["rootCertificate@odata.bind"] = f"{GRAPH_HOST}/beta/deviceManagement/deviceConfigurations('{root}')"
            created = self.graph.request("POST", f"{BETA}/deviceConfigurations", body)
            profile.ids[family] = created["id"]
        self.profiles[e["profile"]] = profile

    def _profile_body(self, family: str, kind: str, ca: str | None, name: str, root_ca: str = "intune") -> dict:
        body = {"@odata.type": ODATA + mapping.ODATA_TYPES[(family, kind)],
                "displayName": f"{name} ({family})" + (" (third-party root)" if root_ca == "third_party" else ""),
                "description": _description(ca, 0)}
        body.update(self._settings(family, kind, ca, root_ca))
        return body

    def _root_for(self, root: str, family: str, ca: str) -> str:
        """The trusted-root profile a SCEP/PKCS profile of `ca` binds: the contract root's profile
        for the Intune CA, or (made the first time it is needed, with the contract root's
        assignments) its twin carrying the third-party CA's root."""
        profile = self.profiles[root]
        if ca != "third_party":
            return profile.ids[family]
        if family not in profile.third_party_roots:
            body = self._profile_body(family, "trusted_root", None, self._name(root), root_ca="third_party")
            profile.third_party_roots[family] = self.graph.request("POST", f"{BETA}/deviceConfigurations", body)["id"]
            if self.world.profiles[root].groups:
                self._assign(profile.third_party_roots[family], sorted(self.world.profiles[root].groups))
        return profile.third_party_roots[family]

    def _settings(self, family: str, kind: str, ca: str | None, root_ca: str = "intune") -> dict:
        """The type-specific properties a real tenant needs (documented in each type's page; every
        body is checked against msgraph-beta-sdk's models by tests/test_intune_bodies.py)."""
        cfg, third = self.cfg, ca == "third_party"
        edit, (first, _) = UPDATE_EDITS[cfg.update_edit][0], UPDATE_EDITS[cfg.update_edit][1]
        if kind == "trusted_root":
            return {"trustedRootCertificate": self._roots[root_ca], "certFileName": f"certconform-{root_ca}-root.cer"}
        if kind == "scep":
            body = {"scepServerUrls": [cfg.third_party_scep_url if third else cfg.scep_url],
                    "subjectNameFormat": "commonName", "keyUsage": "digitalSignature", "keySize": "size2048",
                    "renewalThresholdPercentage": 20, "certificateValidityPeriodScale": "years",
                    "certificateValidityPeriodValue": 1}
            body[edit] = first
            return body
        if kind == "pkcs":
            body = {"certificationAuthority": cfg.third_party_pkcs_ca if third else cfg.pkcs_ca,
                    "certificationAuthorityName": cfg.third_party_pkcs_ca_name if third else cfg.pkcs_ca_name,
                    "certificateTemplateName": cfg.pkcs_template, "renewalThresholdPercentage": 20,
                    "certificateValidityPeriodScale": "years", "certificateValidityPeriodValue": 1}
            if edit != "keyUsage":  # PKCS types have no keyUsage property: the validity edit stands in
                body[edit] = first
            return body
        if family == "ios":  # iosImportedPFXCertificateProfile has no renewal threshold (its doc page, the SDK's model)
            return {"intendedPurpose": "unassigned"}
        return {"intendedPurpose": "unassigned", "renewalThresholdPercentage": 20}

    def _assign(self, config_id: str, groups: list[str]) -> None:
        assignments = [{"target": {"@odata.type": ODATA + "groupAssignmentTarget", "groupId": self.groups[g]}}
                       for g in groups]
        self.graph.request("POST", f"{BETA}/deviceConfigurations/{config_id}/assign", {"assignments": assignments})

    def _assign_all(self, profile_name: str) -> None:
        groups = sorted(self.world.profiles[profile_name].groups)
        for config_id in self.profiles[profile_name].all_ids():
            self._assign(config_id, groups)

    def _assign_profile(self, e: dict) -> None:
        self.world.profiles[e["profile"]].groups.add(e["group"])  # the full set includes it
        try:
            self._assign_all(e["profile"])
        except Exception:
            self.world.profiles[e["profile"]].groups.discard(e["group"])
            raise

    def _unassign_profile(self, e: dict) -> None:
        self.world.profiles[e["profile"]].groups.discard(e["group"])
        try:
            self._assign_all(e["profile"])
        except Exception:
            self.world.profiles[e["profile"]].groups.add(e["group"])
            raise

    def _update_profile(self, e: dict) -> None:
        """SCEP/PKCS: toggle the setting update_edit names (config.UPDATE_EDITS); other kinds: the
        description (their certificates are not observed)."""
        profile, world = self.profiles[e["profile"]], self.world.profiles[e["profile"]]
        profile.updates += 1
        prop, values = UPDATE_EDITS[self.cfg.update_edit]
        if profile.kind == "pkcs" and prop == "keyUsage":
            prop, values = UPDATE_EDITS["validity"]
        for family, config_id in list(profile.ids.items()) + list(profile.third_party_roots.items()):
            body = {"@odata.type": ODATA + mapping.ODATA_TYPES[(family, profile.kind)],
                    "description": _description(world.ca, profile.updates)}
            if profile.kind in ("scep", "pkcs"):
                body[prop] = values[profile.updates % 2]
            self.graph.request("PATCH", f"{BETA}/deviceConfigurations/{config_id}", body)

    # ------------------------------------------------------------------ observation
    def observe(self) -> list[dict]:
        """Every certificate state of the run's SCEP/PKCS profiles as contract records. The states
        of a profile are read again only while its cell acts (see the module's docstring); an ended
        cell's are the last ones read (its records never vanish). Of an acting cell, every
        FULL_EVERY-th observation reads every profile for each family its cell enrolled, the others
        only for the families of the devices the profile has targeted (a certificate needs a
        targeted device: the full readings are there to see one that arrives without)."""
        self.connect()
        self._observations += 1
        full = self._observations % FULL_EVERY == 1
        keys, read = [], {}
        for name, profile in self.profiles.items():
            if profile.kind not in mapping.OBSERVES:
                continue
            cell = _cell(name)
            acting = cell not in self._acted or self._acting(cell)
            reached = self._reached.get(name, ())
            for family, config_id in profile.ids.items():
                if family not in self.families_used.get(cell, ()):
                    continue  # no device of that family was enrolled by its cell: nothing delivered
                key = (name, family)
                keys.append((key, profile.kind))
                if (acting and (full or family in reached)) or key not in self._states:
                    odata = mapping.ODATA_TYPES[(family, profile.kind)]
                    read[key] = f"{BETA}/deviceConfigurations/{config_id}/microsoft.graph.{odata}" \
                                "/managedDeviceCertificateStates"
        fresh = self._read_all(read)
        self._states.update(fresh)
        rows = []
        for key, kind in keys:
            if key in fresh or key not in self._rows:  # the records of states not read again are as before
                self._rows[key] = [r for r in (self._record(key[0], kind, st) for st in self._states[key]) if r is not None]
            rows.extend(self._rows[key])
        rows.sort(key=lambda r: r[0])
        out, serials = [], set()
        for _, record in rows:
            if record["serial"] not in serials:  # one record per certificate
                serials.add(record["serial"])
                out.append(dict(record))  # (records are kept between observations: a copy)
        return out

    def _read_all(self, paths: dict) -> dict:
        """key -> every item of the collection at its path; several at once (READERS threads: a
        round trip's wait overlaps the next, within the same Graph budget)."""
        if len(paths) < 2:
            return {k: self.graph.get_all(p) for k, p in paths.items()}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(READERS, len(paths))) as pool:
            futures = {k: pool.submit(self.graph.get_all, p) for k, p in paths.items()}
            return {k: f.result() for k, f in futures.items()}

    def _longest_window(self) -> float:
        return max(mapping.WINDOWS.values()) / self.cfg.time_scale

    def _window(self, name: str) -> float:
        """A declared window in real seconds (the time scale applied)."""
        return mapping.WINDOWS[name] / self.cfg.time_scale

    def _record(self, profile: str, kind: str, state: dict):
        serial = state.get("certificateSerialNumber")
        fields = mapping.record_fields(state.get("certificateIssuanceState"), state.get("certificateRevokeStatus"))
        if not serial or fields is None:
            return None
        issued = _when(state.get("certificateIssuanceDateTime"))
        if serial not in self._seen:
            device = self._attribute(str(state.get("deviceDisplayName", "")), issued, profile)
            if device is None:
                return None  # a pool device's certificate from before this run's binding: not ours
            self._seen[serial] = (next(self._order), device)
        order, device = self._seen[serial]
        record = {"device": device, "profile": profile, "kind": kind, "serial": str(serial), **fields}
        return (issued or float("inf"), order), record

    def _attribute(self, pool_name: str, issued: float | None, profile: str) -> str | None:
        """The contract device that held pool device `pool_name` when the certificate was issued;
        or the binding before it, when the profile targeted that one as it ended and does not
        target this one: a group change (the release's, a wipe's) reaches Intune's targeting only
        after the propagation delay, so the previous binding's targeting can still deliver."""
        candidates = [b for b in self.history if b.pool_name == pool_name]
        if not candidates or issued is None:
            return None
        for i in range(len(candidates) - 1, -1, -1):
            b = candidates[i]
            if b.bound_at - 1.0 <= issued and (b.released_at is None or issued <= b.released_at + 1.0):
                previous = candidates[i - 1] if i else None
                if previous is not None and profile in previous.targets_at_release and not self._targets(profile, b) \
                        and issued <= previous.released_at + self._window("propagation") + 1.0:
                    return previous.device
                return b.device
        return None

    def _targets(self, profile: str, binding: Binding) -> bool:
        known, device = self.world.profiles.get(profile), self.world.devices.get(binding.device)
        return known is not None and device is not None and self.world.targets(known, device)

    def close(self) -> None:
        """Delete what this run created and give back what it took (a run leaves nothing behind
        on the tenant but revoked certificates), then close."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.groups or self.profiles or self.to_restore or self.to_relicense:
                self.reset()
        finally:
            self.graph.close()

    def __repr__(self) -> str:
        return f"IntuneAdapter({self.cfg.graph_url!r}, prefix={self.cfg.prefix!r})"


def _cell(name) -> str:
    """The cell prefix a name the suite sent carries ('c17-', 'c17x2-'), '' without cells."""
    m = CELL_PREFIX.match(name) if isinstance(name, str) else None
    return m.group(1) if m else ""


def e_platform(world: World, event: dict) -> str | None:
    """The platform of the device an event names (None if it names none the world knows)."""
    device = world.devices.get(event.get("device", ""))
    return device.platform if device is not None else None


def _quote(text: str) -> str:
    """A string literal's content in an OData $filter (a quote is doubled)."""
    return text.replace("'", "''")


def _nickname(name: str) -> str:
    """mailNickname: ASCII letters, digits and - _ . only, at most 64 characters, compared without
    case by the directory. A name that needs changing (capitals included) gets a hash of itself, so
    two names never collide ("G1" and "g1" are two groups)."""
    safe = re.sub(r"[^a-z0-9._-]", "-", name.lower())
    if safe == name and len(name) <= 64:
        return name
    import hashlib

    return safe[:55] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def _description(ca: str | None, updates: int) -> str:
    """The profile description; `certconform-ca=` tells the emulator the CA (docs/graph-wire.md)."""
    text = "certconform test profile"
    if ca:
        text += f"; certconform-ca={ca}"
    return text + (f"; update {updates}" if updates else "")


def _when(value) -> float | None:
    """An ISO 8601 timestamp (Graph sends up to 7 fraction digits) as POSIX seconds, else None."""
    if not isinstance(value, str) or not value:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def _der_b64(path: str) -> str:
    """The base64 DER of a root certificate file (PEM or DER); without a file, a self-signed
    stand-in (fine for a dry run or the fake Graph of the self-tests; a real tenant must configure
    its root: config.check refuses the placeholder, and the emulator delivers no certificate under
    a root its CA does not issue under)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if not path:
        return _STAND_IN_ROOT
    data = Path(path).read_bytes()
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        raise AdapterSpecError(f"setting for {path}: not a PEM or DER certificate") from None
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _stand_in_root() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certconform stand-in root")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


_STAND_IN_ROOT = _stand_in_root()
