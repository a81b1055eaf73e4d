"""Offline embedding: an image collection (ImageFolder or Parquet) into Parquet shards of (id, path, embedding)."""
