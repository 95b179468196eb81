"""Hypothesis stateful conformance: random event sequences through the adapter, judged per event.

Every example starts from an empty tenant. Set-up is made of ordinary rules (a group, a user, a
root, a profile, an enrolment, a membership, an assignment), so a counterexample keeps only the
set-up it needs; composite rules build whole situations in one step so that every platform x
kind x situation transition stays reachable in a short run: `tenant` (a varied shape: 0-3
profiles of each kind, several users and devices, look-alike and reused user names),
`fresh_device_then` (one new device, then the event that ends it or its targeting) and
`every_platform_then` (the same for a device of every platform at once). Other rules send
events to devices that are no longer enrolled, re-assign a profile after an unassignment, and
send bad input. After every event the per-event oracle (model/oracle.py) compares what the
implementation reports with what the document requires, certificate by certificate, and the
named invariants (model/invariants.py) take their own look.

A failure is minimised by delta debugging over its event sequence (conformance/minimize.py,
replayed against a fresh adapter) and printed as a Gherkin feature (paste it into
features/regressions/) plus the statement ids it violates. Which findings fail a step is decided
in one place, `ConformanceMachine._failing`.

Coverage of platform x kind x situation transitions is written to <report-dir>/coverage.json
(conformance/coverage.py). Settings come from the Hypothesis profile (`ci` by default,
`--hypothesis-profile thorough`); a derandomized profile's examples are split over several
items with fixed seeds (conformance/shards.py), so `pytest -n` runs them on several cores.
"""
from __future__ import annotations

import unicodedata
from collections import Counter

import pytest
from hypothesis import assume, event, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from certconform.profiles import MINIMIZE_PROFILES
from certconform.conformance import minimize
from certconform.conformance.counterexample import gherkin
from certconform.conformance.gc_budget import fewer_gc_passes
from certconform.conformance.coverage import Tally, specified_transitions  # noqa: F401 (specified_transitions: re-exported)
from certconform.conformance.shards import shards_for
from certconform.mdm.guarded import AdapterError, alarm_kept
from certconform.model.behaviour import ALL_PLATFORMS
from certconform.model.world import CAS, DEVICE_ACTIONS, KINDS
from certconform.progress import Progress, terminal_writer
from certconform.mdm.capabilities import ALL as CAPS_ALL
from certconform.steps.driver import DRY_RUN, NOT_SUPPORTED, Driver, MalformedInventory, log_entries

TALLY = Tally()  # checks of run_machine calls given no tally of their own
COVERAGE, STATEMENTS = TALLY.transitions, TALLY.statements  # (names kept for older callers)
MINIMIZE_REPLAYS = 300  # replays the delta-debugging pass may spend on one counterexample (a count: deterministic)
# SCEP after PKCS: unassigning the group's profiles in turn then ends with a SCEP profile that is
# the last of its root's chain (situation chained_scep_unassigned needs no other chain left)
FULL_SET = (("trusted_root", None), ("pkcs", "intune"), ("scep", "intune"), ("pkcs", "third_party"),
            ("scep", "third_party"), ("pkcs_imported", None))
DEVICE_EVENTS = DEVICE_ACTIONS + ("delete_user", "remove_member", "lose_license", "withdraw_license",
                                  "delete_certificate", "nothing")  # one per device in every_platform_then
