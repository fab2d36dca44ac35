"""Patch 0008 (lazy-caches-main-heap): lazy global caches are filled on the main heap from a
context, or not at all. Each case runs cold in a fresh process with poison mode on, so a
cache left pointing at rewound memory faults when the main thread uses it afterwards."""
import unittest

from pxhook import run_fresh


def check(test, code):
    r = run_fresh("if True:\n" + code)
    test.assertEqual(r.returncode, 0, r.stderr[-3000:])
    test.assertEqual(r.stdout.strip().splitlines()[-1:], ["ok"], r.stdout[-2000:])


class LazyCacheTest(unittest.TestCase):
    def test_keyword_parsers_first_used_in_contexts(self):
        check(self, """
            import gc, parallel
            def kw(i):
                return (i.to_bytes(length=4, byteorder="big"), bytes([i]).hex(sep=":"),
                        "a\\tb".expandtabs(tabsize=i + 1), sorted([3, 1, 2], key=None, reverse=True),
                        int("7", base=10))
            assert parallel.map(kw, range(20), workers=2) == [kw(i) for i in range(20)]
            gc.collect()
            assert kw(3) == parallel.map(kw, [3])[0]
            print("ok")
        """)

    def test_int_parsing_tables_first_used_in_contexts(self):
        # PyLong_FromString fills a table per base on first use, without a lock: two workers
        # parsing one base first at once raced (a reader could use a width of 0). `parallel`
        # fills them at import. Both workers wait for one instant and then parse with no lock
        # taken in between, so the tsan flavour reports the race every run (3 of 3) when the
        # tables are not filled; the release flavour checks the values.
        check(self, """
            import time, parallel
            BASES = [b for b in range(3, 37) if b & (b - 1)]
            TEXT = "1" + "0" * 40
            START = time.monotonic() + 0.5
            def parse(i):
                while time.monotonic() < START:
                    pass
                return [int(TEXT, base) for base in BASES]
            assert parallel.map(parse, range(2), workers=2) == [parse(i) for i in range(2)]
            print("ok")
        """)

    def test_identifiers_first_used_in_contexts(self):
        check(self, """
            import json, math, gc, parallel
            class Half:
                def __floor__(self): return 7
                def __ceil__(self): return 8
            H = Half()
            def ids(i):
                return json.dumps({"a": [i, None, True, False, 1.5]}), math.floor(H), math.ceil(H)
            assert parallel.map(ids, range(20), workers=2) == [ids(i) for i in range(20)]
            gc.collect()
            print(json.dumps([None, True]), math.floor(H))
            print("ok")
        """)

    def test_interning_and_shared_keys(self):
        check(self, """
            import gc, parallel
            class Rec: pass
            def attrs(i):
                r = Rec()
                setattr(r, "dyn_%d" % i, i)      # a name nobody interned
                r.fixed = i
                return getattr(r, "dyn_%d" % i) + r.fixed
            assert parallel.map(attrs, range(50), workers=2) == [2 * i for i in range(50)]
            gc.collect()
            r = Rec(); r.fixed = 1; r.other = 2
            assert [attrs(i) for i in range(50)] == [2 * i for i in range(50)]
            print("ok")
        """)

    def test_classes_made_in_contexts_leave_main_bases_alone(self):
        check(self, """
            import gc, parallel
            class Base: pass
            def make(i):
                class Sub(Base):
                    pass
                class Err(ValueError):
                    pass
                return isinstance(Sub(), Base) and issubclass(Err, Exception)
            n_object, n_base = len(object.__subclasses__()), len(Base.__subclasses__())
            assert parallel.map(make, range(50), workers=2) == [True] * 50
            gc.collect()
            assert len(Base.__subclasses__()) == n_base
            assert len(object.__subclasses__()) == n_object
            print("ok")
        """)

    def test_utf8_of_a_main_str(self):
        check(self, """
            import gc, parallel
            SRC = "'\\u00e9t\\u00e9 ' * 3"    # non-ASCII: eval() caches its UTF-8 in the str
            def ev(i):
                return eval(SRC) + str(i)
            assert parallel.map(ev, range(20), workers=2) == [ev(i) for i in range(20)]
            gc.collect()
            print(eval(SRC), compile(SRC, "<s>", "eval") is not None)
            print("ok")
        """)

    def test_str_concatenation_never_resizes_a_main_str(self):
        check(self, """
            import parallel
            BASE = "".join(["ab", "cd"])   # only the module dict refers to it: refcount 1
            def grow(i):
                s = BASE
                for _ in range(100):
                    s += "x"
                return len(s)
            assert parallel.map(grow, range(20), workers=2) == [104] * 20   # generic opcode
            for i in range(200):
                grow(i)                   # main specialises BINARY_OP_INPLACE_ADD_UNICODE
            assert parallel.map(grow, range(20), workers=2) == [104] * 20
            assert BASE == "abcd"
            print("ok")
        """)

    def test_ast_conversion_in_two_contexts(self):
        """ast.parse() converts with recursion counters that live in the interpreter's AST
        state; two contexts at once must not share them."""
        check(self, """
            import ast, parallel
            def parse(i):
                try:
                    return ast.dump(ast.parse("{}['k%d' % n] + [x for x in y]"))[:20]
                except SystemError as e:
                    return str(e)
            r = parallel.map(parse, range(3000), workers=2)
            assert set(r) == {parse(0)}, set(r)
            print("ok")
        """)


if __name__ == "__main__":
    unittest.main()
