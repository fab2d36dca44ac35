"""Errors suite: exception propagation, result order, introspection functions, API misuse."""
