"""Load and validate model/behaviour.yaml, the document's behaviour as data.

What this module knows: the file's schema (model/behaviour.schema.json) and the cross-references
between its tables (outcomes, events, statement ids in conflicts and interpretations).
What it does not know: what the rules mean for a certificate; model/rules.py executes them.

Editions. behaviour.yaml is the baseline: the 01/13/2022 edition the suite was built on. A later
edition is a small overlay in model/editions/*.yaml (see model/editions/README.md): the statements
it adds, removes and changes (a changed one gets a new id and `replaces:` the old one), new events
and interpretations, and `recite:`, where every carried-over statement is cited in the new
edition's own file (line + sha256_8). `load(edition="2024")` applies the overlay to the baseline
and checks the result against the same schema. `default()` returns the edition in force:
`use_edition(id)` (the plugin's --edition), else env CERTCONFORM_EDITION, else the baseline.

A bad entry raises BehaviourError with one line naming the entry's id and the field.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
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
EDITIONS_DIR = MODEL_DATA / "editions"
OVERLAY_SCHEMA_FILE = EDITIONS_DIR / "overlay.schema.json"
BASELINE_EDITION = "2022"
EDITION_ENV = "CERTCONFORM_EDITION"

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
    replaces: str | None = None  # the id of the statement of an earlier edition this one changes
    chain: str | None = None  # a section's root statement: the kind (scep | pkcs) whose profiles' roots it speaks about
    jointly: dict | None = None  # {situations: [...], outcome}: what holds once all of its (each alone open) situations happened

    def covers_chain(self, chain) -> bool:
        """Does this statement speak about a trusted root chained to profiles of the kinds in
        `chain` (a root list is about the roots of its own section's certificates)? Statements
        that are not a section's root statement cover every root."""
        return self.chain is None or self.chain in chain

    def as_json(self) -> dict:
        """The statement as the reports write it (traceability.json, results.json)."""
        return {**({"replaces": self.replaces} if self.replaces else {}),
            "id": self.id, "says": self.says, "role": self.role, "status": self.status,
            "platforms": list(self.platforms), "kinds": list(self.kinds), "event": self.event,
            "outcome": self.outcome, **({"chain": self.chain} if self.chain else {}),
            **({"jointly": dict(self.jointly)} if self.jointly else {}),
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


@dataclass(eq=False)  # hashed by identity: rules are cached per loaded table
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
    edition: str = BASELINE_EDITION  # the edition id ("2022", "2024"); document["edition"] is its date

    def interpretation(self, iid: str) -> Interpretation | None:
        return next((i for i in self.interpretations if i.id == iid), None)

    def conflict_of(self, sid: str) -> Conflict | None:
        """The first conflict naming `sid` (conflicts_of gives them all)."""
        return next((c for c in self.conflicts if sid in c.statements), None)

    def conflicts_of(self, sid: str) -> list[Conflict]:
        return [c for c in self.conflicts if sid in c.statements]

    def wholly_in_conflict(self, sid: str) -> bool:
        """Every platform x kind x situation the statement speaks about lies inside one of its
        conflicts: the statement itself is what the document contradicts (KNOX-SCEP-RV-4). A
        statement only partly inside (WIN-PKCS-RM-1, contradicted for deletions that end the
        targeting) keeps its own status; its conflicts are reported beside it."""
        st, conflicts = self.by_id[sid], self.conflicts_of(sid)
        return bool(conflicts) and all(
            any(p in c.platforms and k in c.kinds and sit in c.situations for c in conflicts)
            for p in st.platforms for k in st.kinds for sit in st.situations)

    def status(self, sid: str) -> str:
        """Traceability status: conflict (wholly inside a conflict), not-validated, not-enabled,
        untestable, informative (the statement requires nothing by itself, e.g. "can be removed")
        or tested."""
        if self.wholly_in_conflict(sid):
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


# libyaml's safe loader when PyYAML was built with it (ten times faster: every run starts by
# reading the table), else the pure-Python one; both build the same plain data.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(p) -> dict:
    try:
        return yaml.load(p.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except OSError as exc:
        raise BehaviourError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark else str(p)
        raise BehaviourError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None


def load(path: str | Path | None = None, edition: str | None = None) -> Behaviour:
    """Read, schema-check and cross-check the behaviour table (the baseline at `path`, default
    behaviour.yaml), with the overlay of `edition` applied when it is not the baseline.
    Raises BehaviourError."""
    p = Path(path) if path else BEHAVIOUR_FILE
    raw = _read_yaml(p)
    edition = edition or BASELINE_EDITION
    if edition != BASELINE_EDITION:
        raw = apply_overlay(raw, edition)
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        raise BehaviourError(f"{_where(e, raw)}: {e.message}")
    b = _build(raw)
    b.edition = edition
    return b


# ----------------------------------------------------------------------------- editions
@lru_cache(maxsize=1)
def editions() -> dict[str, str]:
    """Edition id -> its overlay file name ("" for the baseline), in date order."""
    out = {BASELINE_EDITION: ""}
    if EDITIONS_DIR.is_dir():
        for f in sorted(EDITIONS_DIR.iterdir(), key=lambda f: f.name):
            if f.name.endswith(".yaml"):
                data = _read_yaml(f)
                if isinstance(data, dict) and isinstance(data.get("edition"), str):
                    out[data["edition"]] = f.name
    return out


def overlay(edition: str) -> dict:
    """The overlay of `edition`, schema-checked (not yet applied). Raises BehaviourError."""
    known = editions()
    if edition not in known or not known[edition]:
        raise BehaviourError(f"unknown edition {edition!r} (one of {', '.join(known)})")
    name = known[edition]
    data = _read_yaml(EDITIONS_DIR / name)
    schema = json.loads(OVERLAY_SCHEMA_FILE.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(str(x) for x in e.absolute_path)
        raise BehaviourError(f"editions/{name}: field '{where}': {e.message}")
    return data


def apply_overlay(base: dict, edition: str) -> dict:
    """The baseline table `base` (raw YAML) as edition `edition` says it: a new raw table."""
    ov = overlay(edition)
    where = f"editions/{editions()[edition]}"
    if ov["base"] != BASELINE_EDITION:
        base = apply_overlay(base, ov["base"])
    raw = dict(base)
    raw["document"] = {"title": ov["title"], "edition": ov["date"], "default_path": ov["default_path"]}
    for key in ("situations", "events", "outcomes"):
        raw[key] = {**base[key], **ov.get(key, {})}
    for entry in ov.get("added", []) + ov.get("changed", []):
        if entry.get("review", "done") != "done":
            raise BehaviourError(f"{where}: statement {entry.get('id')}: field 'review': still "
                                 f"{entry['review']!r}; a person must review it and set it to 'done'")
    statements = [dict(s) for s in base["statements"]]
    ids = [s["id"] for s in statements]
    removed = set(ov.get("removed", []))
    for sid in removed | {c["replaces"] for c in ov.get("changed", [])}:
        if sid not in ids:
            raise BehaviourError(f"{where}: removes or replaces {sid}, which the base edition does not have")
    out: list[dict] = []
    changed = {c["replaces"]: c for c in ov.get("changed", [])}
    recite = ov.get("recite", {})
    for s in statements:
        sid = s["id"]
        if sid in removed:
            continue
        if sid in changed:
            out.append(_statement_of(changed[sid]))
            continue
        if sid not in recite:
            raise BehaviourError(f"{where}: statement {sid}: not cited in this edition (add it under 'recite', "
                                 "or list it under 'removed' or 'changed')")
        s["source"] = {**s["source"], **recite[sid]}
        out.append(s)
    extra = set(recite) - {s["id"] for s in out}
    if extra:
        raise BehaviourError(f"{where}: 'recite' names {', '.join(sorted(extra))}, which this edition does not carry over")
    for a in ov.get("added", []):  # after the last statement of the same section and list, else at the end
        st = _statement_of(a)
        at = max((i for i, s in enumerate(out) if (s["source"]["section"], s["source"]["list"])
                  == (st["source"]["section"], st["source"]["list"])), default=len(out) - 1)
        out.insert(at + 1, st)
    raw["statements"] = out
    gone = removed | set(changed)
    for c in base["conflicts"]:
        if gone & set(c["statements"]):
            raise BehaviourError(f"{where}: conflict {c['id']} names {', '.join(sorted(gone & set(c['statements'])))}, "
                                 "which this edition removes or changes; restate the conflict under 'conflicts'")
    raw["conflicts"] = [c for c in base["conflicts"] if c["id"] not in {x["id"] for x in ov.get("conflicts", [])}] \
        + ov.get("conflicts", [])
    interps = []
    for i in base["interpretations"]:
        i = dict(i)
        i["statements"] = [sid if sid not in changed else changed[sid]["id"] for sid in i.get("statements", [])
                           if sid not in removed]
        if not i["statements"]:
            i.pop("statements")
        interps.append(i)
    raw["interpretations"] = interps + ov.get("interpretations", [])
    return raw


def _statement_of(entry: dict) -> dict:
    """An overlay's statement entry as a table row (drops the overlay-only field `review`)."""
    return {k: v for k, v in entry.items() if k != "review"}


def current_edition() -> str:
    """The edition in force: use_edition(), else env CERTCONFORM_EDITION, else the baseline."""
    return _IN_FORCE[0] or os.environ.get(EDITION_ENV) or BASELINE_EDITION


_IN_FORCE: list[str | None] = [None]


def use_edition(edition: str | None) -> None:
    """Put `edition` in force for default() (None: back to env / baseline). Raises BehaviourError."""
    if edition is not None and edition not in editions():
        raise BehaviourError(f"unknown edition {edition!r} (one of {', '.join(editions())})")
    _IN_FORCE[0] = edition


@contextmanager
def edition_in_force(edition: str):
    """`with edition_in_force("2024"):` default() and default_rules() answer for that edition."""
    before = _IN_FORCE[0]
    use_edition(edition)
    try:
        yield default()
    finally:
        _IN_FORCE[0] = before


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
        jointly = entry.get("jointly")
        if jointly and (jointly["outcome"] not in raw["outcomes"]
                        or not set(jointly["situations"]) <= set(raw["events"][entry["event"]]["situations"])):
            raise BehaviourError(f"behaviour.yaml: statement {sid}: field 'jointly': its outcome must be known and its "
                                 "situations those of the statement's event")
        if entry.get("role", "platform") == "platform" and entry["kinds"] == ["trusted_root"] and "chain" not in entry:
            raise BehaviourError(f"behaviour.yaml: statement {sid}: field 'chain': a section's root statement names the "
                                 "kind of its section (scep or pkcs), whose profiles' roots its list speaks about")
        st = Statement(
            replaces=entry.get("replaces"),
            chain=entry.get("chain"),
            jointly=entry.get("jointly"),
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
        same = (applies or {}).get("same_as")
        for target in (same.values() if isinstance(same, dict) else [same] if same else []):
            if target not in situations:
                raise BehaviourError(f"behaviour.yaml: interpretation {i['id']}: field 'applies.same_as': "
                                     f"unknown situation {target!r}")
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


def default() -> Behaviour:
    """The behaviour table of the edition in force (current_edition()), loaded once per edition."""
    edition = current_edition()
    if edition not in editions():
        raise BehaviourError(f"env {EDITION_ENV}: unknown edition {edition!r} (one of {', '.join(editions())})")
    return _load_edition(edition)


@lru_cache(maxsize=None)
def _load_edition(edition: str) -> Behaviour:
    return load(edition=edition)


default.cache_clear = _load_edition.cache_clear  # type: ignore[attr-defined]  # callers that reload


def document_file(b: Behaviour) -> Path:
    """The edition's own document file (its default_path, relative to the project folder)."""
    from certconform.document import PROJECT_ROOT

    return PROJECT_ROOT / b.document["default_path"]
