"""Approvals: a person decides on rewards above a program's threshold."""
