"""Budgets: a program's money, reserved atomically per reward and spent on delivery."""
