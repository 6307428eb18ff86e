"""From signatures to bugs: one key per root cause, buckets grouped under it."""
