"""`certconform drift DOC [--json] [--against EDITION] [--overlay [PATH]]`: has another edition of
the document changed its behaviour?

What this module knows: how to cut the document into comparable units — every bullet of a
"... when:" outcome list (keyed by section path and list key, e.g. "revoked-and-removed"), and the
prose the behaviour table also cites: the sentences of paragraphs ("intro" under the title,
"prose" elsewhere) and of NOTE blocks ("note"), and numbered steps inside notes ("note-steps") —
and how to normalise a unit so that wording, or the way a copy of the page was captured, is not
mistaken for behaviour:
  * renamed product terms (Azure AD / Azure Active Directory -> Microsoft Entra ID, the Intune
    console renames), with the article or determiner in front of them ("an Azure AD group" and
    "a Microsoft Entra group" are the same words);
  * link targets (relative or absolute), autolinks, emphasis and code marks, Markdown backslash
    escapes, HTML comments, quotes, letter case, whitespace, trailing punctuation;
  * line breaks: a paragraph or NOTE block is compared sentence by sentence, so reflowing it, or
    joining two NOTE lines into one, changes nothing; a NOTE label written inline counts as the
    marker;
  * a page's rendering: the blocks come from markdown-it-py (paragraphs, quotes, numbered lists),
    a NOTE shown as a bare "Note" line above plain paragraphs is a note, and paragraphs, notes and
    numbered steps are compared as one family of text (family()), so a copy saved from the
    published page (notes rendered, steps out of their quote, absolute links, escapes) drifts as
    its source does;
  * headings: a heading whose text changed but whose content (most of its units) did not is one
    wording change, and its units are compared under the old heading.
Front matter is never compared (only its ms.date is shown as the edition). Units that are only
links (e.g. "Next steps") are ignored. Units of the compared-against edition map to statement ids
through the statements' cited lines (source.line, checked against the fingerprint).
What it does not know: what a unit means. An added or edited bullet or paragraph is reported as
a behaviour change for a person to read; deciding its rule is writing the edition's overlay
(model/editions/), whose skeleton `--overlay` writes (certconform/overlay_skeleton.py).

Output: {"baseline", "edition", "added", "removed", "changed", "wording_only"}; each item
{"section", "list", "text", "statement", "line"} (+ "was"/"from_list"/"from_section" for
changes). Exit 0: behaviour unchanged; 1: changed; 2: the file cannot be parsed (one line on stderr).
"""
from __future__ import annotations

import difflib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from certconform.document import Document, DocumentError, fingerprint, parse

# Renamed product terms: longest first; each family maps to one token so editions compare equal.
RENAMES = [
    (r"azure active directory \(azure ad\)", "entra"),
    (r"microsoft entra id \(entra id\)", "entra"),
    (r"azure active directory", "entra"),
    (r"microsoft entra id", "entra"),
    (r"microsoft entra", "entra"),
    (r"entra id", "entra"),
    (r"azure ad", "entra"),
    (r"aad", "entra"),
    (r"microsoft endpoint manager admin center", "intune-console"),
    (r"microsoft intune admin center", "intune-console"),
    (r"endpoint manager admin center", "intune-console"),
    (r"intune admin center", "intune-console"),
    (r"microsoft endpoint manager", "intune"),
    (r"microsoft intune", "intune"),
]
RENAMED_TOKENS = ("entra", "intune-console", "intune")
LIST_KEYS = [  # (pattern on the normalised list introduction, key used in behaviour.yaml)
    (re.compile(r"root certificate.* removed when:?$"), "root-removed"),
    (re.compile(r"revoked and removed when:?$"), "revoked-and-removed"),
    (re.compile(r"\bstays?\b.*when:?$"), "stays"),
    (re.compile(r"is revoked when:?$"), "revoked"),
    (re.compile(r"is removed when:?$"), "removed"),
]
SIMILAR = 0.6  # difflib ratio above which an edited unit in the same list is "changed", not removed+added
SAME_HEADING = 0.5  # share of a heading's units that must be unchanged for a renamed heading to be wording
ADMONITIONS = r"(note|tip|important|warning|caution)"
# an admonition's label at the start of a paragraph: the source's "[!NOTE]" marker, or one written
# inline with its colon ("**Note:** ...", "Note: ...")
NOTE_LABEL = re.compile(rf"^(\[!\w+\]|\**{ADMONITIONS}\**\s*:\s*\**|\**{ADMONITIONS}:\**)\s*", re.IGNORECASE)
# a line that is only the label, as a rendered page shows an admonition ("Note" above its paragraphs)
BARE_LABEL = re.compile(rf"^\**{ADMONITIONS}\**\s*:?\s*\**$", re.IGNORECASE)


