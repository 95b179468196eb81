# What this module knows: enrollment records -- each device's platform, the user who enrolled it
# and whether it is still enrolled (managed). A device name is never reused, even after the device
# is unenrolled, wiped or retired. What it does not know: groups, profiles or certificates.
"""Enrollment records of the mock MDM."""
from __future__ import annotations

from dataclasses import dataclass

from .directory import User


@dataclass(eq=False)
class Device:
    name: str
    platform: str
    owner: User  # the enrolling user object (it may later be deleted from the directory)
    enrolled: bool = True

    @property
    def owner_name(self) -> str | None:
        """The name under which the owner appears in groups, or None once the owner is deleted."""
        return None if self.owner.deleted else self.owner.name


class Enrollments:
    def __init__(self) -> None:
        self.devices: dict[str, Device] = {}
        self._by_owner: dict[int, list[Device]] = {}

    def device(self, name: str) -> Device | None:
        return self.devices.get(name)

    def enroll(self, name: str, platform: str, owner: User) -> Device:
        device = self.devices[name] = Device(name, platform, owner)
        self._by_owner.setdefault(id(owner), []).append(device)
        return device

    def enrolled_devices_of(self, owner: User) -> list[Device]:
        return [d for d in self._by_owner.get(id(owner), ()) if d.enrolled]
