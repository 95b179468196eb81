"""IntuneAdapter: the adapter contract (../shared/CONTRACT.md) over Microsoft Graph (spec `intune`).

What this module knows: the run's state (contract names -> Graph ids, the device pool and its
bindings, each contract profile's Graph profiles per platform family), how each contract event
becomes the Graph requests of mapping.EVENTS, and how the per-profile certificate states become
the contract inventory (mapping.record_fields). Event validation is the reference model's World
(directory bookkeeping only: which names exist, who is in which group).
What it does not know: HTTP details (graph.py), configuration (config.py), tokens (auth.py).

Safety: wipe and retire run only with allow_destructive (--allow-destructive, env
CERTCONFORM_INTUNE_ALLOW_DESTRUCTIVE=1) and only on pool devices (the only devices the adapter
knows); without it they are left out of capabilities()['events'], so the suite reports their
checks not-supported, and a direct apply() raises EventRejected. reset() deletes only objects
whose displayName starts with the run's prefix.
"""
from __future__ import annotations

import atexit
import datetime as dt
import itertools
import re
import secrets
import sys
import time
from dataclasses import dataclass, field

from certconform.mdm import EventRejected
from certconform.model.world import EVENT_FIELDS, PLATFORMS, World

from . import mapping
from .config import IntuneConfig
from .graph import GraphClient, GraphError

ODATA = "#microsoft.graph."
BETA, V1 = "/beta/deviceManagement", "/v1.0"
# Graph's directory links name Graph's public host whatever base URL the client uses (the
# emulator accepts any host in them).
GRAPH_HOST = "https://graph.microsoft.com"
# PKCS types with a rootCertificate relationship (the Windows, iOS and macOS PKCS types have none)
PKCS_WITH_ROOT = ("android", "android_work")


@dataclass
class Binding:
    """A contract device bound to a pool device, from enrol until wipe/retire (or reset)."""
    device: str
    platform: str
    pool_name: str
    managed_id: str
    aad_device_id: str
    bound_at: float
    released_at: float | None = None
    directory_id: str | None = None  # the directory device object (group membership), looked up once


@dataclass
class GraphProfile:
    kind: str
    ids: dict[str, str] = field(default_factory=dict)  # family -> deviceConfiguration id
    updates: int = 0


