"""`certconform drift DOC [--json]`: has another edition of the document changed its behaviour?

What this module knows: how to cut the document into comparable units — every bullet of a
"... when:" outcome list (keyed by section path and list key, e.g. "revoked-and-removed"), and the
prose the behaviour table also cites: paragraphs ("intro" under the title, "prose" elsewhere),
note lines ("note") and numbered steps inside notes ("note-steps") — and how to normalise a unit
so that wording is not mistaken for behaviour: renamed product terms (Azure AD / Azure Active
Directory -> Microsoft Entra ID), link targets, emphasis and code marks, HTML comments, quotes,
letter case, whitespace and trailing punctuation. Front matter is never compared (only its
ms.date is shown as the edition). Units that are only links (e.g. "Next steps") are ignored.
It maps units of the baseline edition to statement ids through the statements' cited lines
(model/behaviour.yaml source.line, checked against the fingerprint).
What it does not know: what a unit means. An added or edited bullet or paragraph is reported as
a behaviour change for a person to read; deciding its new rule is editing behaviour.yaml.

Output: {"baseline", "edition", "added", "removed", "changed", "wording_only"}; each item
{"section", "list", "text", "statement", "line"} (+ "was"/"from_list"/"from_section" for
changes). Exit 0: behaviour unchanged; 1: changed; 2: the file cannot be parsed (one line on stderr).
"""
from __future__ import annotations

import difflib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from certconform.document import Document, DocumentError, document_path, fingerprint, parse

# Renamed product terms: longest first; all map to one token so editions compare equal.
RENAMES = [
    (r"azure active directory \(azure ad\)", "entra"),
    (r"microsoft entra id \(entra id\)", "entra"),
    (r"azure active directory", "entra"),
    (r"microsoft entra id", "entra"),
    (r"microsoft entra", "entra"),
    (r"entra id", "entra"),
    (r"azure ad", "entra"),
    (r"aad", "entra"),
]
LIST_KEYS = [  # (pattern on the normalised list introduction, key used in behaviour.yaml)
    (re.compile(r"root certificate.* removed when:?$"), "root-removed"),
    (re.compile(r"revoked and removed when:?$"), "revoked-and-removed"),
    (re.compile(r"\bstays?\b.*when:?$"), "stays"),
    (re.compile(r"is revoked when:?$"), "revoked"),
    (re.compile(r"is removed when:?$"), "removed"),
]
SIMILAR = 0.6  # difflib ratio above which an edited unit in the same list is "changed", not removed+added


@dataclass(frozen=True)
class Unit:
    """One comparable piece of the document."""

    section: str  # heading path as written
    list: str  # list key (e.g. "stays", "note", "intro")
    text: str  # as written (without the bullet / quote / number marker)
    line: int

    @property
    def norm(self) -> str:
        return normalise(self.text)

    @property
    def where(self) -> tuple[str, str]:
        return normalise(self.section), self.list


def normalise(text: str) -> str:
    """Text with wording differences removed (see the module docstring)."""
    t = re.sub(r"<!--.*?-->", " ", text)
    t = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", t)  # [text](target) -> text
    t = re.sub(r"[*_`]+", "", t)
    t = t.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    t = t.lower()
    for pattern, repl in RENAMES:
        t = re.sub(rf"\b{pattern}", repl, t)
    t = re.sub(r"\s+", " ", t).strip()
    return t.rstrip(" .;:")


def list_key(intro: str) -> str:
    n = normalise(intro) + ":"
    for pattern, key in LIST_KEYS:
        if pattern.search(n):
            return key
    return "list: " + normalise(intro)


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*\S)\s*$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*\S)\s*$")
_ONLY_LINKS = re.compile(r"^(\s*\[[^\]]*\]\([^)]*\)\s*)+$")


def units(doc: Document) -> list[Unit]:
    """Cut a parsed document into units (outcome bullets and prose)."""
    out: list[Unit] = []
    for b in doc.outcome_bullets():
        out.append(Unit(b.section, list_key(b.list), b.text, b.line))
    bullet_lines = {b.line for b in doc.bullets}
    start = 0
    if doc.lines and doc.lines[0].strip() == "---":
        start = next(i for i in range(1, len(doc.lines)) if doc.lines[i].strip() == "---") + 1
    stack: list[tuple[int, str]] = []
    title = ""
    for n in range(start, len(doc.lines)):
        raw = doc.lines[n]
        line = re.sub(r"<!--.*?-->", "", raw).strip()
        if not line or (n + 1) in bullet_lines:
            continue
        m = _HEADING.match(line)
        if m:
            level, text = len(m.group(1)), m.group(2)
            if level == 1:
                title, stack = text, []
            else:
                stack = [(lv, t) for lv, t in stack if lv < level] + [(level, text)]
            continue
        section = " > ".join(t for _, t in stack) or title
        if line.startswith(">"):
            body = line.lstrip(">").strip()
            if not body or re.fullmatch(r"\[!\w+\]", body):
                continue
            num = _NUMBERED.match(body)
            if num:
                out.append(Unit(section, "note-steps", num.group(1), n + 1))
            else:
                out.append(Unit(section, "note", body, n + 1))
            continue
        if _BULLET.match(line) or line.endswith(":") or _ONLY_LINKS.match(line):
            continue  # list introductions are part of the list key; link-only lines carry no rule
        out.append(Unit(section, "intro" if not stack else "prose", line, n + 1))
    return sorted(out, key=lambda u: u.line)


