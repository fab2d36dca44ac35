"""parallel.protect / unprotect / protected, parallel.dict and parallel.list (API.md
"Main-thread interaction and shared state"): protected objects are read and written from
contexts and the main thread at once; values written from contexts are cloned onto the main
heap and outlive the callback; what a write drops stays valid for the callbacks that may
still use it."""
import json
import pickle
import subprocess
import sys
import textwrap
import unittest
from collections import OrderedDict

from pxtest import parallel


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm1(self):
        return abs(self.x) + abs(self.y)


class Slotted:
    __slots__ = ("a",)


def run_script(body, timeout=300):
    """Runs `body` in a fresh pxpython (a hang fails the test instead of the suite)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError("exit %d\n%s" % (proc.returncode, proc.stderr[-3000:]))
    return proc.stdout


class ApiTest(unittest.TestCase):
    def test_constructors_make_protected_subtypes(self):
        d = parallel.dict({"a": 1}, b=2)
        lst = parallel.list(range(3))
        self.assertIsInstance(d, dict)
        self.assertIsInstance(lst, list)
        self.assertIs(type(d), parallel.dict)
        self.assertIs(type(lst), parallel.list)
        self.assertEqual(d, {"a": 1, "b": 2})
        self.assertEqual(lst, [0, 1, 2])
        self.assertTrue(parallel.protected(d))
        self.assertTrue(parallel.protected(lst))
        self.assertEqual(repr(d), "{'a': 1, 'b': 2}")
        self.assertEqual(json.dumps(d), '{"a": 1, "b": 2}')
        for obj in (d, lst):  # pickled as a snapshot, unpickled protected
            copy = pickle.loads(pickle.dumps(obj))
            self.assertIs(type(copy), type(obj))
            self.assertEqual(copy, obj)

    def test_protect_returns_the_same_object_and_unprotect_restores_it(self):
        for obj, plain in (({"k": 1}, dict), ([1, 2], list), ({1, 2}, set)):
            with self.subTest(type=plain.__name__):
                self.assertFalse(parallel.protected(obj))
                self.assertIs(parallel.protect(obj), obj)
                self.assertTrue(parallel.protected(obj))
                self.assertIs(parallel.protect(obj), obj)  # twice is harmless
                self.assertIsInstance(obj, plain)
                self.assertIs(parallel.unprotect(obj), obj)
                self.assertIs(type(obj), plain)
                self.assertFalse(parallel.protected(obj))

    def test_an_instance_keeps_its_class_name_and_isinstance(self):
        p = parallel.protect(Point(1, 2))
        self.assertTrue(parallel.protected(p))
        self.assertIsInstance(p, Point)
        self.assertEqual(type(p).__name__, "Point")
        self.assertEqual(type(p).__qualname__, "Point")
        self.assertEqual((p.x, p.y, p.norm1()), (1, 2, 3))
        p.x = 5  # on the main thread, under the lock
        self.assertEqual(p.norm1(), 7)
        parallel.unprotect(p)
        self.assertIs(type(p), Point)
        self.assertEqual(p.norm1(), 7)

    def test_what_cannot_be_protected_is_a_type_error_that_says_what_can(self):
        for obj in (5, "s", (1,), bytearray(b"x"), OrderedDict(), Slotted(), len):
            with self.subTest(type=type(obj).__name__):
                with self.assertRaisesRegex(TypeError, r"takes a dict, list or set"):
                    parallel.protect(obj)
        self.assertFalse(parallel.protected(5))
        self.assertEqual(parallel.unprotect(5), 5)  # nothing to undo

    def test_the_types_are_made_ready_on_the_main_thread_only(self):
        # Readied on first use; a first use in a context is refused clearly.
        out = run_script("""
            import parallel
            try:
                parallel.map(lambda i: parallel.dict(), [1])
            except RuntimeError as e:
                print(e)
            print(type(parallel.dict(a=1)).__name__, parallel.list([1]))
        """)
        self.assertIn("set up on the main thread", out)
        self.assertIn("dict [1]", out)

    def test_protect_and_the_constructors_are_refused_in_a_context(self):
        parallel.dict, parallel.list  # made ready on the main thread (the test above)
        target = {}

        def protect_it(i):
            return parallel.protect(target)

        with self.assertRaisesRegex(RuntimeError, r"parallel.protect\(\) must be called on the main"):
            parallel.map(protect_it, [1])
        with self.assertRaisesRegex(RuntimeError, r"parallel.dict\(\) makes state shared"):
            parallel.map(lambda i: parallel.dict(), [1])
        with self.assertRaisesRegex(RuntimeError, r"parallel.list\(\) makes state shared"):
            parallel.map(lambda i: parallel.list(), [1])
        self.assertFalse(parallel.protected(target))


class ContextWritesTest(unittest.TestCase):
    def test_dict_writes_from_contexts_are_kept(self):
        d = parallel.dict(keep=1, gone=2, popped=3)

        def work(i):
            d["k%d" % i] = {"i": i, "items": [i, str(i), (i, 1.5)]}
            d.setdefault("first", i)
            if i == 0:
                del d["gone"]
                d.update({"u": [1, 2]}, v="v")
                return d.pop("popped")
            return None

        results = parallel.map(work, range(50), workers=2)
        self.assertEqual(results[0], 3)
        self.assertEqual(set(d), {"keep", "first", "u", "v"} | {"k%d" % i for i in range(50)})
        for i in range(50):
            self.assertEqual(d["k%d" % i], {"i": i, "items": [i, str(i), (i, 1.5)]})
        self.assertIn(d["first"], range(50))
        self.assertEqual((d["u"], d["v"]), ([1, 2], "v"))

    def test_popitem_and_clear(self):
        d = parallel.dict(a=1, b=2)
        self.assertEqual(parallel.map(lambda i: d.popitem(), [0]), [("b", 2)])
        parallel.map(lambda i: d.clear(), [0])
        self.assertEqual(d, {})

    def test_list_writes_from_contexts_are_kept(self):
        lst = parallel.list()

        def work(i):
            lst.append(i)
            lst.extend([i + 1000])
            lst.__iadd__((i + 2000,))  # (lst += ... would rebind the closure's name)
            return None

        parallel.map(work, range(100), workers=2)
        self.assertEqual(sorted(lst), sorted(list(range(100)) + [i + 1000 for i in range(100)] +
                                             [i + 2000 for i in range(100)]))

    def test_list_item_slice_sort_and_removal(self):
        lst = parallel.list([5, 3, 9, 1, 7])

        def work(i):
            lst[0] = "five"
            lst[1:3] = (x for x in ("a", "b", "c"))  # any iterable, made a list first
            del lst[-1]
            lst.insert(0, "start")
            lst.remove("a")
            popped = lst.pop()
            lst.sort(key=str)  # the key function runs in the context
            lst.reverse()
            return popped

        self.assertEqual(parallel.map(work, [0]), [1])
        self.assertEqual(lst, ["start", "five", "c", "b"])
        parallel.map(lambda i: lst.clear(), [0])
        self.assertEqual(lst, [])

    def test_set_writes(self):
        s = parallel.protect({"x", "y"})

        def work(i):
            s.add(i)
            s.discard("x")
            s.__ior__({"u%d" % i})  # (s |= ... would rebind the closure's name)
            return "y" in s

        self.assertEqual(parallel.map(work, range(10), workers=2), [True] * 10)
        self.assertEqual(s, {"y"} | set(range(10)) | {"u%d" % i for i in range(10)})
        parallel.map(lambda i: s.difference_update(range(10)), [0])
        self.assertEqual(len(s), 11)

    def test_instance_attributes(self):
        p = parallel.protect(Point(0, 0))

        def work(i):
            p.x = i
            p.label = "point %d" % i
            return p.norm1() >= 0

        self.assertEqual(parallel.map(work, range(20), workers=2), [True] * 20)
        # Each write is atomic, the pair is not: another callback's two writes may fall
        # between this one's, so x and label may come from different callbacks.
        self.assertIn(p.x, range(20))
        self.assertIn(p.label, ["point %d" % i for i in range(20)])
        parallel.map(lambda i: delattr(p, "label"), [0])
        self.assertFalse(hasattr(p, "label"))

    def test_a_non_clonable_value_is_a_clone_error_naming_it_and_changes_nothing(self):
        d = parallel.dict(a=1)
        lst = parallel.list([1])
        p = parallel.protect(Point(1, 2))
        cases = [
            (lambda i: d.__setitem__("m", {"f": len}), r"parallel.dict value\['f'\]: "
                                                       r"builtin_function_or_method is not clonable"),
            (lambda i: lst.append([1, object()]), r"parallel.list.append\(\) argument\[1\]: "
                                                  r"object is not clonable"),
            (lambda i: setattr(p, "x", object()), r"Point.x: object is not clonable"),
        ]
        for func, message in cases:
            with self.subTest(message=message):
                with self.assertRaisesRegex(parallel.CloneError, message):
                    parallel.map(func, [0])
        self.assertEqual((d, lst, p.x), ({"a": 1}, [1], 1))

    def test_errors_keep_their_type_and_arguments(self):
        d = parallel.dict()
        lst = parallel.list()

        def work(i):
            seen = []
            for op in (lambda: d.pop("nope"), lambda: d.__delitem__(("t", 1)), lambda: lst.pop(),
                       lambda: lst.__setitem__(3, 1), lambda: lst.remove(9)):
                try:
                    op()
                except Exception as e:
                    seen.append((type(e).__name__, e.args))
            return seen

        self.assertEqual(parallel.map(work, [0])[0], [
            ("KeyError", ("nope",)), ("KeyError", (("t", 1),)),
            ("IndexError", ("pop from empty list",)),
            ("IndexError", ("list assignment index out of range",)),
            ("ValueError", ("list.remove(x): x not in list",))])

    def test_the_mutation_guard_advice_works(self):
        plain = {"n": 0}

        def write(i):
            plain["n"] = i

        with self.assertRaisesRegex(parallel.MutationError, r"parallel.protect\(obj\)"):
            parallel.map(write, [1])
        parallel.protect(plain)
        parallel.map(write, [7])
        self.assertEqual(plain, {"n": 7})
        # The base type's own methods still refuse (they would bypass the lock).
        with self.assertRaises(parallel.MutationError):
            parallel.map(lambda i: dict.__setitem__(plain, "n", 1), [0])


class ContextReadsTest(unittest.TestCase):
    def test_reads_iteration_and_len(self):
        d = parallel.dict((str(i), i) for i in range(100))
        lst = parallel.list(range(100))
        s = parallel.protect(set(range(10)))
        p = parallel.protect(Point(3, 4))

        def work(i):
            return (len(d), d["7"], d.get("nope", -1), "8" in d, sum(d.values()),
                    sorted(d.items())[:2], list(d)[:3], json.dumps(d)[:9],
                    len(lst), lst[5], lst[-2:], 50 in lst, sum(lst), lst.index(9), lst.count(3),
                    sorted(s), 3 in s, s | {99} == set(range(10)) | {99},
                    p.norm1(), d == dict(d), repr(lst)[:6], [x for x in reversed(lst)][:2])

        expected = work(None)  # the same reads on the main thread
        self.assertEqual(parallel.map(work, range(20), workers=2), [expected] * 20)

    def test_iterating_while_writing_the_same_object_sees_a_snapshot(self):
        d = parallel.dict((i, i) for i in range(10))
        lst = parallel.list(range(10))

        def work(i):
            n = 0
            for k in d:  # the loop body writes the dict: no "changed size" error
                d[k + 100] = k
                n += 1
            for x in lst:
                lst.append(x)
            return n

        self.assertEqual(parallel.map(work, [0]), [10])
        self.assertEqual(len(d), 20)
        self.assertEqual(len(lst), 20)

    def test_values_read_stay_valid_while_other_contexts_replace_them(self):
        # Each callback reads a list, then works on it while the other worker replaces it:
        # the replaced list is kept until the reader's callback ends (poison mode faults on
        # released memory; the sums check its contents).
        d = parallel.dict(v=[0] * 200)

        def work(i):
            v = d["v"]
            d["v"] = [i] * 200
            total = 0
            for _ in range(20):
                total += sum(v)
            return total == 20 * 200 * v[0] and len(v) == 200

        self.assertEqual(parallel.map(work, range(2000), workers=2), [True] * 2000)
        self.assertEqual(parallel._protect_stats()["retired"], 0, "all released after the map")


class MainThreadTest(unittest.TestCase):
    def test_main_thread_writes_while_contexts_read(self):
        d = parallel.dict(n=0, data=[0])

        def bump(i):
            d["n"] = d["n"] + 1  # runs on the main thread, serialised
            d["data"] = [i] * 50
            return d["n"]

        def work(i):
            got = parallel.call_from_main_thread(bump, i)
            data = d["data"]
            return got > 0 and len(data) == 50 and data.count(data[0]) == 50

        self.assertEqual(parallel.map(work, range(300), workers=2), [True] * 300)
        self.assertEqual(d["n"], 300)


class StressTest(unittest.TestCase):
    WRITES = 100_000

    def test_two_workers_times_many_writes(self):
        # 2 workers, 10^5 callbacks that each append and write an item (2 x 10^5 writes),
        # with reads in between: every append is kept exactly once, no value is torn.
        out = run_script("""
            import parallel
            lst = parallel.list()
            d = parallel.dict()
            N = %d

            def work(i):
                lst.append(i)
                d[i %% 1000] = (i, str(i))
                v = d.get((i * 7) %% 1000)
                return v is None or v[1] == str(v[0])

            ok = parallel.map(work, range(N), workers=2)
            assert all(ok), "a torn value"
            assert sorted(lst) == list(range(N)), "appends lost or doubled"
            assert len(d) == 1000 and all(v[0] %% 1000 == k for k, v in d.items())
            assert parallel._protect_stats()["retired"] == 0
            print("ok", len(lst), len(d), parallel._protect_stats()["released"])
        """ % self.WRITES)
        self.assertTrue(out.startswith("ok 100000 1000"), out)

    def test_no_deadlock_with_call_from_main_thread(self):
        # Contexts hold the lock while writing, the main thread takes it inside
        # call_from_main_thread functions: a lock-order inversion would hang (the timeout
        # fails the test).
        out = run_script("""
            import parallel
            d = parallel.dict(n=0)
            lst = parallel.list()

            def on_main(i):
                d["n"] = d["n"] + 1
                lst.append(-i)
                return len(d)

            def work(i):
                d[i % 50] = i
                if i % 5 == 0:
                    parallel.call_from_main_thread(on_main, i)
                lst.append(i)
                return len(lst) > 0

            assert all(parallel.map(work, range(20000), workers=2))
            assert d["n"] == 4000, d["n"]
            assert len(lst) == 24000
            print("ok")
        """, timeout=240)
        self.assertEqual(out.strip(), "ok")


if __name__ == "__main__":
    unittest.main()
