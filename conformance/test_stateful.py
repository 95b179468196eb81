"""Hypothesis stateful conformance: random event sequences through the adapter, judged per event.

Each example starts from a small tenant (users, one device per platform, a user group and a
device group, one profile of every kind and CA, some assignments, a first check-in), then runs
random contract events. After every event the per-event oracle (model/oracle.py) compares what
the implementation reports with what the document requires, certificate by certificate, and the
named invariants (model/invariants.py) take their own look. A failure prints the shrunk sequence
as a Gherkin feature (paste it into features/regressions/) plus the statement ids it violates.

Coverage of platform x kind x situation transitions is written to <report-dir>/coverage.json.
Settings come from the Hypothesis profile (`ci` by default, `--hypothesis-profile thorough`).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import assume, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, multiple, rule, run_state_machine_as_test

from conformance.counterexample import gherkin
from model.behaviour import ALL_PLATFORMS, default as behaviour
from model.rules import default_rules
from model.world import DEVICE_ACTIONS, KINDS, SITUATION_KINDS
from steps.driver import Driver, log_entries

PROFILES = [  # (name, kind, ca)
    ("root", "trusted_root", None),
    ("scep", "scep", "intune"),
    ("pkcs", "pkcs", "intune"),
    ("scep-3p", "scep", "third_party"),
    ("pkcs-3p", "pkcs", "third_party"),
    ("imported", "pkcs_imported", None),
]
COVERAGE: Counter = Counter()
STATEMENTS: Counter = Counter()


class SequenceFailed(AssertionError):
    pass


def build_machine(adapter, log: list[dict], strict: bool = False):
    class ConformanceMachine(RuleBasedStateMachine):
        users = Bundle("users")
        groups = Bundle("groups")
        devices = Bundle("devices")
        profiles = Bundle("profiles")

        def __init__(self):
            super().__init__()
            self.driver = Driver(adapter, strict=strict)
            self.driver.reset()
            self.events: list[dict] = []
            self.counter = 100  # above the tenant's own names, so fresh names never collide

        # ------------------------------------------------------------------ plumbing
        def fresh(self, prefix: str) -> str:
            self.counter += 1
            return f"{prefix}{self.counter}"

        def do(self, ev: dict) -> None:
            self.events.append(ev)
            result = self.driver.apply(ev)
            for c in result.checks:
                COVERAGE[f"{c.platform}/{c.kind}/{c.situation}"] += 1
                event(f"transition {c.platform}/{c.kind}/{c.situation}")
                for sid in c.statements:
                    STATEMENTS[sid] += 1
            failures = self.driver.failures(result)
            if failures:
                problems = [str(f) for f in failures]
                ids = [s for f in failures for s in f.statements]
                names = sorted({n for f in failures for n in f.invariants})
                summary = f"{ev['type']} breaks {', '.join(dict.fromkeys(ids)) or 'the contract'}"
                text = gherkin(self.events, ids, summary)
                entries = [dict(e, counterexample=text) if e["type"] == "finding" else e for e in log_entries(result)
                           if e["type"] != "finding" or any(f.message == e["message"] for f in failures)]
                # the final (shrunk) failure is the one reported; the run's seed entry stays
                log[:] = [e for e in log if e.get("type") == "run"] + entries
                tiers = {f.tier for f in failures}
                what = ("departed from the document" if "document" in tiers else
                        "broke the adapter contract" if "contract" in tiers else "deviates from our readings")
                raise SequenceFailed(
                    ("deviates (--strict): " if tiers == {"reading"} else "")
                    + f"after {len(self.events)} events, {ev['type']} {what}:\n  "
                    + "\n  ".join(problems)
                    + (f"\ninvariants violated: {', '.join(names)}" if names else "")
                    + "\n\nCounterexample as Gherkin (paste into features/regressions/):\n\n" + text)
            if self.driver.results[-1].outcome == "applied":
                # conflicts (which reading was followed) and deviations from our readings are reported
                log.extend(e for e in log_entries(result)
                           if (e["type"] == "check" and (e["conflict"] or e["verdict"] == "deviates"))
                           or (e["type"] == "finding" and e.get("tier") == "reading"))

        @property
        def world(self):
            return self.driver.world

        def installed(self) -> list[dict]:
            return [r for r in self.driver.observe() if r["installed"]]

        # ------------------------------------------------------------------ a small tenant
        # One initialize rule performs every setup event (Hypothesis runs initialize rules in a
        # random order); the others only put the tenant's names into their bundles.
        @initialize(target=profiles,
                    assign=st.lists(st.sampled_from(["staff", "fleet", "both"]), min_size=len(PROFILES),
                                    max_size=len(PROFILES)),
                    owners=st.lists(st.integers(0, 1), min_size=len(ALL_PLATFORMS), max_size=len(ALL_PLATFORMS)))
        def tenant(self, assign, owners):
            self.do({"type": "create_group", "group": "staff"})
            self.do({"type": "create_group", "group": "fleet"})
            for (name, kind, ca), where in zip(PROFILES, assign):
                ev = {"type": "create_profile", "profile": name, "kind": kind}
                if ca:
                    ev.update(root="root", ca=ca)
                self.do(ev)
                for g in (["staff", "fleet"] if where == "both" else [where]):
                    self.do({"type": "assign_profile", "profile": name, "group": g})
            for u in ("u1", "u2"):
                self.do({"type": "create_user", "user": u})
                self.do({"type": "add_member", "group": "staff", "member": u})
            for platform, owner in zip(ALL_PLATFORMS, owners):
                name = f"{platform}-1"
                self.do({"type": "enroll", "device": name, "platform": platform, "user": f"u{owner + 1}"})
                self.do({"type": "add_member", "group": "fleet", "member": name})
                self.do({"type": "check_in", "device": name})
            return multiple(*(p[0] for p in PROFILES))

        @initialize(target=devices)
        def tenant_fleet(self):
            return multiple(*(f"{platform}-1" for platform in ALL_PLATFORMS))

        @initialize(target=users)
        def tenant_users(self):
            return multiple("u1", "u2")

        @initialize(target=groups)
        def tenant_groups(self):
            return multiple("staff", "fleet")

        # ------------------------------------------------------------------ bad input
        @rule(data=st.data())
        def bad_input(self, data):
            """An event the contract calls bad input: the implementation must raise ValueError and
            change nothing (the oracle checks both)."""
            device = self.pick(data, self.world.devices, "device")
            user = sorted(self.world.users)[0] if self.world.users else "nobody"
            bad = data.draw(st.sampled_from([
                {"type": "no_such_event"},
                {"type": "check_in"},
                {"type": "check_in", "device": "never-enrolled"},
                {"type": "check_in", "device": 7},
                {"type": "wipe", "device": ""},
                {"type": "enroll", "device": "new-device", "platform": "plan9", "user": user},
                {"type": "enroll", "device": "new-device", "platform": "windows", "user": "never-created"},
                {"type": "create_user", "user": device},
                {"type": "create_group", "group": "staff"} if "staff" in self.world.groups else {"type": "add_member"},
                {"type": "assign_profile", "profile": "root", "group": "no-such-group"},
                {"type": "update_profile", "profile": "no-such-profile"},
                {"type": "create_profile", "profile": "x", "kind": "scep", "root": "scep", "ca": "intune"},
                {"type": "create_profile", "profile": "x", "kind": "pkcs", "root": "root", "ca": "acme"},
                {"type": "delete_user", "user": "never-created"},
                {"type": "remove_member", "group": "no-such-group", "member": device},
            ]), label="bad event")
            self.do(bad)

        # ------------------------------------------------------------------ directory
        @rule(target=users)
        def create_user(self):
            name = self.fresh("u")
            self.do({"type": "create_user", "user": name})
            return name

        @rule(target=groups)
        def create_group(self):
            name = self.fresh("g")
            self.do({"type": "create_group", "group": name})
            return name

        def pick(self, data, options, label):
            """Draw one of the currently valid names (keeps every generated event meaningful)."""
            options = sorted(options)
            assume(options)
            return data.draw(st.sampled_from(options), label=label)

        @rule(data=st.data())
        def add_member(self, data):
            group = self.pick(data, self.world.groups, "group")
            member = self.pick(data, list(self.world.users) + list(self.world.devices), "member")
            self.do({"type": "add_member", "group": group, "member": member})

        @rule(data=st.data())
        def remove_member(self, data):
            pairs = [(g, m) for g, members in self.world.groups.items() for m in members]
            group, member = self.pick(data, pairs, "membership")
            self.do({"type": "remove_member", "group": group, "member": member})

        @rule(target=devices, user=users, platform=st.sampled_from(ALL_PLATFORMS))
        def enroll(self, user, platform):
            assume(user in self.world.users)
            name = self.fresh(f"{platform}-")
            self.do({"type": "enroll", "device": name, "platform": platform, "user": user})
            self.do({"type": "check_in", "device": name})
            return name

        @rule(data=st.data(), withdrawn=st.booleans())
        def licence(self, data, withdrawn):
            user = self.pick(data, self.world.users, "user")
            self.do({"type": "withdraw_license" if withdrawn else "lose_license", "user": user})

        @rule(data=st.data())
        def delete_user(self, data):
            self.do({"type": "delete_user", "user": self.pick(data, self.world.users, "user")})

        @rule(data=st.data())
        def delete_group(self, data):
            self.do({"type": "delete_group", "group": self.pick(data, self.world.groups, "group")})

        # ------------------------------------------------------------------ profiles
        @rule(profile=profiles, data=st.data())
        def assign(self, profile, data):
            group = self.pick(data, self.world.groups, "group")
            self.do({"type": "assign_profile", "profile": profile, "group": group})

        @rule(data=st.data())
        def unassign(self, data):
            pairs = [(p.name, g) for p in self.world.profiles.values() for g in p.groups]
            profile, group = self.pick(data, pairs, "assignment")
            self.do({"type": "unassign_profile", "profile": profile, "group": group})

        @rule(profile=profiles)
        def update(self, profile):
            self.do({"type": "update_profile", "profile": profile})

        # ------------------------------------------------------------------ devices
        @rule(data=st.data())
        def check_in(self, data):
            self.do({"type": "check_in", "device": self.pick(data, self.world.devices, "device")})

        @rule(data=st.data())
        def check_in_enrolled(self, data):
            enrolled = [d.name for d in self.world.devices.values() if d.enrolled]
            self.do({"type": "check_in", "device": self.pick(data, enrolled, "device")})

        @rule(data=st.data())
        def delete_by_hand(self, data):
            held = {(r["device"], r["profile"]) for r in self.installed()}
            device, profile = self.pick(data, held, "certificate")
            self.do({"type": "delete_certificate", "device": device, "profile": profile})

        @rule(data=st.data())
        def delete_by_hand_then_check_in(self, data):
            held = {(r["device"], r["profile"]) for r in self.installed()}
            device, profile = self.pick(data, held, "certificate")
            self.do({"type": "delete_certificate", "device": device, "profile": profile})
            self.do({"type": "check_in", "device": device})

        @rule(data=st.data(), action=st.sampled_from(DEVICE_ACTIONS))
        def device_action(self, data, action):
            enrolled = [d.name for d in self.world.devices.values() if d.enrolled]
            self.do({"type": action, "device": self.pick(data, enrolled, "device")})

        @rule(target=devices, data=st.data(), platform=st.sampled_from(ALL_PLATFORMS),
              event_type=st.sampled_from(DEVICE_ACTIONS + ("delete_user", "delete_group", "remove_member")),
              update=st.one_of(st.none(), profiles))
        def fresh_device_then(self, data, platform, event_type, update):
            """A new device of the chosen platform, in every group, checked in, then one event that
            ends it or its targeting: keeps every platform x event transition within reach."""
            user = self.fresh("u")
            device = self.fresh(f"{platform}-")
            self.do({"type": "create_user", "user": user})
            self.do({"type": "enroll", "device": device, "platform": platform, "user": user})
            for group in sorted(self.world.groups):
                self.do({"type": "add_member", "group": group, "member": data.draw(st.sampled_from([user, device]),
                                                                                     label="member")})
            self.do({"type": "check_in", "device": device})
            if event_type == "delete_user":
                self.do({"type": "delete_user", "user": user})
            elif event_type == "delete_group":
                self.do({"type": "delete_group", "group": self.pick(data, self.world.groups, "group")})
            elif event_type == "remove_member":
                pairs = [(g, m) for g, members in self.world.groups.items() for m in members if m in (user, device)]
                group, member = self.pick(data, pairs, "membership")
                self.do({"type": "remove_member", "group": group, "member": member})
            else:
                self.do({"type": event_type, "device": device})
            if update is not None:
                self.do({"type": "update_profile", "profile": update})
            return device

        @rule(data=st.data(), action=st.sampled_from(DEVICE_ACTIONS))
        def device_action_after_check_in(self, data, action):
            enrolled = [d.name for d in self.world.devices.values() if d.enrolled]
            device = self.pick(data, enrolled, "device")
            self.do({"type": "check_in", "device": device})
            self.do({"type": action, "device": device})

    return ConformanceMachine


@pytest.mark.stateful
def test_random_event_sequences(sut, conformance_log, pytestconfig):
    """Random sequences of every contract event, on every platform, checked after every event."""
    current = settings()
    seed_note = fix_seed(pytestconfig, current)
    print(f"certconform stateful: {seed_note}")
    conformance_log.append({"type": "run", "seed": seed_note, "profile": settings._current_profile})
    machine = build_machine(sut, conformance_log, strict=pytestconfig.getoption("strict_readings"))
    try:
        run_state_machine_as_test(machine, settings=current)
    except SequenceFailed as exc:
        raise SequenceFailed(f"{exc}\n[{seed_note}]") from None
    finally:
        write_coverage(pytestconfig)


def fix_seed(config, current) -> str:
    """Make the run reproducible and say how: derandomized profiles replay the same sequences;
    otherwise use --hypothesis-seed or pick a seed and force it, so the printed seed replays it."""
    if current.derandomize:
        return f"derandomized (profile {settings._current_profile}): every run replays the same sequences"
    from hypothesis import core

    seed = config.getoption("hypothesis_seed", None)
    if seed is None:
        import random

        seed = random.getrandbits(32)
        core.global_force_seed = seed
    return f"seed {seed}: rerun with --hypothesis-seed={seed} --hypothesis-profile={settings._current_profile}"


def specified_transitions() -> list[str]:
    """platform/kind/situation combinations where a statement of the document requires something.
    Left out: Android for Work (not validated), macOS wipe (refused, MAC-WIPE-1), and combinations
    where only the contract speaks (e.g. roots are never revoked)."""
    rules, b = default_rules(), behaviour()
    out = []
    for platform in ALL_PLATFORMS:
        if b.by_id["ANDROID-WORK-1"].platforms == (platform,):
            continue
        for kind in KINDS:
            for situation in b.situations:
                if platform in b.by_id["MAC-WIPE-1"].platforms and situation == "wipe":
                    continue
                if kind not in SITUATION_KINDS.get(situation, KINDS):
                    continue  # no certificate of this kind is ever in that situation
                cas = ("intune", "third_party") if kind in ("scep", "pkcs") else (None,)
                reqs = [rules.requirement(platform, kind, situation, ca) for ca in cas]
                if any(not r.is_open and any(sid in b.by_id for sid in r.statements) for r in reqs):
                    out.append(f"{platform}/{kind}/{situation}")
    return out


def write_coverage(config) -> None:
    specified = specified_transitions()
    data = {
        "profile": settings._current_profile,
        "transitions": dict(sorted(COVERAGE.items())),
        "specified": specified,
        "missed": [t for t in specified if t not in COVERAGE],
        "statements": dict(sorted(STATEMENTS.items())),
    }
    out = Path(config.getoption("report_dir"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "coverage.json").write_text(json.dumps(data, indent=2) + "\n")