@dataclass(frozen=True)
class Unit:
    """One comparable piece of the document."""

    section: str  # heading path as written
    list: str  # list key (e.g. "stays", "note", "intro")
    text: str  # as written (without the bullet / quote / number marker)
    line: int  # where it starts

    @property
    def norm(self) -> str:
        return normalise(self.text)

    @property
    def where(self) -> tuple[str, str]:
        return normalise(self.section), family(self.list)


def normalise(text: str) -> str:
    """Text with wording differences removed (see the module docstring)."""
    t = re.sub(r"<!--.*?-->", " ", text)
    t = re.sub(r"\\([\\`*_{}\[\]()#+\-.!<>|~:])", r"\1", t)  # Markdown escapes: \( -> (
    t = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", t)  # [text](target) -> text
    t = re.sub(r"<(https?://[^>]*)>", " ", t)  # autolinks
    t = re.sub(r"[*_`]+", "", t)
    t = t.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    t = t.replace("\u00a0", " ").lower()
    for pattern, repl in RENAMES:
        t = re.sub(rf"\b{pattern}", repl, t)
    # "an Azure AD group" / "a Microsoft Entra group": the article goes with the renamed term
    t = re.sub(rf"\b(a|an|the)\s+({'|'.join(RENAMED_TOKENS)})\b", r"\2", t)
    t = re.sub(r"\s+", " ", t).strip()
    return t.rstrip(" .;:")


