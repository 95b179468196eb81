"""The Intune adapter's mapping between the contract and Microsoft Graph, as tables.

What this module knows: for every contract event, the Graph requests the adapter sends (EVENTS,
which the adapter executes and docs/intune.md prints); for every (platform family, kind) the
`@odata.type` of the device configuration (ODATA_TYPES); for every Graph certificate issuance
state and revocation status, the contract record fields (ISSUANCE, REVOCATION); the events and
kinds Graph cannot perform or observe (UNSUPPORTED_EVENTS, UNOBSERVABLE_KINDS).
What it does not know: how to send a request (graph.py) or the run's state (adapter.py).

Sources (microsoftgraph/microsoft-graph-docs-contrib): api-reference/v1.0/api/user-post-users.md,
user-assignlicense.md, group-post-groups.md, group-post-members.md, group-delete-members.md,
device-list.md; api-reference/beta/api/intune-devices-manageddevice-{list,syncdevice,wipe,retire}.md,
intune-deviceconfig-*certificate*-create.md, intune-deviceconfig-deviceconfiguration-assign.md,
intune-deviceconfig-manageddevicecertificatestate-list.md (the cast route
`deviceConfigurations/{id}/microsoft.graph.<type>/managedDeviceCertificateStates`),
resources/intune-deviceconfig-manageddevicecertificatestate.md (certificateIssuanceStates,
certificateRevocationStatus).
"""
from __future__ import annotations

# contract platform -> the Intune management mode the pool's devices must be enrolled in, and what
# a tenant can no longer enrol (memdocs intune/protect/certificates-profile-scep.md, intune/
# enrollment/android-*; docs/intune.md). The adapter cannot check the mode; the administrator
# enrols the pool accordingly.
MANAGEMENT_MODES = {
    "windows": ("Windows 10/11, Entra joined, enrolled by its pool user (user-driven)", ""),
    "ios": ("iOS/iPadOS device enrolment (Company Portal or Automated Device Enrollment with user affinity), "
            "enrolled by its pool user", "User Enrollment cannot be wiped"),
    "macos": ("macOS, enrolled by its pool user", ""),
    "android_knox": ("Android device administrator on a Samsung Knox device",
                     "device administrator is out of support on devices with Google Mobile Services since 2024"),
    "android_legacy": ("Android device administrator on a non-Knox device",
                       "out of support with GMS since 2024; from Android 11 such a device cannot install a "
                       "trusted root certificate, so SCEP cannot chain (certificates-profile-scep.md)"),
    "android_work": ("Android Enterprise personally-owned work profile, enrolled by its pool user",
                     "wipe is not supported (devices-wipe.md): declared not performed"),
}

# contract platform -> Graph platform family (one Graph profile per family the run uses).
# Samsung KNOX and other device-administrator Android devices share the `android*` types;
# Android Enterprise work profile has its own `androidWorkProfile*` types.
FAMILY = {
    "windows": "windows",
    "ios": "ios",
    "macos": "macos",
    "android_knox": "android",
    "android_legacy": "android",
    "android_work": "android_work",
}
FAMILIES = ("windows", "ios", "macos", "android", "android_work")

# (family, contract kind) -> Graph @odata.type (without "#microsoft.graph.")
ODATA_TYPES: dict[tuple[str, str], str] = {
    ("windows", "trusted_root"): "windows81TrustedRootCertificate",
    ("windows", "scep"): "windows81SCEPCertificateProfile",
    ("windows", "pkcs"): "windows10PkcsCertificateProfile",
    ("windows", "pkcs_imported"): "windows10ImportedPFXCertificateProfile",
    ("ios", "trusted_root"): "iosTrustedRootCertificate",
    ("ios", "scep"): "iosScepCertificateProfile",
    ("ios", "pkcs"): "iosPkcsCertificateProfile",
    ("ios", "pkcs_imported"): "iosImportedPFXCertificateProfile",
    ("macos", "trusted_root"): "macOSTrustedRootCertificate",
    ("macos", "scep"): "macOSScepCertificateProfile",
    ("macos", "pkcs"): "macOSPkcsCertificateProfile",
    ("macos", "pkcs_imported"): "macOSImportedPFXCertificateProfile",
    ("android", "trusted_root"): "androidTrustedRootCertificate",
    ("android", "scep"): "androidScepCertificateProfile",
    ("android", "pkcs"): "androidPkcsCertificateProfile",
    ("android", "pkcs_imported"): "androidImportedPFXCertificateProfile",
    ("android_work", "trusted_root"): "androidWorkProfileTrustedRootCertificate",
    ("android_work", "scep"): "androidWorkProfileScepCertificateProfile",
    ("android_work", "pkcs"): "androidWorkProfilePkcsCertificateProfile",
    # Graph has no androidWorkProfileImportedPFX type; the work-profile one keeps the old name
    ("android_work", "pkcs_imported"): "androidForWorkImportedPFXCertificateProfile",
}

