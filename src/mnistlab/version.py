"""The package version, in a leaf module so any layer can record it without importing the
top-level package (which composes all of them)."""
__version__ = "0.1.0"
