"""Pre-purchased gift codes an organization uploads and the ``inventory`` provider hands out."""
