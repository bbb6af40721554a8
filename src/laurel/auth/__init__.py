"""API keys and the caller identity every request resolves to."""