def list_key(intro: str) -> str:
    n = normalise(intro) + ":"
    for pattern, key in LIST_KEYS:
        if pattern.search(n):
            return key
    return "list: " + normalise(intro)


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*\S)\s*$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*\S)\s*$")
_ONLY_LINKS = re.compile(r"^(\s*(\[[^\]]*\]\([^)]*\)|<https?://[^>]*>)\s*)+$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_ABBREVIATION = re.compile(r"\b(e\.g|i\.e|etc|vs|cf)\.$", re.IGNORECASE)


def sentences(parts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Split a paragraph given as (line, text) pieces into (line where it starts, sentence)."""
    text, starts = "", []
    for line, piece in parts:
        if text:
            text += " "
        starts.append((len(text), line))
        text += piece.strip()
    out: list[tuple[int, str]] = []
    pos = 0
    cuts = [m.end() for m in _SENTENCE_END.finditer(text)
            if not _ABBREVIATION.search(text[:m.start()])] + [len(text)]
    for cut in cuts:
        chunk = text[pos:cut].strip()
        if chunk:
            line = max(ln for off, ln in starts if off <= pos)
            out.append((line, chunk))
        pos = cut
    return out


TEXT_KINDS = ("intro", "prose", "note", "note-steps", "steps")  # compared as one family: see family()


def family(kind: str) -> str:
    """What a unit is compared as. Paragraphs, notes and numbered steps are one family ("text"): a
    page's rendering turns a NOTE block into a bare "Note" line and plain paragraphs, and moves its
    numbered steps out of the quote, without changing what they say. Outcome lists keep their key."""
    return "text" if kind in TEXT_KINDS else kind


def _blocks(doc: Document):
    """The document's Markdown blocks (markdown-it-py tokens), front matter blanked so that every
    token's `map` is a line index of the file."""
    from markdown_it import MarkdownIt

    lines = list(doc.lines)
    if lines and lines[0].strip() == "---":
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        lines[:end + 1] = [""] * (end + 1)
    return MarkdownIt("commonmark").parse("\n".join(lines))


def units(doc: Document) -> list[Unit]:
    """Cut a parsed document into units: outcome bullets (from the document's lists) and the
    sentences of paragraphs, notes and numbered steps (from markdown-it-py's blocks, so that line
    breaks, quote markers, escapes and list markers are the parser's business, not ours)."""
    out = [Unit(b.section, list_key(b.list), b.text, b.line) for b in doc.outcome_bullets()]
    tokens = _blocks(doc)
    stack: list[tuple[int, str]] = []
    title = ""
    quote = 0  # blockquote depth
    ordered = 0  # ordered-list depth
    bullets = 0  # bullet-list depth
    note = ""  # "" | "label" (a bare label was seen) | "open" (its paragraph came; steps may follow)

    def section() -> str:
        return " > ".join(t for _, t in stack) or title

    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind == "heading_open":
            text = tokens[i + 1].content
            level = int(tok.tag[1])
            if level == 1:
                title, stack = text, []
            else:
                stack = [(lv, t) for lv, t in stack if lv < level] + [(level, text)]
            note = ""
        elif kind == "blockquote_open":
            quote += 1
        elif kind == "blockquote_close":
            quote -= 1
        elif kind == "ordered_list_open":
            ordered += 1
        elif kind == "ordered_list_close":
            ordered -= 1
        elif kind == "bullet_list_open":
            bullets += 1
            note = ""  # outcome lists come from doc.outcome_bullets(); other bullets carry no rule
        elif kind == "bullet_list_close":
            bullets -= 1
        elif kind == "paragraph_open" and tok.map and not bullets:
            first = tok.map[0] + 1
            pieces = [(first + k, re.sub(r"<!--.*?-->", "", piece).strip())
                      for k, piece in enumerate(tokens[i + 1].content.split("\n"))]
            label = bool(pieces) and bool(BARE_LABEL.match(pieces[0][1]) or NOTE_LABEL.match(pieces[0][1]))
            if label:  # the [!NOTE] marker, a rendered "Note" line, or "**Note:** ..." inline
                rest = NOTE_LABEL.match(pieces[0][1])
                pieces[0] = (pieces[0][0], pieces[0][1][rest.end():].strip() if rest else "")
            pieces = [(n, p) for n, p in pieces if p]
            if not pieces:
                note = "label" if label else note
                continue
            if _introduces_bullets(tokens, i) or _ONLY_LINKS.match(" ".join(p for _, p in pieces)):
                continue  # list introductions are part of the list key; link-only lines carry no rule
            if ordered:
                key = "note-steps" if quote or note == "open" else "steps"
            elif quote or label or note == "label":
                key, note = "note", "open"
            else:
                key, note = ("intro" if not stack else "prose"), ""
            out.extend(Unit(section(), key, text, line) for line, text in sentences(pieces))
    return sorted(out, key=lambda u: u.line)


def _introduces_bullets(tokens, i: int) -> bool:
    """True when the paragraph opened at token i is followed directly by a bullet list."""
    close = next(j for j in range(i, len(tokens)) if tokens[j].type == "paragraph_close")
    return close + 1 < len(tokens) and tokens[close + 1].type == "bullet_list_open"


def heading_map(old: list[Unit], new: list[Unit]) -> dict[str, str]:
    """New section path -> old section path (as written) for headings that were only renamed:
    same parent, same depth, and at least SAME_HEADING of the units under them unchanged."""
    def paths(us: list[Unit]) -> list[str]:
        return list(dict.fromkeys(u.section for u in us))

    def content(us: list[Unit], path: str) -> set[tuple[str, str]]:
        return {(u.list, u.norm) for u in us if u.section == path or u.section.startswith(path + " > ")}

    old_paths = paths(old)
    old_prefixes = list(dict.fromkeys(" > ".join(p.split(" > ")[:i + 1]) for p in old_paths
                                      for i in range(len(p.split(" > ")))))
    new_prefixes = list(dict.fromkeys(" > ".join(p.split(" > ")[:i + 1]) for p in paths(new)
                                      for i in range(len(p.split(" > ")))))
    old_norm = {normalise(p): p for p in old_prefixes}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for path in sorted(new_prefixes, key=lambda p: p.count(" > ")):
        parts = path.split(" > ")
        parent = " > ".join(parts[:-1])
        mapped_parent = mapping.get(parent, parent) if parent else ""
        direct = (mapped_parent + " > " if mapped_parent else "") + parts[-1]
        if normalise(direct) in old_norm:
            mapping[path] = old_norm[normalise(direct)]
            continue
        mine = content(new, path)
        best, score = None, 0.0
        for o in old_prefixes:
            o_parts = o.split(" > ")
            if o in taken or len(o_parts) != len(parts) or " > ".join(o_parts[:-1]) != mapped_parent:
                continue
            if any(normalise(p) == normalise(o) for p in new_prefixes):
                continue  # that heading is still there under its own name
            theirs = content(old, o)
            s = len(mine & theirs) / max(len(mine), len(theirs), 1)
            if s > score:
                best, score = o, s
        if best is not None and score >= SAME_HEADING:
            mapping[path] = best
            taken.add(best)
        else:
            mapping[path] = direct
    return {n: o for n, o in mapping.items() if n in {u.section for u in new}
            or any(u.section.startswith(n + " > ") for u in new)}


def statement_index(doc: Document, behaviour=None) -> tuple[dict[int, list[str]], list[str]]:
    """Cited line -> statement ids (only where the fingerprint still matches); warnings."""
    from certconform.model.behaviour import default

    b = behaviour or default()
    index: dict[int, list[str]] = {}
    warnings = []
    for s in b.statements:
        if fingerprint(doc.line(s.source.line)) == s.source.sha256_8:
            index.setdefault(s.source.line, []).append(s.id)
        else:
            warnings.append(f"{s.id}: line {s.source.line} of the compared-against edition does not match its "
                            "fingerprint; not mapped")
    return index, warnings


def _item(u: Unit, index: dict[int, list[str]] | None, **extra) -> dict:
    ids = (index or {}).get(u.line, [])
    item = {"section": u.section, "list": u.list, "text": u.text, "statement": ids[0] if ids else None,
            "line": u.line}
    if len(ids) > 1:
        item["statements"] = ids
    item.update(extra)
    return item


@dataclass
class Alignment:
    """How the units of two editions correspond. pairs: (old, new, how) with how one of "same",
    "wording", "moved", "changed"; added / removed: units without a partner; headings: renamed
    headings as (old path, new path)."""

    pairs: list[tuple[Unit, Unit, str]] = field(default_factory=list)
    added: list[Unit] = field(default_factory=list)
    removed: list[Unit] = field(default_factory=list)
    headings: list[tuple[str, str]] = field(default_factory=list)


def align(old_doc: Document, new_doc: Document) -> Alignment:
    """Pair the units of two parsed editions (see the module docstring for what counts as the same)."""
    old, new_units = units(old_doc), units(new_doc)
    hmap = heading_map(old, new_units)
    result = Alignment()
    for n, o in hmap.items():
        if n.split(" > ")[-1] != o.split(" > ")[-1] and normalise(n.split(" > ")[-1]) != normalise(o.split(" > ")[-1]):
            result.headings.append((o, n))
    original = {}  # unit as compared (old section) -> unit as written
    new = []
    for u in new_units:
        c = Unit(hmap.get(u.section, u.section), u.list, u.text, u.line)
        original[c] = u
        new.append(c)

    def take(pool: list[Unit], pred) -> Unit | None:
        for i, x in enumerate(pool):
            if pred(x):
                return pool.pop(i)
        return None

    left_new = []
    for u in new:  # 1. same place, same normalised text: unchanged or wording only
        o = take(old, lambda x: x.where == u.where and x.norm == u.norm)
        if o is None:
            left_new.append(u)
        else:
            result.pairs.append((o, original[u], "same" if o.text.strip() == u.text.strip() else "wording"))
    new, left_new = left_new, []
    for u in new:  # 2. same text, other list or section: the bullet moved
        o = take(old, lambda x: x.norm == u.norm and normalise(x.section) == normalise(u.section)) or \
            take(old, lambda x: x.norm == u.norm and x.list == u.list and family(u.list) != "text")
        if o is None:
            left_new.append(u)
        else:
            result.pairs.append((o, original[u], "moved"))
    new, left_new = left_new, []
    for u in new:  # 3. same place, edited text
        best = max((x for x in old if x.where == u.where),
                   key=lambda x: difflib.SequenceMatcher(None, x.norm, u.norm).ratio(), default=None)
        if best is not None and difflib.SequenceMatcher(None, best.norm, u.norm).ratio() >= SIMILAR:
            old.remove(best)
            result.pairs.append((best, original[u], "changed"))
        else:
            left_new.append(u)
    result.added = [original[u] for u in left_new]  # 4. the rest
    result.removed = old
    return result


def compare(old_doc: Document, new_doc: Document, behaviour=None) -> dict:
    """Compare two parsed editions; the compared-against edition's units carry statement ids."""
    from certconform.model.behaviour import default

    b = behaviour or default()
    index, warnings = statement_index(old_doc, b)
    a = align(old_doc, new_doc)
    result = {"baseline": f"{b.document['title']} ({b.document['edition']})",
              "edition": new_doc.edition, "document": str(new_doc.path),
              "added": [], "removed": [], "changed": [], "wording_only": []}
    if warnings:
        result["warnings"] = warnings
    for o, n in a.headings:
        result["wording_only"].append({"section": n, "list": "heading", "text": n.split(" > ")[-1],
                                       "was": o.split(" > ")[-1], "statement": None, "line": None})
    for o, u, how in sorted(a.pairs, key=lambda p: p[1].line):
        if how == "wording":
            result["wording_only"].append(_item(o, index, text=u.text, was=o.text, line=u.line, section=u.section))
        elif how == "moved":
            result["changed"].append(_item(o, index, text=u.text, line=u.line, section=u.section, list=u.list,
                                           from_list=o.list, from_section=o.section, was=o.text))
        elif how == "changed":
            result["changed"].append(_item(o, index, text=u.text, line=u.line, section=u.section, was=o.text))
    result["added"] = [_item(u, None) for u in a.added]
    result["removed"] = [_item(o, index) for o in a.removed]
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


def main(path: str, as_json: bool = False, baseline: str | Path | None = None,
         against: str | None = None, overlay: str | None = None) -> int:
    """Entry point of `certconform drift`. Returns the exit code (0 same, 1 changed, 2 unreadable).

    against: the shipped edition to compare with (default: the baseline, 2022); overlay: write
    the new edition's overlay skeleton to this path ("-": standard output instead of the report)."""
    from certconform.article import ArticleMissing, locate
    from certconform.model.behaviour import BASELINE_EDITION, BehaviourError, load

    against = against or BASELINE_EDITION
    try:
        behaviour = load(edition=against)
    except BehaviourError as exc:
        print(f"certconform drift: --against: {exc}", file=sys.stderr)
        return 2
    try:
        new_doc = load_edition(path)
    except DocumentError as exc:
        print(f"certconform drift: {exc}", file=sys.stderr)
        return 2
    try:
        # the compared-against edition's file, in the one lookup order (certconform/article.py)
        old_doc = parse(locate(against, baseline))
    except ArticleMissing as exc:
        print(f"certconform drift: {exc}", file=sys.stderr)
        return 2
    except DocumentError as exc:
        print(f"certconform drift: edition {against} document: {exc}", file=sys.stderr)
        return 2
    if overlay and overlay != "-" and Path(overlay).exists():
        print(f"certconform drift: --overlay {overlay}: the file exists; not overwriting a reviewed overlay",
              file=sys.stderr)
        return 2
    result = compare(old_doc, new_doc, behaviour)
    if overlay:
        from certconform.overlay_skeleton import dump, skeleton

        text = dump(skeleton(old_doc, new_doc, align(old_doc, new_doc), behaviour, against),
                    f"compared with edition {against}, {old_doc.path.name}")
        if overlay == "-":
            sys.stdout.write(text)
            return 1 if changed(result) else 0
        try:
            Path(overlay).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"certconform drift: --overlay {overlay}: cannot write ({exc.strerror or exc})", file=sys.stderr)
            return 2
    print(json.dumps(result, indent=2) if as_json else human(result))
    if overlay:
        print(f"overlay skeleton written to {overlay}", file=sys.stderr)
    return 1 if changed(result) else 0
