"""`certconform drift NEW --overlay [PATH]`: the skeleton of a new edition's overlay file.

What this module knows: how drift's alignment of two editions (certconform/drift.py `align`)
turns into the overlay format of model/editions/ (see model/editions/README.md): every statement
of the compared-against edition whose units are unchanged or changed only in wording is
re-cited in the new file (`recite`: line and sha256_8 of the new file, section when its heading
was renamed); a statement whose units changed or moved gets a new proposed id with `replaces:`;
one whose units are all gone is `removed`; every added unit is a proposed new statement. Entries
for a person to decide carry `review: pending` (the loader refuses them until set to `done`),
with the fields a person writes (event, outcome, says, ...) guessed or marked TODO.
What it does not know: what a new bullet means. It never copies the document's text: entries
cite lines and fingerprints only.
"""
from __future__ import annotations

import os
import re

import yaml

from certconform.document import PROJECT_ROOT, Document, fingerprint
from certconform.drift import Alignment, Unit, normalise, statement_index

LIST_SUFFIX = {"revoked-and-removed": "RR", "revoked": "RV", "removed": "RM", "root-removed": "ROOT", "stays": "STAY"}
PLATFORM_PREFIX = (("windows", "WIN", "windows"), ("ios", "IOS", "ios"), ("knox", "KNOX", "android_knox"),
                   ("macos", "MAC", "macos"))
TODO = "TODO"
HUMAN_FIELDS = ("review", "role", "status", "platforms", "kinds", "chain", "event", "outcome", "jointly", "says")


def _platform(section: str) -> tuple[str, str | None]:
    top = normalise(section.split(" > ")[0])
    return next(((prefix, p) for word, prefix, p in PLATFORM_PREFIX if word in top), ("GEN", None))


def _kind(section: str) -> str | None:
    last = normalise(section.split(" > ")[-1])
    return "scep" if "scep" in last else "pkcs" if "pkcs" in last else None


class _Ids:
    """Proposes the next free id of a family (WIN-SCEP-ROOT-n), never one already in use."""

    def __init__(self, used):
        self.used = set(used)

    def next(self, unit: Unit) -> str:
        prefix, _ = _platform(unit.section)
        kind = _kind(unit.section)
        family = "-".join(x for x in (prefix, kind.upper() if kind and prefix != "GEN" else None,
                                      LIST_SUFFIX.get(unit.list, "NOTE" if unit.list.startswith("note") else "NEW")) if x)
        pattern = re.compile(rf"^{re.escape(family)}-(\d+)$")
        n = max((int(m.group(1)) for i in self.used if (m := pattern.match(i))), default=0) + 1
        sid = f"{family}-{n}"
        self.used.add(sid)
        return sid


def _source(unit: Unit, doc: Document) -> dict:
    return {"section": unit.section, "list": unit.list, "line": unit.line, "sha256_8": fingerprint(doc.line(unit.line))}


def _guess(unit: Unit) -> dict:
    """First guesses at the fields a person writes, from where the unit stands."""
    _, platform = _platform(unit.section)
    kind = _kind(unit.section)
    out: dict = {}
    if unit.list in ("intro", "prose"):
        out["role"] = "general"
    elif unit.list.startswith("note"):
        out["role"] = "note"
    out["platforms"] = [platform] if platform else [TODO]
    out["kinds"] = ["trusted_root"] if unit.list == "root-removed" else [kind] if kind else [TODO]
    if unit.list == "root-removed":  # a root list speaks about its own section's roots
        out["chain"] = kind or TODO
    out["event"] = TODO
    out["outcome"] = unit.list if unit.list in LIST_SUFFIX else TODO
    out["says"] = "TODO: what the bullet requires, in our own words"
    return out


