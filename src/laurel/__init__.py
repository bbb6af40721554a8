"""Laurel: verified training completions become rewards, exactly once."""

__version__ = "0.1.0"
