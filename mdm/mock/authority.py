# What this module knows: X.509. The tenant PKI the MDM runs (a root CA and an issuing CA signed by
# it, which issues SCEP and PKCS leaves and publishes a signed CRL), a third-party CA the MDM uses
# but does not run (its CRL is empty and the MDM never updates it), and an external CA standing for
# whoever issued imported PKCS certificates. What it does not know: devices, profiles or policy.
"""Certificate authorities of the mock MDM, with real keys, certificates and CRLs.

All keys are EC P-256 (fast to generate). Serial numbers are random 159-bit X.509 serials.
Revocation state lives in the issuing CA's signed CRL: `is_revoked` reads the CRL. The CRL is
re-signed lazily -- after a revocation, the next read re-signs it once -- so a burst of
revocations costs one signature, and every reader always sees a CRL that includes them.

Leaves are signed lazily too: `issue_leaf` fixes everything the certificate says (serial,
subject, issuer, validity from the moment of issue) and returns an IssuedLeaf; its key pair and
signature are made the first time its `certificate` is read, and kept. Most leaves of a run are
never read as X.509 (the inventory needs only the serial), and making them was most of the cost
of a check-in.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ONE_DAY = dt.timedelta(days=1)
CN_MAX = 64  # ub-common-name (RFC 5280): an X.509 common name holds at most 64 characters


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def common_name(text: str) -> str:
    """`text` as a valid X.509 common name: itself when it fits (printable, 1..64 bytes of UTF-8,
    the bound `cryptography` enforces), else a printable prefix followed by " #" and 16 hex
    digits of its SHA-256, 64 bytes at most. Any string yields a name, so issuing never fails
    on a caller's names (the inventory keeps them in full)."""
    if text.isprintable() and 0 < len(text.encode("utf-8", "surrogatepass")) <= CN_MAX:
        return text
    suffix = " #" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    room, prefix = CN_MAX - len(suffix), []
    for ch in text:
        ch = ch if ch.isprintable() else "?"
        room -= len(ch.encode("utf-8"))
        if room < 0:
            break
        prefix.append(ch)
    return "".join(prefix) + suffix


def _name(cn: str, organisation: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name(cn)),
    ])


# A client-authentication leaf with an EC P-256 key signs (ECDSA) and does nothing else: TLS
# client authentication, EAP-TLS and VPN with an EC key need only digitalSignature (static ECDH
# keyAgreement is not used by any of them).
LEAF_KEY_USAGE = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                               data_encipherment=False, key_agreement=False, key_cert_sign=False,
                               crl_sign=False, encipher_only=False, decipher_only=False)
LEAF_EXTENDED_KEY_USAGE = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def serial_text(serial_number: int) -> str:
    """The inventory's serial: uppercase hex of the X.509 serial number, no separators."""
    return format(serial_number, "X")


class CertificateAuthority:
    """A CA key and certificate that can sign CA and leaf certificates."""

    def __init__(self, cn: str, organisation: str, parent: "CertificateAuthority | None" = None,
                 years: int = 10) -> None:
        self.key = _new_key()
        self.ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.name = _name(cn, organisation)
        now = _now()
        signer = parent or self
        builder = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(parent.name if parent else self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _ONE_DAY)
            .not_valid_after(now + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None if parent is None else 0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(self.ski, critical=False)
            # self-signed CAs name their own key (as OpenSSL does), the issuing CA its root's
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(signer.ski),
                           critical=False)
        )
        self.certificate = builder.sign(signer.key, hashes.SHA256())

    @property
    def serial_number(self) -> int:
        return self.certificate.serial_number

    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def issue_leaf(self, cn: str, organisation: str = "certconform mock MDM device") -> "IssuedLeaf":
        """A fresh client-authentication certificate (new key pair, random serial) issued by this
        CA now; `cn` is made a valid common name (see `common_name`). Signed when first read."""
        return IssuedLeaf(self, common_name(cn), organisation, x509.random_serial_number(), _now())

    def _sign_leaf(self, cn: str, organisation: str, serial_number: int, now: dt.datetime) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(cn, organisation))
            .issuer_name(self.name)
            .public_key(_new_key().public_key())
            .serial_number(serial_number)
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(LEAF_KEY_USAGE, critical=True)
            .add_extension(LEAF_EXTENDED_KEY_USAGE, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.ski), critical=False)
            .sign(self.key, hashes.SHA256())
        )


