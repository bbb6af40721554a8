"""Batch imports: LMS completion reports and HR rosters, streamed in committed chunks."""
