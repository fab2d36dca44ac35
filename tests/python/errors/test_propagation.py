"""parallel.map re-raises the first exception of a callback with the same type and message,
keeps the worker's traceback text in __notes__, survives it, and returns results in order."""
import gc
import os
import subprocess
import sys
import unittest

from pxtest import parallel


class AppError(Exception):
    """A main-owned exception class raised by callbacks."""


def square(x):
    return x * x


def fail_on_three(x):
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


def helper_that_raises(x):
    raise LookupError(f"deep failure for {x}")


def middle_frame(x):
    return helper_that_raises(x) + 1


def fail_deep(x):
    return middle_frame(x)


def raise_app_error(x):
    raise AppError("app", x)


def fail_always(x):
    raise KeyError(f"key{x}")


def fail_two_items(x):
    if x in (2, 5):
        raise RuntimeError(f"failed {x}")
    return x


def runaway(x):
    return runaway(x + 1)


def raise_system_exit(x):
    raise SystemExit(f"exit {x}")


def raise_memory_error(x):
    raise MemoryError(f"pretend out of memory {x}")


def wrong_arity(a, b):
    return a + b


BUILTIN_FAILURES = {
    "ZeroDivisionError": lambda x: x / 0,
    "KeyError": lambda x: {}[f"missing{x}"],
    "IndexError": lambda x: [][x],
    "TypeError": lambda x: "s" + x,
    "AttributeError": lambda x: x.no_such_attribute,
    "UnicodeDecodeError": lambda x: bytes([0xFF, x]).decode("utf-8"),
    "FileNotFoundError": lambda x: open(f"/nonexistent-pxkit-dir/{x}"),
    "OverflowError": lambda x: 10.0**(400 + x),
    "StopIteration": lambda x: next(iter(())),
    "AssertionError": lambda x: exec("assert x < 0, f'x={x}'", {"x": x}),
    "NameError": lambda x: exec("undefined_name_xyz"),
}


def work_descending(x):
    """Earlier items do more work, so later items tend to finish first."""
    total = 0
    for i in range((40 - x % 40) * 1000):
        total += i % 7
    return (x, total)


def nested_result(x):
    return {"x": x, "list": [x, str(x), (x, x * 1.5)], "set": {x, -x}, "bytes": bytes([x % 256])}


def churn(x):
    garbage = [[i] * 10 for i in range(2000)]
    return len(garbage) + x


