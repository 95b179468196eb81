"""Traceability self-tests: the behaviour table cites the document, and the features cover the table."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from certconform.document import document_path, fingerprint, parse
from model.behaviour import default

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ROOT / "features"


def _document():
    path = document_path()
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the specification document is missing at {path}; CI must have it")
        pytest.skip(f"the specification document is not at {path} (set CERTCONFORM_DOCUMENT)")
    return parse(path)


def test_every_outcome_bullet_is_cited_with_a_matching_fingerprint():
    doc, b = _document(), default()
    bullets = doc.outcome_bullets()
    assert len(bullets) == 87
    cited = {(s.source.line, s.source.sha256_8) for s in b.statements}
    missing = [f"line {x.line}: {x.section}" for x in bullets if (x.line, x.sha256_8) not in cited]
    assert not missing, f"outcome bullets not cited by any statement: {missing}"


def test_every_statement_fingerprint_matches_its_line():
    doc, b = _document(), default()
    wrong = [f"{s.id}: line {s.source.line} has {fingerprint(doc.line(s.source.line))}, yaml says {s.source.sha256_8}"
             for s in b.statements if fingerprint(doc.line(s.source.line)) != s.source.sha256_8]
    assert not wrong, "\n".join(wrong)


def test_statement_count_and_prose_statements():
    b = default()
    assert len(b.statements) >= 95
    prose_lines = {s.source.line for s in b.statements if s.role != "platform"}
    # intro (37), offboarding order (42, 43), imported PKCS (45), manual deletion (50, 52),
    # third-party CA (55), Android for Work (216), Android legacy (217), macOS wipe (241)
    assert {37, 42, 43, 45, 50, 52, 55, 216, 217, 241} <= prose_lines


def _feature_tags() -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    for path in FEATURES.rglob("*.feature"):
        scenario_tags: list[str] = []
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("@"):
                scenario_tags = [t[1:] for t in stripped.split()]
            elif stripped.startswith(("Scenario:", "Scenario Outline:")):
                for t in scenario_tags:
                    tags.setdefault(t, []).append(f"{path.name}: {stripped}")
                scenario_tags = []
    return tags


def test_every_statement_has_a_scenario():
    tags = _feature_tags()
    missing = [s.id for s in default().statements if s.id not in tags]
    assert not missing, f"statements without a scenario: {missing}"


def test_every_statement_tag_names_a_real_statement_or_interpretation():
    b = default()
    known = set(b.by_id) | {i.id for i in b.interpretations}
    id_like = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
    unknown = [t for t in _feature_tags() if id_like.match(t) and t not in known]
    assert not unknown, f"feature tags that name no statement: {unknown}"


def test_features_are_generated_from_the_table():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_features.py"), "--check"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_issue_named_conflicts_are_recorded():
    b = default()
    pairs = {frozenset(c.statements) for c in b.conflicts}
    assert frozenset({"KNOX-SCEP-RV-4", "KNOX-SCEP-STAY-3"}) in pairs
    assert frozenset({"WIN-PKCS-RM-1", "WIN-PKCS-STAY-3"}) in pairs
    for c in b.conflicts:
        assert all(b.status(sid) == "conflict" for sid in c.statements)
