# What this module knows: the Graph names the emulator serves -- the @odata.type of every
# certificate profile per platform family and kind, which of them have the rootCertificate and
# managedDeviceCertificateStates relationships (beta resource pages, see docs/graph-wire.md), and
# how the contract's platforms show up on a managed device. What it does not know: any state.
"""Graph type catalogue of the emulator: profile types, platform families, device attributes."""
from __future__ import annotations

from typing import NamedTuple

# Faulty modes for the self-tests: an Intune that breaks the article, which the suite must catch.
FAULTS = ("revocation-never-issued-on-retire",)

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