# Kinds whose Graph profile has the managedDeviceCertificateStates relationship (the list route's
# doc page names the SCEP, PKCS and imported PFX types; no trusted-root type has it, and no other
# documented endpoint reports a trusted root per device with an identity of its own).
# Imported PKCS profiles deliver only the PFX files uploaded per user (userPFXCertificate, memdocs
# intune/protect/certificates-imported-pfx-configure.md); the adapter uploads none, so their
# certificates are declared unobservable: their checks are not-supported, never judged.
UNOBSERVABLE_KINDS = ("trusted_root", "pkcs_imported")
OBSERVES = ("scep", "pkcs")

# Contract events Graph cannot perform, and why (declared in capabilities(), never faked).
UNSUPPORTED_EVENTS = {
    "delete_certificate": "no Graph API deletes one certificate from a device; a person does it on the device",
    "unenroll": "user-initiated unenrolment is done on the device (Company Portal), not through Graph",
    "lose_license": "a licence lost other than by an administrator's withdrawal has no Graph action",
}
# wipe and retire erase or release a pool device, delete_user deletes a pool user (restored at
# reset): performed only with --allow-destructive; without it they are left out of
# capabilities()['events'] too.
DESTRUCTIVE_EVENTS = ("wipe", "retire", "delete_user")
# event -> {platform: why} never performed on that platform (capabilities()['unsupported_on']); a
# macOS wipe only with allow_macos_wipe (it erases the Mac: memdocs intune/remote-actions/
# device-wipe-macos.md), never on an Android personally-owned work profile (devices-wipe.md)
WORK_PROFILE_WIPE = "Intune does not support wipe on Android personally-owned work profiles (devices-wipe.md)"
MACOS_WIPE = ("a macOS wipe erases the Mac (Intune performs it: device-wipe-macos.md); set allow_macos_wipe to "
              "let it reach one")
# after these events the pool device needs a person (capabilities()['needs_person'])
NEEDS_PERSON = {
    "wipe": "enrol {device} again with its pool user (the wipe erased it and took it out of Intune)",
    "retire": "enrol {device} again with its pool user (the retire took it out of Intune)",
}

# Latencies (Intune's seconds) the adapter declares as capabilities()['windows'], each the bound a
# page documents (docs/intune.md, "How long"); where no page gives a figure, the longest
# documented per-device figure, never a kinder one.
HOUR = 3600.0
WINDOWS = {
    # delivery: Intune notifies the device "immediately up to a few hours"; a device that missed
    # the notifications gets it at its scheduled check-in, about every 8 hours
    # (memdocs intune/configuration/device-profile-troubleshoot.md)
    "delivery": 8 * HOUR,
    # removal: at the device's next check-in after the change, the same 8-hour refresh cycle
    "removal": 8 * HOUR,
    # revocation: no page gives the certificate connector's figure (certificate-connector-overview.md
    # lists revocation among its tasks, without a time); the refresh cycle bounds when Intune
    # learns of the removal that triggers it
    "revocation": 8 * HOUR,
    # propagation: a user removed from a group: up to 7 hours or more, then the device's refresh
    # cycle (device-profile-troubleshoot.md): 7 h + 8 h
    "propagation": 15 * HOUR,
    # device_action: a wipe or retire reaches a device that is on and connected in less than 15
    # minutes; the retired device stays in Intune until it checks in (devices-wipe.md): the
    # refresh cycle bounds a device that was not connected
    "device_action": 8 * HOUR,
}
# How long each class of change TYPICALLY takes (Intune's seconds), declared as
# capabilities()['typical'] for the plan's expected wall time only (the suite still waits each
# whole window above before it judges a change missing). No page gives a typical figure; each is
# a choice within its documented bound, the same as the Graph emulator's defaults
# (graph_emulator/timing.py Delays), and a tenant's administrator can give its own (setting
# `typical`). A change caused by a group change or a device action is planned at the cause's
# figure plus the aspect's (capabilities.py typical_latency).
TYPICAL = {
    # a notified device checks in "immediately up to a few hours" after a sync: minutes when on
    "delivery": 5 * 60.0,
    # the device removes a certificate when it next checks in after the change
    "removal": 5 * 60.0,
    # the certificate connector revokes once Intune knows of the removal (no figure: a choice)
    "revocation": 15 * 60.0,
    # a group membership reaches Intune's targeting (up to 7 hours or more: a choice of one)
    "propagation": 1 * HOUR,
    # a wipe or retire reaches a connected device in less than 15 minutes
    "device_action": 5 * 60.0,
}
# Graph's per-app limits the adapter budgets for (microsoft-graph-docs-contrib
# concepts/throttling-limits.md, Intune service limits): (path prefix, requests, writes, window s),
# at 90 % so that a window that starts apart from Graph's own is not throttled
GRAPH_LIMITS = (
    ("/beta/deviceManagement/deviceConfigurations", 900, 90, 20.0),  # device configuration: 1000 / 100
    ("/beta/deviceManagement/managedDevices", 1800, 180, 20.0),  # devices: 2000 / 200
)

