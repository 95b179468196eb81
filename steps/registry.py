"""The step definitions of steps/, as the suite itself can look them up.

pytest-bdd registers a step definition as a pytest fixture of the module that defines it, which
only pytest's fixture machinery can find. A cell (conformance/cells.py) runs a scenario's steps
outside pytest, in a thread of its own, so the step modules declare their steps through these
thin wrappers of pytest-bdd's `given` / `when` / `then`: the same registration with pytest-bdd
(in the defining module, as before), and an entry in STEPS: (step type, parser, function).
What this module knows: that, and how to find the definition of one step. Nothing else.
"""
from __future__ import annotations

import pytest_bdd
from pytest_bdd import parsers

STEPS: list[tuple[str, object, object]] = []  # (type, parser, function), in definition order


def _step(kind: str, name):
    def decorator(func):
        parser = name if not isinstance(name, str) else parsers.string(name)
        STEPS.append((kind, parser, func))
        # stacklevel=2: pytest-bdd puts its fixture in the module that applies this decorator
        return getattr(pytest_bdd, kind)(parser, stacklevel=2)(func)
    return decorator


def given(name):
    return _step("given", name)


def when(name):
    return _step("when", name)


def then(name):
    return _step("then", name)


def definition(kind: str, text: str):
    """(parser, function) of the step `kind` `text` (the last definition that matches), or None."""
    found = [(parser, func) for k, parser, func in STEPS if k == kind and parser.is_matching(text)]
    return found[-1] if found else None
