"""Learners: the people who complete training and receive rewards."""
