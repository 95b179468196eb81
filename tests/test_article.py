"""Self-tests of the article on any machine (certconform/article.py): the pinned public sources,
`certconform document fetch` against a local server standing in for the public repository (never
the network), and the one lookup order (--document, CERTCONFORM_DOCUMENT, the cache,
../shared/spec-source) with its one-line message when no copy is anywhere.

What they know: the pinned commits and hashes, and that the copy the lookup finds is the pinned
edition. What they don't: the article's text (the local server serves the bytes the lookup found).
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from certconform import article as art
from certconform import cli, drift
from certconform.model.behaviour import editions, load
from certconform.traceability import document_check
from tests.articles import article, public_repository

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def originals() -> dict[str, bytes]:
    """Every edition's bytes, read before the article is hidden (ask for it before `nowhere`)."""
    return {edition: article(edition).read_bytes() for edition in art.PINNED}


@pytest.fixture
def empty_cache(originals, tmp_path, monkeypatch) -> Path:
    """An empty cache (and no CERTCONFORM_DOCUMENT); every edition's bytes were read before
    (`originals`), wherever the lookup found them (the cache of a machine without ../shared too)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(art.CACHE_ENV, str(cache))
    monkeypatch.delenv(art.DOCUMENT_ENV, raising=False)
    monkeypatch.delenv(art.BASE_URL_ENV, raising=False)
    return cache


@pytest.fixture
def edition_2024_copy(originals, tmp_path) -> Path:
    copy = tmp_path / "edition-2024.md"
    copy.write_bytes(originals["2024"])
    return copy


@pytest.fixture
def nowhere(empty_cache, tmp_path, monkeypatch) -> Path:
    """No copy of the article anywhere: an empty cache and no ../shared/spec-source."""
    monkeypatch.setattr(art, "shared_dir", lambda: tmp_path / "no-shared")
    return empty_cache


def certconform(*args: str, env_cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTCONFORM_")}
    env[art.CACHE_ENV] = str(env_cache)
    return subprocess.run([sys.executable, "-m", "certconform.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


# ----------------------------------------------------------------------------- the pins
def test_every_edition_is_pinned_to_a_public_commit_and_its_own_file():
    assert set(art.PINNED) == set(editions())
    for edition, pin in art.PINNED.items():
        assert re.fullmatch(r"[0-9a-f]{40}", pin.commit) and re.fullmatch(r"[0-9a-f]{64}", pin.sha256)
        assert pin.url().startswith(f"https://raw.githubusercontent.com/MicrosoftDocs/memdocs/{pin.commit}/")
        # the file name the behaviour table cites the edition under
        assert pin.filename == Path(load(edition=edition).document["default_path"]).name


@pytest.mark.parametrize("edition", list(art.PINNED))
def test_the_copy_the_lookup_finds_is_the_pinned_edition(edition):
    """The pins and the behaviour table's citations describe the same bytes."""
    assert art.sha256_of(article(edition)) == art.PINNED[edition].sha256


# ----------------------------------------------------------------------------- fetching
def _served(originals: dict[str, bytes]) -> dict[str, bytes]:
    """What the stand-in for the public repository serves: every pinned edition at its path."""
    return {f"/{p.commit}/{p.path}": originals[e] for e, p in art.PINNED.items()}


def test_fetch_downloads_every_edition_into_the_cache_once(originals, empty_cache):
    with public_repository(_served(originals)) as (base, requested):
        first = certconform("document", "fetch", "--base-url", base, env_cache=empty_cache)
        assert first.returncode == 0, first.stderr
        assert len(requested) == len(art.PINNED)
        again = certconform("document", "fetch", "--base-url", base, env_cache=empty_cache)
        assert again.returncode == 0 and len(requested) == len(art.PINNED), "a cached edition was fetched again"
    for pin in art.PINNED.values():
        assert hashlib.sha256((empty_cache / pin.filename).read_bytes()).hexdigest() == pin.sha256
    assert len(first.stdout.strip().splitlines()) == len(art.PINNED) and not first.stderr.strip()


def test_the_base_url_comes_from_the_environment_too(originals, empty_cache, monkeypatch):
    with public_repository(_served(originals)) as (base, requested):
        monkeypatch.setenv(art.BASE_URL_ENV, base)
        path = art.fetch("2024")
    assert path == empty_cache / art.PINNED["2024"].filename and requested == [
        f"/{art.PINNED['2024'].commit}/{art.PINNED['2024'].path}"]


