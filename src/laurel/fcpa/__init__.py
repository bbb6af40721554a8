"""FCPA: rewards to non-US channel partners above the limits wait for compliance."""
