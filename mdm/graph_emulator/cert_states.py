# What this module knows: how one certificate of the mock's inventory looks as a Graph
# managedDeviceCertificateState (beta resource page intune-deviceconfig-manageddevicecertificatestate):
# serial, the real X.509 leaf's thumbprint/issuer/expiry, issuance state and revoke status, and
# the times at which the emulator first saw each state. What it does not know: which profile
# delivered what to whom beyond the record, or HTTP.
"""managedDeviceCertificateState records rendered from the mock's inventory."""
from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import hashes

from .odata import now_text


class StateClock:
    """When the emulator first saw each certificate delivered, and each of its states.

    Issuance times are strictly increasing in the inventory's (delivery) order, so a client can
    rebuild the delivery order from certificateIssuanceDateTime."""

    def __init__(self) -> None:
        self._issued: dict[str, dt.datetime] = {}
        self._state: dict[str, tuple[tuple, str]] = {}
        self._last = dt.datetime.now(dt.timezone.utc)

    def issued(self, serial: str) -> str:
        if serial not in self._issued:
            now = dt.datetime.now(dt.timezone.utc)
            self._last = max(now, self._last + dt.timedelta(microseconds=1))
            self._issued[serial] = self._last
        return now_text(self._issued[serial])

    def changed(self, serial: str, state: tuple) -> str:
        seen = self._state.get(serial)
        if seen is None or seen[0] != state:
            seen = self._state[serial] = (state, now_text())
        return seen[1]


def revoke_status(record: dict) -> str:
    if record.get("revoked"):
        return "revoked"
    return "pending" if record.get("revocation") == "pending" else "none"


def render(record: dict, certificate, profile_id: str, profile_name: str, device_id: str, device_name: str,
           user_display: str, cert_platform: str, clock: StateClock, revoked_state: bool = False) -> dict:
    """One managedDeviceCertificateState for an inventory `record` and its x509 `certificate`.
    `revoked_state` (the fault revoked-but-not-removed): a revoked certificate still installed
    reads issuance state `revoked`, which says nothing about whether it left the device."""
    serial = record["serial"]
    issuance = "installed" if record["installed"] else "deleted"
    if revoked_state and record["installed"] and record.get("revoked"):
        issuance = "revoked"
    revoke = revoke_status(record)
    issued_at = clock.issued(serial)
    changed_at = clock.changed(serial, (issuance, revoke))
    expiry = certificate.not_valid_after_utc
    valid_days = (expiry - certificate.not_valid_before_utc).days
    return {
        "@odata.type": "#microsoft.graph.managedDeviceCertificateState",
        "id": f"{profile_id}_{device_id}_{serial}",
        "devicePlatform": cert_platform,
        "certificateKeyUsage": "digitalSignature",
        "certificateValidityPeriodUnits": "days",
        "certificateIssuanceState": issuance,
        "certificateRevokeStatus": revoke,
        "certificateProfileDisplayName": profile_name,
        "deviceDisplayName": device_name,
        "userDisplayName": user_display,
        "certificateExpirationDateTime": now_text(expiry),
        "certificateLastIssuanceStateChangedDateTime": changed_at,
        "lastCertificateStateChangeDateTime": changed_at,
        "certificateIssuer": certificate.issuer.rfc4514_string(),
        "certificateThumbprint": certificate.fingerprint(hashes.SHA1()).hex().upper(),
        "certificateSerialNumber": serial.upper(),
        "certificateKeyLength": getattr(certificate.public_key(), "key_size", 0),
        "certificateValidityPeriod": valid_days,
        "certificateIssuanceDateTime": issued_at,
        "certificateErrorCode": 0,
    }
