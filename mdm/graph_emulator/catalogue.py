# What this module knows: the Graph names the emulator serves -- the @odata.type of every
# certificate profile per platform family and kind, which of them have the rootCertificate and
# managedDeviceCertificateStates relationships (beta resource pages, see docs/graph-wire.md), and
# how the contract's platforms show up on a managed device. What it does not know: any state.
"""Graph type catalogue of the emulator: profile types, platform families, device attributes."""
from __future__ import annotations

from typing import NamedTuple

# Faulty modes for the self-tests: an Intune (or a lab) that goes wrong where issue 21 found the
# adapter would break or mislead on a real tenant; for each, a self-test shows that the suite or
# the adapter catches it, with a message that names it (tests/test_intune_faults.py).
# fault -> (the finding, what goes wrong)
FAULTS = {
    "pool-device-without-user": ("1 primary user", "the lab's devices were enrolled without a user (shared "
                                 "devices): the adapter refuses the pool at start, naming the device"),
    "wrong-ca-root": ("2 nothing can be issued", "the CA issues under another root than the one the emulator "
                      "publishes: no SCEP certificate is ever installed; the suite fails the delivery"),
    "revocation-never-issued-on-retire": ("4 device life cycle", "retire never asks the CA to revoke"),
    "retire-never-completes": ("4 device life cycle", "a retired device never checks in: the retire stays "
                               "pending, nothing is revoked or removed"),
    "token-expires-early": ("5 tokens", "access tokens live a tenth of their documented lifetime: the "
                            "adapter must renew them"),
    "revoked-but-not-removed": ("6 observation", "retire revokes but leaves the certificate installed, "
                                "reported as issuance state `revoked`"),
    "slower-than-documented": ("7 timing", "every delay is twice the documented bound: the suite fails "
                               "the waits, naming the window"),
    "update-does-not-reissue": ("8 update_profile", "editing a profile's certificate settings changes "
                                "nothing on the devices"),
}

PLATFORMS = ("windows", "ios", "macos", "android_knox", "android_legacy", "android_work")


class Family(NamedTuple):
    name: str
    platforms: tuple[str, ...]  # the contract platforms whose devices the family's profiles reach
    cert_platform: str  # managedDeviceCertificateState.devicePlatform (devicePlatformType)
    types: dict[str, str]  # kind -> @odata.type name (without "#microsoft.graph.")


FAMILIES = (
    Family("windows", ("windows",), "windows10AndLater", {
        "trusted_root": "windows81TrustedRootCertificate", "scep": "windows81SCEPCertificateProfile",
        "pkcs": "windows10PkcsCertificateProfile", "pkcs_imported": "windows10ImportedPFXCertificateProfile"}),
    Family("ios", ("ios",), "iOS", {
        "trusted_root": "iosTrustedRootCertificate", "scep": "iosScepCertificateProfile",
        "pkcs": "iosPkcsCertificateProfile", "pkcs_imported": "iosImportedPFXCertificateProfile"}),
    Family("macos", ("macos",), "macOS", {
        "trusted_root": "macOSTrustedRootCertificate", "scep": "macOSScepCertificateProfile",
        "pkcs": "macOSPkcsCertificateProfile", "pkcs_imported": "macOSImportedPFXCertificateProfile"}),
    # Android device administrator: KNOX and legacy devices alike
    Family("android", ("android_knox", "android_legacy"), "android", {
        "trusted_root": "androidTrustedRootCertificate", "scep": "androidScepCertificateProfile",
        "pkcs": "androidPkcsCertificateProfile", "pkcs_imported": "androidImportedPFXCertificateProfile"}),
    # Android Enterprise work profile; Graph has no androidWorkProfileImportedPFX type, the older
    # androidForWork one serves
    Family("androidWorkProfile", ("android_work",), "androidWorkProfile", {
        "trusted_root": "androidWorkProfileTrustedRootCertificate",
        "scep": "androidWorkProfileScepCertificateProfile",
        "pkcs": "androidWorkProfilePkcsCertificateProfile",
        "pkcs_imported": "androidForWorkImportedPFXCertificateProfile"}),
)


class ProfileType(NamedTuple):
    name: str
    family: Family
    kind: str

    @property
    def has_root(self) -> bool:
        """Whether Graph gives the type a rootCertificate relationship (SCEP everywhere; PKCS on
        Android device administrator and work profile only)."""
        return self.kind == "scep" or (self.kind == "pkcs" and self.family.name in ("android", "androidWorkProfile"))

    @property
    def has_cert_states(self) -> bool:
        """Whether the type has managedDeviceCertificateStates (not the trusted roots)."""
        return self.kind != "trusted_root"


PROFILE_TYPES: dict[str, ProfileType] = {
    type_name: ProfileType(type_name, family, kind) for family in FAMILIES for kind, type_name in family.types.items()}


def family_of_platform(platform: str) -> Family:
    return next(f for f in FAMILIES if platform in f.platforms)


# managedDevice attributes per contract platform: operatingSystem, deviceType, manufacturer, model
DEVICE_ATTRIBUTES: dict[str, tuple[str, str, str, str]] = {
    "windows": ("Windows", "desktop", "Contoso", "Lab PC"),
    "ios": ("iOS", "iPhone", "Apple", "iPhone"),
    "macos": ("macOS", "macMDM", "Apple", "MacBook Air"),
    "android_knox": ("Android", "android", "Samsung", "Galaxy (KNOX)"),
    "android_legacy": ("Android", "android", "Google", "Pixel"),
    "android_work": ("Android", "androidForWork", "Google", "Pixel"),
}
