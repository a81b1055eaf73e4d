"""The embedding endpoint: the Ray Serve application (`app`), request parsing and limits, image decoding, auth."""
