# What this module knows: for every platform, certificate kind and trigger, whether the mock MDM
# revokes and/or removes an installed certificate -- the mock's own reading of
# ../shared/spec-source/remove-certificates.md (cited by line number, never quoted).
# What it does not know: which certificates are installed, which profile targets what, or how a
# revocation is carried out. The service (service.py) asks `decide()` and acts on the answer.
"""The per-platform removal/revocation table of the mock MDM.

Look up "what does KNOX retire do to a SCEP certificate?" in `TABLE["android_knox"]["scep"]`.
Every row starts from "stays" (neither revoked nor removed) and lists only what changes.

Triggers:
  unenroll, wipe, retire   the remote actions (and the user's unenrollment)
  left_group               the device was removed from a group and the profile no longer
                           targets the device because of it
  user_left_group          the device's user was removed from a group, with the same effect:
                           as left_group, and always taken off the device (line 37 names the
                           user; the platform bullets name only the device)
  unassigned               the profile was removed from a group's assignment and no longer targets
                           the device because of it
  directory_removal        the device's user or a group was deleted from the directory and the
                           profile no longer targets the device because of it
  profile_updated          an administrator changed the profile
  license_lost             the user lost the licence or it was withdrawn

Two overlays apply after the table (see `decide`):
  * a third-party SCEP CA is not asked to revoke: its SCEP certificates are removed where the
    table says so but never revoked (doc line 55 names SCEP). Third-party PKCS certificates are
    revoked through the CA's connector exactly where the table revokes PKCS (the document draws
    no line between CAs for PKCS);
  * android_legacy devices are not enabled for certificate removal (doc line 217): nothing is ever
    removed from them. Revocation is done at the CA, not on the device, so the mock still revokes
    on legacy devices exactly where it would on a KNOX device (our choice; the document is silent).
"""
from __future__ import annotations

from typing import NamedTuple

PLATFORMS = ("windows", "ios", "macos", "android_knox", "android_work", "android_legacy")
KINDS = ("trusted_root", "scep", "pkcs", "pkcs_imported")
CAS = ("intune", "third_party")

UNENROLL = "unenroll"
WIPE = "wipe"
RETIRE = "retire"
LEFT_GROUP = "left_group"
USER_LEFT_GROUP = "user_left_group"
UNASSIGNED = "unassigned"
DIRECTORY_REMOVAL = "directory_removal"
PROFILE_UPDATED = "profile_updated"
LICENSE_LOST = "license_lost"
TRIGGERS = (UNENROLL, WIPE, RETIRE, LEFT_GROUP, UNASSIGNED, DIRECTORY_REMOVAL, PROFILE_UPDATED, LICENSE_LOST)


class Outcome(NamedTuple):
    revoke: bool
    remove: bool


STAYS = Outcome(revoke=False, remove=False)
REVOKED = Outcome(revoke=True, remove=False)
REMOVED = Outcome(revoke=False, remove=True)
REVOKED_AND_REMOVED = Outcome(revoke=True, remove=True)


def _row(**changes: Outcome) -> dict[str, Outcome]:
    """A full trigger -> outcome row: every trigger stays unless listed."""
    unknown = set(changes) - set(TRIGGERS)
    assert not unknown, f"unknown triggers {unknown}"
    return {trigger: changes.get(trigger, STAYS) for trigger in TRIGGERS}


# Trusted roots: every platform section lists root removal only for unenroll, wipe and retire
# (Windows 73-77 and 97-101, iOS 126-130 and 150-154, KNOX 180-184 and 200-204, macOS 250-253).
# Our choice: a root stays when its profile stops targeting the device (no section lists it).
_ROOT = _row(unenroll=REMOVED, wipe=REMOVED, retire=REMOVED)

# Imported PKCS: removed when company data is removed (wipe, retire) or on unenrollment (line 45);
# the MDM did not issue them, so it never revokes them; every other trigger leaves them alone.
_IMPORTED = _row(unenroll=REMOVED, wipe=REMOVED, retire=REMOVED)

