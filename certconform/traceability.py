"""Build reports/traceability.json: every statement, its source, status and the scenarios that ran.

What this module knows: the behaviour table, the document (to check fingerprints and count the
outcome bullets cited), and a mapping statement id -> scenario names that ran for it.
What it does not know: pytest. certconform/plugin.py collects the scenario names.
"""
from __future__ import annotations

from pathlib import Path

from certconform.document import DocumentError, fingerprint, parse
from certconform.model.behaviour import Behaviour, default


def _plain(line: str) -> str:
    """A cited line as a reader wants it quoted: no list dash, no note marker, no link targets."""
    import re

    text = line.strip().lstrip(">").strip()
    text = re.sub(r"^[-*]\s+|^\d+\.\s+", "", text)
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)


def document_check(behaviour: Behaviour, doc_path: str | Path | None = None) -> dict:
    """Compare every statement's cited line with the document. Never raises for a missing file."""
    from certconform.article import find, missing_message

    # the edition's own file, in the lookup order of certconform/article.py (--document and env
    # CERTCONFORM_DOCUMENT name the edition in force)
    found = find(behaviour.edition, doc_path)
    info: dict = {"path": str(found[1]) if found else None, "title": behaviour.document["title"],
                  "edition": behaviour.document["edition"], "edition_id": behaviour.edition}
    if found is None:
        info.update(found=False, note=f"fingerprints and bullet coverage not checked: {missing_message(behaviour.edition)}")
        return info
    where, path = found
    if not path.is_file():
        info.update(found=False, note=f"{where} {path}: no such file: fingerprints and bullet coverage not checked")
        return info
    try:
        doc = parse(path)
    except DocumentError as exc:
        info.update(found=False, note=str(exc))
        return info
    mismatched = [
        {"statement": s.id, "line": s.source.line, "expected": s.source.sha256_8, "found": fingerprint(doc.line(s.source.line))}
        for s in behaviour.statements
        if fingerprint(doc.line(s.source.line)) != s.source.sha256_8
    ]
    cited = {s.source.line for s in behaviour.statements if fingerprint(doc.line(s.source.line)) == s.source.sha256_8}
    # the cited line of every statement whose fingerprint matches, read from the user's own copy:
    # reports quote it beside the statement (the project itself ships no text of the article)
    info["quotes"] = {s.id: _plain(doc.line(s.source.line)) for s in behaviour.statements
                      if fingerprint(doc.line(s.source.line)) == s.source.sha256_8}
    bullets = doc.outcome_bullets()
    uncited = [b.line for b in bullets if b.line not in cited]
    info.update(
        found=True,
        document_edition=doc.edition,
        outcome_bullets=len(bullets),
        outcome_bullets_cited=len(bullets) - len(uncited),
        uncited_bullet_lines=uncited,
        fingerprint_mismatches=mismatched,
    )
    return info


def build(scenarios: dict[str, list[str]], doc_path: str | Path | None = None,
          behaviour: Behaviour | None = None) -> dict:
    b = behaviour or default()
    return {
        "document": {k: v for k, v in document_check(b, doc_path).items() if k != "quotes"},
        "statements": [
            {
                **s.as_json(),
                "status": b.status(s.id),
                "conflict": (b.conflict_of(s.id).id if b.conflict_of(s.id) else None),
                "conflicts": [c.id for c in b.conflicts_of(s.id)],  # wholly ("status": conflict) or partly
                "scenarios": sorted(set(scenarios.get(s.id, []))),
            }
            for s in b.statements
        ],
        "conflicts": [{"id": c.id, "statements": list(c.statements), "says": c.says, "policy": c.policy}
                      for c in b.conflicts],
        "interpretations": [{"id": i.id, "says": i.says, "statements": list(i.statements)} for i in b.interpretations],
    }
