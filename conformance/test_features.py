"""Bind every scenario of features/ (each one checks one or more document statements)."""
from pytest_bdd import scenarios

scenarios("../features")
