"""The sweeps' name for the one file lock, which lives in the leaf `mnistlab.locks` (runs use it too)."""
from mnistlab.locks import file_lock  # noqa: F401
