"""Self-test of the installable package, as a vendor meets it: build the wheel, install it into a
fresh virtual environment, and run certconform from a directory that has nothing to do with this
checkout.

What it checks: the wheel carries everything a run needs (features, behaviour table, templates,
the conformance test modules, the pytest plugin through its `pytest11` entry point); nothing is
installed under a generic top-level import name; `certconform run --mdm mock` writes every report
in the current directory; `--mdm module:attr` imports the user's adapter from the current
directory (the adapter workflow of docs/running.md, "Installing it elsewhere"); `certconform document fetch` (from a local server
standing in for the article's public repository) fills the cache, and `certconform drift FILE`
then works there too.
What it does not check: the verdicts themselves (tests/test_conformance_runs.py does, from the
checkout); the article is absent from the runs on purpose (an installed suite cites by line and
fingerprint without it, and says in one line how to fetch it, never a path under site-packages).

Needs PyPI (or a pip cache) for the dependencies, as `pip install` does for every user.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from certconform.article import PINNED
from tests.articles import public_repository

ROOT = Path(__file__).resolve().parent.parent
GENERIC_NAMES = ("mdm", "model", "steps", "conformance", "features", "tests")
ADAPTER = '''\
"""A vendor's adapter, living next to where the vendor runs certconform: the bundled mock, renamed."""
from certconform.mdm import load_adapter


class VendorMDM:
    def __init__(self):
        self._inner = load_adapter("mock")

    def reset(self):
        self._inner.reset()

    def apply(self, event):
        self._inner.apply(event)

    def observe(self):
        return self._inner.observe()
'''


def _quiet_env(cache: Path | None = None) -> dict[str, str]:
    """The environment less the caller's Python and certconform settings; the article's cache is
    `cache` (default: a folder that does not exist), never the machine's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CERTCONFORM_", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["CERTCONFORM_CACHE"] = str(cache or Path(os.devnull) / "no-cache")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(wheel, bin directory of a fresh virtual environment with the wheel installed)."""
    base = tmp_path_factory.mktemp("package")
    # Build from a copy: setuptools builds in the source tree (build/), and under xdist each
    # worker builds its own wheel at the same time; the checkout is never touched.
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".hypothesis", "reports"))
    dist = base / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(source)],
                           capture_output=True, text=True, timeout=600, env=_quiet_env(), cwd=base)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    [wheel] = dist.glob("certconform-*.whl")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    install = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                             capture_output=True, text=True, timeout=900, env=_quiet_env(), cwd=base)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    return wheel, bindir


def test_wheel_ships_the_suite_under_one_import_name(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"certconform"}, tops
    for needed in ("certconform/features/windows.feature", "certconform/model/behaviour.yaml",
                   "certconform/model/behaviour.schema.json", "certconform/conformance/test_features.py",
                   "certconform/conformance/test_stateful.py", "certconform/templates/index.html.j2",
                   "certconform/mdm/mock/service.py", "certconform/steps/scenario_steps.py",
                   "certconform/mdm/graph_emulator/app.py"):
        assert needed in names, needed
    assert any(n.startswith("certconform/features/regressions/") and n.endswith(".feature") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in text and "certconform.plugin" in text


def test_no_generic_top_level_names_are_importable(installed, tmp_path):
    _, bindir = installed
    probe = "import importlib.util as u, sys; print([n for n in sys.argv[1:] if u.find_spec(n)])"
    r = subprocess.run([str(bindir / "python"), "-c", probe, *GENERIC_NAMES], capture_output=True, text=True,
                       cwd=tmp_path, env=_quiet_env(), timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_run_from_any_directory_writes_reports_there(installed, tmp_path):
    _, bindir = installed
    r = subprocess.run([str(bindir / "certconform"), "run", "--mdm", "mock", "-q", "-m", "not stateful"],
                       capture_output=True, text=True, cwd=tmp_path, env=_quiet_env(), timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    # no article on this machine: one line says how to fetch it, and nothing points into site-packages
    assert "site-packages" not in r.stdout + r.stderr
    assert [line for line in r.stdout.splitlines() if "certconform document fetch" in line], r.stdout[-2000:]
    for name in ("junit.xml", "cucumber.json", "results.json", "traceability.json", "index.html"):
        assert (tmp_path / "reports" / name).is_file(), name
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    verdicts = {s["verdict"] for s in results["statements"].values()}
    assert "fail" not in verdicts and "pass" in verdicts, verdicts


def test_adapter_is_imported_from_the_current_directory(installed, tmp_path):
    """The documented workflow (docs/running.md): `certconform run --mdm my_adapter:Cls` next to my_adapter.py."""
    _, bindir = installed
    (tmp_path / "vendor_adapter.py").write_text(ADAPTER)
    r = subprocess.run([str(bindir / "certconform"), "run", "--mdm", "vendor_adapter:VendorMDM", "-q",
                        "-m", "not stateful", "-k", "winscep"],
                       capture_output=True, text=True, cwd=tmp_path, env=_quiet_env(), timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    results = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert results["run"]["implementation"] == "vendor_adapter:VendorMDM"
    assert results["statements"]["WIN-SCEP-RR-2"]["verdict"] == "pass"


def test_drift_from_any_directory_once_the_article_is_fetched(installed, tmp_path):
    _, bindir = installed
    cache = tmp_path / "cache"
    with public_repository() as (base, _):
        fetched = subprocess.run([str(bindir / "certconform"), "document", "fetch", "--base-url", base],
                                 capture_output=True, text=True, cwd=tmp_path, env=_quiet_env(cache), timeout=120)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    edition = cache / PINNED["2022"].filename
    r = subprocess.run([str(bindir / "certconform"), "drift", str(edition), "--json"],
                       capture_output=True, text=True, cwd=tmp_path, env=_quiet_env(cache), timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert report["added"] == report["removed"] == report["changed"] == [], report
