"""Self-tests of `certconform drift`: edited copies of the shared document, made in tmp_path.

What they know: where statements sit in the document (their source lines in behaviour.yaml), so
every edit is made by line number and no sentence of the document is copied into this project.
What they don't: what an edit means; drift only reports that it happened.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from certconform import drift
from certconform.model.behaviour import default
from tests.articles import article

ROOT = Path(__file__).resolve().parent.parent


def baseline() -> Path:
    """The 01/13/2022 edition's file (tests/articles.py: failing in one line if it is nowhere)."""
    return article("2022")


def lines() -> list[str]:
    return baseline().read_text(encoding="utf-8").splitlines()


def line_of(sid: str) -> int:
    return default().by_id[sid].source.line


def write(tmp_path: Path, text_lines: list[str], name="edition.md") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(text_lines) + "\n", encoding="utf-8")
    return p


def run_drift(path: Path, capsys, as_json=True):
    code = drift.main(str(path), as_json=as_json)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if as_json and out else out), err


def edits(result: dict) -> dict:
    return {k: len(result[k]) for k in ("added", "removed", "changed")}


def test_the_baseline_edition_reports_no_change(capsys):
    code, result, err = run_drift(baseline(), capsys)
    assert code == 0 and err == ""
    assert edits(result) == {"added": 0, "removed": 0, "changed": 0} and result["wording_only"] == []
    assert result["baseline"] == "Remove SCEP and PKCS certificates in Microsoft Intune (01/13/2022)"
    assert "warnings" not in result


def test_renames_links_front_matter_and_formatting_are_wording_only(tmp_path, capsys):
    text = "\n".join(lines())
    text = text.replace("Azure Active Directory (Azure AD)", "Microsoft Entra ID").replace("Azure AD", "Microsoft Entra")
    text = text.replace("../remote-actions/devices-wipe.md", "../remote-actions/device-wipe-retire.md")
    text = text.replace("ms.date: 01/13/2022", "ms.date: 06/30/2025").replace("author: brenduns", "author: someone")
    text = text.replace("*and*", "**and**").replace("*stay*", "stay")
    text = text.replace("\n- A user unenrolls.", "\n-   A user  unenrolls. ")
    path = write(tmp_path, text.splitlines())
    code, result, _ = run_drift(path, capsys)
    assert edits(result) == {"added": 0, "removed": 0, "changed": 0}, result
    assert code == 0 and result["edition"] == "06/30/2025"
    by_statement = {i["statement"] for i in result["wording_only"]}
    assert {"WIN-SCEP-RR-4", "WIN-SCEP-STAY-3", "GEN-ORDER-2", "WIN-SCEP-RR-2"} <= by_statement


def test_a_bullet_moved_to_another_list_is_one_change(tmp_path, capsys):
    src = lines()
    moved, target = line_of("WIN-SCEP-RR-4"), line_of("WIN-SCEP-RV-1")
    out = []
    for n, line in enumerate(src, start=1):
        if n != moved:
            out.append(line)
        if n == target:
            out.append(src[moved - 1])
    code, result, _ = run_drift(write(tmp_path, out), capsys)
    assert code == 1
    assert edits(result) == {"added": 0, "removed": 0, "changed": 1}, result
    item = result["changed"][0]
    assert item["statement"] == "WIN-SCEP-RR-4"
    assert (item["from_list"], item["list"]) == ("revoked-and-removed", "revoked")
    assert item["section"] == "Windows devices > SCEP certificates"


def test_an_added_bullet_is_one_addition(tmp_path, capsys):
    src = lines()
    at = line_of("WIN-SCEP-STAY-2")
    out = src[:at] + ["- An administrator renames the device."] + src[at:]
    code, result, _ = run_drift(write(tmp_path, out), capsys)
    assert code == 1
    assert edits(result) == {"added": 1, "removed": 0, "changed": 0}, result
    item = result["added"][0]
    assert (item["section"], item["list"], item["statement"]) == ("Windows devices > SCEP certificates", "stays", None)
    assert item["line"] == at + 1 and result["wording_only"] == []


def test_a_removed_bullet_is_one_removal(tmp_path, capsys):
    src = lines()
    gone = line_of("WIN-SCEP-STAY-2")
    code, result, _ = run_drift(write(tmp_path, src[:gone - 1] + src[gone:]), capsys)
    assert code == 1
    assert edits(result) == {"added": 0, "removed": 1, "changed": 0}, result
    assert result["removed"][0]["statement"] == "WIN-SCEP-STAY-2" and result["removed"][0]["list"] == "stays"


def test_edited_bullet_and_edited_note_are_changes_naming_the_statement(tmp_path, capsys):
    src = lines()
    a, b = line_of("WIN-SCEP-STAY-1"), line_of("ANDROID-WORK-1")
    src[a - 1] = src[a - 1].rstrip(".") + " for more than 30 days."
    src[b - 1] = src[b - 1].replace(" not ", " now ")
    code, result, _ = run_drift(write(tmp_path, src), capsys)
    assert code == 1
    assert sorted(i["statement"] for i in result["changed"]) == ["ANDROID-WORK-1", "WIN-SCEP-STAY-1"], result
    assert edits(result) == {"added": 0, "removed": 0, "changed": 2}
    human_code = drift.main(str(tmp_path / "edition.md"), as_json=False)
    out = capsys.readouterr().out
    assert human_code == 1 and "behaviour changed: 2 edit(s)" in out and "(WIN-SCEP-STAY-1)" in out


@pytest.mark.parametrize("content, expect", [
    (b'{"title": "not markdown"}\n', ":1: no Markdown headings"),
    (b"# Notes\n\nSome text.\n\n- a bullet\n", "not the certificate-removal document"),
    (b"# Title\n\xff\xfe broken\n", ":2: not UTF-8"),
    (b"---\ntitle: x\n# never closed\n", ":1: front matter opened"),
])
def test_a_file_that_is_not_the_document_is_exit_2_with_one_line(tmp_path, content, expect):
    p = tmp_path / "other.md"
    p.write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "certconform.cli", "drift", str(p), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and expect in err[0] and str(p) in err[0], err


def test_cli_exit_codes(tmp_path):
    same = subprocess.run([sys.executable, "-m", "certconform.cli", "drift", str(baseline())],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert same.returncode == 0 and "behaviour unchanged" in same.stdout
    missing = subprocess.run([sys.executable, "-m", "certconform.cli", "drift", str(tmp_path / "nope.md")],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_normalise_is_about_wording_only():
    n = drift.normalise
    assert n("removed from an *Azure AD* group.") == n("removed from an Microsoft Entra ID group")
    assert n("[wipe](a.md#wipe) action") == n("[wipe](b.md) action")
    assert n("A user unenrolls.") != n("A user retires.")
