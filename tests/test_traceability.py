"""Traceability self-tests: the behaviour table cites the document, and the features cover the table."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from certconform.document import fingerprint, parse
from certconform.model.behaviour import default, editions, load
from tests.articles import article

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ROOT / "features"
EDITIONS = list(editions())  # every shipped edition: the baseline and each overlay in model/editions/
# outcome bullets ("... when:" lists under a platform heading) in each edition's file
OUTCOME_BULLETS = {"2022": 87, "2024": 88}


def _document(edition: str = "2022"):
    return parse(article(edition))


def test_every_shipped_edition_is_checked_here():
    assert set(EDITIONS) == set(OUTCOME_BULLETS), "a new edition: add its outcome bullet count"


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_outcome_bullet_is_cited_with_a_matching_fingerprint(edition):
    doc, b = _document(edition), load(edition=edition)
    bullets = doc.outcome_bullets()
    assert len(bullets) == OUTCOME_BULLETS[edition]
    cited = {(s.source.line, s.source.sha256_8) for s in b.statements}
    missing = [f"line {x.line}: {x.section}" for x in bullets if (x.line, x.sha256_8) not in cited]
    assert not missing, f"outcome bullets not cited by any statement: {missing}"


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_statement_fingerprint_matches_its_line(edition):
    doc, b = _document(edition), load(edition=edition)
    wrong = [f"{s.id}: line {s.source.line} has {fingerprint(doc.line(s.source.line))}, yaml says {s.source.sha256_8}"
             for s in b.statements if fingerprint(doc.line(s.source.line)) != s.source.sha256_8]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_statement_cites_its_own_section_and_list(edition):
    """A re-citation lands on the right bullet, not just on a line with the same text (the
    wipe/retire bullets repeat in every section): the cited line is an outcome bullet of the
    cited section, in the list the statement names."""
    from certconform.drift import list_key

    doc, b = _document(edition), load(edition=edition)
    where = {x.line: (x.section, list_key(x.list)) for x in doc.outcome_bullets()}
    wrong = [f"{s.id}: line {s.source.line} is in {where[s.source.line]}"
             for s in b.statements if s.role == "platform" and where.get(s.source.line) != (s.source.section, s.source.list)]
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


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_statement_has_a_scenario(edition):
    """Every statement that requires something has a scenario; an informative one (it requires
    nothing by itself, e.g. the intro's "can be removed") has none, since a scenario asserting
    nothing could not fail."""
    tags = _feature_tags()
    b = load(edition=edition)
    missing = [s.id for s in b.statements if s.id not in tags and s.status != "informative"]
    assert not missing, f"statements without a scenario: {missing}"
    informative = [s for s in b.statements if s.status == "informative"]
    assert {s.id for s in informative} >= {"GEN-INTRO-1", "GEN-INTRO-2"}
    assert not [s.id for s in informative if s.id in tags], "an informative statement has a scenario"
    for s in informative:
        o = b.outcomes[s.outcome]
        assert (o["revoke"], o["remove"]) == ("open", "open"), f"{s.id} is informative but its outcome requires something"


def test_edition_tags_match_the_editions_a_statement_belongs_to():
    """A statement only some editions make is checked only by scenarios tagged with exactly those
    editions (the plugin deselects them elsewhere); a scenario tagged for some editions names only
    statements those editions make."""
    tables = {e: load(edition=e) for e in EDITIONS}
    wrong = []
    for path in FEATURES.glob("*.feature"):
        for line in path.read_text().splitlines():
            tags = [t[1:] for t in line.strip().split()] if line.strip().startswith("@") else []
            eds = [t.split("-", 1)[1] for t in tags if t.startswith("edition-")]
            for sid in (t for t in tags if t in {i for b in tables.values() for i in b.by_id}):
                having = [e for e in EDITIONS if sid in tables[e].by_id]
                if (eds and not set(eds) <= set(having)) or (not eds and having != EDITIONS):
                    wrong.append(f"{path.name}: @{sid} tagged for {eds or 'every edition'}, made by {having}")
    assert not wrong, "\n".join(wrong)
    assert any("@edition-2024" in p.read_text() for p in FEATURES.glob("*.feature"))


def test_every_statement_tag_names_a_real_statement_or_interpretation():
    known = set()
    for e in EDITIONS:
        b = load(edition=e)
        known |= set(b.by_id) | {i.id for i in b.interpretations}
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
        for sid in c.statements:
            assert (b.status(sid) == "conflict") == b.wholly_in_conflict(sid), sid
    # the KNOX directory removal is wholly a contradiction; Windows PKCS removal only where a
    # deletion ends the targeting, so WIN-PKCS-RM-1 keeps its own status
    assert b.status("KNOX-SCEP-RV-4") == b.status("KNOX-SCEP-STAY-3") == "conflict"
    assert b.status("WIN-PKCS-RM-1") == "tested" and b.status("GEN-ORDER-3") == "conflict"


def _expanded_checks(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(scenario name, its steps with the Background first) for every scenario and example row."""
    background: list[str] = []
    out: list[tuple[str, tuple[str, ...]]] = []
    name, steps, header, rows, mode = None, [], None, [], None

    def flush():
        if name is None:
            return
        for row in rows or [None]:
            concrete = list(steps)
            if row is not None:
                for key, value in zip(header, row):
                    concrete = [s.replace(f"<{key}>", value) for s in concrete]
            out.append((name, tuple(background + concrete)))

    for line in path.read_text().splitlines():
        s = line.strip()
        if s.startswith("Background:"):
            mode = "background"
        elif s.startswith(("Scenario:", "Scenario Outline:")):
            flush()
            name, steps, header, rows, mode = s.split(":", 1)[1].strip(), [], None, [], "scenario"
        elif s.startswith("Examples:"):
            mode = "examples"
        elif s.startswith("|") and mode == "examples":
            cells = [c.strip() for c in s.strip("|").split("|")]
            if header is None:
                header = cells
            else:
                rows.append(cells)
        elif s.split(" ", 1)[0] in ("Given", "When", "Then", "And"):
            step = s.split(" ", 1)[1]
            (background if mode == "background" else steps).append(step)
    flush()
    return out


def test_no_two_generated_scenarios_make_the_same_check():
    seen: dict[tuple[str, ...], str] = {}
    dupes = []
    for path in sorted(FEATURES.glob("*.feature")):
        for name, steps in _expanded_checks(path):
            if steps in seen:
                dupes.append(f"{path.name}: {name[:60]}... repeats {seen[steps][:60]}...")
            seen.setdefault(steps, f"{path.name}: {name}")
    assert not dupes, "\n".join(dupes)


def test_statements_naming_the_user_are_checked_through_a_user_group():
    # Deleting the user, the group, or the profile no longer targeting "the device or its user":
    # each platform statement about these has a row whose profiles reach the device through its user.
    text = "\n".join(p.read_text() for p in FEATURES.glob("*.feature"))
    blocks = text.split("\n  @")
    for sid in ("WIN-PKCS-RM-1", "WIN-SCEP-STAY-3", "IOS-PKCS-STAY-3", "MAC-PKCS-STAY-4", "GEN-INTRO-3",
                "KNOX-SCEP-STAY-3"):
        mine = [b for b in blocks if b.split("\n", 1)[0].split().count("@" + sid) or b.startswith(sid + " ")]
        assert any('the user group "staff", which contains "alice"' in b for b in mine), sid


def test_conflict_scenarios_are_titled_as_conflicts():
    # A Then that accepts either of two readings belongs to a scenario named for the conflict, and
    # a scenario titled "neither revoked nor removed" asserts exactly that.
    conflicts = {c.id for c in default().conflicts}
    wrong = []
    for path in sorted(FEATURES.glob("*.feature")):
        for name, steps in _expanded_checks(path):
            thens = [s for s in steps if s.startswith("the ") and " certificate" in s]
            either = any(s.endswith("(the document contradicts itself)") for s in thens)
            named = "contradict each other" in name and any(f"({c})" in name for c in conflicts)
            if either != named:
                wrong.append(f"{path.name}: {name[:80]}")
            if not either and name.endswith("neither revoked nor removed.") and not all(
                    s.endswith("stays, neither revoked nor removed") for s in thens):
                wrong.append(f"{path.name}: {name[:80]} (the Then asserts something else)")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_scenario_names_are_unique():
    # conformance/test_features.py binds every feature in one module: a repeated name would
    # silently replace the earlier scenario's test.
    names = [line.strip().split(":", 1)[1].strip() for path in sorted(FEATURES.rglob("*.feature"))
             for line in path.read_text().splitlines() if line.strip().startswith(("Scenario:", "Scenario Outline:"))]
    repeated = sorted({n for n in names if names.count(n) > 1})
    assert not repeated, repeated
