"""Registers conformance cases and turns each into one unittest test.

A case is a module-level (so main-owned) function of one argument plus the items to call it
with. The test made from it:

1. cold: `parallel.map(func, items, workers=2)` before the main thread has ever run `func`, so
   workers meet unquickened code and empty lazy caches (re, struct, kwargs parsers, ...);
2. expected: `[func(x) for x in items]` on the main thread; it must be clonable (API.md);
3. warm: the main thread runs `func` about WARM_CALLS times more, so its bytecode is specialised;
4. `parallel.map` over the items repeated REPEAT times, with the default workers, workers=1
   and workers=2 (one subTest each).

Every result must equal the main thread's exactly (pxtest.difference: same types, same float
reprs, same dict order). Functions must only read their items and every main-owned object;
writing one is a MutationError and belongs in tests/python/guard/.

    from .harness import case, conformance_tests

    @case([1, 2, 3])
    def square(x):
        return x * x

    Conformance = conformance_tests(__name__)
"""
import os
import unittest

from pxtest import clonability_problem, difference, parallel

# How many times the items are repeated in the warm parallel runs (more overlap between workers).
REPEAT = int(os.environ.get("PX_CONFORMANCE_REPEAT", "4"))
# Calls the main thread makes before the warm runs: past 3.11's quickening and adaptive thresholds.
WARM_CALLS = 64


class Case:
    __slots__ = ("func", "items", "cold", "warm", "repeat", "name", "module")

    def __init__(self, func, items, cold, warm, repeat):
        self.func = func
        self.items = items
        self.cold = cold
        self.warm = warm
        self.repeat = repeat
        self.name = func.__name__
        self.module = func.__module__


_registry = {}  # module name -> [Case]


def case(items, *, cold=True, warm=True, repeat=None):
    """Registers the decorated function as a conformance case over `items` (a non-empty iterable).

    cold=False skips step 1 and warm=False skips step 3 (for costly functions); repeat overrides
    REPEAT. The function itself is returned unchanged and stays a module-level function.
    """
    items = list(items)
    if not items:
        raise ValueError("a conformance case needs at least one item")

    def register(func):
        if func.__qualname__ != func.__name__:
            raise ValueError(f"{func.__qualname__}: conformance cases must be module-level functions")
        cases = _registry.setdefault(func.__module__, [])
        if any(c.name == func.__name__ for c in cases):
            raise ValueError(f"{func.__module__}.{func.__name__} is registered twice")
        cases.append(Case(func, items, cold, warm, REPEAT if repeat is None else repeat))
        return func

    return register


def registered_cases(module_name=None):
    """The Case objects of one module, or of every imported module."""
    if module_name is not None:
        return list(_registry.get(module_name, ()))
    return [c for cases in _registry.values() for c in cases]


def _run_map(func, items, workers):
    if workers is None:
        return parallel.map(func, items)
    return parallel.map(func, items, workers=workers)


def _make_test(c):
    def test(self):
        cold = _run_map(c.func, c.items, 2) if c.cold else None

        expected = [c.func(x) for x in c.items]
        problem = clonability_problem(expected, "expected")
        if problem:
            self.fail(f"test bug: {c.name} returns what API.md does not call clonable: {problem}")

        if cold is not None:
            diff = difference(cold, expected)
            if diff:
                self.fail(f"{c.name}, cold run (workers=2, before the main thread ran it): {diff}")

        if c.warm:
            for _ in range(max(1, WARM_CALLS // len(c.items))):
                for x in c.items:
                    c.func(x)

        many = c.items * c.repeat
        expected_many = expected * c.repeat
        for workers in (None, 1, 2):
            with self.subTest(workers=workers):
                diff = difference(_run_map(c.func, many, workers), expected_many)
                if diff:
                    self.fail(f"{c.name}, warm run with workers={workers}: {diff}")

    doc = (c.func.__doc__ or "").strip().splitlines()
    test.__doc__ = f"{c.name}: {doc[0]}" if doc else None
    test.__name__ = f"test_{c.name}"
    return test


def conformance_tests(module_name):
    """A unittest.TestCase class with one test_<name> per case registered in `module_name`."""
    cases = _registry.get(module_name)
    if not cases:
        raise RuntimeError(f"{module_name} registers no conformance case")
    namespace = {f"test_{c.name}": _make_test(c) for c in cases}
    namespace["__module__"] = module_name
    cls = type("Conformance", (unittest.TestCase,), namespace)
    return cls
