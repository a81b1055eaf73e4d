"""Helpers of the embedding endpoint: request parsing and limits, image decoding, auth."""
