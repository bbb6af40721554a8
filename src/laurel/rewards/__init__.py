"""Rewards: decided from events, gated, issued by the worker. One guarded UPDATE per transition."""
