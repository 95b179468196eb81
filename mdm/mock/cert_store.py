# What this module knows: every certificate the MDM ever delivered (in delivery order) and which
# one is installed on each device for each profile -- at most one at a time, since check-in only
# delivers when none is installed. What it does not know: why a certificate is removed, or whether
# it is revoked (that is read from the issuing CA's CRL, via the record's `crl`).
"""Per-device certificate stores and the delivery inventory of the mock MDM."""
from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from .authority import IssuedLeaf, RevocationList


@dataclass(eq=False)
class DeliveredCertificate:
    device: str
    profile: str
    kind: str
    serial: str  # inventory serial (unique); hex of the X.509 serial, or "<rootserial>-<n>" for roots
    issued: IssuedLeaf
    crl: RevocationList | None  # the CRL of the CA that issued it, if the MDM can look it up
    installed: bool = True

    @property
    def serial_number(self) -> int:
        """The X.509 serial number (what the CRL lists)."""
        return self.issued.serial_number

    @property
    def certificate(self) -> x509.Certificate:
        return self.issued.certificate

    def record(self, revoked: bool | None = None) -> dict:
        """The contract's inventory record; `revoked` when the caller already read the CRL."""
        if revoked is None:
            revoked = self.crl is not None and self.crl.is_revoked(self.issued.serial_number)
        return {"device": self.device, "profile": self.profile, "kind": self.kind,
                "serial": self.serial, "installed": self.installed, "revoked": revoked}


class CertificateStore:
    def __init__(self) -> None:
        self.delivered: list[DeliveredCertificate] = []
        self._installed: dict[str, dict[str, DeliveredCertificate]] = {}  # device -> profile -> cert
        self.by_serial: dict[str, DeliveredCertificate] = {}

    def deliver(self, cert: DeliveredCertificate) -> None:
        self.delivered.append(cert)
        self.by_serial[cert.serial] = cert
        self._installed.setdefault(cert.device, {})[cert.profile] = cert

    def installed(self, device: str, profile: str) -> DeliveredCertificate | None:
        return self._installed.get(device, {}).get(profile)

    def installed_on(self, device: str) -> list[DeliveredCertificate]:
        """The device's installed certificates, in delivery order."""
        return list(self._installed.get(device, {}).values())

    def installed_profiles(self, device: str) -> set[str]:
        return set(self._installed.get(device, ()))

    def uninstall(self, cert: DeliveredCertificate) -> None:
        cert.installed = False
        del self._installed[cert.device][cert.profile]

    def records(self) -> list[dict]:
        """cert.record() for every delivered certificate, in delivery order. Each CA's CRL is read
        once per call (signed there if stale, at the first record it concerns, as record() would),
        not once per record: observe() builds the whole list after every event."""
        lists: dict[int, frozenset[int]] = {}  # id(RevocationList) -> serials its CRL lists
        out = []
        for cert in self.delivered:
            crl = cert.crl
            if crl is None:
                revoked = False
            else:
                serials = lists.get(id(crl))
                if serials is None:
                    serials = lists[id(crl)] = crl.revoked_serials()
                revoked = cert.issued.serial_number in serials
            out.append(cert.record(revoked))
        return out
