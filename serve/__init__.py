"""The Ray Serve application of the embedding endpoint (``serve.app:app``) and its Serve config."""
