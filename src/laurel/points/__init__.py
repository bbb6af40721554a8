"""Points: a double-entry ledger, earning, badges, leaderboards, expiry and a marketplace."""
