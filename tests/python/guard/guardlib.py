"""Registers mutation-guard cases and turns each into three unittest tests.

A case is a module-level (main-owned) callback `func(target)` that writes to `target`, a
main-owned object made on the main thread by `make()`. The tests made from it:

- test_<name>: `parallel.map(func, [target, target], workers=2)` must raise
  parallel.MutationError (a RuntimeError) whose message names the type (one of `types`), the
  operation (one of `ops`, case-insensitive) and what to use instead (one of `instead`, INSTEAD
  by default); `state(target)` must be what it was before, and a second parallel.map must work.
- test_<name>_warm: the same after the main thread ran `func` WARM_CALLS times on fresh
  targets, so its bytecode is specialised (`specialized` names the opcode that 3.11 picks,
  checked with dis before the parallel run; the STORE_ATTR_*/STORE_SUBSCR_*/list-append fast
  paths bypass the generic setters and must be guarded too). `reset()`, when given, undoes
  what one warm-up call did to shared state (globals, this module).
- test_<name>_caught: the callback catches the MutationError itself and returns what it saw;
  the context goes on and the object is unchanged.

    from .guardlib import guarded, guard_tests

    @guarded(make=lambda: {"a": 1}, state=lambda d: list(d.items()), types=DICT, ops=SET_ITEM,
             specialized="STORE_SUBSCR_DICT")
    def dict_setitem_new(d):
        d["new"] = 1

    Guard = guard_tests(__name__)
"""
import dis
import unittest

from pxtest import parallel

WARM_CALLS = 1000

# What the message may say instead: API.md's ways to share state written from contexts.
INSTEAD = ("protect", "parallel.dict", "parallel.list", "call_from_main_thread")
# For what parallel.protect() does not take (bytearray, closure cells): also a local copy or
# returning the new value.
INSTEAD_OR_COPY = INSTEAD + ("copy", "return")

# Operation words. The guard may sit on a method (append) or on the primitive underneath it
# (list_resize, insertdict), so each operation accepts its method name and the verbs a message
# written at the primitive would use.
SET_ITEM = ("setitem", "set item", "item assignment", "assign", "store", "insert", "write")
DEL_ITEM = ("delitem", "del item", "delet", "remov")
SET_ATTR = ("setattr", "set attribute", "attribute assignment", "assign", "store", "write")
DEL_ATTR = ("delattr", "del attribute", "delet", "remov")
RESIZE = ("resize", "grow", "length", "size")


def method(name, *generic):
    """Words for a mutating method: its name, plus the generic words given."""
    return (name,) + generic


class GuardCase:
    __slots__ = ("func", "make", "state", "types", "ops", "specialized", "reset", "instead", "name")

    def __init__(self, func, make, state, types, ops, specialized, reset, instead):
        self.func = func
        self.make = make
        self.state = state
        self.types = types
        self.ops = ops
        self.specialized = specialized
        self.reset = reset
        self.instead = instead
        self.name = func.__name__


_registry = {}  # module name -> [GuardCase]


def guarded(*, make, state, types, ops, specialized=None, reset=None, instead=INSTEAD):
    """Registers the decorated callback as a guard case (see the module docstring)."""

    def register(func):
        if func.__qualname__ != func.__name__:
            raise ValueError(f"{func.__qualname__}: guard callbacks must be module-level functions")
        cases = _registry.setdefault(func.__module__, [])
        if any(c.name == func.__name__ for c in cases):
            raise ValueError(f"{func.__module__}.{func.__name__} is registered twice")
        cases.append(GuardCase(func, make, state, tuple(types), tuple(ops), specialized, reset, tuple(instead)))
        return func

    return register


def registered_cases():
    return [c for cases in _registry.values() for c in cases]


def square(x):
    return x * x


def call_and_catch(pair):
    """Callback for the _caught tests: runs func(target) and reports what happened."""
    func, target = pair
    try:
        func(target)
    except parallel.MutationError as e:
        return ("refused", type(e).__name__, isinstance(e, RuntimeError), str(e))
    except Exception as e:  # reported, so the test can say what it was
        return ("other", type(e).__name__, isinstance(e, RuntimeError), str(e))
    return ("allowed", None, None, None)


