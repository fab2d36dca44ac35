"""ContextMemoryError: a context heap that hits its byte limit, and contexts that cannot get
memory at all. Each case runs in a child pxpython, because the limit (PXKIT_CONTEXT_LIMIT) is
read when the workers start, and the address-space limit must not bind this process."""
import ast
import os
import resource
import subprocess
import sys
import sysconfig
import textwrap
import unittest

from pxtest import parallel

# ASan and TSan reserve terabytes of shadow memory at start: under an address-space limit
# the interpreter cannot start at all, so the ulimit cases run on the other flavours only.
SANITIZED = "sanitize" in (sysconfig.get_config_var("CONFIG_ARGS") or "") or \
    "sanitize" in (sysconfig.get_config_var("CFLAGS") or "")

PRELUDE = textwrap.dedent("""\
    import parallel

    def grow(_):
        # Without bound: a list of 1 KiB bytearrays, until the heap says no.
        kept = []
        while True:
            kept.append(bytearray(1024))

    def big(n):
        return len(b"x" * n)

    def grow_and_catch(_):
        kept = []
        try:
            while True:
                kept.append(bytearray(1024))
        except MemoryError as e:
            n = len(kept)
            del kept
            return type(e).__name__, n > 1000

    def square(x):
        return x * x

    def outcome(func, items, workers=1):
        try:
            return ("ok", parallel.map(func, items, workers=workers))
        except Exception as e:
            return (type(e).__name__, isinstance(e, MemoryError), str(e))
""")


def run_child(code, env=None, limit_as=None):
    full_env = dict(os.environ)
    full_env.update(env or {})

    def limit():
        if limit_as is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))

    r = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                       capture_output=True, text=True, timeout=300, env=full_env,
                       preexec_fn=limit)
    return r


class ContextMemory(unittest.TestCase):
    def test_context_memory_error_is_a_memory_error(self):
        self.assertTrue(issubclass(parallel.ContextMemoryError, MemoryError))

    def test_context_memory_error_can_be_caught_as_memory_error(self):
        try:
            raise parallel.ContextMemoryError("limit")
        except MemoryError as e:
            self.assertEqual(str(e), "limit")

    def check_lines(self, r, expected):
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertEqual(r.stdout.splitlines(), expected, r.stderr[-3000:])

    def test_runaway_allocation_raises_context_memory_error(self):
        """A callback that allocates without bound gets ContextMemoryError naming the limit;
        the context is rewound, and the next maps (and the next runaway) behave the same."""
        r = run_child("""
            for _ in range(2):
                kind, is_memory_error, message = outcome(grow, [0], workers=1)
                print(kind, is_memory_error, "limit of 16777216 bytes" in message,
                      "PXKIT_CONTEXT_LIMIT" in message)
                print(outcome(square, range(5), workers=2))
            print(outcome(grow, [0, 1, 2, 3], workers=2)[0])
            print(parallel._heap_stats()[0]["bytes_in_use"])
        """, env={"PXKIT_CONTEXT_LIMIT": "16M"})
        self.check_lines(r, ["ContextMemoryError True True True",
                             "('ok', [0, 1, 4, 9, 16])"] * 2 + ["ContextMemoryError", "0"])

    def test_one_allocation_over_the_limit(self):
        r = run_child("""
            print(outcome(big, [1 << 20])[0], outcome(big, [64 << 20])[0:2])
            print(outcome(big, [1 << 20]))
        """, env={"PXKIT_CONTEXT_LIMIT": "16M"})
        self.check_lines(r, ["ok ('ContextMemoryError', True)", "('ok', [1048576])"])

    def test_callback_that_catches_its_memory_error_goes_on(self):
        """The heap lends a little past the limit so the MemoryError can be raised and handled;
        a callback that catches it returns normally, and the loan ends with the callback."""
        r = run_child("""
            print(outcome(grow_and_catch, [0, 1], workers=1))
            print(outcome(grow, [0])[0])
        """, env={"PXKIT_CONTEXT_LIMIT": "8M"})
        self.check_lines(r, ["('ok', [('MemoryError', True), ('MemoryError', True)])",
                             "ContextMemoryError"])

    def test_memory_refused_below_the_limit_is_a_plain_memory_error(self):
        """A 2 GiB block in a 1 GiB region under a 4 GiB limit: the region, not the limit,
        says no, so the callback gets a plain MemoryError and nothing is lent."""
        r = run_child("""
            print(outcome(big, [2 << 30])[0:2])
            print(outcome(big, [1 << 20]))
        """, env={"PXKIT_CONTEXT_LIMIT": "4G", "PX_REGION_GIB": "1"})
        self.check_lines(r, ["('MemoryError', True)", "('ok', [1048576])"])

    def test_no_limit(self):
        r = run_child("""
            print(outcome(big, [64 << 20]))
        """, env={"PXKIT_CONTEXT_LIMIT": "0"})
        self.check_lines(r, ["('ok', [67108864])"])

    def test_malformed_limit_is_a_value_error(self):
        for value in ("lots", "-5", "12X", "99999999999999999999G"):
            with self.subTest(value=value):
                r = run_child("""
                    print(outcome(square, [2])[0:2])
                    import sys
                    try:
                        parallel.map(square, [2])
                    except ValueError as e:
                        print("PXKIT_CONTEXT_LIMIT" in str(e), "512M" in str(e))
                """, env={"PXKIT_CONTEXT_LIMIT": value})
                self.check_lines(r, ["('ValueError', False)", "True True"])

    @unittest.skipIf(SANITIZED, "ASan/TSan reserve their shadow memory at start: no pxpython "
                                "starts under an address-space limit")
    def test_region_refused_by_the_os_is_a_memory_error(self):
        """Under `ulimit -v` the 64 GiB address range of context heaps cannot be reserved:
        map() says so (and how to fix it) instead of failing inside a callback; with
        PX_REGION_GIB=1 the same limit lets it run."""
        code = """
            print(repr(outcome(square, [3])))
            print(repr(outcome(square, [3])))
        """
        r = run_child(code, limit_as=4 << 30)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        for line in r.stdout.splitlines():
            kind, is_memory_error, message = ast.literal_eval(line)
            self.assertEqual((kind, is_memory_error), ("MemoryError", True), message)
            self.assertIn("PX_REGION_GIB", message)
            self.assertIn("ulimit -v", message)
        r = run_child(code, env={"PX_REGION_GIB": "1"}, limit_as=4 << 30)
        self.check_lines(r, ["('ok', [9])"] * 2)


if __name__ == "__main__":
    unittest.main()
