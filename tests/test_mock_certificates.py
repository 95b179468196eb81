"""The mock MDM's certificates are real X.509: chains, serials and the signed CRL."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certconform.mdm.mock import MockMDM

PLATFORMS = ["windows", "ios", "macos", "android_knox", "android_work", "android_legacy"]


PROFILES = {"root": {"kind": "trusted_root"}, "scep": {"kind": "scep", "root": "root", "ca": "intune"},
            "pkcs": {"kind": "pkcs", "root": "root", "ca": "intune"},
            "scep3": {"kind": "scep", "root": "root", "ca": "third_party"}, "imp": {"kind": "pkcs_imported"}}


def build_fleet(profiles=tuple(PROFILES), then: tuple[dict, ...] = ()) -> MockMDM:
    """A mock with one device per platform of user u, in group g, holding a certificate of each
    of `profiles` (names of PROFILES, all assigned to g); then the events `then`."""
    mdm = MockMDM()
    events = [{"type": "create_user", "user": "u"}, {"type": "create_group", "group": "g"}]
    events += [{"type": "create_profile", "profile": p, **PROFILES[p]} for p in profiles]
    events += [{"type": "assign_profile", "profile": p, "group": "g"} for p in profiles]
    for i, platform in enumerate(PLATFORMS):
        events += [{"type": "enroll", "device": f"d{i}", "platform": platform, "user": "u"},
                   {"type": "add_member", "group": "g", "member": f"d{i}"},
                   {"type": "check_in", "device": f"d{i}"}]
    for e in [*events, *then]:
        mdm.apply(e)
    return mdm


@pytest.fixture(scope="module")
def fleet() -> MockMDM:
    """Several devices with every kind of certificate, some revoked, some removed."""
    return build_fleet(then=({"type": "retire", "device": "d0"}, {"type": "unenroll", "device": "d3"},
                             {"type": "update_profile", "profile": "scep"}, {"type": "check_in", "device": "d1"}))


def chain(mdm: MockMDM) -> tuple[x509.Certificate, x509.Certificate]:
    issuing, root = x509.load_pem_x509_certificates(mdm.ca_pem().encode())
    return issuing, root


def crl_of(mdm: MockMDM) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(mdm.crl_pem().encode())


def test_ca_chain_is_root_then_issuing(fleet):
    issuing, root = chain(fleet)
    root.verify_directly_issued_by(root)
    issuing.verify_directly_issued_by(root)
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_leaves_verify_against_their_issuer_and_serials_are_x509_serials(fleet):
    issuing, root = chain(fleet)
    records = fleet.observe()
    assert {r["kind"] for r in records} == {"trusted_root", "scep", "pkcs", "pkcs_imported"}
    for r in records:
        cert = fleet.certificate(r["serial"])
        if r["kind"] == "trusted_root":
            assert cert == root
            assert r["serial"].startswith(format(root.serial_number, "X") + "-")
            continue
        assert r["serial"] == format(cert.serial_number, "X")
        assert cert.serial_number > 0
        if r["profile"] in ("scep", "pkcs"):
            cert.verify_directly_issued_by(issuing)
        else:  # third-party CA or the external issuer of imported certificates
            with pytest.raises(Exception):
                cert.verify_directly_issued_by(issuing)
    assert len({r["serial"] for r in records}) == len(records)


def test_crl_signature_verifies_and_lists_exactly_the_revoked_serials(fleet):
    issuing, _ = chain(fleet)
    crl = crl_of(fleet)
    assert crl.is_signature_valid(issuing.public_key())
    assert crl.issuer == issuing.subject
    in_crl = {format(entry.serial_number, "X") for entry in crl}
    reported = {r["serial"] for r in fleet.observe() if r["revoked"]}
    assert reported and in_crl == reported
    for serial in reported:
        assert crl.get_revoked_certificate_by_serial_number(fleet.certificate(serial).serial_number) is not None


def test_crl_is_resigned_after_a_revocation():
    mdm = MockMDM()
    for e in [{"type": "create_user", "user": "u"}, {"type": "create_group", "group": "g"},
              {"type": "create_profile", "profile": "r", "kind": "trusted_root"},
              {"type": "create_profile", "profile": "s", "kind": "scep", "root": "r", "ca": "intune"},
              {"type": "assign_profile", "profile": "s", "group": "g"},
              {"type": "enroll", "device": "d", "platform": "ios", "user": "u"},
              {"type": "add_member", "group": "g", "member": "d"}, {"type": "check_in", "device": "d"}]:
        mdm.apply(e)
    empty = crl_of(mdm)
    assert len(empty) == 0
    number = empty.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    mdm.apply({"type": "remove_member", "group": "g", "member": "d"})
    after = crl_of(mdm)
    assert len(after) == 1
    assert after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > number
    assert mdm.observe()[0]["revoked"] is True


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not on PATH")
def test_openssl_reads_the_crl_and_verifies_it(fleet, tmp_path):
    crl_file, ca_file = tmp_path / "crl.pem", tmp_path / "ca.pem"
    crl_file.write_text(fleet.crl_pem())
    ca_file.write_text(fleet.ca_pem())
    text = subprocess.run(["openssl", "crl", "-in", str(crl_file), "-text", "-noout"],
                          capture_output=True, text=True, check=True).stdout
    listed = {int(s, 16) for s in re.findall(r"Serial Number:\s*([0-9A-Fa-f]+)", text)}
    reported = {int(r["serial"], 16) for r in fleet.observe() if r["revoked"]}
    assert reported and listed == reported
    verify = subprocess.run(["openssl", "crl", "-in", str(crl_file), "-CAfile", str(ca_file), "-noout"],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and "verify OK" in (verify.stdout + verify.stderr)


def _ext(cert_or_crl, cls):
    return cert_or_crl.extensions.get_extension_for_class(cls)


def test_leaves_are_client_authentication_certificates(fleet):
    leaves = [fleet.certificate(r["serial"]) for r in fleet.observe() if r["kind"] != "trusted_root"]
    assert leaves
    for cert in leaves:
        usage = _ext(cert, x509.KeyUsage)
        assert usage.critical and usage.value.digital_signature
        assert not (usage.value.key_cert_sign or usage.value.crl_sign)
        extended = _ext(cert, x509.ExtendedKeyUsage).value
        assert list(extended) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
        assert _ext(cert, x509.BasicConstraints).value.ca is False


def test_issuing_ca_and_crl_name_their_issuer_key(fleet):
    issuing, root = chain(fleet)
    root_ski = _ext(root, x509.SubjectKeyIdentifier).value
    issuing_ski = _ext(issuing, x509.SubjectKeyIdentifier).value
    assert _ext(issuing, x509.AuthorityKeyIdentifier).value.key_identifier == root_ski.digest
    assert _ext(root, x509.AuthorityKeyIdentifier).value.key_identifier == root_ski.digest
    assert _ext(crl_of(fleet), x509.AuthorityKeyIdentifier).value.key_identifier == issuing_ski.digest
    leaf = next(fleet.certificate(r["serial"]) for r in fleet.observe() if r["profile"] == "scep")
    assert _ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier == issuing_ski.digest


def _crl_number(mdm: MockMDM) -> int:
    return _ext(crl_of(mdm), x509.CRLNumber).value.crl_number


def test_crl_number_never_goes_back_across_reset(fleet):
    mdm = MockMDM()
    numbers = [_crl_number(mdm)]
    for e in [{"type": "create_user", "user": "u"}, {"type": "create_group", "group": "g"},
              {"type": "create_profile", "profile": "r", "kind": "trusted_root"},
              {"type": "create_profile", "profile": "s", "kind": "scep", "root": "r", "ca": "intune"},
              {"type": "assign_profile", "profile": "s", "group": "g"},
              {"type": "enroll", "device": "d", "platform": "ios", "user": "u"},
              {"type": "add_member", "group": "g", "member": "d"}, {"type": "check_in", "device": "d"},
              {"type": "remove_member", "group": "g", "member": "d"}]:
        mdm.apply(e)
    numbers.append(_crl_number(mdm))
    mdm.reset()
    numbers.append(_crl_number(mdm))
    assert len(crl_of(mdm)) == 0  # reset forgets the revocations, not the numbering
    mdm.reset()
    numbers.append(_crl_number(mdm))
    assert numbers == sorted(set(numbers)), numbers


def _named_world(device: str, profile: str, root: str = "r") -> tuple[MockMDM, list[dict]]:
    mdm = MockMDM()
    events = [{"type": "create_user", "user": "u"}, {"type": "create_group", "group": "g"},
              {"type": "enroll", "device": device, "platform": "ios", "user": "u"},
              {"type": "add_member", "group": "g", "member": device},
              {"type": "create_profile", "profile": root, "kind": "trusted_root"},
              {"type": "create_profile", "profile": profile, "kind": "scep", "root": root, "ca": "intune"},
              {"type": "create_profile", "profile": profile + "-imp", "kind": "pkcs_imported"},
              {"type": "create_profile", "profile": profile + "-3p", "kind": "pkcs", "root": root, "ca": "third_party"}]
    events += [{"type": "assign_profile", "profile": p, "group": "g"}
               for p in (root, profile, profile + "-imp", profile + "-3p")]
    for e in events:
        mdm.apply(e)
    return mdm, events


@pytest.mark.parametrize("device,profile", [
    ("d" * 80, "s"), ("d", "p" * 300), ("x" * 5000, "y" * 5000), ("dev\x00ice\n", "pro\tfile\x7f"),
    ("デバイス" * 40, "证书" * 40), ("🔐" * 70, "s"),
], ids=["long-device", "long-profile", "both-huge", "control-chars", "wide-chars", "astral"])
def test_any_accepted_name_yields_valid_certificates(device, profile):
    mdm, _ = _named_world(device, profile)
    mdm.apply({"type": "check_in", "device": device})
    records = mdm.observe()
    assert [(r["device"], r["profile"]) for r in records] == [
        (device, p) for p in ("r", profile, profile + "-imp", profile + "-3p")]  # full names kept
    issuing, _ = chain(mdm)
    common_names = set()
    for r in records[1:]:
        cert = mdm.certificate(r["serial"])
        cn = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
        assert 1 <= len(cn.encode()) <= 64 and cn.isprintable()
        common_names.add(cn)
        x509.load_der_x509_certificate(cert.public_bytes(serialization.Encoding.DER))  # re-parses
    assert len(common_names) == 3  # the digest keeps different profiles apart
    mdm.certificate(records[1]["serial"]).verify_directly_issued_by(issuing)


def test_lone_surrogate_name_is_refused_naming_the_field_and_nothing_changes():
    mdm, _ = _named_world("d", "s")
    mdm.apply({"type": "check_in", "device": "d"})
    before = mdm.observe()
    for event, field in [({"type": "create_user", "user": "u\ud800"}, "user"),
                         ({"type": "enroll", "device": "\udfff", "platform": "ios", "user": "u"}, "device"),
                         ({"type": "create_profile", "profile": "p\ud83d", "kind": "trusted_root"}, "profile")]:
        with pytest.raises(ValueError, match=f"field '{field}'") as caught:
            mdm.apply(event)
        assert "\n" not in str(caught.value)
    assert mdm.observe() == before


def test_check_in_delivers_all_or_nothing(monkeypatch):
    """A failure while issuing (here forced on the third certificate) leaves the inventory as it was."""
    from certconform.mdm.mock import authority

    mdm, _ = _named_world("d", "s")
    real, calls = authority.CertificateAuthority.issue_leaf, []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("check_in: forced failure")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(authority.CertificateAuthority, "issue_leaf", failing)
    with pytest.raises(ValueError):
        mdm.apply({"type": "check_in", "device": "d"})
    assert mdm.observe() == []
    monkeypatch.setattr(authority.CertificateAuthority, "issue_leaf", real)
    mdm.apply({"type": "check_in", "device": "d"})
    records = mdm.observe()
    assert len(records) == 4 and records[0]["serial"].endswith("-1")  # no root delivery number lost