class IntuneAdapter:
    def __init__(self, cfg: IntuneConfig, client: GraphClient, cleanup_at_exit: bool = True) -> None:
        self.cfg, self.graph = cfg, client
        self.families = [f for f in mapping.FAMILIES
                         if any(cfg.pool.get(p) for p, fam in mapping.FAMILY.items() if fam == f)]
        self._closed = False
        self._check_pool()
        self._forget()
        # The suite resets before every test, never after the last: clean up at exit too.
        if cleanup_at_exit:
            atexit.register(self._close_quietly)

    def _close_quietly(self) -> None:
        try:
            self.close()
        except Exception as exc:  # at exit: one line, never a traceback (and never a secret: graph.py redacts)
            print(f"certconform intune: clean-up at exit failed: {type(exc).__name__}: {exc}"[:300], file=sys.stderr)

    # ------------------------------------------------------------------ set-up
    def _check_pool(self) -> None:
        """Every pool device exists in Intune and has no primary user (one line naming the first
        that does not): a device someone uses, or one an interrupted run left bound, is not free."""
        for platform, names in self.cfg.pool.items():
            for name in names:
                device = self._managed_device(name, platform)
                if device.get("userId"):
                    from certconform.mdm import AdapterSpecError

                    who = device.get("userDisplayName") or device.get("userPrincipalName") or device["userId"]
                    raise AdapterSpecError(
                        f"setting 'pool': {platform} device {name!r} already has a primary user ({who}); a pool "
                        "device must have none (if an interrupted run left it, run again with that run's prefix "
                        "as CERTCONFORM_INTUNE_PREFIX: its reset() removes what it created)")

    def _managed_device(self, name: str, platform: str) -> dict:
        found = self.graph.get(f"{BETA}/managedDevices?$filter=deviceName eq '{_quote(name)}'") or {}
        devices = found.get("value", [])
        if len(devices) != 1:
            from certconform.mdm import AdapterSpecError

            raise AdapterSpecError(f"setting 'pool': {platform} device {name!r} is "
                                   + ("not a managed device in Intune" if not devices else f"ambiguous ({len(devices)} managed devices)"))
        return devices[0]

    def _forget(self) -> None:
        self.world = World()
        self.users: dict[str, str] = {}  # contract user -> Graph id
        self.groups: dict[str, str] = {}
        self.profiles: dict[str, GraphProfile] = {}
        self.bindings: dict[str, Binding] = {}  # contract device -> its binding
        self.history: list[Binding] = []  # every binding since reset (record attribution)
        self.free = {p: list(names) for p, names in self.cfg.pool.items()}
        self.families_used: set[str] = set()
        self._seen: dict[str, tuple[int, str]] = {}  # serial -> (first-seen order, contract device)
        self._order = itertools.count()

    def _name(self, name: str) -> str:
        return self.cfg.prefix + name

    # ------------------------------------------------------------------ contract
    def capabilities(self) -> dict:
        events = [e for e in EVENT_FIELDS if e not in mapping.UNSUPPORTED_EVENTS
                  and (self.cfg.allow_destructive or e not in mapping.DESTRUCTIVE_EVENTS)]
        settle = 0.0 if self.cfg.dry_run else self.cfg.settle_s  # a dry run changes nothing: nothing to wait for
        return {"events": events, "observes": list(mapping.OBSERVES), "settle_s": settle,
                "devices": {p: len(self.cfg.pool.get(p, ())) for p in PLATFORMS},
                "platforms": list(PLATFORMS)}

    def reset(self) -> None:
        """Delete every object with the run's prefix (profiles, groups, users), nothing else."""
        prefix = self.cfg.prefix
        profiles = [p for p in self.graph.get_all(f"{BETA}/deviceConfigurations")
                    if str(p.get("displayName", "")).startswith(prefix)]
        # SCEP/PKCS first: a root named by a rootCertificate relationship cannot go first
        profiles.sort(key=lambda p: "TrustedRoot" in str(p.get("@odata.type", "")))
        for p in profiles:
            self.graph.request("DELETE", f"{BETA}/deviceConfigurations/{p['id']}")
        for kind in ("groups", "users"):
            for obj in self.graph.get_all(f"{V1}/{kind}?$filter=startswith(displayName,'{_quote(prefix)}')"):
                if str(obj.get("displayName", "")).startswith(prefix):  # never trust the filter alone
                    self.graph.request("DELETE", f"{V1}/{kind}/{obj['id']}")
        self._forget()

    def apply(self, event: dict) -> None:
        self.world.validate(event)
        etype = event["type"]
        if etype in mapping.UNSUPPORTED_EVENTS:
            raise EventRejected(f"{etype} is not supported over Graph: {mapping.UNSUPPORTED_EVENTS[etype]}")
        if etype in mapping.DESTRUCTIVE_EVENTS and not self.cfg.allow_destructive:
            raise EventRejected(f"{etype} refused: destructive actions need --allow-destructive "
                                "(env CERTCONFORM_INTUNE_ALLOW_DESTRUCTIVE=1)")
        try:
            getattr(self, "_" + etype)(event)
        except ValueError as exc:  # past validation, nothing is the caller's bad input (a ValueError would say so)
            raise RuntimeError(f"{etype}: {exc}") from None
        self.world.apply(event)

    # -- directory
    def _create_user(self, e: dict) -> None:
        nick = _nickname(self._name(e["user"]))
        user = self.graph.request("POST", f"{V1}/users", {
            "accountEnabled": True, "displayName": self._name(e["user"]), "mailNickname": nick,
            "userPrincipalName": f"{nick}@{self.cfg.domain}", "usageLocation": self.cfg.usage_location,
            "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": _password()}})
        self.users[e["user"]] = user["id"]
        self.graph.request("POST", f"{V1}/users/{user['id']}/assignLicense",
                           {"addLicenses": [{"skuId": self.cfg.license_sku, "disabledPlans": []}], "removeLicenses": []})

    def _withdraw_license(self, e: dict) -> None:
        if not self.world.users[e["user"]]:
            return  # withdrawn already: Graph answers 400 to removing a licence the user lacks
        self.graph.request("POST", f"{V1}/users/{self.users[e['user']]}/assignLicense",
                           {"addLicenses": [], "removeLicenses": [self.cfg.license_sku]})

    def _delete_user(self, e: dict) -> None:
        self.graph.request("DELETE", f"{V1}/users/{self.users.pop(e['user'])}")

    def _create_group(self, e: dict) -> None:
        group = self.graph.request("POST", f"{V1}/groups", {
            "displayName": self._name(e["group"]), "mailEnabled": False,
            "mailNickname": _nickname(self._name(e["group"])), "securityEnabled": True})
        self.groups[e["group"]] = group["id"]

    def _delete_group(self, e: dict) -> None:
        self.graph.request("DELETE", f"{V1}/groups/{self.groups.pop(e['group'])}")

    def _member_id(self, member: str) -> str | None:
        if member in self.users:
            return self.users[member]
        binding = self.bindings.get(member)
        if binding is None:  # wiped or retired: its directory device object is gone, so joining or
            return None      # leaving a group cannot change what Intune delivers to it (no request)
        if binding.directory_id is None:
            found = self.graph.get(f"{V1}/devices?$filter=deviceId eq '{_quote(binding.aad_device_id)}'") or {}
            if not found.get("value"):
                raise GraphError(f"Graph has no directory device with deviceId {binding.aad_device_id} "
                                 f"(pool device {binding.pool_name})")
            binding.directory_id = found["value"][0]["id"]
        return binding.directory_id

    def _add_member(self, e: dict) -> None:
        if e["member"] in self.world.groups[e["group"]]:
            return  # already a member: the contract's add is idempotent, Graph's $ref answers 400
        member = self._member_id(e["member"])
        if member is None:
            return
        self.graph.request("POST", f"{V1}/groups/{self.groups[e['group']]}/members/$ref",
                           {"@odata.id": f"{GRAPH_HOST}/v1.0/directoryObjects/{member}"})

    def _remove_member(self, e: dict) -> None:
        member = self._member_id(e["member"])
        if member is None:
            return  # the membership went with the device object
        self.graph.request("DELETE", f"{V1}/groups/{self.groups[e['group']]}/members/{member}/$ref")

    # -- devices
    def _enroll(self, e: dict) -> None:
        platform = e["platform"]
        free = self.free.get(platform, [])
        if not free:
            raise EventRejected(f"no free {platform} device in the pool ({len(self.cfg.pool.get(platform, ()))} configured)")
        name = free[0]
        managed = self._managed_device(name, platform)  # its id changes when the lab re-enrols it
        bound_at = time.time()
        self.graph.request("POST", f"{BETA}/managedDevices/{managed['id']}/users/$ref",
                           {"@odata.id": f"{GRAPH_HOST}/beta/users/{self.users[e['user']]}"})
        free.pop(0)
        binding = Binding(e["device"], platform, name, managed["id"], str(managed.get("azureADDeviceId") or ""), bound_at)
        self.bindings[e["device"]] = binding
        self.history.append(binding)
        self.families_used.add(mapping.FAMILY[platform])

    def _check_in(self, e: dict) -> None:
        binding = self.bindings.get(e["device"])
        if binding is None:
            return  # no longer enrolled: nothing to sync (the pool device may serve another binding now)
        self.graph.request("POST", f"{BETA}/managedDevices/{binding.managed_id}/syncDevice")

    def _device_action(self, e: dict, body: dict | None) -> None:
        binding = self.bindings.get(e["device"])
        if binding is None:
            raise EventRejected(f"{e['device']} is no longer enrolled: Intune has no managed device to {e['type']}")
        try:
            self.graph.request("POST", f"{BETA}/managedDevices/{binding.managed_id}/{e['type']}", body)
        except GraphError as exc:
            if exc.status == 409:  # the platform refuses the action (e.g. wipe on macOS)
                raise EventRejected(str(exc)) from None
            raise
        binding.released_at = time.time()
        del self.bindings[e["device"]]
        self.free[binding.platform].append(binding.pool_name)  # last: least recently used first

    def _wipe(self, e: dict) -> None:
        self._device_action(e, {"keepEnrollmentData": False, "keepUserData": False})

    def _retire(self, e: dict) -> None:
        self._device_action(e, None)

    # -- profiles
    def _create_profile(self, e: dict) -> None:
        kind, profile = e["kind"], GraphProfile(e["kind"])
        for family in self.families:
            body = {"@odata.type": ODATA + mapping.ODATA_TYPES[(family, kind)],
                    "displayName": f"{self._name(e['profile'])} ({family})",
                    "description": _description(e.get("ca"), 0)}
            body.update(self._settings(family, kind, e.get("ca")))
            if kind == "scep" or (kind == "pkcs" and family in PKCS_WITH_ROOT):
                root = self.profiles[e["root"]].ids[family]
                body["rootCertificate@odata.bind"] = f"{GRAPH_HOST}/beta/deviceManagement/deviceConfigurations('{root}')"
            created = self.graph.request("POST", f"{BETA}/deviceConfigurations", body)
            profile.ids[family] = created["id"]
        self.profiles[e["profile"]] = profile

    def _settings(self, family: str, kind: str, ca: str | None) -> dict:
        """The type-specific properties a real tenant needs (documented in each type's page; every
        body is checked against msgraph-beta-sdk's models by tests/test_intune_bodies.py)."""
        if kind == "trusted_root":
            return {"trustedRootCertificate": _ROOT_DER_B64, "certFileName": "certconform-root.cer"}
        if kind == "scep":
            url = self.cfg.third_party_scep_url if ca == "third_party" else self.cfg.scep_url
            return {"scepServerUrls": [url], "subjectNameFormat": "commonName", "keyUsage": "digitalSignature",
                    "keySize": "size2048", "renewalThresholdPercentage": 20,
                    "certificateValidityPeriodScale": "years", "certificateValidityPeriodValue": 1}
        if kind == "pkcs":
            return {"certificationAuthority": self.cfg.pkcs_ca, "certificationAuthorityName": self.cfg.pkcs_ca_name,
                    "certificateTemplateName": "certconform", "renewalThresholdPercentage": 20,
                    "certificateValidityPeriodScale": "years", "certificateValidityPeriodValue": 1}
        if family == "ios":  # iosImportedPFXCertificateProfile has no renewal threshold (its doc page, the SDK's model)
            return {"intendedPurpose": "unassigned"}
        return {"intendedPurpose": "unassigned", "renewalThresholdPercentage": 20}

    def _assign_all(self, profile_name: str) -> None:
        groups = sorted(self.world.profiles[profile_name].groups)
        assignments = [{"target": {"@odata.type": ODATA + "groupAssignmentTarget", "groupId": self.groups[g]}}
                       for g in groups]
        for config_id in self.profiles[profile_name].ids.values():
            self.graph.request("POST", f"{BETA}/deviceConfigurations/{config_id}/assign", {"assignments": assignments})

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
        profile, world = self.profiles[e["profile"]], self.world.profiles[e["profile"]]
        profile.updates += 1
        for family, config_id in profile.ids.items():
            body = {"@odata.type": ODATA + mapping.ODATA_TYPES[(family, profile.kind)],
                    "description": _description(world.ca, profile.updates)}
            if profile.kind in ("scep", "pkcs"):  # a setting that makes the device renew
                body["renewalThresholdPercentage"] = 20 + profile.updates % 2
            self.graph.request("PATCH", f"{BETA}/deviceConfigurations/{config_id}", body)

    # ------------------------------------------------------------------ observation
    def observe(self) -> list[dict]:
        rows = []
        for name, profile in self.profiles.items():
            if profile.kind not in mapping.OBSERVES:
                continue
            for family, config_id in profile.ids.items():
                if family not in self.families_used:
                    continue  # no device of that family was enrolled since reset: nothing delivered
                odata = mapping.ODATA_TYPES[(family, profile.kind)]
                states = self.graph.get_all(f"{BETA}/deviceConfigurations/{config_id}/microsoft.graph.{odata}"
                                            "/managedDeviceCertificateStates")
                for state in states:
                    row = self._record(name, profile.kind, state)
                    if row is not None:
                        rows.append(row)
        rows.sort(key=lambda r: r[0])
        out, serials = [], set()
        for _, record in rows:
            if record["serial"] not in serials:  # one record per certificate
                serials.add(record["serial"])
                out.append(record)
        return out

    def _record(self, profile: str, kind: str, state: dict):
        serial = state.get("certificateSerialNumber")
        fields = mapping.record_fields(state.get("certificateIssuanceState"), state.get("certificateRevokeStatus"))
        if not serial or fields is None:
            return None
        issued = _when(state.get("certificateIssuanceDateTime"))
        if serial not in self._seen:
            device = self._attribute(str(state.get("deviceDisplayName", "")), issued)
            if device is None:
                return None  # a pool device's certificate from before this run's binding: not ours
            self._seen[serial] = (next(self._order), device)
        order, device = self._seen[serial]
        record = {"device": device, "profile": profile, "kind": kind, "serial": str(serial), **fields}
        return (issued or float("inf"), order), record

    def _attribute(self, pool_name: str, issued: float | None) -> str | None:
        """The contract device that held pool device `pool_name` when the certificate was issued."""
        candidates = [b for b in self.history if b.pool_name == pool_name]
        if not candidates:
            return None
        if issued is not None:
            for b in reversed(candidates):
                if b.bound_at - 1.0 <= issued and (b.released_at is None or issued <= b.released_at + 1.0):
                    return b.device
        return candidates[-1].device

    def close(self) -> None:
        """Delete what this run created (a run leaves nothing behind on the tenant), then close."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.users or self.groups or self.profiles:
                self.reset()
        finally:
            self.graph.close()

    def __repr__(self) -> str:
        return f"IntuneAdapter({self.cfg.graph_url!r}, prefix={self.cfg.prefix!r})"


def _quote(text: str) -> str:
    """A string literal's content in an OData $filter (a quote is doubled)."""
    return text.replace("'", "''")


def _nickname(name: str) -> str:
    """mailNickname (and the UPN's local part): ASCII letters, digits and - _ . only, at most 64
    characters, compared without case by the directory. A name that needs changing (capitals
    included) gets a hash of itself, so two names never collide ("U1" and "u1" are two users)."""
    safe = re.sub(r"[^a-z0-9._-]", "-", name.lower())
    if safe == name and len(name) <= 64:
        return name
    import hashlib

    return safe[:55] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def _password() -> str:
    """A random password meeting Entra ID's complexity rules (never logged: graph.py redacts it)."""
    return "Cc1!" + secrets.token_urlsafe(18)


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


def _root_der_b64() -> str:
    """A self-signed root for trusted-root profiles (its identity does not matter to the suite)."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certconform test root")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


_ROOT_DER_B64 = _root_der_b64()
