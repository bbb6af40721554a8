"""Sanctions screening: OFAC list versions, the name matcher, the gate and review cases."""
