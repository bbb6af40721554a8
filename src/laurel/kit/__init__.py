"""Shared plumbing: money, errors, ids, time, database types. No domain rules live here."""
