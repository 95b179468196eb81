# What this module knows: certificate profiles (trusted_root, scep, pkcs, pkcs_imported; scep and
# pkcs name their trusted root profile and their CA) and the groups each profile is assigned to.
# What it does not know: group members, devices, or certificates.
"""The profile store of the mock MDM: profiles and their group assignments."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class Profile:
    name: str
    kind: str
    order: int  # creation order: check-in delivers in this order
    root: str | None = None
    ca: str | None = None
    revision: int = 1  # bumped by update_profile
    groups: set[str] = field(default_factory=set)


class ProfileStore:
    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self._profiles_by_group: dict[str, set[str]] = {}

    def profile(self, name: str) -> Profile | None:
        return self.profiles.get(name)

    def create(self, name: str, kind: str, root: str | None, ca: str | None) -> Profile:
        profile = self.profiles[name] = Profile(name, kind, len(self.profiles), root, ca)
        return profile

    def assign(self, profile: str, group: str) -> None:
        self.profiles[profile].groups.add(group)
        self._profiles_by_group.setdefault(group, set()).add(profile)

    def unassign(self, profile: str, group: str) -> None:
        self.profiles[profile].groups.discard(group)
        names = self._profiles_by_group.get(group)
        if names is not None:
            names.discard(profile)
            if not names:
                del self._profiles_by_group[group]

    def forget_group(self, group: str) -> None:
        """A deleted group takes its assignments with it."""
        for profile in sorted(self._profiles_by_group.get(group, ())):
            self.unassign(profile, group)

    def assigned_to(self, groups: set[str]) -> set[str]:
        """Names of the profiles assigned to any of `groups`."""
        found: set[str] = set()
        for group in groups:
            found |= self._profiles_by_group.get(group, set())
        return found
