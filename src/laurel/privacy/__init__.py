"""Privacy: jurisdictions, consent, data-subject requests, retention and erasure."""
