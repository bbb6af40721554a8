"""The HR roster: who is employed and active, for roster-verified programs."""
