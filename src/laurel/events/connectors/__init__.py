"""Connectors: one per source format, each turning its payloads into ``CompletionIn``."""
