"""Self-tests of `certconform drift` on the 04/08/2024 edition and on other captures of it.

Every variant is made in tmp_path from the real 2024 file by a mechanical edit (escapes, links,
reflowed or joined NOTE lines, front matter, a trailing comment, a renamed heading, and what the
published page's rendering does: NOTE blocks as a bare "Note" line, numbered steps out of their
quote, absolute extensionless links, its own metadata and title), so no sentence of the article is
copied into this project. Whatever the capture, drift must report what the
edition itself changed: one added bullet (the Windows SCEP root list), nothing removed or changed.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from certconform import drift
from tests.articles import article

ONE_ADDED = {"added": 1, "removed": 0, "changed": 0}


def text() -> str:
    return article("2024").read_text(encoding="utf-8")


def counts(result: dict) -> dict:
    return {k: len(result[k]) for k in ("added", "removed", "changed")}


def run(path: Path, capsys) -> dict:
    code = drift.main(str(path), as_json=True)
    result = json.loads(capsys.readouterr().out)
    assert code == (1 if any(counts(result).values()) else 0)
    return result


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "capture.md"
    p.write_text(body, encoding="utf-8")
    return p


def _escape_parentheses(t: str) -> str:
    # escape ( and ) outside link targets, as some Markdown exporters do (those not escaped yet)
    out = []
    for line in t.splitlines():
        if line.startswith(("ms.", "title:", "description:")):
            out.append(line)
            continue
        parts = re.split(r"(\]\([^)]*\))", line)
        out.append("".join(p if p.startswith("](") else re.sub(r"(?<!\\)([()])", r"\\\1", p) for p in parts))
    return "\n".join(out) + "\n"


def _absolute_links(t: str) -> str:
    # the page's absolute, extensionless link targets
    base = "https://learn.microsoft.com/en-us/mem/intune/protect/"
    return re.sub(r"\]\((\.\./)*([^)#]*?)\.md(#[^)]*)?\)", lambda m: f"]({base}{m.group(2)}{m.group(3) or ''})", t)


def _reflow_notes(t: str) -> str:
    # break every NOTE line after its fifth word: "> a b c d e\n> f g ..."
    out = []
    for line in t.splitlines():
        words = line[1:].split() if line.startswith(">") else []
        if len(words) > 8 and not re.match(r"\d+\.", words[0]):
            out += ["> " + " ".join(words[:5]), "> " + " ".join(words[5:])]
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _join_note_lines(t: str) -> str:
    # two consecutive NOTE text lines (Android for Work / legacy) become one line
    lines = t.splitlines()
    for i in range(len(lines) - 1):
        a, b = lines[i], lines[i + 1]
        if a.startswith("> ") and b.startswith("> ") and a[2:3].isalpha() and b[2:3].isalpha() \
                and not a.strip().endswith(":") and "[!" not in a + b:
            lines[i:i + 2] = [a + " " + b[2:]]
            return "\n".join(lines) + "\n"
    raise AssertionError("no two consecutive NOTE text lines in the 2024 file")


def _cut_front_matter(t: str) -> str:
    lines = t.splitlines()
    end = lines.index("---", 1)
    keep = [x for x in lines[1:end] if x.startswith(("title:", "ms.date:"))]
    return "\n".join(["---", *keep, "---", *lines[end + 1:]]) + "\n"


def _drop_trailing_comment(t: str) -> str:
    return re.sub(r"\s*<!--[^>]*-->\s*$", "", t.rstrip("\n")) + "\n"


def _inline_note_labels(t: str) -> str:
    # "> [!NOTE]" + "> text" becomes "> **Note:** text"
    return re.sub(r"> \[!NOTE\]\n> (?=\w)", "> **Note:** ", t)


def _rendered_notes(t: str) -> str:
    # a NOTE block as the published page shows it: a bare "Note" line, then its text as plain
    # paragraphs (its lines joined) and its numbered steps as a list outside any quote
    out: list[str] = []
    lines = t.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith(">"):
            out.append(lines[i])
            i += 1
            continue
        body = []
        while i < len(lines) and lines[i].startswith(">"):
            body.append(lines[i][1:].strip())
            i += 1
        body[0] = re.sub(r"^(\[!NOTE\]|\*\*Note:\*\*)\s*", "", body[0])
        out += ["Note", ""]
        paragraph: list[str] = []
        for piece in body + [""]:
            if re.match(r"\d+\.\s", piece) or not piece:
                if paragraph:
                    out += [" ".join(paragraph), ""]
                    paragraph = []
                if piece:
                    out.append(piece)
            else:
                paragraph.append(piece)
        out.append("")
    return "\n".join(out) + "\n"


def _links_without_extension(t: str) -> str:
    # the page's link targets: no ".md" (the published URLs)
    return re.sub(r"\]\(([^)#]*?)\.md(#[^)]*)?\)", lambda m: f"]({m.group(1)}{m.group(2) or ''})", t)


def _asterisk_bullets(t: str) -> str:
    return re.sub(r"(?m)^- ", "* ", t)


def _rendered_page(t: str) -> str:
    # what a copy saved from the published page looks like: its own metadata and title suffix, NOTE
    # blocks rendered, absolute extensionless links, escaped parentheses, the link-only "Next steps"
    # section and the source's comments gone, runs of blank lines collapsed
    lines = t.splitlines()
    end = lines.index("---", 1)
    title = next(x for x in lines[1:end] if x.startswith("title:"))
    month, day, year = next(x for x in lines[1:end] if x.startswith("ms.date:")).split()[1].split("/")
    front = ["---", "layout: Conceptual", f"{title} - Microsoft Intune | Microsoft Learn",
             f"ms.date: {year}-{month}-{day}T00:00:00.0000000Z", "locale: en-us", "---"]
    body = "\n".join(lines[end + 1:])
    body = body.split("\n## Next steps", 1)[0]
    body = re.sub(r"(?m)^# (.*)$", r"# \1 - Microsoft Intune | Microsoft Learn", body, count=1)
    text = "\n".join(front) + "\n" + body + "\n"
    for edit in (_rendered_notes, _absolute_links, _escape_parentheses, _drop_trailing_comment):
        text = edit(text)
    return re.sub(r"\n{3,}", "\n\n", text)


CAPTURES = {
    "escaped parentheses": _escape_parentheses,
    "absolute links": _absolute_links,
    "NOTE blocks reflowed": _reflow_notes,
    "two NOTE lines joined": _join_note_lines,
    "front matter cut down": _cut_front_matter,
    "trailing comment dropped": _drop_trailing_comment,
    "inline NOTE labels": _inline_note_labels,
    "NOTE blocks rendered as a bare Note line": _rendered_notes,
    "links without .md": _links_without_extension,
    "bullets marked with *": _asterisk_bullets,
    "a copy saved from the published page": _rendered_page,
}


def test_the_2024_edition_is_one_added_bullet(capsys):
    result = run(article("2024"), capsys)
    assert counts(result) == ONE_ADDED, result
    added = result["added"][0]
    assert (added["section"], added["list"]) == ("Windows devices > SCEP certificates", "root-removed")
    # the Azure AD -> Microsoft Entra rename, with its article changed, is wording
    renamed = {i["statement"] for i in result["wording_only"]}
    assert {"WIN-SCEP-RR-4", "KNOX-SCEP-RV-2", "MAC-SCEP-RR-3", "WIN-SCEP-STAY-3"} <= renamed


@pytest.mark.parametrize("name", list(CAPTURES))
def test_another_capture_of_the_2024_edition_drifts_as_the_edition_does(name, tmp_path, capsys):
    body = CAPTURES[name](text())
    assert body != text(), f"the {name} edit changed nothing: the test would prove nothing"
    result = run(write(tmp_path, body), capsys)
    assert counts(result) == ONE_ADDED, (name, result)


def test_all_capture_differences_at_once(tmp_path, capsys):
    body = text()
    for edit in CAPTURES.values():
        body = edit(body)
    assert counts(run(write(tmp_path, body), capsys)) == ONE_ADDED


def test_a_renamed_heading_with_unchanged_lists_is_one_wording_change(tmp_path, capsys):
    body = text().replace("\n### SCEP certificates\n", "\n### Certificates from SCEP profiles\n", 1)
    assert body != text()
    result = run(write(tmp_path, body), capsys)
    assert counts(result) == ONE_ADDED, result
    headings = [i for i in result["wording_only"] if i["list"] == "heading"]
    assert len(headings) == 1 and headings[0]["was"] == "SCEP certificates", headings
    # the units under it are compared under the old heading: none is reported on its own
    assert not [i for i in result["wording_only"] if i.get("section", "").endswith("Certificates from SCEP profiles")
                and i["list"] != "heading" and i["was"] == i["text"]]


def test_a_renamed_platform_heading_is_one_wording_change(tmp_path, capsys):
    body = text().replace("\n## Windows devices\n", "\n## Windows 10 and later devices\n", 1)
    assert body != text()
    result = run(write(tmp_path, body), capsys)
    assert counts(result) == ONE_ADDED, result
    assert len([i for i in result["wording_only"] if i["list"] == "heading"]) == 1


def test_a_renamed_heading_whose_lists_changed_is_still_a_change(tmp_path, capsys):
    """Renaming must not hide behaviour: a heading renamed *and* its lists rewritten is not wording."""
    lines = text().replace("\n### PKCS certificates\n", "\n### Something else\n", 1).splitlines()
    lines = [ln + " (edited)" if ln.startswith("- ") else ln for ln in lines]
    result = run(write(tmp_path, "\n".join(lines) + "\n"), capsys)
    assert len(result["changed"]) + len(result["removed"]) > 0


@pytest.mark.parametrize("old, new", [
    # our own sentences, shaped like the article's
    ("A laptop leaves an Azure AD group.", "A laptop leaves a Microsoft Entra group."),
    ("An operator deletes the account from Azure AD", "An operator deletes the account from Microsoft Entra ID"),
    ("Open the Microsoft Endpoint Manager admin center", "Open the Microsoft Intune admin center"),
    (r"the directory \(Azure AD\)", "the directory (Azure AD)"),
])
def test_renames_with_their_articles_normalise_equal(old, new):
    assert drift.normalise(old) == drift.normalise(new)


def test_an_article_alone_is_not_wording_if_it_is_not_around_a_rename():
    # "a group" vs "the group" is left to a person: only articles around renamed terms go
    assert drift.normalise("removed from a group") != drift.normalise("removed from the group")


@pytest.mark.parametrize("statement", ["MAC-WIPE-1", "GEN-ORDER-2", "ANDROID-LEGACY-1"])
def test_a_rendered_page_still_shows_an_edit_to_what_a_note_says(statement, tmp_path, capsys):
    """Rendering is forgiven, an edit is not: a note's sentence (or step) negated or reversed in the
    published page's copy is a change (or removal) of that statement."""
    rendered = _rendered_page(text())
    sentence = _unit_text(statement, rendered)
    edited = rendered.replace(sentence, sentence.replace(" not ", " ").replace("Remove the user", "Keep the user"), 1)
    assert edited != rendered, sentence
    result = run(write(tmp_path, edited), capsys)
    assert statement in {i["statement"] for i in result["changed"] + result["removed"]}, result


def _unit_text(statement: str, rendered: str) -> str:
    """The text of the rendered page's unit that pairs with `statement`'s cited line."""
    from certconform.document import parse_text

    old, new = drift.parse(article("2022")), parse_text(rendered, "rendered.md")
    index, _ = drift.statement_index(old)
    for o, n, _how in drift.align(old, new).pairs:
        if statement in index.get(o.line, []):
            return n.text
    raise AssertionError(f"{statement}: no unit of the rendered page pairs with it")
