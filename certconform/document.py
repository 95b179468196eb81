"""Read the specification document (the Intune article, Markdown) into citable pieces.

What this module knows: the article's shape — front matter, `##`/`###` headings, list
introductions ending in "when:", `- ` bullets, and `> [!NOTE]` blocks — and how the project
fingerprints a line (first 8 hex digits of SHA-256 of the stripped line, UTF-8).
What it does not know: what any bullet *means*. That lives in model/behaviour.yaml.

Used by the traceability self-tests (every outcome bullet is cited with a matching
fingerprint) and by `certconform drift` (compare two editions list by list).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCUMENT_ENV = "CERTCONFORM_DOCUMENT"


class DocumentError(ValueError):
    """The file is not the document (or not in its Markdown shape); the message names the line."""


def fingerprint(line: str) -> str:
    """The project's fingerprint of one source line: sha256 of the stripped line, 8 hex digits."""
    return hashlib.sha256(line.strip().encode("utf-8")).hexdigest()[:8]


def document_path(explicit: str | os.PathLike | None = None, edition: str | None = None) -> Path:
    """The file of `edition` (default: the edition in force), found in the one lookup order of
    certconform/article.py: `explicit` (--document), env CERTCONFORM_DOCUMENT, the cache,
    ../shared/spec-source. Raises article.ArticleMissing (one line) when no copy is anywhere."""
    from certconform.article import locate

    return locate(edition, explicit)


@dataclass(frozen=True)
class Bullet:
    """One `- ` bullet of a list: where it stands and what it says (raw Markdown)."""

    section: str  # heading path, e.g. "Windows devices > SCEP certificates"
    list: str  # the list's introduction line, as written in the document (ends with "when:")
    line: int  # 1-based line number in the file
    text: str  # the bullet's text without the "- " marker
    raw: str = ""  # the whole source line, as fingerprinted

    @property
    def sha256_8(self) -> str:
        return fingerprint(self.raw or f"- {self.text}")


@dataclass
class Document:
    path: Path
    lines: list[str]
    front_matter: dict[str, str] = field(default_factory=dict)
    bullets: list[Bullet] = field(default_factory=list)
    headings: list[tuple[int, int, str]] = field(default_factory=list)  # (line, level, title)

    @property
    def edition(self) -> str:
        return self.front_matter.get("ms.date", "unknown")

    @property
    def title(self) -> str:
        return self.front_matter.get("title", "")

    def line(self, number: int) -> str:
        """The text of 1-based line `number` (empty string past the end)."""
        return self.lines[number - 1] if 1 <= number <= len(self.lines) else ""

    def outcome_bullets(self) -> list[Bullet]:
        """Bullets of the "... when:" lists under a platform heading (the document's outcome table)."""
        return [b for b in self.bullets if b.list.rstrip().endswith("when:") and " > " in b.section]


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_BULLET = re.compile(r"^\s*[-*]\s+(.*\S)\s*$")


def parse(path: str | os.PathLike | None = None) -> Document:
    """Parse the document at `path` (default: the edition in force, document_path()). Raises
    DocumentError, or article.ArticleMissing when no path is given and no copy is anywhere."""
    p = Path(path) if path else document_path()
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{p}: cannot read the document ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = raw[: exc.start].count(b"\n") + 1
        raise DocumentError(f"{p}:{line_no}: not UTF-8 text") from None
    return parse_text(text, p)


def parse_text(text: str, path: Path | str = "<text>") -> Document:
    lines = text.splitlines()
    doc = Document(path=Path(path), lines=lines)
    i = 0
    if lines and lines[0].strip() == "---":
        for j in range(1, len(lines)):
            if lines[j].strip() == "---":
                for fm in lines[1:j]:
                    key, sep, value = fm.partition(":")
                    if sep and not fm.startswith(("#", " ", "-")):
                        doc.front_matter[key.strip()] = value.strip()
                i = j + 1
                break
        else:
            raise DocumentError(f"{path}:1: front matter opened with '---' is never closed")
    path_stack: list[tuple[int, str]] = []
    current_list: str | None = None
    for n in range(i, len(lines)):
        line = lines[n]
        stripped = line.strip()
        if not stripped:
            continue
        m = _HEADING.match(line)
        if m:
            level = len(m.group(1))
            title = m.group(2)
            doc.headings.append((n + 1, level, title))
            if level >= 2:
                path_stack = [(lv, t) for lv, t in path_stack if lv < level]
                path_stack.append((level, title))
            current_list = None
            continue
        if stripped.startswith(">"):
            current_list = None
            continue
        b = _BULLET.match(line)
        if b and current_list is not None:
            section = " > ".join(t for _, t in path_stack)
            doc.bullets.append(
                Bullet(section=section, list=current_list, line=n + 1, text=b.group(1), raw=line)
            )
            continue
        if stripped.endswith(":") and not b:
            current_list = stripped
        elif not b:
            current_list = None
    if not doc.headings:
        raise DocumentError(f"{path}:1: no Markdown headings: this is not the document")
    return doc
