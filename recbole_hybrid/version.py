"""The package's version: one owner, read by the package face and by run records."""

__version__ = "0.1.0"
