"""Misusing parallel.map raises a Python exception whose message says what to do."""
import unittest

from pxtest import parallel


def square(x):
    return x * x


def items_then_failure():
    yield 1
    yield 2
    raise ValueError("the iterable broke")


WORKER_HINTS = ("positive", ">= 1", "at least 1", "> 0", "greater than 0", "None")


class Misuse(unittest.TestCase):
    def assert_message(self, error, *words):
        message = str(error)
        self.assertTrue(any(w in message for w in words), f"the message should mention one of {words}: {message!r}")

    def assert_still_works(self):
        self.assertEqual(parallel.map(square, [1, 2, 3]), [1, 4, 9])

    def test_non_callable_func(self):
        for func in (42, "square", None, [square]):
            with self.subTest(func=func):
                with self.assertRaises(TypeError) as cm:
                    parallel.map(func, [1, 2])
                self.assert_message(cm.exception, "callable")
        self.assert_still_works()

    def test_non_iterable_items(self):
        for items in (42, None, 3.5, square):
            with self.subTest(items=items):
                with self.assertRaises(TypeError) as cm:
                    parallel.map(square, items)
                self.assert_message(cm.exception, "iterable", "iter")
        self.assert_still_works()

    def test_workers_zero_or_negative(self):
        for workers in (0, -1, -100):
            with self.subTest(workers=workers):
                with self.assertRaises((ValueError, TypeError)) as cm:
                    parallel.map(square, [1], workers=workers)
                self.assert_message(cm.exception, "workers")
                self.assert_message(cm.exception, *WORKER_HINTS)
        self.assert_still_works()

    def test_workers_wrong_type(self):
        for workers in ("2", 2.0, [2]):
            with self.subTest(workers=workers):
                with self.assertRaises(TypeError) as cm:
                    parallel.map(square, [1], workers=workers)
                self.assert_message(cm.exception, "workers", "integer", "int")
        self.assert_still_works()

    def test_workers_is_keyword_only(self):
        with self.assertRaises(TypeError):
            parallel.map(square, [1], 2)
        self.assert_still_works()

    def test_missing_arguments(self):
        with self.assertRaises(TypeError):
            parallel.map()
        with self.assertRaises(TypeError):
            parallel.map(square)
        self.assert_still_works()

    def test_unknown_keyword(self):
        with self.assertRaises(TypeError) as cm:
            parallel.map(square, [1], worker=2)
        self.assert_message(cm.exception, "worker")
        self.assert_still_works()

    def test_explicit_none_workers(self):
        self.assertEqual(parallel.map(square, [2, 3], workers=None), [4, 9])

    def test_more_workers_than_cpus(self):
        """Not forbidden by API.md: either it works, or it says what the limit on workers is."""
        n = parallel.cpu_count() * 4
        try:
            got = parallel.map(square, range(50), workers=n)
        except ValueError as e:
            self.assert_message(e, "workers")
        else:
            self.assertEqual(got, [x * x for x in range(50)])
        self.assert_still_works()

    def test_iterable_raising_propagates(self):
        with self.assertRaises(ValueError) as cm:
            parallel.map(square, items_then_failure())
        self.assertEqual(str(cm.exception), "the iterable broke")
        self.assert_still_works()
