"""Shared fixtures of the infrastructure tests."""
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def root():
    return ROOT
