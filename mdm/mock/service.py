# What this module knows: how the parts of the mock MDM fit together -- it validates each event
# against the current state, works out which profiles target which devices before and after a
# change, delivers certificates at check-in, and settles certificates through the removal policy.
# What it does not know: the per-platform decisions themselves (removal_policy.py) or X.509
# details (authority.py). It shares no code with the reference model (model/).
"""MockMDM: a small in-process MDM service implementing the adapter contract."""
from __future__ import annotations

import time
from typing import Callable, Iterable

from certconform.mdm import EventRejected

from . import remote_actions
from . import removal_policy as policy
from .authority import IssuedLeaf, TenantPKI, serial_text
from .cert_store import CertificateStore, DeliveredCertificate
from .directory import Directory
from .enrollment import Device, Enrollments
from .events import EVENT_FIELDS, parse_event
from .profiles import Profile, ProfileStore


DEFAULT_POOL = 128  # realistic mode: devices per platform (a stateful cell binds up to 4 of a platform: 32 cells at once)
MARGIN = 0.05  # realistic mode: seconds each declared window adds to its delay


class MockMDM:
    """The bundled mock MDM: reset / apply / observe, plus its CA certificate and CRL."""

    def __init__(self, edition: str | None = None, realistic: bool = False, revocation_delay: float = 0.05,
                 removal_delay: float = 0.05, pool: dict[str, int] | None = None, delivery_delay: float = 0.0) -> None:
        # Which edition of the document the mock follows (removal_policy.EDITIONS): the argument,
        # else env CERTCONFORM_EDITION, else the 01/13/2022 edition. reset() keeps it.
        self.edition = policy.edition_of(edition)
        # Realistic mode (spec mock-realistic): revocations land `revocation_delay` seconds later
        # (a connector polling the service), removals at the device's next check-in or after
        # `removal_delay`, the certificates of a check-in `delivery_delay` seconds after it,
        # devices come from a fixed pool per platform (a pool device is bound from enrolment until
        # the device is unenrolled, wiped or retired, then the lab has it back at once), and
        # nothing deletes a certificate by hand. Delays are timestamps checked when the mock is
        # next called (observe/apply), so no thread runs behind the caller's back.
        self.realistic = realistic
        if realistic:
            for name, value in (("revocation_delay", revocation_delay), ("removal_delay", removal_delay),
                                ("delivery_delay", delivery_delay)):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 86400:
                    raise ValueError(f"{name} must be a number of seconds from 0 to 86400, got {value!r}")
        self.revocation_delay, self.removal_delay = float(revocation_delay), float(removal_delay)
        self.delivery_delay = float(delivery_delay)
        self.pool = dict(pool) if pool is not None else {p: DEFAULT_POOL for p in policy.PLATFORMS}
        self._pki = TenantPKI()
        self.reset()

    # -- the adapter contract ------------------------------------------------------------------
    def reset(self) -> None:
        self._pki.forget_revocations()
        self._directory = Directory()
        self._enrollments = Enrollments()
        self._profiles = ProfileStore()
        self._store = CertificateStore()
        self._root_deliveries = 0
        self._pending_revocations: dict[str, tuple[float, DeliveredCertificate]] = {}  # serial -> (due, cert)
        self._pending_removals: dict[str, tuple[float, DeliveredCertificate]] = {}
        self._pending_deliveries: list[tuple[float, DeliveredCertificate]] = []  # (due, cert), in issue order
        self._bound: dict[str, int] = {}  # platform -> pool devices bound (enrolled devices)
        self._epoch = f"{id(self):x}-{time.monotonic_ns():x}"  # observe_since cursors name it; a reset makes a new one

    def apply(self, event: dict) -> None:
        """Perform one event. Bad input raises ValueError before anything changes."""
        self._land()
        etype, fields = parse_event(event)
        if self.realistic and etype == "delete_certificate":
            self._device("delete_certificate", fields["device"])
            self._profile("delete_certificate", fields["profile"])
            raise EventRejected("delete_certificate: a certificate cannot be deleted from a device through this MDM")
        getattr(self, f"_on_{etype}")(**fields)

    def observe(self) -> list[dict]:
        self._land()
        records = self._store.records()
        if self._pending_revocations:
            for r in records:
                if r["serial"] in self._pending_revocations:
                    r["revocation"] = "pending"
        return records

    def observe_since(self, cursor: str | None = None) -> dict:
        """What changed since `cursor` (the optional incremental observation: the answer of
        `GET /certificates?since=CURSOR`, mdm/observe_since.py): the records whose fields changed
        or that are new since then, by index, and the next cursor. A cursor from before a reset,
        another MockMDM or malformed gets every record (`"full": true`)."""
        self._land()
        epoch, _, revision = (cursor or "").rpartition(".")
        log = self._store.log
        since = int(revision) if epoch == self._epoch and revision.isdigit() and int(revision) <= len(log) else None
        if since is None:
            indexes: list[int] = list(range(len(self._store.delivered)))
            records = self.observe()
            changes = [{"index": i, "record": records[i]} for i in indexes]
        else:
            changes = []
            for i in sorted(set(log[since:])):
                record = self._store.record_at(i)
                if record["serial"] in self._pending_revocations:
                    record["revocation"] = "pending"
                changes.append({"index": i, "record": record})
        return {"cursor": f"{self._epoch}.{len(log)}", "full": since is None, "count": len(self._store.delivered),
                "changes": changes}

    # -- realistic mode: revocations and removals that land later -------------------------------
    def _revoke(self, cert: DeliveredCertificate) -> None:
        if cert.crl is None:
            return
        if not self.realistic:
            cert.crl.revoke(cert.serial_number)
            self._store.touch(cert)
        elif cert.serial not in self._pending_revocations and not cert.crl.is_revoked(cert.serial_number):
            self._pending_revocations[cert.serial] = (self._clock() + self._delay("revocation"), cert)
            self._store.touch(cert)

    def _remove(self, cert: DeliveredCertificate) -> None:
        if not self.realistic:
            self._store.uninstall(cert)
        elif cert.serial not in self._pending_removals:
            self._pending_removals[cert.serial] = (self._clock() + self._delay("removal"), cert)

    def _clock(self) -> float:
        """Now, for the realistic mode's delays (monotonic seconds; a subclass may keep its own
        time: the Graph emulator's, mdm/graph_emulator/scoped_mock.py)."""
        return time.monotonic()

    def _delay(self, kind: str) -> float:
        """Seconds until a change of `kind` (revocation, removal, delivery) lands (realistic mode);
        a subclass may vary it (tests: random delays within the declared window)."""
        return {"revocation": self.revocation_delay, "removal": self.removal_delay,
                "delivery": self.delivery_delay}[kind]

    def _land(self, device: str | None = None) -> None:
        """Perform the revocations, removals and deliveries that are due (and every pending removal
        of `device`, which is checking in)."""
        if not (self._pending_revocations or self._pending_removals or self._pending_deliveries):
            return
        now = self._clock()
        for serial, (due, cert) in list(self._pending_revocations.items()):
            if due <= now:
                del self._pending_revocations[serial]
                cert.crl.revoke(cert.serial_number)
                self._store.touch(cert)
        for serial, (due, cert) in list(self._pending_removals.items()):
            if due <= now or cert.device == device:
                del self._pending_removals[serial]
                if cert.installed:
                    self._store.uninstall(cert)
        if any(due <= now for due, _ in self._pending_deliveries):
            waiting = []
            for due, cert in self._pending_deliveries:
                if due > now:
                    waiting.append((due, cert))
                    continue
                target = self._enrollments.device(cert.device)
                profile = self._profiles.profiles.get(cert.profile)
                # a certificate sent to a device that left management, or for a profile that no
                # longer targets it, never arrives
                if target is not None and profile is not None and self._targets(target, profile) \
                        and self._store.installed(cert.device, cert.profile) is None:
                    self._store.deliver(cert)
            self._pending_deliveries = waiting

    # -- extras for reviewers and the HTTP server ----------------------------------------------
    def next_landing(self) -> float | None:
        """When the next pending revocation, removal or delivery lands (a `_clock()` moment), or
        None: until then, and until the next event, observe() answers the same (realistic mode;
        not part of the adapter contract: the Graph emulator's snapshot of the inventory uses it)."""
        dues = [due for due, _ in self._pending_revocations.values()]
        dues += [due for due, _ in self._pending_removals.values()]
        dues += [due for due, _ in self._pending_deliveries]
        return min(dues, default=None)

    def eventual(self) -> list[dict]:
        """The inventory as it will be once every pending revocation and removal has landed
        (realistic mode; the same as observe() otherwise). Not part of the adapter contract: the
        mutant catalogue's wrappers (tests/mutants.py) use it to see what an event set in motion."""
        records = self.observe()
        for r in records:
            if r.pop("revocation", None) == "pending":
                r["revoked"] = True
            if r["serial"] in self._pending_removals:
                r["installed"] = False
        return records

    def ca_pem(self) -> str:
        """PEM of the issuing CA then the tenant root (verifies the CRL and the leaves)."""
        return self._pki.chain_pem()

    def crl_pem(self) -> str:
        """PEM of the issuing CA's current signed CRL."""
        return self._pki.issuing_crl.pem()

    def certificate(self, serial: str):
        """The x509.Certificate delivered under inventory serial `serial` (KeyError if none)."""
        return self._store.by_serial[serial].certificate

    def capabilities(self) -> dict:
        caps = {"platforms": list(policy.PLATFORMS), "kinds": list(policy.KINDS), "cas": list(policy.CAS),
                "unsupported_actions": {f"{p}/{a}": why for (p, a), why in policy.UNSUPPORTED_ACTIONS.items()}}
        if self.realistic:
            windows = {"delivery": round(self.delivery_delay + MARGIN, 3),
                       "revocation": round(self.revocation_delay + MARGIN, 3),
                       "removal": round(self.removal_delay + MARGIN, 3),
                       "propagation": 0.0, "device_action": 0.0}  # group changes and device actions act at once
            caps.update(events=[e for e in EVENT_FIELDS if e != "delete_certificate"], observes=list(policy.KINDS),
                        settle_s=max(windows.values()),  # (for suites that know no `windows`)
                        windows=windows, devices=dict(self.pool))
        return caps

    # -- lookups that raise ValueError naming the field ----------------------------------------
    def _user(self, etype: str, name: str):
        user = self._directory.user(name)
        if user is None:
            raise ValueError(f"{etype}: unknown user {name!r} (field 'user')")
        return user

    def _group(self, etype: str, name: str):
        group = self._directory.group(name)
        if group is None:
            raise ValueError(f"{etype}: unknown group {name!r} (field 'group')")
        return group

    def _device(self, etype: str, name: str) -> Device:
        device = self._enrollments.device(name)
        if device is None:
            raise ValueError(f"{etype}: unknown device {name!r} (field 'device')")
        return device

    def _profile(self, etype: str, name: str) -> Profile:
        profile = self._profiles.profile(name)
        if profile is None:
            raise ValueError(f"{etype}: unknown profile {name!r} (field 'profile')")
        return profile

    def _name_taken(self, name: str) -> str | None:
        if self._directory.user(name) is not None:
            return "a user"
        if self._enrollments.device(name) is not None:
            return "a device"
        return None

    # -- targeting -----------------------------------------------------------------------------
    def _targeting(self, device: Device) -> set[str]:
        """Profiles assigned to a group containing the device or its enrolled user."""
        if not device.enrolled:
            return set()
        groups = set(self._directory.groups_of(device.name))
        owner = device.owner_name
        if owner is not None:
            groups |= self._directory.groups_of(owner)
        return self._profiles.assigned_to(groups)

    def _targets(self, device: Device, profile: Profile) -> bool:
        """Whether `profile` is in _targeting(device), without building that set."""
        groups = profile.groups
        if not device.enrolled or not groups:
            return False
        if not groups.isdisjoint(self._directory.groups_of(device.name)):
            return True
        owner = device.owner_name
        return owner is not None and not groups.isdisjoint(self._directory.groups_of(owner))

    def _devices_reached_by(self, member: str) -> list[Device]:
        """Enrolled devices whose targeting can depend on `member` being in a group."""
        device = self._enrollments.device(member)
        if device is not None:
            return [device] if device.enrolled else []
        user = self._directory.user(member)
        return self._enrollments.enrolled_devices_of(user) if user is not None else []

    def _devices_reached_by_group(self, group: str) -> list[Device]:
        seen: dict[int, Device] = {}
        for member in sorted(self._directory.groups[group].members):
            for device in self._devices_reached_by(member):
                seen[id(device)] = device
        return list(seen.values())

    def _retarget(self, devices: Iterable[Device], trigger: str, change: Callable[[], None]) -> None:
        """Apply `change`, then settle the certificates of every profile that stopped targeting."""
        devices = list(devices)
        before = [self._targeting(d) for d in devices]
        change()
        for device, targeted in zip(devices, before):
            lost = targeted - self._targeting(device)
            for cert in self._store.installed_on(device.name):
                if cert.profile in lost:
                    self._settle(device, cert, trigger)
            # Editions that take a profile's root off with it (removal_policy.removes_chained_root).
            roots = {self._profiles.profiles[p].root for p in lost
                     if policy.removes_chained_root(self.edition, device.platform, self._profiles.profiles[p].kind, trigger)}
            for cert in self._store.installed_on(device.name):
                if cert.profile in roots:
                    self._remove(cert)

    def _settle(self, device: Device, cert: DeliveredCertificate, trigger: str) -> None:
        """Revoke and/or remove one installed certificate as the removal policy says."""
        profile = self._profiles.profiles[cert.profile]
        outcome = policy.decide(device.platform, profile.kind, profile.ca, trigger)
        if outcome.revoke:
            self._revoke(cert)
        if outcome.remove:
            self._remove(cert)

    # -- directory events ----------------------------------------------------------------------
    def _on_create_user(self, user: str) -> None:
        taken = self._name_taken(user)
        if taken:
            raise ValueError(f"create_user: name {user!r} is already {taken} (field 'user')")
        self._directory.create_user(user)

    def _on_create_group(self, group: str) -> None:
        if self._directory.group(group) is not None:
            raise ValueError(f"create_group: group {group!r} already exists (field 'group')")
        self._directory.create_group(group)

    def _on_add_member(self, group: str, member: str) -> None:
        target = self._group("add_member", group)
        if self._name_taken(member) is None:
            raise ValueError(f"add_member: unknown member {member!r}: no such user or device (field 'member')")
        if member not in target.members:  # adding an existing member changes nothing
            self._directory.add_member(group, member)

    def _on_remove_member(self, group: str, member: str) -> None:
        target = self._group("remove_member", group)
        if member not in target.members:
            raise ValueError(f"remove_member: {member!r} is not a member of group {group!r} (field 'member')")
        # Removing the device's user from the group: as removing the device, and the certificate
        # always leaves the device (see removal_policy.USER_LEFT_GROUP).
        trigger = policy.LEFT_GROUP if self._enrollments.device(member) is not None else policy.USER_LEFT_GROUP
        self._retarget(self._devices_reached_by(member), trigger,
                       lambda: self._directory.remove_member(group, member))

    def _on_lose_license(self, user: str) -> None:
        self._user("lose_license", user).licensed = False  # certificates stay (policy: license_lost)

    def _on_withdraw_license(self, user: str) -> None:
        self._user("withdraw_license", user).licensed = False

    def _on_delete_user(self, user: str) -> None:
        owner = self._user("delete_user", user)
        self._retarget(self._enrollments.enrolled_devices_of(owner), policy.DIRECTORY_REMOVAL,
                       lambda: self._directory.delete_user(user))

    def _on_delete_group(self, group: str) -> None:
        self._group("delete_group", group)

        def change() -> None:
            self._profiles.forget_group(group)
            self._directory.delete_group(group)

        self._retarget(self._devices_reached_by_group(group), policy.DIRECTORY_REMOVAL, change)

    # -- enrollment ----------------------------------------------------------------------------
    def _on_enroll(self, device: str, platform: str, user: str) -> None:
        taken = self._name_taken(device)
        if taken:
            raise ValueError(f"enroll: name {device!r} is already {taken} (field 'device')")
        owner = self._user("enroll", user)
        if self.realistic:
            if self._bound.get(platform, 0) >= self.pool.get(platform, 0):
                raise EventRejected(f"enroll: no free {platform} device: all {self.pool.get(platform, 0)} "
                                    "devices of the pool are bound")
            self._bound[platform] = self._bound.get(platform, 0) + 1
        # Our choice: an unlicensed user may enroll, but its devices get nothing at check-in
        # (see _on_check_in).
        self._enrollments.enroll(device, platform, owner)

    # -- profiles ------------------------------------------------------------------------------
    def _on_create_profile(self, profile: str, kind: str, root: str | None = None, ca: str | None = None) -> None:
        if self._profiles.profile(profile) is not None:
            raise ValueError(f"create_profile: profile {profile!r} already exists (field 'profile')")
        if root is not None:
            root_profile = self._profiles.profile(root)
            if root_profile is None or root_profile.kind != "trusted_root":
                raise ValueError(f"create_profile: root {root!r} is not a trusted_root profile (field 'root')")
        self._profiles.create(profile, kind, root, ca)

    def _on_assign_profile(self, profile: str, group: str) -> None:
        self._profile("assign_profile", profile)
        self._group("assign_profile", group)
        self._profiles.assign(profile, group)  # assigning twice changes nothing

    def _on_unassign_profile(self, profile: str, group: str) -> None:
        target = self._profile("unassign_profile", profile)
        self._group("unassign_profile", group)
        if group not in target.groups:
            # Our choice, by analogy with removing a non-member: a bad input.
            raise ValueError(f"unassign_profile: profile {profile!r} is not assigned to group {group!r} (field 'group')")
        self._retarget(self._devices_reached_by_group(group), policy.UNASSIGNED,
                       lambda: self._profiles.unassign(profile, group))

    def _on_update_profile(self, profile: str) -> None:
        target = self._profile("update_profile", profile)
        target.revision += 1
        # Our choice: the update is pushed to the devices the profile targets now; certificates
        # left on devices it no longer targets are not touched. Where the policy revokes (SCEP),
        # the revoked certificate is superseded: we take it off the device so that the next
        # check-in installs its replacement, issued under the new settings.
        for device in list(self._enrollments.devices.values()):
            cert = self._store.installed(device.name, profile)
            if cert is None or not self._targets(device, target):
                continue
            outcome = policy.decide(device.platform, target.kind, target.ca, policy.PROFILE_UPDATED)
            if outcome.revoke and cert.crl is not None:
                self._revoke(cert)
                if device.platform not in policy.NO_REMOVAL_PLATFORMS:
                    self._remove(cert)
            elif outcome.remove:
                self._remove(cert)

    # -- device events -------------------------------------------------------------------------
    def _on_check_in(self, device: str) -> None:
        target = self._device("check_in", device)
        self._land(device)  # removals waiting for this device's check-in happen now
        if not target.enrolled:
            return  # a device no longer managed gets nothing
        if target.owner.deleted or not target.owner.licensed:
            # Our choice (document silent): the MDM stops delivering to a device whose user was
            # deleted or has no licence; what is installed stays.
            return
        missing = self._targeting(target) - self._store.installed_profiles(device)
        if self._pending_deliveries:  # already on their way: not sent twice
            missing -= {cert.profile for _, cert in self._pending_deliveries if cert.device == device}
        # Issue every certificate first, deliver them after: nothing is delivered unless all are.
        issued, roots = [], self._root_deliveries
        for profile in sorted((self._profiles.profiles[n] for n in missing), key=lambda p: p.order):
            roots += profile.kind == "trusted_root"
            issued.append(self._issue(device, profile, root_delivery=roots))
        delay = self._delay("delivery") if self.realistic else 0.0
        for cert in issued:
            if delay > 0:
                self._pending_deliveries.append((self._clock() + delay, cert))
            else:
                self._store.deliver(cert)
        self._root_deliveries = roots

    def _on_delete_certificate(self, device: str, profile: str) -> None:
        self._device("delete_certificate", device)
        self._profile("delete_certificate", profile)
        cert = self._store.installed(device, profile)
        if cert is None:
            raise ValueError(f"delete_certificate: device {device!r} has no installed certificate of "
                             f"profile {profile!r} (field 'profile')")
        # Our choice (document silent): deleting by hand is noticed at the next check-in, which
        # issues a new certificate (doc lines 50-52); the deleted one is not revoked.
        self._store.uninstall(cert)

    def _on_unenroll(self, device: str) -> None:
        self._end(remote_actions.unenroll, self._device("unenroll", device))

    def _on_wipe(self, device: str) -> None:
        self._end(remote_actions.wipe, self._device("wipe", device))

    def _on_retire(self, device: str) -> None:
        self._end(remote_actions.retire, self._device("retire", device))

    def _end(self, action, target: Device) -> None:
        """A remote action; a pool device it ends the management of is free again (realistic)."""
        was = target.enrolled
        action(target, self._store, self._settle)
        if was and not target.enrolled and self.realistic:
            self._bound[target.platform] -= 1

    # -- issuance ------------------------------------------------------------------------------
    def _issue(self, device: str, profile: Profile, root_delivery: int) -> DeliveredCertificate:
        """The certificate `profile` delivers to `device` (changes no state). Names of any length
        or characters are accepted: authority.common_name bounds what goes into the subject."""
        pki = self._pki
        if profile.kind == "trusted_root":
            # The trusted-root profile carries the tenant root. One certificate goes to many
            # devices, so the inventory serial is "<root X.509 serial>-<delivery number>".
            return DeliveredCertificate(device, profile.name, profile.kind,
                                        f"{serial_text(pki.root.serial_number)}-{root_delivery}",
                                        IssuedLeaf.existing(pki.root.certificate), crl=None)
        if profile.kind == "pkcs_imported":
            # Imported certificates come from a CA the MDM does not run: never revoked by it.
            cert = pki.external.issue_leaf(f"{profile.name} imported for {device}")
            return DeliveredCertificate(device, profile.name, profile.kind,
                                        serial_text(cert.serial_number), cert, crl=None)
        authority, crl = pki.authority_for(profile.ca)
        cert = authority.issue_leaf(f"{profile.kind} {profile.name} r{profile.revision} for {device}")
        return DeliveredCertificate(device, profile.name, profile.kind, serial_text(cert.serial_number), cert, crl)
