# What this module knows: the tenant directory -- users (and whether they hold a licence), groups
# and their members (member names are user or device names; one namespace), and which groups a
# name belongs to. What it does not know: devices' enrollment, profiles or certificates.
"""The directory of the mock MDM: users, licences, groups and memberships."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class User:
    """A directory user. Compared by identity: a deleted user's name can be reused by a new one."""

    name: str
    licensed: bool = True
    deleted: bool = False


@dataclass(eq=False)
class Group:
    name: str
    members: set[str] = field(default_factory=set)


class Directory:
    """Users and groups; `groups_of(name)` answers "which groups is this user/device in?"."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}  # live (not deleted) users by name
        self.groups: dict[str, Group] = {}  # live groups by name
        self._groups_by_member: dict[str, set[str]] = {}

    def user(self, name: str) -> User | None:
        return self.users.get(name)

    def group(self, name: str) -> Group | None:
        return self.groups.get(name)

    def groups_of(self, member: str) -> set[str]:
        return self._groups_by_member.get(member, set())

    # -- mutations (the caller has validated the event) ------------------------------------------
    def create_user(self, name: str) -> User:
        user = self.users[name] = User(name)
        return user

    def create_group(self, name: str) -> Group:
        group = self.groups[name] = Group(name)
        return group

    def add_member(self, group: str, member: str) -> None:
        self.groups[group].members.add(member)
        self._groups_by_member.setdefault(member, set()).add(group)

    def remove_member(self, group: str, member: str) -> None:
        self.groups[group].members.discard(member)
        groups = self._groups_by_member.get(member)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._groups_by_member[member]

    def delete_user(self, name: str) -> User:
        """Remove the user and its memberships; the name becomes free again."""
        for group in sorted(self.groups_of(name)):
            self.remove_member(group, name)
        user = self.users.pop(name)
        user.deleted = True
        return user

    def delete_group(self, name: str) -> Group:
        group = self.groups[name]
        for member in sorted(group.members):
            self.remove_member(name, member)
        return self.groups.pop(name)