class GuardAssertions:
    """Checks shared by the guard tests (mixed into unittest.TestCase)."""

    def assert_good_message(self, message, gc):
        lower = message.lower()
        self.assertTrue(any(t in message for t in gc.types),
                        f"the message does not name the type (one of {gc.types}): {message!r}")
        self.assertTrue(any(op in lower for op in gc.ops),
                        f"the message does not name the operation (one of {gc.ops}): {message!r}")
        self.assertTrue(any(h in message for h in gc.instead),
                        f"the message does not say what to use instead (one of {gc.instead}): {message!r}")

    def assert_interpreter_still_works(self):
        self.assertEqual(parallel.map(square, range(20), workers=2), [x * x for x in range(20)])
        self.assertEqual(parallel.map(square, [3]), [9])

    def assert_refused(self, gc, target):
        before = gc.state(target)
        try:
            result = parallel.map(gc.func, [target, target], workers=2)
        except parallel.MutationError as e:
            error = e
        except Exception as e:
            self.fail(f"{gc.name}: expected parallel.MutationError, got {type(e).__qualname__}: {e}")
        else:
            self.fail(f"{gc.name}: a context wrote a main-owned object and parallel.map returned "
                      f"{result!r:.200}; expected parallel.MutationError")
        self.assertIs(type(error), parallel.MutationError)
        self.assertIsInstance(error, RuntimeError)
        self.assert_good_message(str(error), gc)
        self.assertEqual(gc.state(target), before, f"{gc.name}: the main-owned object changed")
        self.assert_interpreter_still_works()
        self.assertEqual(gc.state(target), before, f"{gc.name}: the main-owned object changed later")


def _make_tests(gc):
    def test_cold(self):
        self.assert_refused(gc, gc.make())

    def test_warm(self):
        for _ in range(WARM_CALLS):
            gc.func(gc.make())
            if gc.reset is not None:
                gc.reset()
        if gc.specialized:
            ops = [i.opname for i in dis.get_instructions(gc.func, adaptive=True)]
            self.assertIn(gc.specialized, ops,
                          f"warming {gc.name} on the main thread did not specialise it to "
                          f"{gc.specialized} (got {ops}); the main thread must keep specialising")
        self.assert_refused(gc, gc.make())

    def test_caught(self):
        target = gc.make()
        before = gc.state(target)
        outcome = parallel.map(call_and_catch, [(gc.func, target)], workers=1)[0]
        self.assertEqual(outcome[:3], ("refused", "MutationError", True),
                         f"{gc.name}: inside the callback: {outcome}")
        self.assert_good_message(outcome[3], gc)
        self.assertEqual(gc.state(target), before, f"{gc.name}: the main-owned object changed")
        self.assert_interpreter_still_works()

    def with_reset(test):
        if gc.reset is None:
            return test

        def wrapped(self):
            self.addCleanup(gc.reset)  # one failure must not leave shared state to the next test
            test(self)

        return wrapped

    out = {}
    for suffix, fn, what in (("", test_cold, "refused in a context"),
                             ("_warm", test_warm, "refused after the main thread warmed the code"),
                             ("_caught", test_caught, "catchable inside the callback")):
        fn = with_reset(fn)
        fn.__name__ = f"test_{gc.name}{suffix}"
        fn.__doc__ = f"{gc.name}: {what}"
        out[fn.__name__] = fn
    return out


def guard_tests(module_name):
    """A unittest.TestCase class with test_<name>, test_<name>_warm, test_<name>_caught per case."""
    cases = _registry.get(module_name)
    if not cases:
        raise RuntimeError(f"{module_name} registers no guard case")
    namespace = {"__module__": module_name}
    for gc in cases:
        namespace.update(_make_tests(gc))
    return type("Guard", (GuardAssertions, unittest.TestCase), namespace)