# Contract event -> the Graph requests, in order. `{...}` are filled by the adapter; "per family"
# means once for each Graph profile of the contract profile. This is the table the adapter runs
# (adapter.py dispatches on its keys) and docs/intune.md prints (markdown_tables()).
EVENTS: dict[str, list[str]] = {
    "create_user": ["no request: a contract user stands for the pool users whose devices it enrols (docs/intune.md)"],
    "create_group": ["POST /v1.0/groups {displayName, mailEnabled: false, mailNickname, securityEnabled: true}"],
    "add_member": ["user: POST /v1.0/groups/{group}/members/$ref {@odata.id: .../v1.0/directoryObjects/{poolUser}} for each of its pool users (later ones join when bound)",
                   "device: GET /v1.0/devices?$filter=deviceId eq '{azureADDeviceId}', then the same $ref with the directory device's id",
                   "a device no longer enrolled (wiped, retired): no request"],
    "remove_member": ["DELETE /v1.0/groups/{group}/members/{member}/$ref (each pool user of a user; none for a device no longer enrolled)"],
    "enroll": ["GET /beta/deviceManagement/managedDevices?$filter=deviceName eq '{pool device}' (a free pool device of the platform, enrolled by a pool user no other contract user holds)",
               "GET /v1.0/devices?$filter=deviceId eq '{azureADDeviceId}' and GET /v1.0/devices/{directoryDevice}/memberOf then DELETE /v1.0/groups/{group}/members/{directoryDevice}/$ref for each group of this run its Entra record kept from an earlier enrolment",
               "a newly bound pool user gets the contract user's groups and withdrawn licence: POST /v1.0/groups/{group}/members/$ref, POST /v1.0/users/{poolUser}/assignLicense"],
    "create_profile": ["per family: POST /beta/deviceManagement/deviceConfigurations {@odata.type (table below), displayName, ...}",
                       "scep: the family's root profile bound in the body (rootCertificate@odata.bind)"],
    "assign_profile": ["per family: POST /beta/deviceManagement/deviceConfigurations/{profile}/assign {assignments: the FULL set of groupAssignmentTargets}"],
    "unassign_profile": ["per family: POST /beta/deviceManagement/deviceConfigurations/{profile}/assign {assignments: the full set without the group}"],
    "update_profile": ["per family: PATCH /beta/deviceManagement/deviceConfigurations/{profile} {@odata.type, description; SCEP/PKCS: the setting update_edit names (default certificateValidityPeriodValue 1 <-> 2)}"],
    "check_in": ["POST /beta/deviceManagement/managedDevices/{device}/syncDevice (the suite awaits the delivery within the 'delivery' window)"],
    "wipe": ["POST /beta/deviceManagement/managedDevices/{device}/wipe {keepEnrollmentData: false, keepUserData: false} (only with --allow-destructive; never on android_work; on macos only with allow_macos_wipe)"],
    "retire": ["POST /beta/deviceManagement/managedDevices/{device}/retire (only with --allow-destructive)"],
    "withdraw_license": ["POST /v1.0/users/{poolUser}/assignLicense {addLicenses: [], removeLicenses: [skuId]} for each of its pool users (reset gives it back)"],
    "delete_user": ["DELETE /v1.0/users/{poolUser} for each of its pool users (only with --allow-destructive; reset restores them: POST /v1.0/directory/deletedItems/{id}/restore)"],
    "delete_group": ["DELETE /v1.0/groups/{group}"],
}
for _event, _why in UNSUPPORTED_EVENTS.items():
    EVENTS[_event] = [f"not supported: {_why}"]

