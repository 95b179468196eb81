"""Execute model/behaviour.yaml: what the document requires of one certificate in one situation.

What this module knows: how the table's entries combine, in two tiers. Tier "document": platform
lists first, the intro's general statements where the platform lists are silent; conflicting
statements become alternative readings (either passes); then the notes' modifiers (a third-party
SCEP certificate is never revoked, Android legacy never removes except on wipe, Android for Work
is not validated, a refused macOS wipe performed anyway has open effects). Tier "reading": the
reading-tier interpretations with `applies` (I-LICENCE-NOTHING, I-USER-LEAVES-GROUP,
I-OUTSIDERS-NEVER-REVOKED, ...) narrow the document's readings into `strict` ones; a change the
document allows but `strict` does not is a deviation.

Three rules of reading that are not rows of the table:
- A section's root list speaks about the roots of that section's certificates: a trusted root is
  judged by the root lists of the sections whose kind (scep, pkcs) has a profile that names it
  and targets the device (`chain`); a root no such profile chains to is open.
- The intro yields (I-INTRO-YIELDS): where a platform's section makes a group or assignment
  change revoke-only or a stay for a kind, the intro's removal on loss of targeting does not hold
  for that platform and kind, in any group or assignment change.
- An exception (role `exception`, the offboarding note's other order) stands beside the platform
  lists it contradicts: a recorded conflict, either reading passes.
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

from certconform.model.behaviour import Behaviour, BehaviourError, default
from certconform.model.world import KINDS

REQUIRED, FORBIDDEN, OPEN = "required", "forbidden", "open"
BOTH_SECTIONS = frozenset({"scep", "pkcs"})  # a root's chain when the caller does not know it
CHAINS = (frozenset(), frozenset({"scep"}), frozenset({"pkcs"}), BOTH_SECTIONS)  # every chain a root can have
# Losses of targeting through a group or an assignment (I-INTRO-YIELDS): the device's own
# situations decide whether a section treats the mechanism as revoke-only or a stay.
GROUP_OR_ASSIGNMENT = ("leaves_group", "unassigned")
TARGETING_CHANGES = ("leaves_group", "user_leaves_group", "unassigned")


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

    def describe(self, kind: str | None = None) -> str:
        """'must be revoked and may or may not be removed'. For a kind the MDM never revokes (a
        trusted root), only what the check is about: its removal."""
        parts = []
        for verb, tri in (("revoked", self.revoke), ("removed", self.remove)):
            if verb == "revoked" and kind == "trusted_root" and tri == OPEN:
                continue
            parts.append({REQUIRED: f"must be {verb}", FORBIDDEN: f"must not be {verb}", OPEN: f"may or may not be {verb}"}[tri])
        return " and ".join(parts)


def _tri_ok(tri: str, before: bool, after: bool, target: bool) -> bool:
    # revocation target: revoked=True; removal target: installed=False
    if tri == REQUIRED:
        return after == target
    if tri == FORBIDDEN:
        return after == before
    return True


PASS, DEVIATES, FAIL = "pass", "deviates", "fail"


def meet(a: Reading, b: Reading) -> Reading:
    """The stricter of two readings, aspect by aspect (open yields to the other; a clash keeps `a`)."""
    def one(x: str, y: str) -> str:
        return y if x == OPEN else x
    return Reading(one(a.revoke, b.revoke), one(a.remove, b.remove), a.statements, a.label)


def _unique(readings) -> tuple[Reading, ...]:
    out: dict[tuple, Reading] = {}
    for r in readings:
        out.setdefault((r.revoke, r.remove), r)
    return tuple(out.values())


@dataclass(frozen=True)
class Requirement:
    """What one event requires of one certificate, in two tiers.

    `readings`: what the document's text requires (tier "document"); any one may hold (several
    only where the document contradicts itself: `conflict`). `strict`: what our reading-tier
    interpretations (`interpretations`) add on top; a change the document allows but `strict`
    does not is a deviation, which fails the run only under --strict."""

    readings: tuple[Reading, ...]
    statements: tuple[str, ...]  # every statement (or document-tier interpretation) that spoke
    conflict: str | None = None  # conflict id where the readings disagree
    status: str = "tested"  # tested | not-validated | not-enabled
    strict: tuple[Reading, ...] | None = None  # None: the same as `readings`
    interpretations: tuple[str, ...] = ()  # reading-tier interpretations behind `strict`

    def allows(self, before: dict, after: dict) -> Reading | None:
        """The first document reading the observed change satisfies, or None."""
        return next((r for r in self.readings if r.allows(before, after)), None)

    def judge(self, before: dict, after: dict) -> tuple[str, Reading | None]:
        """(PASS | DEVIATES | FAIL, the document reading followed)."""
        reading = self.allows(before, after)
        if reading is None:
            return FAIL, None
        if self.strict is not None and not any(r.allows(before, after) for r in self.strict):
            return DEVIATES, reading
        return PASS, reading

    @property
    def strict_readings(self) -> tuple[Reading, ...]:
        return self.strict if self.strict is not None else self.readings

    @property
    def is_open(self) -> bool:
        return all(r.revoke == OPEN and r.remove == OPEN for r in self.readings)

    @property
    def strict_is_open(self) -> bool:
        return all(r.revoke == OPEN and r.remove == OPEN for r in self.strict_readings)


UNSPECIFIED = Reading(OPEN, OPEN, (), "unspecified")


class Rules:
    """Lookup of Requirements over a Behaviour table (cached per combination)."""

    def __init__(self, behaviour: Behaviour):
        self.b = behaviour
        self._cache: dict[tuple, Requirement] = {}
        notes = [s for s in behaviour.statements if s.role == "note"]
        # The modifier hooks, read from the notes: platforms the document does not validate,
        # platforms where the MDM never removes, kinds the third-party-CA note covers, events
        # a platform refuses.
        self._not_validated = {p: s.id for s in notes if s.outcome == "not-validated" for p in s.platforms}
        self._never_removed = {p: s.id for s in notes if s.outcome == "never-removed" for p in s.platforms}
        self._third_party = {k: s.id for s in notes if s.outcome == "removed-not-revoked" for k in s.kinds}
        self._refused = [s for s in notes if s.outcome == "rejected"]
        self._reading_tier = [i for i in behaviour.interpretations if i.tier == "reading" and i.applies]

    def _outcome(self, name: str) -> dict:
        return self.b.outcomes[name]

    def _reading(self, outcome: str, statements: tuple[str, ...]) -> Reading:
        o = self._outcome(outcome)
        return Reading(o["revoke"], o["remove"], statements, outcome)

    def _interp(self, iid: str) -> str:
        if self.b.interpretation(iid) is None:
            raise BehaviourError(f"behaviour.yaml: interpretation {iid} is used by model/rules.py but not defined")
        return iid

    def matching(self, role: str, platform: str, kind: str, situation: str, chain=BOTH_SECTIONS):
        """Statements of `role` that speak about the combination; for a trusted root, only the root
        lists of the sections its `chain` reaches."""
        return [
            s
            for s in self.b.statements
            if s.role == role and platform in s.platforms and kind in s.kinds and situation in s.situations
            and (kind != "trusted_root" or s.covers_chain(chain))
        ]

    def intro_yields(self, platform: str, kind: str) -> bool:
        """I-INTRO-YIELDS: the platform's section makes a group or assignment change revoke-only or
        a stay for `kind`, so the intro's removal on loss of targeting does not hold for it."""
        return any(self._outcome(s.outcome)["remove"] != REQUIRED
                   for sit in GROUP_OR_ASSIGNMENT for s in self.matching("platform", platform, kind, sit))

    def not_validated(self, platform: str) -> str | None:
        """The statement saying the document does not validate `platform` (ANDROID-WORK-1), if any."""
        return self._not_validated.get(platform)

    def refusal(self, platform: str, event_type: str):
        """The statement saying `platform` does not support `event_type` (MAC-WIPE-1), if any."""
        return next((s for s in self._refused if platform in s.platforms and event_type in s.situations), None)

    def requirement(self, platform: str, kind: str, situation: str, ca: str | None = None,
                    chain: frozenset[str] | None = None) -> Requirement:
        """What `situation` requires of a `kind` certificate on `platform` (issued via `ca`). For a
        trusted root, `chain` is the kinds of the profiles that name it and target the device
        (World.root_chain); None means both sections' lists (for callers that do not know it)."""
        chain = (BOTH_SECTIONS if chain is None else frozenset(chain)) if kind == "trusted_root" else None
        key = (platform, kind, situation, ca, chain)
        if key not in self._cache:
            self._cache[key] = self._compute(platform, kind, situation, ca, chain)
        return self._cache[key]

    def untouched(self, platform: str, kind: str, ca: str | None, installed: bool) -> Requirement:
        """A certificate outside every situation of the event. The document says nothing about it
        (except that a third-party SCEP certificate is never revoked); I-SCOPE-TARGETING reads it
        as untouched (a removed certificate may still be revoked, unless never-revoked applies)."""
        key = ("untouched", platform, kind, ca, installed)
        if key not in self._cache:
            doc = UNSPECIFIED
            statements: tuple[str, ...] = ()
            if self._not_validated.get(platform):
                self._cache[key] = Requirement((doc,), (self._not_validated[platform],), status="not-validated")
                return self._cache[key]
            if ca == "third_party" and kind in self._third_party:
                doc = Reading(FORBIDDEN, OPEN, (self._third_party[kind],), "untouched")
                statements = (self._third_party[kind],)
            strict_revoke = FORBIDDEN if installed else OPEN
            interps = [self._interp("I-SCOPE-TARGETING")]
            for interp in self._reading_tier:
                a = interp.applies
                if a.get("modifier") == "never-revoked" and kind in a.get("kinds", [kind]) \
                        and (ca in a["cas"] if "cas" in a else True):
                    strict_revoke = FORBIDDEN
                    if not installed:
                        interps.append(interp.id)
            strict = meet(Reading(strict_revoke, FORBIDDEN, (), "untouched"), doc)
            self._cache[key] = Requirement((doc,), statements, strict=(strict,), interpretations=tuple(interps))
        return self._cache[key]

    def _compute(self, platform: str, kind: str, situation: str, ca: str | None, chain) -> Requirement:
        # 0. An event the platform refuses (MAC-WIPE-1) that was performed anyway: no list speaks,
        # its effects are open (but the notes' modifiers below still hold: a third-party SCEP
        # certificate is never revoked).
        refused = self.refusal(platform, situation)
        # 1. The platform's own lists decide where they speak (I-PLATFORM-LIST-WINS); 2. else the
        # general statements (intro, imported, manual) that require something, unless the intro
        # yields to the section's own treatment of group and assignment changes (I-INTRO-YIELDS).
        found = self.matching("platform", platform, kind, situation, chain) if refused is None else []
        cited: list[str] = [refused.id] if refused is not None else []
        if not found and refused is None:
            general = [s for s in self.matching("general", platform, kind, situation)
                       if self._outcome(s.outcome)["revoke"] != OPEN or self._outcome(s.outcome)["remove"] != OPEN]
            if situation in TARGETING_CHANGES and self.intro_yields(platform, kind):
                yielding = [s for s in general if set(TARGETING_CHANGES) & set(s.situations)]
                if yielding:
                    general = [s for s in general if s not in yielding]
                    cited = [s.id for s in yielding] + [self._interp("I-INTRO-YIELDS")]
            found = general
        # 3. An exception beside the lists (GEN-ORDER-3): a recorded conflict, either reading passes.
        if refused is None:
            found = found + self.matching("exception", platform, kind, situation)
        by_outcome: dict[str, list[str]] = {}
        for s in found:
            by_outcome.setdefault(s.outcome, []).append(s.id)
        readings = [self._reading(o, tuple(ids)) for o, ids in by_outcome.items()] or [UNSPECIFIED]
        conflict = None
        if len(by_outcome) > 1:
            conflict = self._recorded_conflict(platform, kind, situation, [s.id for s in found])
        statements = [sid for r in readings for sid in r.statements] + cited
        status = "tested"

        def modify(revoke=None, remove=None, cite=None):
            nonlocal readings
            readings = [Reading(revoke or r.revoke, remove or r.remove, r.statements + ((cite,) if cite else ()),
                                r.label) for r in readings]
            if cite:
                statements.append(cite)

        # 4. Document-tier modifiers from the notes.
        if platform in self._not_validated:
            # ANDROID-WORK-1: nothing is judged, in any tier (a manual deletion included).
            cite = self._not_validated[platform]
            return Requirement((Reading(OPEN, OPEN, (cite,), "not-validated"),), tuple(dict.fromkeys(statements + [cite])),
                               status="not-validated")
        if situation == "manual_delete":
            modify(remove=REQUIRED)  # the event itself takes the certificate off (contract)
        elif platform in self._never_removed:
            legacy = self._never_removed[platform]
            status = "not-enabled"
            if situation in self.b.events["wipe"]["situations"]:  # the device was erased, whenever
                modify(remove=OPEN, cite=self._interp("I-LEGACY-WIPE-OPEN"))
                statements.append(legacy)
            elif any(r.remove == REQUIRED for r in readings):
                # a general statement requires removal where the legacy note forbids it
                readings = readings + [Reading(OPEN, FORBIDDEN, (legacy,), "never-removed")]
                statements.append(legacy)
                conflict = self._recorded_conflict(platform, kind, situation, [*statements])
            else:
                modify(remove=FORBIDDEN, cite=legacy)
        if ca == "third_party" and kind in self._third_party:
            modify(revoke=FORBIDDEN, cite=self._third_party[kind])
        elif ca == "third_party" and kind == "pkcs":
            statements.append(self._interp("I-PKCS-LISTS-EVERY-CA"))  # the PKCS lists hold as they are
        readings_t = _unique(readings)
        if len(readings_t) == 1:
            conflict = None
        # 5. Reading-tier interpretations: what we add on top of the text.
        strict = list(readings_t)
        interps: list[str] = []
        for interp in self._reading_tier:
            a = interp.applies
            if "situations" in a and situation not in a["situations"]:
                continue
            if "platforms" in a and platform not in a["platforms"]:
                continue
            if "kinds" in a and kind not in a["kinds"]:
                continue
            if "cas" in a and ca not in a["cas"]:
                continue
            if "outcome" in a:
                extra = [self._reading(a["outcome"], (interp.id,))]
            elif a.get("modifier") == "never-revoked":
                extra = [Reading(FORBIDDEN, OPEN, (interp.id,), "never-revoked")]
            elif "same_as" in a:
                same = a["same_as"][situation] if isinstance(a["same_as"], dict) else a["same_as"]
                extra = list(self.requirement(platform, kind, same, ca, chain).strict_readings)
            else:  # pragma: no cover - the schema allows nothing else
                continue
            met = _unique(meet(r, e) for r in strict for e in extra)
            if {(r.revoke, r.remove) for r in met} != {(r.revoke, r.remove) for r in strict}:
                strict = list(met)
                interps.append(interp.id)
        return Requirement(readings_t, tuple(dict.fromkeys(statements)), conflict, status,
                           tuple(strict) if interps else None, tuple(interps))

    def _recorded_conflict(self, platform: str, kind: str, situation: str, ids: list[str]) -> str:
        for c in self.b.conflicts:
            covers = platform in c.platforms and kind in c.kinds and situation in c.situations
            if covers and set(ids) & set(c.statements) and set(i for i in ids if i in self.b.by_id) <= set(c.statements):
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
                        for chain in CHAINS if kind == "trusted_root" else (None,):
                            r = self.requirement(platform, kind, situation, ca, chain)
                            if r.conflict:
                                hit.add(r.conflict)
        return sorted(hit)


def default_rules() -> Rules:
    """The rules of the edition in force (model.behaviour.current_edition()), built once per edition."""
    return _rules_of(default())


@lru_cache(maxsize=None)
def _rules_of(behaviour: Behaviour) -> Rules:
    return Rules(behaviour)


default_rules.cache_clear = _rules_of.cache_clear  # type: ignore[attr-defined]
