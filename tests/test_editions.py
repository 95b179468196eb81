"""Editions of the document: the 2024 overlay on the baseline table, the edition in force, the mock
following it, the overlay skeleton from `certconform drift --overlay`, and a run that names its edition.

What these tests know: the shipped editions (2022 baseline, 2024 overlay) and the one behaviour
change between them (WIN-SCEP-ROOT-4); edits to overlays are made on copies in memory or tmp_path.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from certconform import drift, mdm
from certconform.document import parse
from certconform.model import behaviour as bm
from certconform.model.behaviour import BehaviourError, default, edition_in_force, load, use_edition
from certconform.model.rules import Rules, default_rules
from certconform.overlay_skeleton import HUMAN_FIELDS, skeleton
from tests.articles import article

ROOT = Path(__file__).resolve().parent.parent
OVERLAY = ROOT / "model" / "editions" / "2024-04-08.yaml"


# ----------------------------------------------------------------------------- the table
def test_the_2024_edition_is_the_baseline_plus_one_statement():
    old, new = load(), load(edition="2024")
    assert (old.edition, new.edition) == ("2022", "2024")
    assert new.document["edition"] == "04/08/2024" and old.document["edition"] == "01/13/2022"
    assert set(new.by_id) - set(old.by_id) == {"WIN-SCEP-ROOT-4"} and set(old.by_id) <= set(new.by_id)
    ids = [s.id for s in new.statements]
    assert ids.index("WIN-SCEP-ROOT-4") == ids.index("WIN-SCEP-ROOT-3") + 1
    # unchanged statements keep their ids and meaning, and cite the 2024 file's lines
    for sid, s in old.by_id.items():
        t = new.by_id[sid]
        assert (t.event, t.outcome, t.platforms, t.kinds, t.says) == (s.event, s.outcome, s.platforms, s.kinds, s.says)
    assert new.by_id["WIN-SCEP-RR-1"].source.line == 42 and old.by_id["WIN-SCEP-RR-1"].source.line == 63


def test_the_overlay_is_small_not_a_copy_of_the_table():
    raw = yaml.safe_load(OVERLAY.read_text())
    assert len(raw["added"]) == 1 and raw["changed"] == [] and raw["removed"] == []
    assert all(set(v) <= {"section", "list", "line", "sha256_8"} for v in raw["recite"].values())


def test_rules_differ_between_editions_exactly_for_the_new_statement():
    """WIN-SCEP-ROOT-4 names "a certificate profile" (I-ROOT-4-EITHER-PROFILE): each of its two
    events alone is open at tier document, and our reading (I-ROOT-WITH-ITS-SCEP-PROFILE, tier
    reading) takes the root off with its SCEP profile. Nothing else changes."""
    old, new = Rules(load()), Rules(load(edition="2024"))
    scep = frozenset({"scep"})
    win = new.requirement("windows", "trusted_root", "chained_scep_unassigned", chain=scep)
    assert win.is_open and "WIN-SCEP-ROOT-4" in win.statements
    assert [(r.revoke, r.remove) for r in win.strict_readings] == [("forbidden", "required")]
    assert "I-ROOT-WITH-ITS-SCEP-PROFILE" in win.interpretations
    assert "I-ROOT-WITH-ITS-SCEP-PROFILE" not in old.requirement("windows", "trusted_root", "chained_scep_unassigned",
                                                                 chain=scep).interpretations
    for platform in ("ios", "android_knox", "macos"):
        assert new.requirement(platform, "trusted_root", "chained_scep_unassigned", chain=scep).is_open
    # everything else is judged alike
    b = load()
    changed = {("windows", "trusted_root", "chained_scep_unassigned")}
    for platform in b.platforms:
        for kind in ("trusted_root", "scep", "pkcs", "pkcs_imported"):
            for situation in b.situations:
                if (platform, kind, situation) in changed:
                    continue
                for ca in (None, "intune", "third_party"):
                    a, z = old.requirement(platform, kind, situation, ca), new.requirement(platform, kind, situation, ca)
                    assert _tri(a) == _tri(z), (platform, kind, situation, ca)


def _tri(req) -> tuple:
    return ([(r.revoke, r.remove) for r in req.readings], [(r.revoke, r.remove) for r in req.strict_readings])


def test_default_answers_for_the_edition_in_force(monkeypatch):
    monkeypatch.delenv(bm.EDITION_ENV, raising=False)
    monkeypatch.setattr(bm, "_IN_FORCE", [None])  # as if no --edition was given
    assert default().edition == "2022"
    with edition_in_force("2024") as b:
        assert default() is b and b.edition == "2024" and default_rules().b is b
        assert "WIN-SCEP-ROOT-4" in default().by_id
    assert default().edition == "2022" and "WIN-SCEP-ROOT-4" not in default().by_id
    monkeypatch.setenv(bm.EDITION_ENV, "2024")
    assert default().edition == "2024"
    with pytest.raises(BehaviourError, match="unknown edition '1999'"):
        use_edition("1999")


def _apply(monkeypatch, change) -> None:
    ov = copy.deepcopy(bm.overlay("2024"))
    change(ov)
    monkeypatch.setattr(bm, "overlay", lambda edition: ov)
    return bm.apply_overlay(yaml.safe_load(bm.BEHAVIOUR_FILE.read_text()), "2024")


def test_a_changed_statement_gets_a_new_id_and_replaces_the_old(monkeypatch):
    def change(ov):
        old = load().by_id["WIN-SCEP-RR-4"]
        ov["recite"].pop("WIN-SCEP-RR-4")
        ov["changed"] = [{"id": "WIN-SCEP-RR-6", "replaces": "WIN-SCEP-RR-4", "review": "done",
                          "platforms": ["windows"], "kinds": ["scep"], "event": old.event, "outcome": "revoked",
                          "says": "Windows: a changed statement for this test only.",
                          "source": {**ov["recite"]["WIN-SCEP-RR-3"], "section": old.source.section,
                                     "list": "revoked"}}]
    raw = _apply(monkeypatch, change)
    b = bm._build(raw)
    assert "WIN-SCEP-RR-4" not in b.by_id and b.by_id["WIN-SCEP-RR-6"].replaces == "WIN-SCEP-RR-4"
    assert b.by_id["WIN-SCEP-RR-6"].as_json()["replaces"] == "WIN-SCEP-RR-4"
    # interpretations follow the statement to its new id
    assert "WIN-SCEP-RR-6" in b.interpretation("I-USER-LEAVES-GROUP").statements


@pytest.mark.parametrize("change, message", [
    (lambda ov: ov["added"][0].update(review="pending"), "statement WIN-SCEP-ROOT-4: field 'review': still 'pending'"),
    (lambda ov: ov["recite"].pop("WIN-SCEP-RR-2"), "statement WIN-SCEP-RR-2: not cited in this edition"),
    (lambda ov: ov.update(removed=["NOPE-1"]), "removes or replaces NOPE-1"),
    (lambda ov: (ov.update(removed=["KNOX-SCEP-RV-4"]), ov["recite"].pop("KNOX-SCEP-RV-4")),
     "conflict C-KNOX-SCEP-DIRECTORY names KNOX-SCEP-RV-4"),
    (lambda ov: (ov.update(removed=["WIN-SCEP-RR-3"])), "'recite' names WIN-SCEP-RR-3"),
])
def test_a_bad_overlay_is_one_line_naming_the_entry(monkeypatch, change, message):
    with pytest.raises(BehaviourError) as exc:
        _apply(monkeypatch, change)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_the_overlay_schema_names_the_field(monkeypatch, tmp_path):
    bad = yaml.safe_load(OVERLAY.read_text())
    bad["recite"]["WIN-SCEP-RR-1"]["sha256_8"] = "nothex!"
    (tmp_path / "2024-04-08.yaml").write_text(yaml.safe_dump(bad))
    (tmp_path / "overlay.schema.json").write_text(bm.OVERLAY_SCHEMA_FILE.read_text())
    monkeypatch.setattr(bm, "EDITIONS_DIR", tmp_path)
    monkeypatch.setattr(bm, "OVERLAY_SCHEMA_FILE", tmp_path / "overlay.schema.json")
    bm.editions.cache_clear()
    try:
        with pytest.raises(BehaviourError, match=r"field 'recite.WIN-SCEP-RR-1.sha256_8'"):
            bm.overlay("2024")
    finally:
        bm.editions.cache_clear()


# ----------------------------------------------------------------------------- drift --overlay
def _skeleton():
    old, new = parse(article("2022")), drift.load_edition(article("2024"))
    return skeleton(old, new, drift.align(old, new), load(), "2022")


def _citations(overlay: dict) -> dict:
    """What the skeleton decides (ids, replaces, citations), without the fields a person writes."""
    def strip(entries):
        return [{k: v for k, v in e.items() if k not in HUMAN_FIELDS} for e in entries]
    return {"edition": overlay["edition"], "date": overlay["date"], "base": overlay["base"],
            # the file's name: where the 2024 file was found (cache or ../shared) is this machine's business
            "default_path": Path(overlay["default_path"]).name, "added": strip(overlay["added"]),
            "changed": strip(overlay["changed"]), "removed": overlay["removed"], "recite": overlay["recite"]}


def test_the_skeleton_from_the_2024_file_is_the_shipped_overlay():
    assert _citations(_skeleton()) == _citations(yaml.safe_load(OVERLAY.read_text()))


def test_the_skeleton_marks_what_a_person_must_decide():
    sk = _skeleton()
    (added,) = sk["added"]
    assert added["id"] == "WIN-SCEP-ROOT-4" and added["review"] == "pending"
    assert (added["platforms"], added["kinds"], added["outcome"]) == (["windows"], ["trusted_root"], "root-removed")
    assert added["event"] == "TODO" and added["says"].startswith("TODO")


def test_drift_overlay_writes_a_skeleton_the_loader_refuses_until_reviewed(tmp_path, monkeypatch):
    out = tmp_path / "next.yaml"
    code = drift.main(str(article("2024")), overlay=str(out))
    assert code == 1 and out.exists()
    text = out.read_text()
    assert "review: pending" in text and "WIN-SCEP-ROOT-4" in text
    # no sentence of the article in the skeleton: only ids, citations and our placeholders
    bullets = {b.text for b in parse(article("2024")).outcome_bullets()}
    assert not [a for a in bullets if a in text]
    data = yaml.safe_load(text)
    monkeypatch.setattr(bm, "overlay", lambda edition: data)
    with pytest.raises(BehaviourError, match="still 'pending'"):
        bm.apply_overlay(yaml.safe_load(bm.BEHAVIOUR_FILE.read_text()), "2024")
    # never overwrites (a reviewed overlay is a person's work)
    proc = subprocess.run([sys.executable, "-m", "certconform.cli", "drift", str(article("2024")), "--overlay", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "exists" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_drift_against_the_2024_edition_itself_is_unchanged(capsys):
    code = drift.main(str(article("2024")), as_json=True, against="2024")
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and not result["added"] and "warnings" not in result


# ----------------------------------------------------------------------------- the mock
def _windows_root_after_scep_unassign(adapter) -> dict:
    adapter.reset()
    for e in ({"type": "create_user", "user": "u"}, {"type": "create_group", "group": "g"},
              {"type": "add_member", "group": "g", "member": "u"},
              {"type": "enroll", "device": "d", "platform": "windows", "user": "u"},
              {"type": "create_profile", "profile": "root", "kind": "trusted_root"},
              {"type": "create_profile", "profile": "scep", "kind": "scep", "root": "root", "ca": "intune"},
              {"type": "assign_profile", "profile": "root", "group": "g"},
              {"type": "assign_profile", "profile": "scep", "group": "g"},
              {"type": "check_in", "device": "d"},
              {"type": "unassign_profile", "profile": "scep", "group": "g"}):
        adapter.apply(e)
    return next(r for r in adapter.observe() if r["profile"] == "root")


def test_the_mock_follows_the_edition(monkeypatch):
    monkeypatch.delenv(bm.EDITION_ENV, raising=False)
    assert _windows_root_after_scep_unassign(mdm.load_adapter("mock"))["installed"] is True
    assert _windows_root_after_scep_unassign(mdm.load_adapter("mock", edition="2024"))["installed"] is False
    assert _windows_root_after_scep_unassign(mdm.load_adapter("mock@2022", edition="2024"))["installed"] is True
    monkeypatch.setenv(bm.EDITION_ENV, "2024")
    root = _windows_root_after_scep_unassign(mdm.load_adapter("mock"))
    assert root["installed"] is False and root["revoked"] is False
    with pytest.raises(mdm.AdapterSpecError, match="not '1999'"):
        mdm.load_adapter("mock@1999")


# ----------------------------------------------------------------------------- runs
def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-m", "not stateful",
                           f"--report-dir={report}", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    results = json.loads((report / "results.json").read_text()) if (report / "results.json").exists() else {}
    return proc, results


def test_a_mock_pinned_to_2022_fails_exactly_the_2024_statement(tmp_path):
    proc, results = _run(tmp_path, "--edition=2024", "--mdm=mock@2022")
    assert proc.returncode == 1, proc.stdout[-2000:]
    failed = {sid for sid, s in results["statements"].items() if s["verdict"] == "fail"}
    assert failed == {"WIN-SCEP-ROOT-4"}, failed
    assert results["run"]["edition"] == "2024" and results["run"]["behaviour"]["edition"] == "04/08/2024"
    # citations come from the 2024 file
    assert results["statements"]["WIN-SCEP-RR-1"]["source"]["line"] == 42
    assert results["statements"]["WIN-SCEP-ROOT-4"]["source"]["fingerprint_ok"] is True
    assert "edition 2024 (04/08/2024)" in proc.stdout
    html = (tmp_path / "reports" / "index.html").read_text()
    assert "edition 2024 (04/08/2024)" in html


def test_the_2022_run_deselects_the_2024_scenarios(tmp_path):
    proc, results = _run(tmp_path, "--edition=2022", "-k", "winsceproot")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "WIN-SCEP-ROOT-4" not in results["statements"] and results["run"]["edition"] == "2022"
    ran = [t["nodeid"] for s in results["statements"].values() for t in s["scenarios"]]
    assert ran and not [n for n in ran if "winsceproot4" in n]
    assert "2 deselected" in proc.stdout.splitlines()[-1] or "deselected" in proc.stdout


def test_an_unknown_edition_is_one_usage_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "--edition=1999", f"--report-dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4 and "unknown edition '1999'" in proc.stderr
    assert "Traceback" not in proc.stderr
