"""Parallel-conformance suite: small pure functions, main thread vs parallel.map."""
