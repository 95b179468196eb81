"""Where the article comes from, and the one order in which every command finds it.

The project never contains the article's text (Microsoft's "Remove SCEP and PKCS certificates in
Microsoft Intune"). Each edition the suite knows is pinned here to its public source: the
MicrosoftDocs/memdocs repository at one commit, the file's path at that commit, and the sha256 of
its bytes. `certconform document fetch` downloads it with pooch into the user's cache
(platformdirs' cache directory, or env CERTCONFORM_CACHE) and refuses any other bytes.

The lookup order, for every command and self-test that needs an edition's file:
  1. `--document FILE` (the edition in force only),
  2. env CERTCONFORM_DOCUMENT (the edition in force only),
  3. the cache (a file whose sha256 is the pinned one),
  4. `../shared/spec-source/<file>`: beside the project checkout when certconform runs from one,
     else beside the current directory (never beside site-packages).
When none has it, `ArticleMissing` says so in one line and how to provide the file.

What this module knows: the pinned sources and that lookup order. What it does not know: the
article's shape (certconform/document.py) or what it requires (model/behaviour.yaml). Which
edition a command judges by is the behaviour table's (model/behaviour.py).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

DOCUMENT_ENV = "CERTCONFORM_DOCUMENT"
CACHE_ENV = "CERTCONFORM_CACHE"
BASE_URL_ENV = "CERTCONFORM_ARTICLE_BASE_URL"  # a stand-in for the public repository (self-tests, mirrors)
PUBLIC_BASE_URL = "https://raw.githubusercontent.com/MicrosoftDocs/memdocs"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path("..") / "shared" / "spec-source"


@dataclass(frozen=True)
class Pinned:
    """One edition's public source: `base/commit/path` must have exactly `sha256`."""

    edition: str
    commit: str  # a MicrosoftDocs/memdocs commit whose file at `path` is this edition
    path: str  # the file's path in the repository at that commit
    sha256: str
    filename: str  # the name it has in the cache and in ../shared/spec-source

    def url(self, base: str | None = None) -> str:
        base = (base or os.environ.get(BASE_URL_ENV) or PUBLIC_BASE_URL).rstrip("/")
        return f"{base}/{self.commit}/{self.path}"


# The article moved in the repository between the editions (memdocs/intune/protect/ in 2022,
# intune/device-configuration/certificates/remove-profiles.md after the 2025 restructuring); each
# commit is one whose file there is byte-identical to the edition the behaviour table cites.
PINNED = {
    "2022": Pinned("2022", "57cb874bfba554a97baa4fbbdbb9d720ce121f71",
                   "memdocs/intune/protect/remove-certificates.md",
                   "e0537a09faf2a2f21b65a85b597939a4e2310f46f646cf37042883586af54b9f",
                   "remove-certificates.md"),
    "2024": Pinned("2024", "4a0eb09e5dd748f36825cdf427f914afba116a5c",
                   "intune/device-configuration/certificates/remove-profiles.md",
                   "2af0e8784fa22a16928327d92d7805fe0f20ae90e21159b74ee950138d5c2102",
                   "remove-certificates-2024-04-08.md"),
}


class ArticleMissing(LookupError):
    """No copy of an edition anywhere the lookup looks; the message is one line saying how to get one."""


class FetchError(RuntimeError):
    """The download failed (no network, wrong bytes, a write error); the message is one line."""


def pinned(edition: str) -> Pinned:
    try:
        return PINNED[edition]
    except KeyError:
        raise ArticleMissing(f"edition {edition!r} has no pinned source (known: {', '.join(PINNED)})") from None


def cache_dir() -> Path:
    """Where fetched editions live: env CERTCONFORM_CACHE, else the platform's user cache directory."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("certconform", appauthor=False))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached(edition: str) -> Path | None:
    """The cache's copy of `edition` if it holds the pinned bytes (anything else is ignored)."""
    path = cache_dir() / pinned(edition).filename
    try:
        return path if sha256_of(path) == pinned(edition).sha256 else None
    except OSError:
        return None


def is_checkout() -> bool:
    """True when certconform runs from a source checkout (editable install), not from site-packages."""
    return (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "model" / "behaviour.yaml").is_file()


def shared_dir() -> Path:
    """`../shared/spec-source` beside the checkout, or beside the current directory when installed."""
    return (PROJECT_ROOT if is_checkout() else Path.cwd()) / SHARED


def in_force(edition: str) -> bool:
    from certconform.model.behaviour import current_edition

    return edition == current_edition()


