"""Analytics: completion rates, incentive lift against a control group, spend and latency."""
