"""The requirement matrix: what the suite demands, cell by cell, for reviewers to audit.

    certconform requirements [--edition E] [--platform P] [--format table|json|markdown|html]

One row per platform x certificate kind x situation x CA (for a trusted root: x the sections
whose profiles chain to it, `chain`), with what the document's text requires of revocation and
of removal (tier document: several readings where the document contradicts itself, any of which
passes), what our readings add (tier reading: a departure is reported `deviates`, failing only
under --strict), and the statements, interpretations and conflict behind the cell, each
statement with its line and fingerprint.

What this module knows: how to enumerate the cells and lay them out. What it does not know: any
rule. Every cell is `Rules.requirement(...)` of model/rules.py, the very call the oracle makes
when it judges a certificate in that situation (tests/test_requirements.py judges sampled cells
both ways, through the oracle, and demands the same answer).
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass

from certconform.model.behaviour import Behaviour
from certconform.model.rules import CHAINS, OPEN, Requirement, Rules
from certconform.model.world import KINDS, SITUATION_KINDS

FORMATS = ("table", "json", "markdown", "html")
WORD = {"required": "required", "forbidden": "forbidden", "open": "open"}


@dataclass(frozen=True)
class Cell:
    platform: str
    kind: str
    situation: str
    ca: str | None  # intune | third_party for SCEP and PKCS; None otherwise
    chain: frozenset | None  # trusted roots: kinds of the profiles that chain to it and target the device
    requirement: Requirement

    @property
    def anchor(self) -> str:
        """The row's id in the HTML view (index.html's matrix cells link here)."""
        return cell_anchor(self.platform, self.kind, self.situation, self.ca, self.chain)

    def as_json(self, b: Behaviour) -> dict:
        req = self.requirement
        return {
            "platform": self.platform, "kind": self.kind, "situation": self.situation, "ca": self.ca,
            "chain": sorted(self.chain) if self.chain is not None else None,
            "status": req.status,
            "document": [{"revoke": r.revoke, "remove": r.remove, "outcome": r.label} for r in req.readings],
            "reading": [{"revoke": r.revoke, "remove": r.remove} for r in req.strict_readings],
            "statements": [_cite(b, s) for s in req.statements if s in b.by_id],
            "interpretations": [s for s in dict.fromkeys(req.statements + req.interpretations) if s not in b.by_id],
            "conflict": req.conflict,
            "anchor": self.anchor,
        }


def cell_anchor(platform: str, kind: str, situation: str, ca: str | None = None, chain=None) -> str:
    extra = ca or ("chain-" + ("-".join(sorted(chain)) or "none") if chain is not None else "")
    return "req-" + "-".join(x for x in (platform, kind, situation, extra) if x)


def _cite(b: Behaviour, sid: str) -> str:
    st = b.by_id[sid]
    return f"{sid} (line {st.source.line}, {st.source.sha256_8})"


def cells(b: Behaviour, rules: Rules, platform: str | None = None) -> list[Cell]:
    """Every cell of the matrix (of one platform when given), in table order."""
    out = []
    for p in b.platforms:
        if platform is not None and p != platform:
            continue
        for kind in KINDS:
            for situation in b.situations:
                if kind not in SITUATION_KINDS.get(situation, KINDS):
                    continue  # no certificate of this kind is ever in that situation
                if kind in ("scep", "pkcs"):
                    variants = [(ca, None) for ca in ("intune", "third_party")]
                elif kind == "trusted_root":
                    variants = [(None, chain) for chain in CHAINS]
                else:
                    variants = [(None, None)]
                for ca, chain in variants:
                    out.append(Cell(p, kind, situation, ca, chain, rules.requirement(p, kind, situation, ca, chain)))
    return out


def _tri(readings) -> str:
    """'revoke required, remove open' for one reading; alternatives joined by ' | '."""
    return " | ".join(f"revoke {WORD[r['revoke']]}, remove {WORD[r['remove']]}" for r in readings)


def _variant(row: dict) -> str:
    if row["ca"]:
        return row["ca"]
    if row["chain"] is not None:
        return "chain: " + ("+".join(row["chain"]) or "none")
    return ""


def render(b: Behaviour, rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"edition": b.edition, "document": b.document, "cells": rows}, indent=2) + "\n"
    head = ("platform", "kind", "situation", "CA / chain", "tier document", "tier reading", "because of")
    lines = [[r["platform"], r["kind"], r["situation"], _variant(r), _tri(r["document"]),
              _tri(r["reading"]) if r["reading"] != [{k: d[k] for k in ("revoke", "remove")} for d in r["document"]] else "same",
              "; ".join(r["statements"] + r["interpretations"] + ([r["conflict"]] if r["conflict"] else []))
              + ("" if r["status"] == "tested" else f" [{r['status']}]")]
             for r in rows]
    title = f"certconform requirement matrix: {b.document['title']}, edition {b.edition} ({b.document['edition']})"
    if fmt == "markdown":
        out = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines]
        return "\n".join(out) + "\n"
    if fmt == "html":
        body = "\n".join(
            f'<tr id="{html.escape(r["anchor"])}">' + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>"
            for r, line in zip(rows, lines))
        return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
                "<style>body{font-family:system-ui,sans-serif;margin:1.5rem}table{border-collapse:collapse;font-size:.85rem}"
                "td,th{border:1px solid #ccc;padding:.2rem .4rem;text-align:left;vertical-align:top}"
                "tr:target{outline:3px solid #0969da}</style></head><body>"
                f"<h1>{html.escape(title)}</h1><p>Generated from model/behaviour.yaml by "
                "<code>certconform requirements</code>: each row is what the oracle demands of one certificate in "
                "that situation. Tier document: what the text requires (alternatives: the document contradicts "
                "itself, any passes). Tier reading: what our readings add (fails only under --strict).</p>"
                "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr></thead><tbody>{body}"
                "</tbody></table></body></html>\n")
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(head)]
    widths[-1] = 0  # the last column runs on
    fmt_line = lambda cols: "  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()  # noqa: E731
    return "\n".join([title, "", fmt_line(head), fmt_line(["-" * len(h) for h in head])] + [fmt_line(l) for l in lines]) + "\n"


def rows_for(edition: str | None = None, platform: str | None = None) -> tuple[Behaviour, list[dict]]:
    """(the edition's table, its matrix rows as JSON-able dicts)."""
    from certconform.model.behaviour import default, edition_in_force
    from certconform.model.rules import default_rules

    if edition is None:
        b = default()
        return b, [c.as_json(b) for c in cells(b, default_rules(), platform)]
    with edition_in_force(edition) as b:
        return b, [c.as_json(b) for c in cells(b, default_rules(), platform)]


def requirements_main(edition: str | None, platform: str | None, fmt: str) -> int:
    b, rows = rows_for(edition, platform)
    print(render(b, rows, fmt), end="")
    return 0


def is_open(row: dict) -> bool:
    return all(r["revoke"] == OPEN and r["remove"] == OPEN for r in row["document"])