class IssuedLeaf:
    """A certificate a CA has issued: its serial now, its X.509 form (`certificate`: a new key
    pair, signed by the CA, with the subject and validity fixed at issue) when first read."""

    __slots__ = ("serial_number", "_authority", "_cn", "_organisation", "_issued_at", "_certificate")

    def __init__(self, authority: CertificateAuthority | None, cn: str, organisation: str, serial_number: int,
                 issued_at: dt.datetime, certificate: x509.Certificate | None = None) -> None:
        self.serial_number = serial_number
        self._authority, self._cn, self._organisation = authority, cn, organisation
        self._issued_at = issued_at
        self._certificate = certificate

    @classmethod
    def existing(cls, certificate: x509.Certificate) -> "IssuedLeaf":
        """An already signed certificate (the tenant root a trusted-root profile delivers)."""
        return cls(None, "", "", certificate.serial_number, _now(), certificate)

    @property
    def certificate(self) -> x509.Certificate:
        if self._certificate is None:
            self._certificate = self._authority._sign_leaf(self._cn, self._organisation, self.serial_number,
                                                           self._issued_at)
        return self._certificate


class RevocationList:
    """The signed CRL of one CA. Only `revoke` changes it. `is_revoked` answers what the CRL lists
    once signed: the entries entered so far, which the next signed CRL lists exactly (signing a
    list of every revocation of a large tenant after each event cost more than the events did, so
    a CRL is signed only when one is read: `crl()`, `pem()`, `revoked_serials()`).

    CRL numbers come from `numbers`, which the owner keeps for the CA's lifetime: a new list for
    the same CA (after a reset) goes on counting, so a relying party never sees a number again."""

    def __init__(self, authority: CertificateAuthority, numbers: Iterator[int] | None = None) -> None:
        self._authority = authority
        self._numbers = numbers if numbers is not None else itertools.count(1)
        self._entries: list[tuple[int, dt.datetime]] = []  # (serial, revocation date), in revocation order
        self._listed: set[int] = set()  # serials already entered, to keep entries unique
        self._crl: x509.CertificateRevocationList | None = None
        self._serials_in_crl: frozenset[int] = frozenset()
        self.version = 0  # revocations entered so far (len(entries)); readers compare it

    def revoke(self, serial_number: int) -> None:
        if serial_number in self._listed:
            return
        self._listed.add(serial_number)
        self.version += 1
        self._entries.append((serial_number, _now()))  # the entry is built when the CRL is signed
        self._crl = None  # stale: re-signed by the next reader

    def crl(self) -> x509.CertificateRevocationList:
        """The current signed CRL (signing a new one if a revocation happened since the last)."""
        if self._crl is None:
            number = next(self._numbers)
            now = _now()
            builder = x509.CertificateRevocationListBuilder(
                issuer_name=self._authority.name,
                last_update=now,
                next_update=now + 7 * _ONE_DAY,
                extensions=[],
                revoked_certificates=[x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
                                      .build() for serial, when in self._entries],
            ).add_extension(x509.CRLNumber(number), critical=False).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._authority.ski), critical=False)
            crl = builder.sign(self._authority.key, hashes.SHA256())
            self._crl = crl
            self._serials_in_crl = frozenset(entry.serial_number for entry in crl)
        return self._crl

    def is_revoked(self, serial_number: int) -> bool:
        """Whether the CRL lists `serial_number` (as the next signed CRL will)."""
        return serial_number in self._listed

    def entered_since(self, version: int) -> list[int]:
        """Serial numbers revoked after `version` (a value of `version` read earlier)."""
        return [serial for serial, _ in self._entries[version:]]

    def revoked_serials(self) -> frozenset[int]:
        """The serial numbers the current signed CRL lists (signing it first when stale)."""
        self.crl()
        return self._serials_in_crl

    def pem(self) -> str:
        return self.crl().public_bytes(serialization.Encoding.PEM).decode()


class TenantPKI:
    """Every CA the mock MDM deals with, created once per MockMDM (kept across resets)."""

    def __init__(self) -> None:
        self.root = CertificateAuthority("certconform tenant root CA", "certconform mock MDM", years=20)
        self.issuing = CertificateAuthority("certconform issuing CA", "certconform mock MDM", parent=self.root)
        self.third_party = CertificateAuthority("Third-party SCEP/PKCS CA", "Some other PKI vendor")
        self.external = CertificateAuthority("External CA of imported certificates", "Imported PKCS issuer")
        # one CRL number sequence per CA for this PKI's lifetime: forget_revocations never rewinds it
        self._issuing_numbers = itertools.count(1)
        self._third_party_numbers = itertools.count(1)
        self.forget_revocations()

    def forget_revocations(self) -> None:
        self.issuing_crl = RevocationList(self.issuing, self._issuing_numbers)
        # The third-party CA publishes its own CRL; the MDM asks it to revoke PKCS certificates
        # through its connector, never SCEP ones (doc line 55 names SCEP).
        self.third_party_crl = RevocationList(self.third_party, self._third_party_numbers)

    def authority_for(self, ca: str) -> tuple[CertificateAuthority, RevocationList]:
        if ca == "intune":
            return self.issuing, self.issuing_crl
        return self.third_party, self.third_party_crl

    def chain_pem(self) -> str:
        """The issuing CA followed by the tenant root (what verifies leaves and the CRL)."""
        return self.issuing.pem() + self.root.pem()