def statement_index(doc: Document, behaviour=None) -> tuple[dict[int, list[str]], list[str]]:
    """Baseline line -> statement ids (only where the fingerprint still matches); warnings."""
    from certconform.model.behaviour import default

    b = behaviour or default()
    index: dict[int, list[str]] = {}
    warnings = []
    for s in b.statements:
        if fingerprint(doc.line(s.source.line)) == s.source.sha256_8:
            index.setdefault(s.source.line, []).append(s.id)
        else:
            warnings.append(f"{s.id}: baseline line {s.source.line} does not match its fingerprint; not mapped")
    return index, warnings


def _item(u: Unit, index: dict[int, list[str]] | None, **extra) -> dict:
    ids = (index or {}).get(u.line, [])
    item = {"section": u.section, "list": u.list, "text": u.text, "statement": ids[0] if ids else None,
            "line": u.line}
    if len(ids) > 1:
        item["statements"] = ids
    item.update(extra)
    return item


def compare(old_doc: Document, new_doc: Document, behaviour=None) -> dict:
    """Compare two parsed editions; the baseline's units carry statement ids."""
    from certconform.model.behaviour import default

    b = behaviour or default()
    index, warnings = statement_index(old_doc, b)
    old, new = units(old_doc), units(new_doc)
    result = {"baseline": f"{b.document['title']} ({b.document['edition']})",
              "edition": new_doc.edition, "document": str(new_doc.path),
              "added": [], "removed": [], "changed": [], "wording_only": []}
    if warnings:
        result["warnings"] = warnings

    def take(pool: list[Unit], pred) -> Unit | None:
        for i, u in enumerate(pool):
            if pred(u):
                return pool.pop(i)
        return None

    left_new = []
    for u in new:  # 1. same place, same normalised text: unchanged or wording only
        o = take(old, lambda x: x.where == u.where and x.norm == u.norm)
        if o is None:
            left_new.append(u)
        elif o.text.strip() != u.text.strip() or o.section != u.section:
            result["wording_only"].append(_item(o, index, text=u.text, was=o.text, line=u.line, section=u.section))
    new, left_new = left_new, []
    for u in new:  # 2. same text, other list or section: the bullet moved
        o = take(old, lambda x: x.norm == u.norm and normalise(x.section) == normalise(u.section)) or \
            take(old, lambda x: x.norm == u.norm and x.list == u.list and u.list not in ("intro", "prose", "note"))
        if o is None:
            left_new.append(u)
        else:
            result["changed"].append(_item(o, index, text=u.text, line=u.line, section=u.section, list=u.list,
                                           from_list=o.list, from_section=o.section, was=o.text))
    new, left_new = left_new, []
    for u in new:  # 3. same place, edited text
        best = max((x for x in old if x.where == u.where),
                   key=lambda x: difflib.SequenceMatcher(None, x.norm, u.norm).ratio(), default=None)
        if best is not None and difflib.SequenceMatcher(None, best.norm, u.norm).ratio() >= SIMILAR:
            old.remove(best)
            result["changed"].append(_item(best, index, text=u.text, line=u.line, was=best.text))
        else:
            left_new.append(u)
    result["added"] = [_item(u, None) for u in left_new]  # 4. the rest
    result["removed"] = [_item(o, index) for o in old]
    return result


def changed(result: dict) -> bool:
    return bool(result["added"] or result["removed"] or result["changed"])


def load_edition(path: str | Path) -> Document:
    """Parse a file that claims to be an edition of the document. Raises DocumentError (one line)."""
    doc = parse(Path(path))
    if not doc.outcome_bullets():
        first = doc.headings[0][0] if doc.headings else 1
        raise DocumentError(f"{path}:{first}: no '... when:' lists of outcome bullets under a platform "
                            "heading: this is not the certificate-removal document")
    return doc


def human(result: dict) -> str:
    lines = [f"baseline: {result['baseline']}; compared: {result['document']} (edition {result['edition']})"]

    def where(i):
        return f"{i['section']} [{i['list']}] line {i['line']}"

    def sid(i):
        return f" ({', '.join(i.get('statements') or [i['statement']])})" if i.get("statement") else ""

    for i in result["changed"]:
        if "from_list" in i and (i["from_list"] != i["list"] or i["from_section"] != i["section"]):
            lines.append(f"  changed  {where(i)}{sid(i)}: moved from {i['from_section']} [{i['from_list']}]: {i['text']}")
        else:
            lines.append(f"  changed  {where(i)}{sid(i)}: {i['was']!r} -> {i['text']!r}")
    for i in result["added"]:
        lines.append(f"  added    {where(i)}: {i['text']}")
    for i in result["removed"]:
        lines.append(f"  removed  {where(i)}{sid(i)}: {i['text']}")
    if result["wording_only"]:
        lines.append(f"  wording only (not behaviour): {len(result['wording_only'])} unit(s)")
    for w in result.get("warnings", []):
        lines.append(f"  warning: {w}")
    n = len(result["added"]) + len(result["removed"]) + len(result["changed"])
    lines.insert(1, f"behaviour changed: {n} edit(s)" if n else "behaviour unchanged")
    return "\n".join(lines)


def main(path: str, as_json: bool = False, baseline: str | Path | None = None) -> int:
    """Entry point of `certconform drift`. Returns the exit code (0 same, 1 changed, 2 unreadable)."""
    try:
        new_doc = load_edition(path)
    except DocumentError as exc:
        print(f"certconform drift: {exc}", file=sys.stderr)
        return 2
    base = document_path(baseline)
    try:
        old_doc = parse(base)
    except DocumentError as exc:
        print(f"certconform drift: baseline document: {exc}", file=sys.stderr)
        return 2
    result = compare(old_doc, new_doc)
    print(json.dumps(result, indent=2) if as_json else human(result))
    return 1 if changed(result) else 0