TABLE: dict[str, dict[str, dict[str, Outcome]]] = {
    "windows": {
        "trusted_root": _ROOT,
        # SCEP: lines 61-67 revoke+remove; 69-71 update revokes; 79-83 licence/directory stay.
        "scep": _row(
            unenroll=REVOKED_AND_REMOVED, wipe=REVOKED_AND_REMOVED, retire=REVOKED_AND_REMOVED,
            left_group=REVOKED_AND_REMOVED, unassigned=REVOKED_AND_REMOVED,
            profile_updated=REVOKED,
        ),
        # PKCS: lines 87-91 revoke+remove; 93-95 removed when no longer targeted; 103-108 stay.
        # Conflict: deleting the user/group also ends targeting (line 95) but line 107 says the
        # certificate stays. We read the specific listing (107) as winning for directory removal.
        "pkcs": _row(
            unenroll=REVOKED_AND_REMOVED, wipe=REVOKED_AND_REMOVED, retire=REVOKED_AND_REMOVED,
            left_group=REMOVED, unassigned=REMOVED,
        ),
        "pkcs_imported": _IMPORTED,
    },
    "ios": {
        "trusted_root": _ROOT,
        # SCEP: lines 114-120 revoke+remove; 122-124 update revokes; 132-136 stay.
        "scep": _row(
            unenroll=REVOKED_AND_REMOVED, wipe=REVOKED_AND_REMOVED, retire=REVOKED_AND_REMOVED,
            left_group=REVOKED_AND_REMOVED, unassigned=REVOKED_AND_REMOVED,
            profile_updated=REVOKED,
        ),
        # PKCS: lines 140-144 revoke+remove; 146-148 unassignment removes; 156-161 stay.
        # Silent: the device leaving a group. Line 37 says certificates go when the profile no
        # longer targets the device, so we remove, as for unassignment.
        "pkcs": _row(
            unenroll=REVOKED_AND_REMOVED, wipe=REVOKED_AND_REMOVED, retire=REVOKED_AND_REMOVED,
            left_group=REMOVED, unassigned=REMOVED,
        ),
        "pkcs_imported": _IMPORTED,
    },
    "android_knox": {
        "trusted_root": _ROOT,
        # SCEP: lines 167-170 revoke+remove on unenroll and wipe; 172-178 revoked only (retire,
        # group removal, unassignment, directory removal, update); 186-190 stay.
        # Conflict: directory removal is listed as revoked (177) and as staying (190). We revoke:
        # the specific "revoked" listing is the safer reading for a removed user.
        "scep": _row(
            unenroll=REVOKED_AND_REMOVED, wipe=REVOKED_AND_REMOVED,
            retire=REVOKED, left_group=REVOKED, unassigned=REVOKED,
            directory_removal=REVOKED, profile_updated=REVOKED,
        ),
        # PKCS: lines 194-198 revoke+remove; 206-212 stay, including unassignment (212).
        # Silent: the device leaving a group. As for iOS, the general rule of line 37 (no longer
        # targeted -> taken off the device) fills the gap: removed, not revoked.
        "pkcs": _row(
            unenroll=REVOKED_AND_REMOVED, wipe=REVOKED_AND_REMOVED, retire=REVOKED_AND_REMOVED,
            left_group=REMOVED,
        ),
        "pkcs_imported": _IMPORTED,
    },
    "macos": {
        # Roots: lines 250-253 (unenroll, retire). Wipe is never reached: it is rejected (241).
        "trusted_root": _ROOT,
        # SCEP: lines 223-228 revoke+remove; 230-232 update revokes; 234-238 stay.
        "scep": _row(
            unenroll=REVOKED_AND_REMOVED, retire=REVOKED_AND_REMOVED,
            left_group=REVOKED_AND_REMOVED, unassigned=REVOKED_AND_REMOVED,
            profile_updated=REVOKED,
        ),
        # PKCS: lines 245-248 revoke+remove; 255-261 stay, including unassignment (259).
        # Silent: the device leaving a group; line 37 fills the gap (removed, not revoked).
        "pkcs": _row(unenroll=REVOKED_AND_REMOVED, retire=REVOKED_AND_REMOVED, left_group=REMOVED),
        "pkcs_imported": _IMPORTED,
    },
}