def test_fetch_refuses_bytes_that_are_not_the_pinned_edition(originals, empty_cache):
    pin = art.PINNED["2022"]
    tampered = originals["2022"].replace(b"unenrolls", b"unenrols", 1)
    with public_repository({f"/{pin.commit}/{pin.path}": tampered}) as (base, _):
        r = certconform("document", "fetch", "--edition", "2022", "--base-url", base, env_cache=empty_cache)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "sha256" in r.stderr and "Traceback" not in r.stderr
    assert not (empty_cache / pin.filename).exists()


def test_fetch_without_the_network_says_so_in_one_line(empty_cache):
    with public_repository({}) as (base, _):
        pass  # the server is gone: its port refuses connections
    r = certconform("document", "fetch", "--edition", "2024", "--base-url", base, env_cache=empty_cache)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "cannot download edition 2024" in r.stderr and "--document" in r.stderr
    assert str(empty_cache / art.PINNED["2024"].filename) in r.stderr


def test_a_missing_file_on_the_server_is_its_http_status(empty_cache):
    with public_repository({}) as (base, _):
        with pytest.raises(art.FetchError, match="HTTP 404"):
            art.fetch("2022", base)


def test_if_missing_fetches_only_what_the_lookup_does_not_find(originals, nowhere, tmp_path):
    (tmp_path / "no-shared").mkdir()
    (tmp_path / "no-shared" / art.PINNED["2022"].filename).write_bytes(originals["2022"])
    with public_repository(_served(originals)) as (base, requested):
        import argparse

        code = art.main(argparse.Namespace(action="fetch", edition=None, if_missing=True, base_url=base))
    assert code == 0 and [p.split("/", 2)[1] for p in requested] == [art.PINNED["2024"].commit]


# ----------------------------------------------------------------------------- the lookup order
def test_lookup_order_document_then_environment_then_cache_then_shared(originals, nowhere, tmp_path, monkeypatch):
    shared = tmp_path / "no-shared"
    shared.mkdir()
    name = art.PINNED["2022"].filename
    (shared / name).write_bytes(originals["2022"])
    assert art.find("2022") == ("shared", shared / name)
    nowhere.mkdir()
    (nowhere / name).write_bytes(b"not the article")  # a cached copy counts only with the pinned bytes
    assert art.find("2022")[0] == "shared"
    (nowhere / name).write_bytes(originals["2022"])
    assert art.find("2022") == ("cache", nowhere / name)
    monkeypatch.setenv(art.DOCUMENT_ENV, str(tmp_path / "env.md"))
    assert art.find("2022") == (art.DOCUMENT_ENV, tmp_path / "env.md")
    assert art.find("2022", tmp_path / "explicit.md") == ("--document", tmp_path / "explicit.md")
    # the environment names the edition in force (2022 here), not every edition
    assert art.find("2024") is None


def test_an_installed_suite_looks_beside_the_current_directory_not_site_packages(monkeypatch, tmp_path):
    monkeypatch.setattr(art, "is_checkout", lambda: False)
    monkeypatch.chdir(tmp_path)
    assert art.shared_dir() == tmp_path / ".." / "shared" / "spec-source"
    assert "site-packages" not in str(art.shared_dir())


# ----------------------------------------------------------------------------- nothing anywhere
def test_where_with_no_article_anywhere_is_one_line_per_edition(nowhere, capsys):
    assert cli.main(["document", "where"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == len(art.PINNED) and all("certconform document fetch --edition" in e for e in err), err


def test_drift_with_no_baseline_anywhere_says_so_in_one_line(edition_2024_copy, nowhere, capsys):
    assert drift.main(str(edition_2024_copy), as_json=True) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "certconform document fetch --edition 2022" in err[0], err


def test_traceability_without_the_article_is_one_note_naming_the_fetch(nowhere):
    info = document_check(load())
    assert info["found"] is False and info["path"] is None
    assert "certconform document fetch --edition 2022" in info["note"] and "\n" not in info["note"]


def test_the_documentation_names_the_pinned_sources():
    page = (ROOT / "docs" / "article.md").read_text(encoding="utf-8")
    for edition, pin in art.PINNED.items():
        assert f"| {edition} (" in page and f"`{pin.commit}` | `{pin.path}` |" in page, edition
