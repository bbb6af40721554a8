"""The audit trail: append-only, hash-chained per organization."""
