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


class _CrlGroup:
    """The delivered certificates one CA's CRL speaks for, and how much of the CRL was last read."""
    __slots__ = ("crl", "by_number", "pending", "read")

    def __init__(self, crl: RevocationList) -> None:
        self.crl = crl
        self.by_number: dict[int, int] = {}  # X.509 serial number -> position in CertificateStore.delivered
        self.pending: list[int] = []  # delivered since the last records(): flag not yet read
        self.read = 0  # crl.version at the last records()


class CertificateStore:
    """What was delivered, and the inventory records of it, kept current: observe() runs after
    every event, so records() copies a list maintained by deliver/uninstall and by the CRLs'
    changes instead of building ~40 records from scratch each time."""

    def __init__(self) -> None:
        self.delivered: list[DeliveredCertificate] = []
        self._installed: dict[str, dict[str, DeliveredCertificate]] = {}  # device -> profile -> cert
        self.by_serial: dict[str, DeliveredCertificate] = {}
        self._records: list[dict] = []  # cert.record() of delivered[i], as of the last records()
        self._position: dict[str, int] = {}  # serial -> i
        self._groups: dict[int, _CrlGroup] = {}  # id(RevocationList) -> group, in first-delivery order
        self.log: list[int] = []  # positions whose record changed (or appeared), in order: observe_since's cursor

    def deliver(self, cert: DeliveredCertificate) -> None:
        i = len(self.delivered)
        self.delivered.append(cert)
        self.by_serial[cert.serial] = cert
        self._installed.setdefault(cert.device, {})[cert.profile] = cert
        self._position[cert.serial] = i
        self._records.append(cert.record(revoked=False))  # `revoked` is read from the CRL by records()
        if cert.crl is not None:
            group = self._groups.get(id(cert.crl))
            if group is None:
                group = self._groups[id(cert.crl)] = _CrlGroup(cert.crl)
            group.by_number[cert.serial_number] = i
            group.pending.append(i)
        self.log.append(i)

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
        self._records[self._position[cert.serial]]["installed"] = False
        self.log.append(self._position[cert.serial])

    def touch(self, cert: DeliveredCertificate) -> None:
        """Note that `cert`'s record changed (a revocation entered or landing)."""
        self.log.append(self._position[cert.serial])

    def record_at(self, i: int) -> dict:
        """A fresh record of delivered[i], its revoked flag read from the CRL now."""
        return self.delivered[i].record()

    def records(self) -> list[dict]:
        """[cert.record() for cert in delivered] (fresh dicts the caller may change). The revoked
        flags follow what each CA's CRL lists: only the revocations entered since the last call
        and the certificates delivered since are looked up."""
        for group in self._groups.values():
            crl = group.crl
            if crl.version != group.read:
                for number in crl.entered_since(group.read):
                    i = group.by_number.get(number)
                    if i is not None:
                        self._records[i]["revoked"] = True
                group.read = crl.version
            for i in group.pending:
                self._records[i]["revoked"] = crl.is_revoked(self.delivered[i].issued.serial_number)
            group.pending = []
        return list(map(dict.copy, self._records))
