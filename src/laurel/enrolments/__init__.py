"""Enrolments: who was asked to take which course, the denominator of every completion rate."""
