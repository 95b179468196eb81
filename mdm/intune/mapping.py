"""The Intune adapter's mapping between the contract and Microsoft Graph, as tables.

What this module knows: for every contract event, the Graph requests the adapter sends (EVENTS,
which the adapter executes and docs/validating-intune.md prints); for every (platform family, kind) the
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
UNOBSERVABLE_KINDS = ("trusted_root",)
OBSERVES = ("scep", "pkcs", "pkcs_imported")

# Contract events Graph cannot perform, and why (declared in capabilities(), never faked).
UNSUPPORTED_EVENTS = {
    "delete_certificate": "no Graph API deletes one certificate from a device; a person does it on the device",
    "unenroll": "user-initiated unenrolment is done on the device (Company Portal), not through Graph",
    "lose_license": "a licence lost other than by an administrator's withdrawal has no Graph action",
}
# wipe and retire are performed only with --allow-destructive (see adapter.py); without it they are
# left out of capabilities()['events'] too.
DESTRUCTIVE_EVENTS = ("wipe", "retire")

# Contract event -> the Graph requests, in order. `{...}` are filled by the adapter; "per family"
# means once for each Graph profile of the contract profile. This is the table the adapter runs
# (adapter.py dispatches on its keys) and docs/validating-intune.md prints (markdown_tables()).
EVENTS: dict[str, list[str]] = {
    "create_user": ["POST /v1.0/users {accountEnabled, displayName, mailNickname, userPrincipalName, passwordProfile, usageLocation}",
                    "POST /v1.0/users/{user}/assignLicense {addLicenses: [{skuId}], removeLicenses: []}"],
    "create_group": ["POST /v1.0/groups {displayName, mailEnabled: false, mailNickname, securityEnabled: true}"],
    "add_member": ["user: POST /v1.0/groups/{group}/members/$ref {@odata.id: .../v1.0/directoryObjects/{user}}",
                   "device: GET /v1.0/devices?$filter=deviceId eq '{azureADDeviceId}', then the same $ref with the directory device's id",
                   "a device no longer enrolled (wiped, retired): no request, its directory object is gone"],
    "remove_member": ["DELETE /v1.0/groups/{group}/members/{member}/$ref (none for a device no longer enrolled)"],
    "enroll": ["GET /beta/deviceManagement/managedDevices?$filter=deviceName eq '{pool device}' (a free pool device of the platform)",
               "POST /beta/deviceManagement/managedDevices/{device}/users/$ref {@odata.id: .../beta/users/{user}} (primary user)"],
    "create_profile": ["per family: POST /beta/deviceManagement/deviceConfigurations {@odata.type (table below), displayName, ...}",
                       "scep: the family's root profile bound in the body (rootCertificate@odata.bind)"],
    "assign_profile": ["per family: POST /beta/deviceManagement/deviceConfigurations/{profile}/assign {assignments: the FULL set of groupAssignmentTargets}"],
    "unassign_profile": ["per family: POST /beta/deviceManagement/deviceConfigurations/{profile}/assign {assignments: the full set without the group}"],
    "update_profile": ["per family: PATCH /beta/deviceManagement/deviceConfigurations/{profile} {@odata.type, description (and renewalThresholdPercentage for SCEP/PKCS)}"],
    "check_in": ["POST /beta/deviceManagement/managedDevices/{device}/syncDevice"],
    "wipe": ["POST /beta/deviceManagement/managedDevices/{device}/wipe {keepEnrollmentData: false, keepUserData: false} (only with --allow-destructive)"],
    "retire": ["POST /beta/deviceManagement/managedDevices/{device}/retire (only with --allow-destructive)"],
    "withdraw_license": ["POST /v1.0/users/{user}/assignLicense {addLicenses: [], removeLicenses: [skuId]}"],
    "delete_user": ["DELETE /v1.0/users/{user}"],
    "delete_group": ["DELETE /v1.0/groups/{group}"],
}
for _event, _why in UNSUPPORTED_EVENTS.items():
    EVENTS[_event] = [f"not supported: {_why}"]

OBSERVE_REQUEST = ("per SCEP/PKCS/imported profile and family: GET /beta/deviceManagement/deviceConfigurations/{profile}"
                   "/microsoft.graph.{odata type}/managedDeviceCertificateStates, following @odata.nextLink")

# certificateIssuanceStates -> installed. Only records with a certificate (a serial) in one of
# these states are delivered certificates; the earlier states (unknown, challenge*, request*,
# issuePending, responsePending, ...) and the failures have no certificate on the device yet and are
# not reported. `revoked` is an issuance state too: the certificate was revoked (see REVOCATION)
# and is no longer usable on the device.
ISSUANCE: dict[str, dict] = {
    "issued": {"installed": True},
    "installed": {"installed": True},
    "enrollmentSucceeded": {"installed": True},
    "renewVerified": {"installed": True},
    "renewalRequested": {"installed": True},
    "deleteFailed": {"installed": True},  # the device failed to delete it: still there
    "deleted": {"installed": False},
    "removedFromCollection": {"installed": False},
    "revoked": {"installed": False, "revoked": True},
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
    """The mapping as Markdown: docs/validating-intune.md embeds exactly this (tools/gen_docs.py
    writes it there; tests/test_docs.py keeps it equal)."""
    lines = ["| contract event | Graph requests |", "|---|---|"]
    for event, requests in EVENTS.items():
        lines.append(f"| `{event}` | " + "<br>".join(r.replace("|", "\\|") for r in requests) + " |")
    lines += ["", "| family (contract platforms) | trusted_root | scep | pkcs | pkcs_imported |", "|---|---|---|---|---|"]
    for family in FAMILIES:
        platforms = ", ".join(p for p, f in FAMILY.items() if f == family)
        cells = " | ".join(f"`{ODATA_TYPES[(family, k)]}`" for k in ("trusted_root", "scep", "pkcs", "pkcs_imported"))
        lines.append(f"| {family} ({platforms}) | {cells} |")
    lines += ["", f"Observation: {OBSERVE_REQUEST}.", "",
              "| certificateIssuanceState | installed |", "|---|---|"]
    lines += [f"| `{state}` | {'yes' if f['installed'] else 'no'}{' (and revoked)' if f.get('revoked') else ''} |"
              for state, f in ISSUANCE.items()]
    lines.append("| any other state | not a delivered certificate: not reported |")
    lines += ["", "| certificateRevokeStatus | revoked | revocation |", "|---|---|---|"]
    lines += [f"| `{status}` | {'yes' if f['revoked'] else 'no'} | {f.get('revocation', '')} |"
              for status, f in REVOCATION.items()]
    return "\n".join(lines)
