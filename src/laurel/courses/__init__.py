"""Courses: the training whose completion can pay."""