def candidates(edition: str, explicit: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """(where, path) in lookup order; `explicit` and the environment name the edition in force only."""
    out: list[tuple[str, Path]] = []
    if explicit:
        out.append(("--document", Path(explicit)))
    if os.environ.get(DOCUMENT_ENV) and in_force(edition):
        out.append((DOCUMENT_ENV, Path(os.environ[DOCUMENT_ENV])))
    out.append(("cache", cache_dir() / pinned(edition).filename))
    out.append(("shared", shared_dir() / pinned(edition).filename))
    return out


def find(edition: str, explicit: str | os.PathLike | None = None) -> tuple[str, Path] | None:
    """The first copy of `edition` in lookup order, as (where, path); None when there is none.
    A named file (--document, the environment) is taken as it is, even if missing, so a typo is
    reported rather than silently replaced; a cached file counts only with the pinned bytes."""
    for where, path in candidates(edition, explicit):
        if where in ("--document", DOCUMENT_ENV):
            return where, path
        if where == "cache":
            if cached(edition):
                return where, path
        elif path.is_file():
            return where, path
    return None


def missing_message(edition: str) -> str:
    return (f"the article (edition {edition}) is not on this machine: run `certconform document fetch --edition "
            f"{edition}` (needs the network), or pass --document FILE / set {DOCUMENT_ENV}, or copy it to "
            f"{cache_dir() / pinned(edition).filename}")


def locate(edition: str | None = None, explicit: str | os.PathLike | None = None) -> Path:
    """The path of `edition` (default: the edition in force) in lookup order. Raises ArticleMissing."""
    if edition is None:
        from certconform.model.behaviour import current_edition

        edition = current_edition()
    found = find(edition, explicit)
    if found is None:
        raise ArticleMissing(missing_message(edition))
    return found[1]


def fetch(edition: str, base_url: str | None = None) -> Path:
    """Download `edition` into the cache (nothing is downloaded if the cache already has its
    pinned bytes) and return the path. Raises FetchError with one line."""
    import pooch
    import requests

    source = pinned(edition)
    url = source.url(base_url)
    target = cache_dir()
    pooch.get_logger().setLevel("WARNING")  # not "Downloading data from ..." on every fetch
    try:
        target.mkdir(parents=True, exist_ok=True)
        return Path(pooch.retrieve(url, known_hash=f"sha256:{source.sha256}", fname=source.filename,
                                   path=target, progressbar=False,
                                   downloader=pooch.HTTPDownloader(timeout=30, progressbar=False)))
    except requests.RequestException as exc:
        reason = _reason(exc)
        raise FetchError(f"cannot download edition {edition} from {url}: {reason}") from None
    except ValueError as exc:  # pooch: the bytes do not have the pinned sha256
        if "hash" in str(exc).lower():
            raise FetchError(f"{url}: the download does not have the pinned sha256 {source.sha256[:12]}...; "
                             "nothing was written to the cache") from None
        raise FetchError(f"{url}: {exc}") from None
    except OSError as exc:
        raise FetchError(f"cannot write to the cache {target}: {exc.strerror or exc}") from None


def _reason(exc: Exception) -> str:
    """A short reason for a failed request: the HTTP status, or the innermost cause."""
    response = getattr(exc, "response", None)
    if response is not None:
        return f"HTTP {response.status_code} {response.reason or ''}".strip()
    cause: BaseException = exc
    while cause.__cause__ is not None or (cause.args and isinstance(cause.args[0], BaseException)):
        cause = cause.__cause__ or cause.args[0]
    text = str(cause).split(": ", 1)[-1] if ": " in str(cause) else str(cause)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)  # "[Errno -2] Name or service not known"
    return (text or type(cause).__name__).splitlines()[0][:200]


def main(args) -> int:
    """`certconform document fetch|where`: one line per edition on stdout, problems on stderr.
    Exit 0 when every edition asked for is there, 1 when one could not be fetched (or is missing)."""
    import sys

    editions = [args.edition] if args.edition else list(PINNED)
    code = 0
    for edition in editions:
        if args.action == "where":
            found = find(edition)
            if found is None:
                print(f"certconform document: {missing_message(edition)}", file=sys.stderr)
                code = 1
            else:
                print(f"edition {edition}: {found[1]} (from {found[0]})")
            continue
        found = find(edition) if args.if_missing else None
        if found is not None and found[1].is_file():
            print(f"edition {edition}: {found[1]} (from {found[0]}; not fetched)")
            continue
        try:
            path = fetch(edition, args.base_url)
        except FetchError as exc:
            print(f"certconform document fetch: {exc}; to provide the file yourself, copy it to "
                  f"{cache_dir() / pinned(edition).filename} or pass --document FILE", file=sys.stderr)
            code = 1
            continue
        print(f"edition {edition}: {path} (sha256 {pinned(edition).sha256[:12]}... checked)")
    return code