class Propagation(unittest.TestCase):
    def expected_exception(self, func, item):
        try:
            func(item)
        except BaseException as e:
            return e
        self.fail(f"{func} did not raise on the main thread")

    def assert_reraised(self, func, items, item_that_fails, workers=2):
        expected = self.expected_exception(func, item_that_fails)
        with self.assertRaises(BaseException) as cm:
            parallel.map(func, items, workers=workers)
        self.assertIs(type(cm.exception), type(expected))
        self.assertEqual(str(cm.exception), str(expected))
        return cm.exception

    def test_same_type_and_message(self):
        e = self.assert_reraised(fail_on_three, list(range(8)), 3)
        self.assertEqual(e.args, ("bad item 3",))

    def test_same_type_and_message_each_worker_count(self):
        for workers in (None, 1, 2):
            with self.subTest(workers=workers):
                with self.assertRaises(ValueError) as cm:
                    if workers is None:
                        parallel.map(fail_on_three, range(8))
                    else:
                        parallel.map(fail_on_three, range(8), workers=workers)
                self.assertEqual(str(cm.exception), "bad item 3")

    def test_main_owned_exception_class(self):
        e = self.assert_reraised(raise_app_error, [7], 7)
        self.assertIsInstance(e, AppError)
        self.assertEqual(e.args, ("app", 7))

    def test_builtin_exception_types(self):
        for name, func in BUILTIN_FAILURES.items():
            with self.subTest(exception=name):
                e = self.assert_reraised(func, [1], 1, workers=1)
                self.assertEqual(type(e).__name__, name)

    def test_worker_traceback_in_notes(self):
        with self.assertRaises(LookupError) as cm:
            parallel.map(fail_deep, [4], workers=1)
        e = cm.exception
        self.assertEqual(str(e), "deep failure for 4")
        notes = getattr(e, "__notes__", None)
        self.assertIsInstance(notes, list, "the worker's traceback must be added with add_note")
        self.assertTrue(all(isinstance(n, str) for n in notes))
        text = "\n".join(notes)
        for frame in ("fail_deep", "middle_frame", "helper_that_raises"):
            self.assertIn(frame, text, f"the worker traceback lacks the frame {frame}")
        self.assertIn(os.path.basename(__file__), text)
        self.assertIn("LookupError", text)

    def test_notes_when_nothing_imported_traceback(self):
        # A fresh interpreter (-S, no site) where the script never imports the traceback
        # module (a context may not import it; `parallel` does at import): the first failing
        # callback still gets its note.
        code = ("import parallel, sys\n"
                "def f(i):\n"
                "    raise KeyError(i)\n"
                "try:\n"
                "    parallel.map(f, [7], workers=1)\n"
                "except KeyError as e:\n"
                "    print(e.args, 'f' in e.__notes__[0], e.__notes__[0].splitlines()[0])\n")
        r = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.stdout.strip(), "(7,) True traceback in parallel worker 1:",
                         r.stderr[-2000:])

    def test_notes_of_every_worker_count(self):
        for workers in (1, 2):
            with self.subTest(workers=workers):
                with self.assertRaises(ValueError) as cm:
                    parallel.map(fail_on_three, range(6), workers=workers)
                self.assertIn("fail_on_three", "\n".join(getattr(cm.exception, "__notes__", [])))

    def test_exception_does_not_stop_the_process(self):
        for _ in range(20):
            with self.assertRaises(KeyError):
                parallel.map(fail_always, range(10), workers=2)
        self.assertEqual(parallel.map(square, range(100), workers=2), [x * x for x in range(100)])

    def test_all_items_fail_one_exception(self):
        with self.assertRaises(KeyError) as cm:
            parallel.map(fail_always, range(50), workers=2)
        self.assertIn(str(cm.exception), {repr(f"key{x}") for x in range(50)})

    def test_first_of_several_failures(self):
        for workers in (1, 2):
            with self.subTest(workers=workers):
                with self.assertRaises(RuntimeError) as cm:
                    parallel.map(fail_two_items, range(8), workers=workers)
                self.assertIn(str(cm.exception), ("failed 2", "failed 5"))
        self.assertEqual(parallel.map(fail_two_items, [0, 1, 3]), [0, 1, 3])

    def test_recursion_error_escaping(self):
        with self.assertRaises(RecursionError) as cm:
            parallel.map(runaway, [0, 1], workers=2)
        self.assertIn("maximum recursion depth exceeded", str(cm.exception))
        self.assertEqual(parallel.map(square, [5, 6]), [25, 36])

    def test_system_exit_is_reraised_not_exiting(self):
        with self.assertRaises(SystemExit) as cm:
            parallel.map(raise_system_exit, [1], workers=1)
        self.assertEqual(str(cm.exception), "exit 1")
        self.assertEqual(parallel.map(square, [2]), [4])

    def test_memory_error_raised_by_callback(self):
        e = self.assert_reraised(raise_memory_error, [3], 3, workers=1)
        self.assertIsInstance(e, MemoryError)

    def test_wrong_arity_is_a_type_error(self):
        with self.assertRaises(TypeError) as cm:
            parallel.map(wrong_arity, [1, 2])
        self.assertIn("wrong_arity", str(cm.exception))

    def test_results_in_input_order(self):
        items = list(range(80))
        for workers in (None, 1, 2):
            with self.subTest(workers=workers):
                got = parallel.map(work_descending, items) if workers is None else parallel.map(
                    work_descending, items, workers=workers)
                self.assertEqual(got, [work_descending(x) for x in items])

    def test_results_in_order_for_many_small_items(self):
        items = [f"item-{i}" for i in range(5000)]
        self.assertEqual(parallel.map(str.upper, items, workers=2), [s.upper() for s in items])

    def test_iterables_of_every_kind(self):
        expected = [x * x for x in range(10)]
        for items in (range(10), list(range(10)), tuple(range(10)), (x for x in range(10)), iter(range(10)),
                      dict.fromkeys(range(10))):
            with self.subTest(items=type(items).__name__):
                self.assertEqual(parallel.map(square, items, workers=2), expected)

    def test_empty_iterable(self):
        self.assertEqual(parallel.map(square, []), [])
        self.assertEqual(parallel.map(square, (), workers=1), [])

    def test_results_live_on_the_main_heap(self):
        """Results must outlive the contexts: use them after more maps and a collection."""
        results = parallel.map(nested_result, range(64), workers=2)
        for _ in range(3):
            parallel.map(churn, range(64), workers=2)
        gc.collect()
        self.assertEqual(results, [nested_result(x) for x in range(64)])
        results[0]["list"].append("mutable on main")
        results[1]["set"].add(99)
        self.assertEqual(results[0]["list"][-1], "mutable on main")
        self.assertIsInstance(results, list)

