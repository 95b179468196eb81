"""certconform: a property-based conformance suite for how an MDM removes and revokes SCEP and
PKCS certificates.

One distribution, one top-level import name. The repository keeps its readable layout (mdm/,
model/, steps/, conformance/, features/ beside certconform/), and every one of those folders is
a subpackage of `certconform`:

    certconform.mdm          mdm/          the adapter contract, the mock MDM, its HTTP server
    certconform.model        model/        behaviour.yaml and the reference state machine
    certconform.steps        steps/        the step definitions and the scenario driver
    certconform.conformance  conformance/  the pytest entry points of the conformance suite
    (package data)           features/     the Gherkin scenarios

A wheel installs them under certconform/ (pyproject.toml maps them with `package-dir`); in a
source checkout, and in an editable install, the folders beside this package are found through
`__path__` below. Nothing is installed under a generic top-level name.
"""
from __future__ import annotations

from importlib import metadata as _metadata
from pathlib import Path as _Path

try:
    __version__ = _metadata.version("certconform")
except _metadata.PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0+unknown"

_HERE = _Path(__file__).resolve().parent
_CHECKOUT = _HERE.parent
# A source checkout (the subpackages live beside this folder rather than inside it): let
# `certconform.mdm` and friends resolve to those folders. The marker files keep this from ever
# widening the package to an unrelated parent directory such as site-packages.
if not (_HERE / "mdm").is_dir() and (_CHECKOUT / "pyproject.toml").is_file() \
        and (_CHECKOUT / "model" / "behaviour.yaml").is_file():
    __path__.append(str(_CHECKOUT))  # type: ignore[name-defined]  # noqa: F821


def package_dir(name: str) -> _Path:
    """The folder of subpackage `name` ("conformance", "model", ...) wherever it is installed."""
    import importlib

    module = importlib.import_module(f"certconform.{name}")
    return _Path(module.__file__).resolve().parent


def features_dir() -> _Path:
    """The Gherkin features: package data beside the conformance package in every layout."""
    return package_dir("conformance").parent / "features"
