"""Completion events: stored first, idempotent per source event id, then decided on."""