OBSERVE_REQUEST = ("per SCEP/PKCS/imported profile and family: GET /beta/deviceManagement/deviceConfigurations/{profile}"
                   "/microsoft.graph.{odata type}/managedDeviceCertificateStates, following @odata.nextLink")

# certificateIssuanceStates -> installed. Only records with a certificate (a serial) in one of
# these states are delivered certificates; the earlier states (unknown, challenge*, request*,
# issuePending, responsePending, ...) and the failures have no certificate on the device yet and are
# not reported. `revoked` says the CA revoked it, NOT that it left the device: read as still
# installed (and revoked) until a state says it is gone, so a revoked certificate left on the
# device can never pass as "revoked and removed".
ISSUANCE: dict[str, dict] = {
    "issued": {"installed": True},
    "installed": {"installed": True},
    "enrollmentSucceeded": {"installed": True},
    "renewVerified": {"installed": True},
    "renewalRequested": {"installed": True},
    "deleteFailed": {"installed": True},  # the device failed to delete it: still there
    "deleted": {"installed": False},
    "removedFromCollection": {"installed": False},
    "revoked": {"installed": True, "revoked": True},
}
# What a certificate state can and cannot tell (capabilities()['observation'], docs/intune.md)
OBSERVATION = {
    "can": "per SCEP/PKCS profile and device: the serial, whether the certificate is on the device "
           "(installed ... deleted) and whether the CA revoked it (certificateRevokeStatus)",
    "cannot": "trusted roots (no state route); a certificate deleted by hand before Intune saw it; `revoked` "
              "issuance state alone says nothing of removal (read as installed); Windows states come through the "
              "cast route Graph's metadata defines but the list page documents only nested",
}

# certificateRevocationStatus -> contract fields. `pending` and `issued` (the revocation request
# was issued to the CA, not yet confirmed) are a revocation requested but not done; `failed` is a
# revocation that did not happen.
REVOCATION: dict[str, dict] = {
    "none": {"revoked": False},
    "pending": {"revoked": False, "revocation": "pending"},
    "issued": {"revoked": False, "revocation": "pending"},
    "failed": {"revoked": False},
    "revoked": {"revoked": True},
}


def record_fields(issuance_state: str | None, revoke_status: str | None) -> dict | None:
    """The contract fields {installed, revoked[, revocation]} for one certificate state, or None
    when the state is not a delivered certificate. An unknown revocation status reads as none."""
    base = ISSUANCE.get(issuance_state or "")
    if base is None:
        return None
    fields = {"installed": base["installed"], "revoked": False}
    fields.update(REVOCATION.get(revoke_status or "none", REVOCATION["none"]))
    if base.get("revoked"):
        fields["revoked"] = True
        fields.pop("revocation", None)
    return fields


def markdown_tables() -> str:
    """The mapping as Markdown: docs/intune.md embeds exactly this (tools/gen_docs.py writes it
    there; tests/test_docs.py keeps it equal)."""
    lines = ["| contract platform | enrol the pool device as | what a tenant cannot do |", "|---|---|---|"]
    lines += [f"| `{p}` | {mode} | {note or '-'} |" for p, (mode, note) in MANAGEMENT_MODES.items()]
    lines += ["", "| contract event | Graph requests |", "|---|---|"]
    for event, requests in EVENTS.items():
        lines.append(f"| `{event}` | " + "<br>".join(r.replace("|", "\\|") for r in requests) + " |")
    lines += ["", "| family (contract platforms) | trusted_root | scep | pkcs | pkcs_imported |", "|---|---|---|---|---|"]
    for family in FAMILIES:
        platforms = ", ".join(p for p, f in FAMILY.items() if f == family)
        cells = " | ".join(f"`{ODATA_TYPES[(family, k)]}`" for k in ("trusted_root", "scep", "pkcs", "pkcs_imported"))
        lines.append(f"| {family} ({platforms}) | {cells} |")
    lines += ["", f"Observation: {OBSERVE_REQUEST}.", "",
              "| certificateIssuanceState | installed |", "|---|---|"]
    lines += [f"| `{state}` | {'yes' if f['installed'] else 'no'}{' (and revoked: removal not shown)' if f.get('revoked') else ''} |"
              for state, f in ISSUANCE.items()]
    lines.append("| any other state | not a delivered certificate: not reported |")
    lines += ["", "| certificateRevokeStatus | revoked | revocation |", "|---|---|---|"]
    lines += [f"| `{status}` | {'yes' if f['revoked'] else 'no'} | {f.get('revocation', '')} |"
              for status, f in REVOCATION.items()]
    return "\n".join(lines)
