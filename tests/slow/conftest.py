"""Slow tier: tests that start several processes (tens of seconds each). Marked `slow`;
`make test` runs them, `pytest -m 'not slow'` leaves them out."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # tinydata
