"""Delivery: the issuance worker's records and the fulfilment providers it calls."""