# Android for Work is not validated by the document (line 216). Our choice: behave like KNOX,
# except that retire deletes the work profile and with it the SCEP certificates it holds, so
# retire revokes and removes SCEP certificates there.
TABLE["android_work"] = {kind: dict(row) for kind, row in TABLE["android_knox"].items()}
TABLE["android_work"]["scep"][RETIRE] = REVOKED_AND_REMOVED

# Android legacy: same decisions as KNOX; the no-removal overlay in `decide` applies (line 217).
TABLE["android_legacy"] = {kind: dict(row) for kind, row in TABLE["android_knox"].items()}

# Remote actions a platform does not support: the MDM refuses them and changes nothing.
UNSUPPORTED_ACTIONS: dict[tuple[str, str], str] = {
    ("macos", WIPE): "wipe is not supported on macOS devices (document line 241)",
}

# Platforms that are not enabled for certificate removal (line 217).
NO_REMOVAL_PLATFORMS = frozenset({"android_legacy"})


# Editions of the document the mock knows. The 04/08/2024 edition adds one bullet to the Windows
# SCEP root list (its line 57): the root is removed when a certificate profile is removed from the
# group assignment. Our reading: the SCEP profile is meant, so when its unassignment ends its
# targeting of a Windows device, the trusted root it chains to leaves that device too (the root's
# own profile, if it still targets the device, delivers it again at the next check-in).
EDITIONS = ("2022", "2024")
DEFAULT_EDITION = "2022"
EDITION_ENV = "CERTCONFORM_EDITION"
CHAINED_ROOT_REMOVED: dict[str, frozenset[tuple[str, str, str]]] = {
    "2022": frozenset(),
    "2024": frozenset({("windows", "scep", UNASSIGNED)}),
}


def edition_of(edition: str | None) -> str:
    """The edition the mock follows: `edition`, else env CERTCONFORM_EDITION, else 2022."""
    import os

    chosen = edition or os.environ.get(EDITION_ENV) or DEFAULT_EDITION
    if chosen not in EDITIONS:
        raise ValueError(f"the mock knows editions {', '.join(EDITIONS)}, not {chosen!r}")
    return chosen


def removes_chained_root(edition: str, platform: str, kind: str, trigger: str) -> bool:
    """Does `trigger` on a `kind` profile also take the trusted root it chains to off a `platform` device?"""
    return (platform, kind, trigger) in CHAINED_ROOT_REMOVED[edition] and platform not in NO_REMOVAL_PLATFORMS


def decide(platform: str, kind: str, ca: str | None, trigger: str) -> Outcome:
    """What happens to one installed certificate of `kind` (issued via `ca`) on `platform`."""
    if trigger == USER_LEFT_GROUP:
        outcome = TABLE[platform][kind][LEFT_GROUP]
        if kind in ("scep", "pkcs"):
            outcome = Outcome(revoke=outcome.revoke, remove=True)
    else:
        outcome = TABLE[platform][kind][trigger]
    if kind in ("trusted_root", "pkcs_imported") or (ca == "third_party" and kind == "scep"):
        # Roots and imported certificates were not issued by the MDM's CA; a third-party SCEP CA
        # is never asked to revoke (line 55). The MDM revokes none of them.
        outcome = Outcome(revoke=False, remove=outcome.remove)
    if platform in NO_REMOVAL_PLATFORMS:
        outcome = Outcome(revoke=outcome.revoke, remove=False)
    return outcome


def unsupported(platform: str, action: str) -> str | None:
    """The reason `action` is refused on `platform`, or None when it is supported."""
    return UNSUPPORTED_ACTIONS.get((platform, action))
