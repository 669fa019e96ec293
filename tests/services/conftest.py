"""Tests against real external services, started by `make test` before pytest
(.ci/services.sh start: a throw-away PostgreSQL cluster on 127.0.0.1), never by a test.

`postgres_url` is $MNISTLAB_TEST_POSTGRES. Without it these tests skip, except under
CI=true, where they fail. Every test uses names of its own, so the same server can be
used again.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # tinydata



def _unavailable(msg: str):
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("MNISTLAB_TEST_POSTGRES")
    if not url:
        _unavailable("MNISTLAB_TEST_POSTGRES is not set: start the test server with "
                     "`.ci/services.sh start .services.env` (make test does) or point it at "
                     "a PostgreSQL database you may write to")
    if not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2")):
        _unavailable('no PostgreSQL driver for Python: pip install "psycopg[binary]"')
    return url


@pytest.fixture()
def unique() -> str:
    """A study name no earlier run against the same server used."""
    return uuid.uuid4().hex[:10]