def skeleton(old_doc: Document, new_doc: Document, alignment: Alignment, behaviour, base: str) -> dict:
    """The overlay for `new_doc` relative to edition `base` (whose table is `behaviour`)."""
    index, _ = statement_index(old_doc, behaviour)
    ids = _Ids(behaviour.by_id)
    by_old_line: dict[int, list[tuple[Unit, Unit | None, str]]] = {}
    for o, n, how in alignment.pairs:
        by_old_line.setdefault(o.line, []).append((o, n, how))
    for o in alignment.removed:
        by_old_line.setdefault(o.line, []).append((o, None, "removed"))
    recite: dict[str, dict] = {}
    changed, removed = [], []
    for s in behaviour.statements:
        if s.id not in index.get(s.source.line, []):
            continue  # its cited line does not match: drift warns; a person decides
        found = sorted(by_old_line.get(s.source.line, []), key=lambda x: x[0].line)
        hows = {how for _, _, how in found}
        if hows and hows <= {"same", "wording"}:
            n = found[0][1]
            entry = {"line": n.line, "sha256_8": fingerprint(new_doc.line(n.line))}
            if n.section != s.source.section:
                entry = {"section": n.section, **entry}
            recite[s.id] = entry
        elif hows == {"removed"}:
            removed.append(s.id)
        else:
            n = next(n for _, n, how in found if n is not None and how not in ("same", "wording"))
            fields = {k: v for k, v in s.as_json().items() if k in HUMAN_FIELDS}
            fields.update(role=s.role) if s.role != "platform" else None
            changed.append({"id": ids.next(n), "replaces": s.id, "review": "pending", **fields,
                            "source": _source(n, new_doc)})
    added = [{"id": ids.next(u), "review": "pending", **_guess(u), "source": _source(u, new_doc)}
             for u in alignment.added]
    year = re.search(r"(\d{4})\s*$", new_doc.edition or "")
    try:
        path = os.path.relpath(new_doc.path.resolve(), PROJECT_ROOT)
    except ValueError:  # another drive (Windows)
        path = str(new_doc.path.resolve())
    return {
        "edition": year.group(1) if year else TODO,
        "date": new_doc.edition,
        # our own name for the edition: the skeleton copies no text of the article, its title included
        "title": f"{TODO}: our name for the article's {new_doc.edition or 'new'} edition",
        "default_path": path,
        "base": base,
        "added": added,
        "changed": changed,
        "removed": removed,
        "recite": recite,
    }


def dump(data: dict, compared_with: str) -> str:
    """The overlay as YAML, with a header that says how to finish it."""
    pending = sum(1 for e in data["added"] + data["changed"] if e.get("review") == "pending")
    head = [
        f"# Overlay of edition {data['edition']} ({data['date']}) on edition {data['base']}.",
        f"# Skeleton written by `certconform drift {data['default_path']} --overlay` ({compared_with}).",
        f"# {pending} entr{'y' if pending == 1 else 'ies'} marked `review: pending`: a person checks the",
        "# citation, writes platforms/kinds/event/outcome/says in our own words (never the article's",
        "# sentences), adds any new events or interpretations, and sets `review: done`. The loader",
        "# (model/behaviour.py) refuses the edition until then. `recite` cites every carried-over",
        "# statement in this edition's own file; tests/test_traceability.py checks the fingerprints.",
        "",
    ]
    body = []
    for key in ("edition", "date", "title", "default_path", "base"):
        body.append(yaml.safe_dump({key: data[key]}, sort_keys=False, width=1000, allow_unicode=True).rstrip())
    for key in ("situations", "events"):
        if data.get(key):
            body.append(yaml.safe_dump({key: data[key]}, sort_keys=False, width=1000, default_flow_style=None).rstrip())
    for key in ("added", "changed"):
        body.append(f"{key}:" + (" []" if not data[key] else ""))
        for entry in data[key]:
            text = yaml.safe_dump([entry], sort_keys=False, width=1000, default_flow_style=None, allow_unicode=True)
            body.append("\n".join("  " + ln for ln in text.rstrip().splitlines()))
    body.append(yaml.safe_dump({"removed": data["removed"]}, default_flow_style=None).rstrip())
    for key in ("conflicts", "interpretations"):
        if data.get(key):
            text = yaml.safe_dump({key: data[key]}, sort_keys=False, width=1000, default_flow_style=None)
            body.append(text.rstrip())
    body.append("recite:" + (" {}" if not data["recite"] else ""))
    for sid, entry in data["recite"].items():
        body.append(f"  {sid}: " + yaml.safe_dump(entry, sort_keys=False, default_flow_style=True, width=1000).strip())
    return "\n".join(head + body) + "\n"
