"""Execute model/behaviour.yaml: what the document requires of one certificate in one situation.

What this module knows: how the table's entries combine — platform lists first, then derived
interpretations and the intro's general statements where the platform lists are silent;
conflicting platform statements become alternative readings (either passes); then the modifiers:
third-party CA and imported/root certificates are never revoked, Android legacy never removes,
Android for Work is not validated.
What it does not know: any platform, kind or event by name beyond those modifier hooks; every
per-platform fact is a row of behaviour.yaml. Where is the rule for KNOX retire? In the YAML,
statement KNOX-SCEP-RV-1 / KNOX-PKCS-RR-3 / KNOX-SCEP-ROOT-3; this file only looks it up.

Expectations are three-valued: "required", "forbidden", "open" (see outcomes in the YAML).
"forbidden" means *this event must not do it*: a certificate that is already revoked may stay
revoked, one that is already removed stays removed.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from model.behaviour import Behaviour, BehaviourError, default
from model.world import KINDS

REQUIRED, FORBIDDEN, OPEN = "required", "forbidden", "open"


@dataclass(frozen=True)
class Reading:
    """One way of satisfying the document: what must happen to revocation and installation."""

    revoke: str
    remove: str
    statements: tuple[str, ...]  # the statements this reading comes from
    label: str  # the outcome name, e.g. "revoked-and-removed"

    def allows(self, before: dict, after: dict) -> bool:
        return _tri_ok(self.revoke, before["revoked"], after["revoked"], True) and _tri_ok(
            self.remove, before["installed"], after["installed"], False
        )

    def describe(self) -> str:
        parts = []
        for verb, tri in (("revoked", self.revoke), ("removed", self.remove)):
            parts.append({REQUIRED: f"must be {verb}", FORBIDDEN: f"must not be {verb}", OPEN: f"may or may not be {verb}"}[tri])
        return " and ".join(parts)


def _tri_ok(tri: str, before: bool, after: bool, target: bool) -> bool:
    # revocation target: revoked=True; removal target: installed=False
    if tri == REQUIRED:
        return after == target
    if tri == FORBIDDEN:
        return after == before
    return True


@dataclass(frozen=True)
class Requirement:
    """What the document requires of one certificate for one event: any reading may hold."""

    readings: tuple[Reading, ...]
    statements: tuple[str, ...]  # every statement that spoke (readings + modifiers)
    conflict: str | None = None  # conflict id where the readings disagree
    status: str = "tested"  # tested | not-validated | not-enabled

    def allows(self, before: dict, after: dict) -> Reading | None:
        """The first reading the observed change satisfies, or None."""
        return next((r for r in self.readings if r.allows(before, after)), None)

    @property
    def is_open(self) -> bool:
        return all(r.revoke == OPEN and r.remove == OPEN for r in self.readings)


class Rules:
    """Lookup of Requirements over a Behaviour table (cached per combination)."""

    def __init__(self, behaviour: Behaviour):
        self.b = behaviour
        self._cache: dict[tuple, Requirement] = {}
        notes = [s for s in behaviour.statements if s.role == "note"]
        # The modifier hooks, read from the notes: platforms the document does not validate,
        # platforms where the MDM never removes, kinds the third-party-CA note covers.
        self._not_validated = {p: s.id for s in notes if s.outcome == "not-validated" for p in s.platforms}
        self._never_removed = {p: s.id for s in notes if s.outcome == "never-removed" for p in s.platforms}
        self._third_party = {k: s.id for s in notes if s.outcome == "removed-not-revoked" for k in s.kinds}

    def _outcome(self, name: str) -> dict:
        return self.b.outcomes[name]

    def _reading(self, outcome: str, statements: tuple[str, ...]) -> Reading:
        o = self._outcome(outcome)
        return Reading(o["revoke"], o["remove"], statements, outcome)

    def matching(self, role: str, platform: str, kind: str, situation: str):
        return [
            s
            for s in self.b.statements
            if s.role == role and platform in s.platforms and kind in s.kinds and situation in s.situations
        ]

    def requirement(self, platform: str, kind: str, situation: str, ca: str | None = None) -> Requirement:
        key = (platform, kind, situation, ca)
        if key not in self._cache:
            self._cache[key] = self._compute(platform, kind, situation, ca)
        return self._cache[key]

    def _compute(self, platform: str, kind: str, situation: str, ca: str | None) -> Requirement:
        # 1. The platform's own lists decide where they speak (I-PLATFORM-LIST-WINS).
        found = self.matching("platform", platform, kind, situation)
        # 2. Else executable interpretations, then the general statements (intro, imported, manual).
        derived: list[Reading] = []
        if not found:
            for interp in self.b.interpretations:
                a = interp.applies or {}
                if "outcome" in a and kind in a.get("kinds", [kind]) and situation in a.get("situations", []):
                    derived.append(self._reading(a["outcome"], (interp.id,)))
            found = [] if derived else self.matching("general", platform, kind, situation)
            found = [s for s in found if self._outcome(s.outcome)["revoke"] != OPEN or self._outcome(s.outcome)["remove"] != OPEN]
        by_outcome: dict[str, list[str]] = {}
        for s in found:
            by_outcome.setdefault(s.outcome, []).append(s.id)
        readings = [self._reading(o, tuple(ids)) for o, ids in by_outcome.items()] + derived
        conflict = None
        if len(by_outcome) > 1:
            conflict = self._recorded_conflict(platform, kind, situation, [s.id for s in found])
        if not readings:
            readings = [Reading(OPEN, OPEN, (), "unspecified")]
        statements = [sid for r in readings for sid in r.statements]
        status = "tested"

        def modify(revoke=None, remove=None, cite=None):
            nonlocal readings
            readings = [
                Reading(revoke or r.revoke, remove or r.remove, r.statements + ((cite,) if cite else ()), r.label)
                for r in readings
            ]
            if cite:
                statements.append(cite)

        # 3. Modifiers.
        if situation == "manual_delete":
            modify(remove=REQUIRED)  # the contract: the event itself takes the certificate off
        elif platform in self._not_validated:
            modify(revoke=OPEN, remove=OPEN, cite=self._not_validated[platform])
            status = "not-validated"
        elif platform in self._never_removed:
            modify(remove=FORBIDDEN, cite=self._never_removed[platform])
            status = "not-enabled"
        if kind in ("trusted_root", "pkcs_imported"):
            modify(revoke=FORBIDDEN)  # the contract: never revoked (model also says I-ROOT-LIST-ONLY-WHEN)
        elif ca == "third_party":
            cite = self._third_party.get(kind) or self._modifier_interpretation(kind, ca)
            modify(revoke=FORBIDDEN, cite=cite)
        # Readings that became identical after the modifiers are one reading.
        unique: dict[tuple, Reading] = {}
        for r in readings:
            unique.setdefault((r.revoke, r.remove), r)
        if len(unique) == 1:
            conflict = None if len(readings) == 1 else conflict
        return Requirement(tuple(unique.values()), tuple(dict.fromkeys(statements)), conflict, status)

    def _modifier_interpretation(self, kind: str, ca: str) -> str | None:
        for interp in self.b.interpretations:
            a = interp.applies or {}
            if a.get("modifier") == "never-revoked" and kind in a.get("kinds", []) and ca in a.get("cas", []):
                return interp.id
        return None

    def _recorded_conflict(self, platform: str, kind: str, situation: str, ids: list[str]) -> str:
        for c in self.b.conflicts:
            covers = platform in c.platforms and kind in c.kinds and situation in c.situations
            if covers and set(ids) <= set(c.statements):
                return c.id
        raise BehaviourError(
            f"behaviour.yaml: statements {', '.join(ids)} disagree on {platform}/{kind}/{situation} "
            "but no entry under 'conflicts' records it"
        )

    def check_conflicts_recorded(self) -> list[str]:
        """Evaluate every combination; return the recorded conflicts that were actually hit."""
        hit = set()
        for platform in self.b.platforms:
            for kind in KINDS:
                for situation in self.b.situations:
                    for ca in (None, "intune", "third_party"):
                        r = self.requirement(platform, kind, situation, ca)
                        if r.conflict:
                            hit.add(r.conflict)
        return sorted(hit)



@lru_cache(maxsize=1)
def default_rules() -> Rules:
    return Rules(default())
