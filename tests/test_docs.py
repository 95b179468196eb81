"""The documentation: the README as a front door, the MkDocs site (mkdocs.yml, docs/) built strictly
and offline, and every page generated from data equal to what tools/gen_docs.py writes.

What these tests know: the site's configuration, the generator, and the commands whose output the
generated pages hold. What they don't: whether the prose is right (each page's facts have their own
tests: e.g. tests/test_guarded.py checks the timeout line docs/running.md shows,
tests/test_intune_adapter.py the Graph mapping docs/intune.md carries).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from certconform.model.behaviour import edition_in_force, editions

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"


def _nav_pages(nav) -> list[str]:
    out = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        out += _nav_pages(value) if isinstance(value, list) else [value]
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built once with `mkdocs build --strict` (every warning fails: a broken link or
    anchor, a nav entry without its page, a page left out of the nav, a missing included file)."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # Material's banner about its successor
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(CONFIG),
                        "--site-dir", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def test_the_site_builds_strictly(site):
    config = yaml.safe_load(CONFIG.read_text())
    for page in _nav_pages(config["nav"]):
        assert (site / page.replace(".md", ".html")).is_file(), page
    # the strict build fails on warnings only; these checks must stay warnings
    assert config["validation"]["nav"]["omitted_files"] == "warn"
    assert config["validation"]["links"] == {k: "warn" for k in
                                             ("not_found", "anchors", "absolute_links", "unrecognized_links")}


def test_every_page_under_docs_is_in_the_nav():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    nav = set(_nav_pages(yaml.safe_load(CONFIG.read_text())["nav"]))
    assert pages - nav == set(), "pages missing from mkdocs.yml's nav"
    assert nav - pages == set(), "nav entries without a page"


def test_the_build_fetches_nothing_and_the_pages_load_nothing_from_the_web(site):
    config = yaml.safe_load(CONFIG.read_text())
    # Material's social and privacy plugins download at build time; only the built-in search runs
    assert config["plugins"] == ["search"]
    assert config["theme"]["font"] is False  # no Google Fonts stylesheet in the pages
    external = re.compile(r"""<(?:link|script|img)\b[^>]*\b(?:href|src)=["'](?:https?:)?//""", re.I)
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not external.search(text), f"{page.relative_to(site)} loads something from the web"
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, page


def test_the_generated_pages_are_what_tools_gen_docs_writes():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_docs.py"), "--check"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def _gen_docs():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_docs
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return gen_docs


def test_the_check_names_a_page_that_is_out_of_date(monkeypatch, capsys):
    gen_docs = _gen_docs()
    page = gen_docs.REFERENCE / "statements-2022.md"
    files = gen_docs.render_all()
    monkeypatch.setattr(gen_docs, "render_all", lambda: {**files, page: files[page] + "one more line\n"})
    assert gen_docs.main(["--check"]) == 1
    assert capsys.readouterr().out == "docs/reference/statements-2022.md is out of date: run python tools/gen_docs.py\n"


# --------------------------------------------------------------------------- the README
def test_the_readme_is_a_front_door_with_the_two_quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", quick, re.S)
    assert blocks == ["python3 dev.py conformance\npython3 dev.py selftest\n"]
    # every link goes to a page of the site (or the web), so the site's home can be the README
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        assert target.startswith(("http://", "https://")) or (ROOT / target.split("#")[0]).is_file(), target
        assert target.startswith(("http", "docs/")), target


def test_the_sites_home_is_the_readme():
    home = (DOCS / "index.md").read_text()
    readme = (ROOT / "README.md").read_text()
    assert home.split("\n", 2)[2] == readme.replace("](docs/", "](")


# --------------------------------------------------------------------------- generated from data
def test_the_statement_catalogue_holds_every_statement_conflict_and_interpretation():
    cell = _gen_docs().cell
    for edition in editions():
        page = (DOCS / "reference" / f"statements-{edition}.md").read_text()
        lines = [line for line in page.splitlines() if line.startswith("| `")]
        rows = {line.split(" | ")[0].split("`")[1]: line for line in lines}  # statements, conflicts, interpretations
        with edition_in_force(edition) as b:
            for st in b.statements:
                row = rows[st.id]
                assert f" | {st.source.list}, line {st.source.line}, `{st.source.sha256_8}` |" in row, st.id
                assert f" | {', '.join(st.platforms)} | {', '.join(st.kinds)} | {st.event} → {st.outcome} | " in row, st.id
                assert f" | {cell(st.says)}" in row, st.id
            for c in b.conflicts:
                assert c.id in rows and all(s in rows[c.id] for s in c.statements), c.id
            for i in b.interpretations:
                assert rows[i.id].startswith(f"| `{i.id}` | {i.tier} | "), i.id
            assert len(lines) == len(b.statements) + len(b.conflicts) + len(b.interpretations) + \
                len(b.events) + len(b.situations) + len(b.outcomes)


@pytest.mark.parametrize("edition", list(editions()))
def test_the_requirement_matrix_page_is_the_commands_output(edition):
    r = subprocess.run([sys.executable, "-m", "certconform.cli", "requirements", "--edition", edition,
                        "--format", "markdown"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    head = "| platform | kind | situation |"
    command_rows = [line for line in r.stdout.splitlines() if line.startswith("| ") and not line.startswith(head)]
    page = (DOCS / "reference" / f"requirements-{edition}.md").read_text()
    page_rows = [line for line in page.splitlines() if line.startswith("| ") and not line.startswith(head)]
    assert len(command_rows) > 100 and page_rows == command_rows


# --------------------------------------------------------------------------- the report's picture
def test_the_report_screenshot_is_shown_where_the_report_is_explained():
    page = (DOCS / "reports.md").read_text()
    assert re.search(r"!\[[^\]]*HTML report[^\]]*\]\(img/report\.png\)", page)
    png = (DOCS / "img" / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) < 250_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width >= 1000 and height >= 600


# --------------------------------------------------------------------------- what the pages name exists
PATH = re.compile(r"(?<![\w./~-])((?:benchmarks|tools|tests|model|mdm|certconform|conformance|steps|features|docs)"
                  r"/[\w./-]*[\w/])")
# names that stand for a file the reader makes
NOT_IN_THE_REPOSITORY = {"model/editions/YYYY-MM-DD.yaml", "tests/test_x.py"}


def test_every_file_and_folder_the_pages_name_exists():
    # (benchmarks/README.md, which the site includes, is a log of measurements: it may name files
    # that were measured and later replaced)
    missing = []
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        for path in PATH.findall(page.read_text()):
            if path not in NOT_IN_THE_REPOSITORY and not (ROOT / path).exists():
                missing.append(f"{page.relative_to(ROOT)}: {path}")
    assert missing == []
