"""Connectors: one module per LMS source format, each turning its payloads into CompletionIn."""
