"""Programs and reward rules: who earns what, for which training. Versioned, never retroactive."""
