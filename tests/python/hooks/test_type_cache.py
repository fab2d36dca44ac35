"""Patch 0020 (context-type-cache): a context caches attribute lookups per thread; every
lookup still sees the current value (changes made in the callback, classes rewound and made
again at the same address by later callbacks, inheritance and overriding)."""
import unittest

import parallel


class Base:
    kind = "base"

    def who(self):
        return "Base.who"


def changing_class(n):
    class C:
        x = 0
    seen = []
    for i in range(n):
        C.x = i  # a context's own class: allowed, and the cached lookup must follow it
        seen.append(C().x)
    return seen


def fresh_classes(i):
    # A new class per callback (each at a place the previous callback's was rewound from),
    # with the same attribute name and a different value each time.
    C = type("C", (), {"value": i, "method": lambda self: i * 2})
    total = 0
    for _ in range(50):
        total += C().value + C().method()
    return total


def inherited(i):
    class Mid(Base):
        pass

    class Leaf(Mid):
        def who(self):
            return "Leaf.who"
    out = []
    for _ in range(20):
        out.append((Leaf().kind, Leaf().who(), Mid().who()))
    Mid.kind = "mid"  # changes what Leaf inherits
    out.append((Leaf().kind, Leaf().who(), Mid().who()))
    del Mid.kind
    out.append((Leaf().kind,))
    return out[-3:]


def computed_names(n):
    # Names made by the callback are freed each round and the next one is made at the same
    # address: a cache keyed by a name's address must not give beta alpha's value.
    class C:
        alpha = 1
        beta = 2
    out = []
    for i in range(n):
        name = "".join(["al", "pha"]) if i % 2 == 0 else "".join(["be", "ta"])
        out.append(getattr(C, name, None))
        out.append(getattr(Base, name.replace("alpha", "kind"), "none"))
    return out


class TypeCacheTest(unittest.TestCase):
    def test_names_the_callback_computes(self):
        expected = []
        for i in range(100):
            expected += [1, "base"] if i % 2 == 0 else [2, "none"]
        self.assertEqual(parallel.map(computed_names, [100] * 4, workers=2), [expected] * 4)

    def test_a_class_changed_in_the_callback(self):
        self.assertEqual(parallel.map(changing_class, [200] * 8, workers=2),
                         [list(range(200))] * 8)

    def test_classes_made_again_by_later_callbacks(self):
        self.assertEqual(parallel.map(fresh_classes, range(200), workers=2),
                         [150 * i for i in range(200)])

    def test_inheritance_and_overriding(self):
        expected = [("base", "Leaf.who", "Base.who"), ("mid", "Leaf.who", "Base.who"), ("base",)]
        self.assertEqual(parallel.map(inherited, range(20), workers=2), [expected] * 20)

    def test_main_classes_are_unchanged(self):
        parallel.map(inherited, range(4))
        self.assertEqual(Base.kind, "base")
        self.assertFalse(hasattr(Base, "x"))


if __name__ == "__main__":
    unittest.main()
