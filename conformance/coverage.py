"""Coverage of the stateful exploration: which platform/kind/situation transitions the oracle
checked, how often, and which statements those checks cited; written to <report-dir>/coverage.json.

What this module knows: the transitions the document specifies (from model/rules.py), how to
count checks (a `Tally` per run of the state machine), and how to merge the tallies of several
runs: the stateful test is split into shards (conformance/shards.py), which may run in different
xdist workers; each shard ships its tally with its test report and the controller merges them
(certconform/plugin.py), so coverage.json says the same for a serial and a parallel run.
What it does not know: how the checks were produced.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from certconform.model.behaviour import ALL_PLATFORMS, default as behaviour
from certconform.model.rules import default_rules
from certconform.model.world import KINDS, SITUATION_KINDS


class Tally:
    """Checks counted by transition ("platform/kind/situation") and by cited statement."""

    def __init__(self, transitions: Counter | None = None, statements: Counter | None = None):
        self.transitions = transitions if transitions is not None else Counter()
        self.statements = statements if statements is not None else Counter()

    def add(self, check) -> str:
        """Count one oracle Check; returns its transition name."""
        name = f"{check.platform}/{check.kind}/{check.situation}"
        self.transitions[name] += 1
        for sid in check.statements:
            self.statements[sid] += 1
        return name

    def as_dict(self) -> dict:
        return {"transitions": dict(self.transitions), "statements": dict(self.statements)}


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
                if platform in b.by_id["MAC-WIPE-1"].platforms and situation in b.by_id["MAC-WIPE-1"].situations:
                    continue
                if kind not in SITUATION_KINDS.get(situation, KINDS):
                    continue  # no certificate of this kind is ever in that situation
                cas = ("intune", "third_party") if kind in ("scep", "pkcs") else (None,)
                reqs = [rules.requirement(platform, kind, situation, ca) for ca in cas]
                if any(not r.is_open and any(sid in b.by_id for sid in r.statements) for r in reqs):
                    out.append(f"{platform}/{kind}/{situation}")
    return out


def merge(parts: list[dict]) -> dict:
    """One coverage.json document from the shards' reports ({"profile", "shard", "transitions",
    "statements"} each)."""
    transitions, statements = Counter(), Counter()
    for part in parts:
        transitions.update(part.get("transitions", {}))
        statements.update(part.get("statements", {}))
    specified = specified_transitions()
    return {
        "profile": next((p["profile"] for p in parts if p.get("profile")), None),
        "shards": sorted(p["shard"] for p in parts if p.get("shard")),
        "transitions": dict(sorted(transitions.items())),
        "specified": specified,
        "missed": [t for t in specified if t not in transitions],
        "statements": dict(sorted(statements.items())),
    }


def write(report_dir: Path, parts: list[dict]) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "coverage.json"
    path.write_text(json.dumps(merge(parts), indent=2) + "\n")
    return path
