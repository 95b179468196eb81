"""The libraries tests/warm_pytest.py's server imports once for every catalogue run (third-party
only: see that module's docstring)."""
import cryptography.x509  # noqa: F401
import hypothesis  # noqa: F401
import hypothesis.stateful  # noqa: F401
import hypothesis.strategies  # noqa: F401
import jinja2  # noqa: F401
import jsonschema  # noqa: F401
import pytest  # noqa: F401
import pytest_bdd  # noqa: F401
import xdist  # noqa: F401
import yaml  # noqa: F401
