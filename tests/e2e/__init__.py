"""End-to-end tests: real Dagster processes on 127.0.0.1."""
