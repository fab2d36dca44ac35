"""Patch 0025 (shared-caches-frozen): while contexts run (the main thread waits in
parallel.map() or parallel.run()), the main thread writes none of the caches contexts read
without locks: no type version tag, no type-cache entry, no quickening or specialisation.
The main thread still runs Python meanwhile (functions contexts hand it with
call_from_main_thread); before this patch its first lookup on a class assigned the class a
version tag while contexts read the tag (a data race under TSan), and its warm-up rewrote
bytecode contexts were executing. Afterwards the main thread caches and specialises again.
Also here (px_interp, no patch): parallel.map() or run() started from inside a map is refused
with a clear error; it hung."""
import dis
import unittest

import parallel

VALID_VERSION_TAG = 1 << 19  # Py_TPFLAGS_VALID_VERSION_TAG in CPython 3.11


def opnames(func):
    return [i.opname for i in dis.get_instructions(func, adaptive=True)]


class Fresh:
    def __init__(self):
        self.value = 41


def read_value(obj):
    return obj.value + 1


class SharedCachesTest(unittest.TestCase):
    def test_no_version_tag_assigned_while_contexts_run(self):
        cls = type("Tagless", (), {"value": 1})
        self.assertFalse(cls.__flags__ & VALID_VERSION_TAG)  # nothing looked it up yet

        def on_main():
            cls.value  # the main thread's first lookup on cls
            return bool(cls.__flags__ & VALID_VERSION_TAG)

        def callback(_):
            total = 0
            for _ in range(100):
                total += cls.value  # contexts read the tag meanwhile
            return total, parallel.call_from_main_thread(on_main)

        self.assertEqual(parallel.map(callback, range(4), workers=2), [(100, False)] * 4)
        self.assertFalse(cls.__flags__ & VALID_VERSION_TAG)
        cls.value  # after the map, the first lookup tags the class as usual
        self.assertTrue(cls.__flags__ & VALID_VERSION_TAG)

    def test_no_quickening_or_specialising_while_contexts_run(self):
        # A function only contexts and the main thread's helper run: cold at the start.
        namespace = {}
        exec("def hot(obj):\n    return obj.value + 1\n", namespace)
        hot = namespace["hot"]
        cold = opnames(hot)
        obj = Fresh()

        def on_main():
            for _ in range(2000):  # far past the warm-up of quickening and specialising
                hot(obj)
            return opnames(hot)

        def callback(_):
            return [hot(obj) for _ in range(100)], parallel.call_from_main_thread(on_main)

        for values, names in parallel.map(callback, range(4), workers=2):
            self.assertEqual(values, [42] * 100)
            self.assertEqual(names, cold)
        for _ in range(2000):
            self.assertEqual(hot(obj), 42)
        self.assertIn("LOAD_ATTR_INSTANCE_VALUE", opnames(hot))  # once the contexts are gone

    def test_specialised_code_is_not_despecialised_while_contexts_run(self):
        # read_value is specialised for Fresh on the main thread; then, while contexts run it,
        # the main thread runs it on another class (misses) often enough to de-specialise it.
        for _ in range(2000):
            read_value(Fresh())
        specialised = opnames(read_value)

        class Other:  # a slot: specialised for it, the instruction would change its name
            __slots__ = ("value",)

            def __init__(self):
                self.value = 9

        def on_main():
            for _ in range(2000):
                read_value(Other())
            return opnames(read_value)

        def callback(_):
            return read_value(Fresh()), parallel.call_from_main_thread(on_main)

        for value, names in parallel.map(callback, range(4), workers=2):
            self.assertEqual(value, 42)
            self.assertEqual(names, specialised)

    def test_map_or_run_from_inside_a_map_is_refused(self):
        # A function the main thread runs for a context calls parallel.map() or run(): a
        # clear error (it hung: the pool was busy with the outer map), and the outer map's
        # contexts still reach the main thread afterwards.
        def on_main(which):
            try:
                if which == "map":
                    parallel.map(abs, [-1], workers=1)
                else:
                    parallel.run()
            except RuntimeError as e:
                return str(e)
            return "ran"

        def callback(i):
            which = "map" if i % 2 else "run"
            return (parallel.call_from_main_thread(on_main, which),
                    parallel.call_from_main_thread(len, "x" * i))

        for i, (message, length) in enumerate(parallel.map(callback, range(4), workers=2)):
            which = "map" if i % 2 else "run"
            self.assertIn("parallel.%s() cannot start while parallel.map() or "
                          "parallel.run() is waiting" % which, message)
            self.assertEqual(length, i)


if __name__ == "__main__":
    unittest.main()
