"""The mock MDM's certificates are real X.509: chains, serials and the signed CRL."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from cryptography import x509

from mdm.mock import MockMDM

PLATFORMS = ["windows", "ios", "macos", "android_knox", "android_work", "android_legacy"]


@pytest.fixture(scope="module")
def fleet() -> MockMDM:
    """Several devices with every kind of certificate, some revoked, some removed."""
    mdm = MockMDM()
    events = [{"type": "create_user", "user": "u"}, {"type": "create_group", "group": "g"},
              {"type": "create_profile", "profile": "root", "kind": "trusted_root"},
              {"type": "create_profile", "profile": "scep", "kind": "scep", "root": "root", "ca": "intune"},
              {"type": "create_profile", "profile": "pkcs", "kind": "pkcs", "root": "root", "ca": "intune"},
              {"type": "create_profile", "profile": "scep3", "kind": "scep", "root": "root", "ca": "third_party"},
              {"type": "create_profile", "profile": "imp", "kind": "pkcs_imported"}]
    events += [{"type": "assign_profile", "profile": p, "group": "g"} for p in ("root", "scep", "pkcs", "scep3", "imp")]
    for i, platform in enumerate(PLATFORMS):
        events += [{"type": "enroll", "device": f"d{i}", "platform": platform, "user": "u"},
                   {"type": "add_member", "group": "g", "member": f"d{i}"},
                   {"type": "check_in", "device": f"d{i}"}]
    events += [{"type": "retire", "device": "d0"}, {"type": "unenroll", "device": "d3"},
               {"type": "update_profile", "profile": "scep"}, {"type": "check_in", "device": "d1"}]
    for e in events:
        mdm.apply(e)
    return mdm


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
