# What this module knows: the three remote actions that end management of a device -- the user's
# unenrollment, an administrator's wipe and retire -- and that each one settles every certificate
# installed on the device through the removal policy, then leaves the device unenrolled.
# What it does not know: what the policy decides (removal_policy.py) or how a revocation is made.
"""Remote actions of the mock MDM: unenroll, wipe, retire."""
from __future__ import annotations

from typing import Callable

from certconform.mdm import EventRejected

from . import removal_policy as policy
from .cert_store import CertificateStore, DeliveredCertificate
from .enrollment import Device

Settle = Callable[[Device, DeliveredCertificate, str], None]


def _end_management(action: str, device: Device, store: CertificateStore, settle: Settle) -> None:
    reason = policy.unsupported(device.platform, action)
    if reason is not None:
        raise EventRejected(f"{action} of device {device.name!r} refused: {reason}")
    if not device.enrolled:
        # Our choice (document silent): the device is no longer managed; nothing is left to do.
        return
    for cert in store.installed_on(device.name):
        settle(device, cert, action)
    device.enrolled = False


def unenroll(device: Device, store: CertificateStore, settle: Settle) -> None:
    """The user unenrolls the device."""
    _end_management(policy.UNENROLL, device, store, settle)


def wipe(device: Device, store: CertificateStore, settle: Settle) -> None:
    """Factory reset; refused where the platform does not support it (macOS, doc line 241)."""
    _end_management(policy.WIPE, device, store, settle)


def retire(device: Device, store: CertificateStore, settle: Settle) -> None:
    """Company data is removed and the device leaves management."""
    _end_management(policy.RETIRE, device, store, settle)


HANDLERS = {"unenroll": unenroll, "wipe": wipe, "retire": retire}