# the offboarding note's other order (GEN-ORDER-3): the user is deleted, then the device wiped or retired
LATE = {"late_wipe": "wipe", "late_retire": "retire"}
GROUP_EVENTS = ("unassign_profile", "delete_group", "update_profile", "nothing")
# One sweep of every_platform_then: (device event, does the profile reach the device through its
# user?). The targeting matters only where the event can end it (the user's deletion, a removal
# from a group), so only those come in both forms.
SWEEP = tuple((e, False) for e in DEVICE_EVENTS + tuple(LATE)) + (("delete_user", True), ("remove_member", True))
def _fullwidth(s: str) -> str:
    """ASCII letters and digits as their fullwidth forms ("u1" -> "ｕ１"): NFKC folds them back."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def _other_normal_form(s: str) -> str:
    """The same text in the other Unicode normal form ("é" composed <-> "e" + combining accent)."""
    nfd = unicodedata.normalize("NFD", s)
    return nfd if nfd != s else unicodedata.normalize("NFC", s)


# Names that differ from an existing one only by what a directory service may fold away: case,
# width, surrounding white space, Unicode normalisation, or one look-alike letter. A product that
# folds them into one object is caught: the contract makes every name its own object.
LOOKALIKES = (str.upper, str.title, _fullwidth, lambda s: s + " ", lambda s: " " + s, _other_normal_form,
              lambda s: s.replace("u", "\u0443").replace("g", "\u0261"))  # Cyrillic u, Latin script g


class SequenceFailed(AssertionError):
    """A step departed from the document; carries what the test needs to minimise and report it."""

    def __init__(self, message: str, events=(), intended_bad=(), signature=None, ids=(), summary=""):
        super().__init__(message)
        self.events, self.intended_bad = list(events), list(intended_bad)
        self.signature, self.ids, self.summary = signature, list(ids), summary


class AdapterStopped(BaseException):
    """The implementation crashed, hung or broke the contract mid-sequence. A BaseException on
    purpose: Hypothesis lets it through at once instead of replaying and shrinking (a hung or
    broken adapter answers every replay differently, which ends as a FlakyFailure); run_machine
    turns it into one SequenceFailed with the events so far."""

    def __init__(self, error: Exception, events: list[dict]):
        super().__init__(str(error))
        self.error, self.events = error, list(events)


ADAPTER_FAILURES = (AdapterError, MalformedInventory)  # what ends a sequence as verdict error


def failing(result, strict: bool) -> list:
    """The step-failure decision: the findings that fail the run (empty: the step conformed).
    Document- and contract-tier findings always; reading-tier ones (deviations) only under
    --strict-readings. The invariants' violations are already merged into the findings, each
    citing only the statements of the certificate it concerns (steps/driver.py)."""
    return result.failures(strict)


def failure_ids(failures) -> list[str]:
    return list(dict.fromkeys(s for f in failures for s in f.statements))


def signature(failures) -> tuple:
    """What a shorter counterexample must reproduce: the statement ids and invariant names."""
    return tuple(sorted(failure_ids(failures))), tuple(sorted({n for f in failures for n in f.invariants}))


def failure_entries(result, failures, text: str) -> list[dict]:
    """The log entries of a failing step: its checks, and its failing findings with the counterexample."""
    messages = {f.message for f in failures}
    return [dict(e, counterexample=text) if e["type"] == "finding" else e for e in log_entries(result)
            if e["type"] != "finding" or e["message"] in messages]


def names_taken(world) -> set[str]:
    return set(world.users) | set(world.devices)


def failure_message(events: list[dict], ev: dict, failures: list, text: str) -> str:
    """The one message of a failing sequence: what departed (naming each finding's tier and ids),
    the invariants that saw it, and the counterexample."""
    tiers = {f.tier for f in failures}
    what = ("departed from the document" if "document" in tiers else
            "broke the adapter contract" if "contract" in tiers else "deviates from our readings")
    names = sorted({n for f in failures for n in f.invariants})
    return (("deviates (--strict): " if tiers == {"reading"} else "")
            + f"after {len(events)} events, {ev['type']} {what}:\n  " + "\n  ".join(str(f) for f in failures)
            + (f"\ninvariants violated: {', '.join(names)}" if names else "")
            + "\n\nCounterexample as Gherkin (paste into features/regressions/):\n\n" + text)


def log_for_report(log: list[dict], result, logged: Counter) -> None:
    """Conflict checks (which reading was followed) and deviations from our readings go to
    the report; deviations at most 3 per statement set, so a deviating run stays small."""
    for e in log_entries(result):
        if e["type"] == "check" and e["conflict"]:
            log.append(e)
        elif (e["type"] == "finding" and e.get("tier") == "reading") or \
                (e["type"] == "check" and e.get("verdict") == "deviates"):
            key = (e["type"], tuple(e["statements"]))
            if logged[key] < 3:
                logged[key] += 1
                log.append(e)


def judge_sequence(driver: Driver, events: list[dict], intended_bad: list[bool], log: list[dict],
                   tally: Tally, progress: Progress | None = None, logged: Counter | None = None) -> None:
    """Judge one recorded sequence on `driver` (a cell's replay, conformance/replay.py) as the
    state machine judges it live (ConformanceMachine.do): coverage, the report's log, and the
    first failing event as SequenceFailed with its counterexample (AdapterStopped for an adapter
    error)."""
    logged = logged if logged is not None else Counter()
    sent, flags = [], []
    for ev, bad in zip(events, intended_bad):
        if driver.unsupported(ev) is not None:
            continue
        sent.append(ev)
        flags.append(bad)
        try:
            result = driver.apply(ev)
        except ADAPTER_FAILURES as exc:
            raise AdapterStopped(exc, sent) from None
        if progress is not None:
            progress.event()
        for c in result.checks:
            tally.add(c)
        failures = failing(result, driver.strict)
        if failures:
            ids = failure_ids(failures)
            summary = f"{ev['type']} breaks {', '.join(ids) or 'the contract'}"
            text = gherkin(sent, ids, summary)
            log[:] = [e for e in log if e.get("type") == "run"] + failure_entries(result, failures, text)
            if progress is not None:
                progress.failure(len(sent))
            raise SequenceFailed(failure_message(sent, ev, failures, text), sent, flags, signature(failures), ids,
                                 summary)
        if result.outcome == "applied":
            log_for_report(log, result, logged)


# I-DEVICE-ACTION-ON-UNMANAGED: a device action on a device that is no longer enrolled may be a
# no-op, a refusal or bad input, but changes nothing; the oracle judges it.
UNENROLLED_ACTIONS = DEVICE_ACTIONS


def build_machine(adapter, log: list[dict], strict: bool = False, progress: Progress | None = None,
                  tally: Tally | None = None, driver_options: dict | None = None):
    """`driver_options`: further Driver settings (caps: the implementation's capabilities, which
    the rules consult so that only performable events are generated, within the device pool;
    poll_s, quiet_s: settle polling)."""
    tally = tally if tally is not None else TALLY
    driver_options = dict(driver_options or {})
    caps = driver_options.get("caps") or CAPS_ALL

    class ConformanceMachine(RuleBasedStateMachine):
        """Every set-up step is an ordinary rule (a group, a user, a root, a profile, an
        enrolment, a membership, an assignment), so shrinking can drop what a failure does not
        need; a few composite rules (`tenant`, `fresh_device_then`, ...) build a whole situation
        in one step so that every transition stays within reach of a short run."""

        def _failing(self, result) -> list:
            """Which findings of this step fail the run (one place; see `failing`)."""
            return failing(result, self.driver.strict)

        def __init__(self):
            super().__init__()
            if progress is not None:
                progress.sequence()  # Hypothesis makes one machine per example
            self.driver = Driver(adapter, strict=strict, **driver_options)
            self.deviations_logged: Counter = Counter()
            self.events: list[dict] = []
            try:
                self.driver.reset()
            except ADAPTER_FAILURES as exc:
                raise AdapterStopped(exc, []) from None
            self.intended_bad: list[bool] = []  # per event: bad input when it was generated
            self.deleted_users: list[str] = []
            self.counter = 0
            self.full = ""  # the group full_group() made
            self.tenants = 0
            self.sweeps = 0

        # ------------------------------------------------------------------ plumbing
        def fresh(self, prefix: str) -> str:
            self.counter += 1
            return f"{prefix}{self.counter}"

        def lookalike(self, data, existing, taken, fallback: str) -> str:
            """A name that differs from one of `existing` only by case, width, white space,
            normal form or a look-alike letter (LOOKALIKES), else a fresh one. Every third fresh
            name carries an accented letter, so that normal forms have something to differ in."""
            if existing:
                base = data.draw(st.sampled_from(sorted(existing)), label="look-alike of")
                name = data.draw(st.sampled_from(LOOKALIKES), label="look-alike")(base)
                if name not in taken and name != base:
                    return name
            name = self.fresh(fallback)
            while name in taken:
                name = self.fresh(fallback)
            return name + "\u00e9" if self.counter % 3 == 0 and name + "\u00e9" not in taken else name

        def can(self, event_type: str) -> bool:
            return caps.performs(event_type)

        def room(self, platform: str, more: int = 1) -> bool:
            """Whether `more` devices of `platform` can still be enrolled (capabilities 'devices')."""
            pool = caps.pool(platform)
            return pool is None or sum(1 for d in self.world.devices.values() if d.platform == platform) + more <= pool

        def do(self, ev: dict) -> None:
            if self.driver.unsupported(ev) is not None:
                return  # never sent: the rules avoid these; a composite rule just goes on without it
            self.events.append(ev)
            try:
                result = self.driver.apply(ev)
            except ADAPTER_FAILURES as exc:
                raise AdapterStopped(exc, self.events) from None
            self.intended_bad.append(self.driver.last_expect.preferred == "invalid")  # the oracle's own expectation
            if progress is not None:
                progress.event()
            for c in result.checks:
                event(f"transition {tally.add(c)}")
            failures = self._failing(result)
            if failures:
                ids = failure_ids(failures)
                summary = f"{ev['type']} breaks {', '.join(ids) or 'the contract'}"
                text = gherkin(self.events, ids, summary)
                # the final (shrunk) failure is the one reported; the run's seed entry stays
                log[:] = [e for e in log if e.get("type") == "run"] + failure_entries(result, failures, text)
                if progress is not None:
                    progress.failure(len(self.events))
                raise SequenceFailed(failure_message(self.events, ev, failures, text),
                                     self.events, self.intended_bad, signature(failures), ids, summary)
            if self.driver.results[-1].outcome == "applied":
                self.log_for_report(result)

        def log_for_report(self, result) -> None:
            log_for_report(log, result, self.deviations_logged)

        @property
        def world(self):
            return self.driver.world

        def installed(self) -> list[dict]:
            # The inventory the last event's judgement observed: nothing changed it since.
            inventory = self.driver.last_inventory
            try:
                return [r for r in (inventory if inventory is not None else self.driver.observe()) if r["installed"]]
            except ADAPTER_FAILURES as exc:
                raise AdapterStopped(exc, self.events) from None

        def pick(self, data, options, label):
            """Draw one of the currently valid names (keeps every generated event meaningful)."""
            options = sorted(options)
            assume(options)
            return data.draw(st.sampled_from(options), label=label)

        def enrolled(self) -> list[str]:
            return [d.name for d in self.world.devices.values() if d.enrolled]

        def unenrolled(self) -> list[str]:
            return [d.name for d in self.world.devices.values() if not d.enrolled]

        # Preconditions ask only whether something exists (they run for every rule at every step).
        def has_memberships(self) -> bool:
            return any(self.world.groups.values())

        def has_installed(self) -> bool:
            inventory = self.driver.last_inventory
            return any(r["installed"] for r in inventory) if isinstance(inventory, list) else bool(self.installed())

        def memberships(self) -> list[tuple[str, str]]:
            return [(g, m) for g, members in self.world.groups.items() for m in sorted(members)]

        def assignments(self) -> list[tuple[str, str]]:
            return [(p.name, g) for p in self.world.profiles.values() for g in sorted(p.groups)]

        def roots(self) -> list[str]:
            return [p.name for p in self.world.profiles.values() if p.kind == "trusted_root"]

        def new_user_name(self, style: str, data) -> str:
            """fresh: a new name; reuse: the name of a deleted user; lookalike: a name that differs
            from an existing user's only in case or white space or one look-alike letter."""
            taken = names_taken(self.world)
            if style == "reuse":
                free = [u for u in self.deleted_users if u not in taken]
                if free:
                    return data.draw(st.sampled_from(free), label="reused name")
            if style == "lookalike" and self.world.users:
                return self.lookalike(data, self.world.users, taken, "u")
            name = self.fresh("u")
            while name in taken:
                name = self.fresh("u")
            return name

        def make_profile(self, kind: str, ca: str, root: str | None = None, name: str | None = None) -> str:
            name = name or self.fresh(kind.replace("_", "-") + ("-3p" if kind in ("scep", "pkcs") and ca == "third_party" else "-"))
            ev = {"type": "create_profile", "profile": name, "kind": kind}
            if kind in ("scep", "pkcs"):
                if root is None:  # the newest root: the full group's profiles chain to its own root
                    root = self.roots()[-1] if self.roots() else self.make_profile("trusted_root", "intune")
                ev.update(root=root, ca=ca)
            self.do(ev)
            return name

        # ------------------------------------------------------------------ set-up, one event each
        @rule(data=st.data(), lookalike=st.booleans())
        def create_group(self, data, lookalike):
            taken = set(self.world.groups)
            name = self.lookalike(data, self.world.groups, taken, "g") if lookalike else self.fresh("g")
            self.do({"type": "create_group", "group": name})

        @rule(data=st.data(), style=st.sampled_from(["fresh", "reuse", "lookalike"]))
        def create_user(self, data, style):
            self.do({"type": "create_user", "user": self.new_user_name(style, data)})

        @rule()
        def create_root(self):
            self.make_profile("trusted_root", "intune")

        @precondition(lambda self: any(p.kind == "trusted_root" for p in self.world.profiles.values()))
        @rule(data=st.data(), kind=st.sampled_from(KINDS), ca=st.sampled_from(CAS), lookalike=st.booleans())
        def create_profile(self, data, kind, ca, lookalike):
            profiles = self.world.profiles
            name = self.lookalike(data, profiles, set(profiles), "p") if lookalike else None
            self.make_profile(kind, ca, self.pick(data, self.roots(), "root"), name)

        @precondition(lambda self: self.world.users and self.can("enroll"))
        @rule(data=st.data(), platform=st.sampled_from(ALL_PLATFORMS), lookalike=st.booleans())
        def enroll(self, data, platform, lookalike):
            if not self.room(platform):
                return  # the pool of this platform is full (capabilities 'devices')
            user = self.pick(data, self.world.users, "user")
            taken = names_taken(self.world)  # users and devices share one namespace
            device = self.lookalike(data, taken, taken, f"{platform}-") if lookalike else self.fresh(f"{platform}-")
            self.do({"type": "enroll", "device": device, "platform": platform, "user": user})

        @precondition(lambda self: self.world.groups and (self.world.users or self.world.devices))
        @rule(data=st.data())
        def add_member(self, data):
            group = self.pick(data, self.world.groups, "group")
            member = self.pick(data, names_taken(self.world), "member")
            self.do({"type": "add_member", "group": group, "member": member})

        @precondition(lambda self: self.world.groups and self.world.profiles)
        @rule(data=st.data())
        def assign(self, data):
            profile = self.pick(data, self.world.profiles, "profile")
            group = self.pick(data, self.world.groups, "group")
            self.do({"type": "assign_profile", "profile": profile, "group": group})

        # ------------------------------------------------------------------ set-up, composite
        @precondition(lambda self: self.tenants < 1)
        @rule(data=st.data(), counts=st.tuples(*(st.integers(0, 3) for _ in KINDS)),
              users=st.integers(1, 3), platforms=st.lists(st.sampled_from(ALL_PLATFORMS), min_size=1, max_size=3))
        def tenant(self, data, counts, users, platforms):
            """A varied tenant in one step (swarm): 1-2 groups, 0-3 profiles of each kind (CA drawn
            per profile), 1-3 users, 1-3 devices, memberships and assignments drawn, a check-in.
            Once per example: it is the costliest step."""
            self.tenants += 1
            groups = [self.fresh("g") for _ in range(data.draw(st.integers(1, 2), label="groups"))]
            for g in groups:
                self.do({"type": "create_group", "group": g})
            profiles = []
            for kind, n in zip(KINDS, counts):
                for _ in range(n):
                    profiles.append(self.make_profile(kind, data.draw(st.sampled_from(CAS), label="ca")))
            for p in profiles:
                for g in data.draw(st.lists(st.sampled_from(groups), min_size=1, unique=True), label="assigned to"):
                    self.do({"type": "assign_profile", "profile": p, "group": g})
            people = []
            for _ in range(users):
                people.append(self.new_user_name(data.draw(st.sampled_from(["fresh", "reuse", "lookalike"]),
                                                           label="user name"), data))
                self.do({"type": "create_user", "user": people[-1]})
            devices = []
            for platform in platforms:
                if not self.room(platform):
                    continue
                devices.append(self.fresh(f"{platform}-"))
                self.do({"type": "enroll", "device": devices[-1], "platform": platform,
                         "user": data.draw(st.sampled_from(people), label="owner")})
            for member in people + devices:
                for g in data.draw(st.lists(st.sampled_from(groups), unique=True), label="member of"):
                    self.do({"type": "add_member", "group": g, "member": member})
            for d in devices:
                self.do({"type": "check_in", "device": d})

        def full_group(self) -> str:
            """A group with one profile of every kind and CA assigned (made at the first need and
            again when it was deleted): what a fresh device joins to hold every kind of certificate."""
            if self.full not in self.world.groups:
                self.full = self.fresh("g")
                self.do({"type": "create_group", "group": self.full})
                for kind, ca in FULL_SET:
                    profile = self.make_profile(kind, ca or "intune")
                    self.do({"type": "assign_profile", "profile": profile, "group": self.full})
            return self.full

        @rule(data=st.data(), platform=st.sampled_from(ALL_PLATFORMS),
              event_type=st.sampled_from(DEVICE_ACTIONS + ("delete_user", "delete_group", "remove_member",
                                                           "unassign_profile", "lose_license", "withdraw_license",
                                                           "delete_certificate", "update_profile")),
              update=st.booleans(), sibling=st.one_of(st.none(), st.sampled_from(ALL_PLATFORMS)))
        def fresh_device_then(self, data, platform, event_type, update, sibling):
            """A new device of the chosen platform (and a new user), in every group, checked in,
            then one event that ends it, its targeting or one of its certificates: keeps every
            platform x event transition within reach of one step. `sibling`: the user enrols a
            second device (of that platform, checked in) first; `update`: a profile update and a
            check-in of the device follow. Within the capabilities: nothing when the event cannot be
            performed or the pool has no room."""
            if not self.can(event_type) or not self.room(platform, 2 if sibling == platform else 1) \
                    or (sibling is not None and not self.room(sibling)):
                return
            self.full_group()
            groups = sorted(self.world.groups)
            user = self.new_user_name("fresh", data)
            device = self.fresh(f"{platform}-")
            self.do({"type": "create_user", "user": user})
            self.do({"type": "enroll", "device": device, "platform": platform, "user": user})
            for group in groups:
                self.do({"type": "add_member", "group": group,
                         "member": data.draw(st.sampled_from([user, device]), label="member")})
            self.do({"type": "check_in", "device": device})
            if sibling is not None:
                second = self.fresh(f"{sibling}-")
                self.do({"type": "enroll", "device": second, "platform": sibling, "user": user})
                self.do({"type": "check_in", "device": second})
            mine = [(g, m) for g, m in self.memberships() if m in (user, device)]
            if event_type == "delete_user":
                self.do({"type": "delete_user", "user": user})
                self.deleted_users.append(user)
            elif event_type == "delete_group":
                self.do({"type": "delete_group", "group": self.pick(data, [g for g, _ in mine], "group")})
            elif event_type == "remove_member":
                group, member = self.pick(data, mine, "membership")
                self.do({"type": "remove_member", "group": group, "member": member})
            elif event_type == "unassign_profile":
                dev = self.world.devices[device]
                mine = [(p, g) for p, g in self.assignments() if self.world.reaches(g, dev)]
                profile, group = self.pick(data, mine, "assignment")
                self.do({"type": "unassign_profile", "profile": profile, "group": group})
            elif event_type in ("lose_license", "withdraw_license"):
                self.do({"type": event_type, "user": user})
            elif event_type in ("delete_certificate", "update_profile"):
                held = sorted({r["profile"] for r in self.installed() if r["device"] == device})
                profile = self.pick(data, held, "profile")
                self.do({"type": event_type, "device": device, "profile": profile} if event_type == "delete_certificate"
                        else {"type": event_type, "profile": profile})
            else:
                self.do({"type": event_type, "device": device})
            if update:
                self.do({"type": "update_profile", "profile": self.pick(data, self.world.profiles, "profile")})
                if self.world.devices[device].enrolled:
                    self.do({"type": "check_in", "device": device})

        @precondition(lambda self: self.sweeps < 1)
        @rule(data=st.data(), shape=st.integers(0, 2 ** 20))
        def every_platform_then(self, data, shape):
            """fresh_device_then for one new device per entry of SWEEP at once (once per example):
            every device event, in both targeting forms where the form matters, each on a
            platform taken in turn from `offset`; then one event on the shared group (or none).
            Six offsets times four group events cover every platform x event x targeting triple,
            so the ci run's coverage does not hang on rare draws. The coverage workhorse; delta
            debugging drops the devices a failure does not need. `shape` picks (offset, group
            event): one wide integer, because Hypothesis repeats small draws so often."""
            offset = shape % len(ALL_PLATFORMS)
            group_event = GROUP_EVENTS[shape // len(ALL_PLATFORMS) % len(GROUP_EVENTS)]
            self.sweeps += 1
            full = self.full_group()
            if group_event == "delete_group":  # a second group keeps some of the profiles targeting
                other = self.fresh("g")
                self.do({"type": "create_group", "group": other})
                for profile, _ in [(p, g) for p, g in self.assignments() if g == full]:
                    if data.draw(st.booleans(), label="also assigned elsewhere"):
                        self.do({"type": "assign_profile", "profile": profile, "group": other})
            groups = sorted(self.world.groups)
            owners = {}  # device -> (user, its event)
            for k, (event_type, via_user) in enumerate(SWEEP):
                platform = ALL_PLATFORMS[(offset + k) % len(ALL_PLATFORMS)]
                needs = {"nothing": ("check_in",), **{k: ("delete_user", v) for k, v in LATE.items()}}
                if not all(map(self.can, needs.get(event_type, (event_type,)))) or not self.room(platform):
                    continue  # within the capabilities: not performable, or no free device
                user, device = self.new_user_name("fresh", data), self.fresh(f"{platform}-")
                owners[device] = (user, event_type)
                self.do({"type": "create_user", "user": user})
                self.do({"type": "enroll", "device": device, "platform": platform, "user": user})
                for group in groups:
                    self.do({"type": "add_member", "group": group, "member": user if via_user else device})
                self.do({"type": "check_in", "device": device})
            for device, (user, event_type) in owners.items():
                if event_type in LATE:
                    self.do({"type": "delete_user", "user": user})
                    self.deleted_users.append(user)
                    self.do({"type": LATE[event_type], "device": device})
                elif event_type in DEVICE_ACTIONS:
                    self.do({"type": event_type, "device": device})
                elif event_type in ("lose_license", "withdraw_license", "delete_user"):
                    self.do({"type": event_type, "user": user})
                elif event_type == "remove_member":
                    mine = [(g, m) for g, m in self.memberships() if m in (user, device)]
                    group, member = self.pick(data, mine, "membership")
                    self.do({"type": "remove_member", "group": group, "member": member})
                elif event_type == "delete_certificate":
                    held = sorted({r["profile"] for r in self.installed() if r["device"] == device})
                    for profile in held:
                        self.do({"type": "delete_certificate", "device": device, "profile": profile})
                    self.do({"type": "check_in", "device": device})
            if group_event in ("unassign_profile", "update_profile"):
                for profile, group in [(p, g) for p, g in self.assignments() if g == full]:
                    self.do({"type": "update_profile", "profile": profile} if group_event == "update_profile"
                            else {"type": "unassign_profile", "profile": profile, "group": group})
            if group_event == "delete_group":
                self.do({"type": "delete_group", "group": full})

        # ------------------------------------------------------------------ bad input
        @rule(data=st.data())
        def bad_input(self, data):
            """An event the contract calls bad input: the implementation must raise ValueError and
            change nothing (the oracle checks both)."""
            devices = sorted(self.world.devices) or ["d"]
            device = data.draw(st.sampled_from(devices), label="device")
            user = sorted(self.world.users)[0] if self.world.users else "nobody"
            group = sorted(self.world.groups)[0] if self.world.groups else None
            profile = next(iter(self.world.profiles), None)
            not_root = next((p.name for p in self.world.profiles.values() if p.kind != "trusted_root"), "nothing")
            bad = data.draw(st.sampled_from([
                {"type": "no_such_event"},
                {"type": "check_in"},
                {"type": "check_in", "device": "never-enrolled"},
                {"type": "check_in", "device": 7},
                {"type": "wipe", "device": ""},
                {"type": "enroll", "device": "new-device", "platform": "plan9", "user": user},
                {"type": "enroll", "device": "new-device", "platform": "windows", "user": "never-created"},
                {"type": "create_user", "user": device},
                {"type": "create_group", "group": group} if group else {"type": "add_member"},
                {"type": "assign_profile", "profile": profile or "p", "group": "no-such-group"},
                {"type": "update_profile", "profile": "no-such-profile"},
                {"type": "create_profile", "profile": "x", "kind": "scep", "root": not_root, "ca": "intune"},
                {"type": "create_profile", "profile": "x", "kind": "pkcs", "root": (self.roots() or ["r"])[0],
                 "ca": "acme"},
                {"type": "delete_user", "user": "never-created"},
                {"type": "remove_member", "group": "no-such-group", "member": device},
            ]), label="bad event")
            self.do(bad)

        # ------------------------------------------------------------------ directory
        @precondition(lambda self: self.has_memberships())
        @rule(data=st.data())
        def remove_member(self, data):
            group, member = self.pick(data, self.memberships(), "membership")
            self.do({"type": "remove_member", "group": group, "member": member})

        @precondition(lambda self: self.world.users)
        @rule(data=st.data(), withdrawn=st.booleans())
        def licence(self, data, withdrawn):
            user = self.pick(data, self.world.users, "user")
            self.do({"type": "withdraw_license" if withdrawn else "lose_license", "user": user})

        @precondition(lambda self: self.world.users)
        @rule(data=st.data())
        def delete_user(self, data):
            user = self.pick(data, self.world.users, "user")
            self.do({"type": "delete_user", "user": user})
            self.deleted_users.append(user)

        @precondition(lambda self: self.world.groups)
        @rule(data=st.data())
        def delete_group(self, data):
            self.do({"type": "delete_group", "group": self.pick(data, self.world.groups, "group")})

        # ------------------------------------------------------------------ profiles
        @precondition(lambda self: any(p.groups for p in self.world.profiles.values()))
        @rule(data=st.data(), reassign=st.booleans())
        def unassign(self, data, reassign):
            """Remove an assignment; with `reassign`, a check-in of one device, the same
            assignment again (a profile assigned after an earlier unassign) and a check-in of a
            device it targets again, which must get a new certificate (not the one taken off)."""
            profile, group = self.pick(data, self.assignments(), "assignment")
            self.do({"type": "unassign_profile", "profile": profile, "group": group})
            if reassign:
                if self.enrolled():
                    self.do({"type": "check_in", "device": self.pick(data, self.enrolled(), "device")})
                self.do({"type": "assign_profile", "profile": profile, "group": group})
                p = self.world.profiles.get(profile)
                again = [d.name for d in self.world.devices.values() if p is not None and self.world.targets(p, d)]
                if again:
                    self.do({"type": "check_in", "device": self.pick(data, again, "device targeted again")})

        @precondition(lambda self: self.world.profiles)
        @rule(data=st.data(), then_check_in=st.booleans())
        def update(self, data, then_check_in):
            self.do({"type": "update_profile", "profile": self.pick(data, self.world.profiles, "profile")})
            if then_check_in and self.enrolled():
                self.do({"type": "check_in", "device": self.pick(data, self.enrolled(), "device")})

        # ------------------------------------------------------------------ devices
        @precondition(lambda self: any(d.enrolled for d in self.world.devices.values()))
        @rule(data=st.data())
        def check_in(self, data):
            self.do({"type": "check_in", "device": self.pick(data, self.enrolled(), "device")})

        @precondition(lambda self: self.has_installed())
        @rule(data=st.data(), then_check_in=st.booleans())
        def delete_by_hand(self, data, then_check_in):
            held = {(r["device"], r["profile"]) for r in self.installed()}
            device, profile = self.pick(data, held, "certificate")
            self.do({"type": "delete_certificate", "device": device, "profile": profile})
            if then_check_in:
                self.do({"type": "check_in", "device": device})

        @precondition(lambda self: any(d.enrolled for d in self.world.devices.values()))
        @rule(data=st.data(), action=st.sampled_from(DEVICE_ACTIONS), check_in_first=st.booleans())
        def device_action(self, data, action, check_in_first):
            device = self.pick(data, self.enrolled(), "device")
            if check_in_first:
                self.do({"type": "check_in", "device": device})
            self.do({"type": action, "device": device})

        @precondition(lambda self: not all(d.enrolled for d in self.world.devices.values()))
        @rule(data=st.data(), action=st.sampled_from(UNENROLLED_ACTIONS + ("check_in",)))
        def act_on_unenrolled(self, data, action):
            """unenroll / wipe / retire / check_in sent to a device that is no longer enrolled:
            whether it is applied, refused or bad input, it must change nothing (the oracle judges)."""
            self.do({"type": action, "device": self.pick(data, self.unenrolled(), "device")})

    return ConformanceMachine


def pytest_generate_tests(metafunc):
    """One item per shard of the exploration (conformance/shards.py), so `pytest -n` can spread it."""
    if "shard" in metafunc.fixturenames:
        metafunc.parametrize("shard", shards_for(settings(), metafunc.config.getoption("stateful_shards", None)), ids=str)


@pytest.mark.stateful
def test_random_event_sequences(sut, conformance_log, pytestconfig, request, capsys, shard, capabilities):
    """Random sequences of every contract event, on every platform, checked after every event."""
    if capabilities.dry_run:
        pytest.skip(NOT_SUPPORTED + DRY_RUN)
    current = settings()
    profile = settings.get_current_profile_name()
    seed_note, seed = fix_seed(pytestconfig, current)
    budget = shard.settings(current)
    progress = Progress("certconform stateful", budget.max_examples, terminal_writer(pytestconfig, capsys))
    where = f"{shard}: " if shard.count > 1 else ""
    progress.say(f"{where}up to {budget.max_examples} sequences of up to {budget.stateful_step_count} steps; {seed_note}")
    conformance_log.append({"type": "run", "seed": seed_note, "profile": profile})
    tally = Tally()
    outcome = "failed"
    from certconform.plugin import cell_run

    cells = cell_run(pytestconfig)
    try:
        if cells is not None:  # a product that takes time: the sequences ran as cells (conformance/cellrun.py)
            cells.judge_shard(request.node, shard, conformance_log, tally, progress,
                              minimizing=profile in MINIMIZE_PROFILES)
        else:
            run_machine(sut, conformance_log, budget, minimizing=profile in MINIMIZE_PROFILES,
                        strict=pytestconfig.getoption("strict_readings"),
                        seed=shard.seed if shard.seed is not None else seed, progress=progress, tally=tally,
                        driver_options={"caps": capabilities, "poll_s": pytestconfig.getoption("poll"),
                                        "quiet_s": pytestconfig.getoption("quiet_period"),
                                        "unattended": pytestconfig.getoption("unattended")})
        outcome = "done"
    except SequenceFailed as exc:
        raise SequenceFailed(f"{exc}\n[{seed_note}; {shard}]") from None
    finally:
        progress.finish(outcome)
        # shipped with the test report; the controller merges the shards into coverage.json
        request.node._certconform_coverage = dict(tally.as_dict(), profile=profile, shard=str(shard))


def run_machine(adapter, log: list[dict], current, minimizing: bool = True, strict: bool = False,
                seed=None, progress: Progress | None = None, tally: Tally | None = None,
                driver_options: dict | None = None) -> None:
    """Run the state machine under `current` settings (with Hypothesis's public `seed` decorator
    when `seed` is given); a failure raises SequenceFailed whose message holds the
    counterexample, delta-debugged first when `minimizing`. Checks are counted in `tally`
    (default: the module's COVERAGE/STATEMENTS)."""
    machine = build_machine(adapter, log, strict, progress, tally, driver_options)
    if seed is not None:
        machine = hypothesis_seed(seed)(machine)
    try:
        with fewer_gc_passes(), alarm_kept():
            run_state_machine_as_test(machine, settings=current)
    except AdapterStopped as stop:
        raise adapter_failure(stop, log) from None
    except SequenceFailed as exc:
        if minimizing and progress is not None:
            progress.say(f"delta debugging the counterexample of {len(exc.events)} events "
                         f"(at most {MINIMIZE_REPLAYS} replays)")
        shortest = shortest_counterexample(adapter, exc, strict, log, driver_options) if minimizing else None
        if shortest is None:
            raise
        message, events = shortest
        bad = dict(zip(map(id, exc.events), exc.intended_bad))
        raise SequenceFailed(message, events, [bad[id(e)] for e in events], exc.signature, exc.ids,
                             exc.summary) from None


def adapter_failure(stop: AdapterStopped, log: list[dict]) -> SequenceFailed:
    """One failure (tier contract, so verdict error) for an adapter that crashed, hung or broke the
    contract mid-sequence: its message and the events so far, as a replayable feature."""
    events = stop.events
    summary = f"the implementation failed after {len(events)} events" if events else "reset() failed"
    text = gherkin(events, [], summary) if events else "(no event was sent: reset() failed)\n"
    message = (f"{stop.error}\nThe sequence stopped there (an adapter error is not shrunk); "
               f"the {len(events)} events so far:\n\n{text}")
    log[:] = [e for e in log if e.get("type") == "run"] + [
        {"type": "finding", "statements": ["CONTRACT"], "message": str(stop.error), "tier": "contract",
         "counterexample": text}]
    return SequenceFailed(message, events, [False] * len(events), None, ["CONTRACT"], summary)


def shortest_counterexample(adapter, failure: SequenceFailed, strict: bool, log: list[dict],
                            driver_options: dict | None = None) -> tuple[str, list] | None:
    """Delta-debug the shrunk sequence (conformance/minimize.py) against a fresh adapter and
    report the shortest one that fails with the same statement ids and invariants; the
    conformance log's findings are replaced by those of that replay. Returns the message and the
    events; None when the failure does not replay (then the example as generated is reported)."""
    last: dict = {}
    judge = signature_judge(strict, last)
    events, minimal = minimize.minimize_report(adapter, failure.events, failure.intended_bad, judge,
                                               max_replays=MINIMIZE_REPLAYS, driver_options=driver_options)
    bad = dict(zip(map(id, failure.events), failure.intended_bad))
    replayed = minimize.replay(adapter, events, [bad[id(e)] for e in events], judge, driver_options)
    if replayed.signature != failure.signature:
        return None
    return shrunk_message(replayed.events, failure, last, log, minimal,
                          f"the budget of {MINIMIZE_REPLAYS} replays ran out"), replayed.events


def signature_judge(strict: bool, last: dict):
    """minimize's judge: the failure signature of a step (None: it conformed); the last failing
    step's event, result and failures go into `last`."""
    def judge(driver, ev, result, violations):
        failures = failing(result, strict)
        if not failures:
            return None
        last.update(ev=ev, result=result, failures=failures)
        return signature(failures)
    return judge


def shrunk_message(events: list, failure: SequenceFailed, last: dict, log: list[dict], minimal: bool,
                   why_not: str) -> str:
    """The message of a shrunk counterexample (`events`, whose failing step is in `last`); the
    log's findings become those of that replay."""
    ev, result, failures = last["ev"], last["result"], last["failures"]
    ids = failure_ids(failures)
    summary = f"{ev['type']} breaks {', '.join(ids) or 'the contract'}"
    text = gherkin(events, ids, summary)
    log[:] = [e for e in log if e.get("type") == "run"] + failure_entries(result, failures, text)
    return failure_message(events, ev, failures, text) + minimal_note(len(events), len(failure.events), minimal, why_not)


def minimal_note(kept: int, of: int, minimal: bool, why_not: str) -> str:
    """The line under a shrunk counterexample: how much was kept, and whether it is minimal."""
    return (f"\n(delta debugging kept {kept} of the failing example's {of} events; "
            + ("minimal: no single event can be dropped)" if minimal else f"NOT minimal: {why_not})"))


def fix_seed(config, current) -> tuple[str, int | None]:
    """Make the run reproducible and say how: derandomized profiles replay the same sequences
    (seed None); otherwise --hypothesis-seed, or a seed picked here, which run_machine applies
    with Hypothesis's `seed` decorator, so the printed seed replays the run."""
    profile = settings.get_current_profile_name()
    if current.derandomize:
        return f"derandomized (profile {profile}): every run replays the same sequences", None
    seed = config.getoption("hypothesis_seed", None)
    if seed is None:
        import random

        seed = random.getrandbits(32)
    try:
        seed = int(seed)
    except ValueError:
        pass  # Hypothesis accepts any hashable seed
    return f"seed {seed}: rerun with --hypothesis-seed={seed} --hypothesis-profile={profile}", seed
