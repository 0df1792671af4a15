"""Helpers for tests and benchmarks: a local S3 server that counts requests (``s3server``)."""
