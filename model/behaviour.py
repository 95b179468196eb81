"""Load and validate model/behaviour.yaml, the document's behaviour as data.

What this module knows: the file's schema (model/behaviour.schema.json) and the cross-references
between its tables (outcomes, events, statement ids in conflicts and interpretations).
What it does not know: what the rules mean for a certificate; model/rules.py executes them.

A bad entry raises BehaviourError with one line naming the entry's id and the field.
"""
from __future__ import annotations

import json
from importlib import resources
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

# Package data, wherever certconform is installed (a wheel ships both files beside this module).
MODEL_DATA = resources.files(__package__)
BEHAVIOUR_FILE = MODEL_DATA / "behaviour.yaml"
SCHEMA_FILE = MODEL_DATA / "behaviour.schema.json"

VALIDATED_PLATFORMS = ("windows", "ios", "android_knox", "macos")
ALL_PLATFORMS = VALIDATED_PLATFORMS + ("android_work", "android_legacy")


class BehaviourError(ValueError):
    """behaviour.yaml is malformed; the message names the entry and the field."""


@dataclass(frozen=True)
class Source:
    section: str
    list: str
    line: int
    sha256_8: str


@dataclass(frozen=True)
class Statement:
    id: str
    role: str
    status: str
    platforms: tuple[str, ...]
    kinds: tuple[str, ...]
    event: str
    outcome: str
    says: str
    source: Source
    situations: tuple[str, ...]  # resolved from the events table

    def as_json(self) -> dict:
        """The statement as the reports write it (traceability.json, results.json)."""
        return {
            "id": self.id, "says": self.says, "role": self.role, "status": self.status,
            "platforms": list(self.platforms), "kinds": list(self.kinds), "event": self.event,
            "outcome": self.outcome,
            "source": {"section": self.source.section, "list": self.source.list, "line": self.source.line,
                       "sha256_8": self.source.sha256_8},
        }


@dataclass(frozen=True)
class Conflict:
    id: str
    statements: tuple[str, ...]
    platforms: tuple[str, ...]
    kinds: tuple[str, ...]
    situations: tuple[str, ...]
    says: str
    policy: str


@dataclass(frozen=True)
class Interpretation:
    """One of our readings. tier "document": it only says how the text is read (or leaves an
    outcome open) and demands nothing beyond it; tier "reading": it demands more than the text,
    so a departure is reported `deviates` and fails only under --strict."""

    id: str
    tier: str  # document | reading
    says: str
    reason: str
    statements: tuple[str, ...]
    applies: dict | None


@dataclass
class Behaviour:
    document: dict
    platforms: dict[str, str]
    situations: dict[str, str]
    events: dict[str, dict]
    outcomes: dict[str, dict]
    statements: list[Statement]
    conflicts: list[Conflict]
    interpretations: list[Interpretation]
    by_id: dict[str, Statement] = field(default_factory=dict)

    def interpretation(self, iid: str) -> Interpretation | None:
        return next((i for i in self.interpretations if i.id == iid), None)

    def conflict_of(self, sid: str) -> Conflict | None:
        return next((c for c in self.conflicts if sid in c.statements), None)

    def status(self, sid: str) -> str:
        """Traceability status: conflict, not-validated, not-enabled, untestable or tested."""
        if self.conflict_of(sid):
            return "conflict"
        return self.by_id[sid].status


def _where(error: jsonschema.ValidationError, raw: dict) -> str:
    path = list(error.absolute_path)
    where = "behaviour.yaml"
    if len(path) >= 2 and path[0] in ("statements", "conflicts", "interpretations") and isinstance(path[1], int):
        entry = raw[path[0]][path[1]]
        ident = entry.get("id", f"#{path[1] + 1}") if isinstance(entry, dict) else f"#{path[1] + 1}"
        rest = ".".join(str(p) for p in path[2:])
        where += f": {path[0][:-1]} {ident}" + (f": field '{rest}'" if rest else "")
    elif path:
        where += ": field '" + ".".join(str(p) for p in path) + "'"
    return where


