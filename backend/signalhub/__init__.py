"""Signalhub: a multi-user stock signal platform."""

__version__ = "0.1.0"