def load(path: str | Path | None = None) -> Behaviour:
    """Read, schema-check and cross-check the behaviour table. Raises BehaviourError."""
    p = Path(path) if path else BEHAVIOUR_FILE
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BehaviourError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark else str(p)
        raise BehaviourError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        raise BehaviourError(f"{_where(e, raw)}: {e.message}")
    return _build(raw)


def _build(raw: dict) -> Behaviour:
    situations = raw["situations"]
    for name, ev in raw["events"].items():
        for s in ev["situations"]:
            if s not in situations:
                raise BehaviourError(f"behaviour.yaml: event {name}: field 'situations': unknown situation {s!r}")
    statements: list[Statement] = []
    by_id: dict[str, Statement] = {}
    for entry in raw["statements"]:
        sid = entry["id"]
        if sid in by_id:
            raise BehaviourError(f"behaviour.yaml: statement {sid}: field 'id': duplicate id")
        if entry["event"] not in raw["events"]:
            raise BehaviourError(f"behaviour.yaml: statement {sid}: field 'event': unknown event {entry['event']!r}")
        if entry["outcome"] not in raw["outcomes"]:
            raise BehaviourError(f"behaviour.yaml: statement {sid}: field 'outcome': unknown outcome {entry['outcome']!r}")
        st = Statement(
            id=sid,
            role=entry.get("role", "platform"),
            status=entry.get("status", "tested"),
            platforms=tuple(entry["platforms"]),
            kinds=tuple(entry["kinds"]),
            event=entry["event"],
            outcome=entry["outcome"],
            says=entry["says"],
            source=Source(**entry["source"]),
            situations=tuple(raw["events"][entry["event"]]["situations"]),
        )
        statements.append(st)
        by_id[sid] = st
    conflicts = []
    for c in raw["conflicts"]:
        for sid in c["statements"]:
            if sid not in by_id:
                raise BehaviourError(f"behaviour.yaml: conflict {c['id']}: field 'statements': unknown statement {sid}")
        conflicts.append(Conflict(**{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()}))
    interpretations = []
    for i in raw["interpretations"]:
        for sid in i.get("statements", []):
            if sid not in by_id:
                raise BehaviourError(f"behaviour.yaml: interpretation {i['id']}: field 'statements': unknown statement {sid}")
        applies = i.get("applies")
        if applies and "outcome" in applies and applies["outcome"] not in raw["outcomes"]:
            raise BehaviourError(f"behaviour.yaml: interpretation {i['id']}: field 'applies.outcome': unknown outcome")
        if applies and applies.get("same_as", situations and next(iter(situations))) not in situations:
            raise BehaviourError(f"behaviour.yaml: interpretation {i['id']}: field 'applies.same_as': unknown situation")
        for s in (applies or {}).get("situations", []):
            if s not in situations:
                raise BehaviourError(f"behaviour.yaml: interpretation {i['id']}: field 'applies.situations': "
                                     f"unknown situation {s!r}")
        if applies and i["tier"] != "reading":
            raise BehaviourError(f"behaviour.yaml: interpretation {i['id']}: field 'applies': only a tier 'reading' "
                                 "interpretation can add a requirement")
        interpretations.append(Interpretation(i["id"], i["tier"], i["says"], i["reason"],
                                              tuple(i.get("statements", [])), applies))
    return Behaviour(
        document=raw["document"],
        platforms=raw["platforms"],
        situations=situations,
        events=raw["events"],
        outcomes=raw["outcomes"],
        statements=statements,
        conflicts=conflicts,
        interpretations=interpretations,
        by_id=by_id,
    )


@lru_cache(maxsize=1)
def default() -> Behaviour:
    """The project's behaviour table, loaded once."""
    return load()
